"""The export format of a history: JSON lines, so a history moves between backends without losing a field.

Why JSON lines: a history of 50,000 evaluations streams through a pipe one evaluation at a time
(``history export | history import``), any tool can read it, and an error names the line.
Line 1 is ``{"schema": EXPORT_SCHEMA, "schema_version": N}``; every further line is one
evaluation (``to_record``), oldest first, with its id, so ``comparedEvents`` and
``history_id`` in archived evaluation.json files still point at the same evaluations after a move.
Numbers are IEEE doubles in both stores and in JSON, so a value survives the round trip exactly;
an infinite value (a graded ``+Inf`` from Prometheus) is written ``"+Inf"``/``"-Inf"`` as in
evaluation.json, since JSON has no literal for it.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from typing import IO, Any

from pipeline_steps.documents.names import check_label
from pipeline_steps.documents.vocabulary import IndicatorStatus, Verdict
from pipeline_steps.errors import BadInputError
from pipeline_steps.history.base import EXPORT_SCHEMA, SCHEMA_VERSION, HistoryEntry, HistoryIndicator

_NON_FINITE = {"+Inf": math.inf, "-Inf": -math.inf}
"""JSON has no infinity; a NaN is stored as no value (null) by every backend, so no export line carries one."""
_TEXT = ("project", "stage", "service", "created_at", "kind", "verdict", "result")
_INDICATOR_TEXT = ("id", "status", "criteria", "query", "source", "reason")
MAX_ID = 2**63 - 1
"""The largest id both stores hold (SQLite INTEGER, PostgreSQL BIGINT are signed 64-bit)."""
KINDS = ("perfspec", "slo")
RESULTS = ("pass", "warning", "fail", "error")
"""Pitometer's and lighthouse's result words (``Verdict.result``)."""
_CREATED_AT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z")
"""``files.iso_utc`` (with or without microseconds): the only clock a store writes, so text order is time order."""


def to_record(entry: HistoryEntry) -> dict[str, Any]:
    """One evaluation as an export line's object (every stored field)."""
    ctx = entry.context
    return {
        "id": entry.id, "project": ctx.get("project", ""), "stage": ctx.get("stage", ""), "service": ctx.get("service", ""),
        "created_at": entry.created_at, "kind": entry.kind, "verdict": entry.verdict, "result": entry.result,
        "score": entry.score, "max_score": entry.max_score, "context": ctx,
        "indicators": [{"id": i.id, "value": _written(i.value), "status": i.status.value, "score": i.score,
                        "max_score": i.max_score, "criteria": i.criteria, "query": i.query, "source": i.source,
                        "reason": i.reason, "key_sli": i.key_sli} for i in entry.indicators],
    }


def _written(value: float | None) -> float | str | None:
    """A value as an export line holds it (a NaN a store of an earlier version kept is no value)."""
    if value is None or math.isfinite(value):
        return value
    return None if math.isnan(value) else ("+Inf" if value > 0 else "-Inf")


def write_export(records: Iterator[dict[str, Any]], out: IO[str]) -> int:
    """Write the header and every record; returns how many evaluations were written."""
    out.write(json.dumps({"schema": EXPORT_SCHEMA, "schema_version": SCHEMA_VERSION}) + "\n")
    count = 0
    for record in records:
        out.write(json.dumps(record, sort_keys=True, allow_nan=False) + "\n")
        count += 1
    return count


def read_export(lines: IO[str], source: str) -> Iterator[dict[str, Any]]:
    """The validated records of an export (``source`` names it in errors: ``FILE: line 7: indicators[0].value``)."""
    number = 1
    try:
        header = _parse(lines.readline(), source, 1)
        if header.get("schema") != EXPORT_SCHEMA:
            raise BadInputError(source, "line 1: schema", f"must be {EXPORT_SCHEMA!r} (the first line of history export)")
        for number, line in enumerate(lines, start=2):
            if line.strip():
                yield check_record(_parse(line, source, number), f"{source}: line {number}")
    except UnicodeDecodeError as err:
        raise BadInputError(source, f"line {number + 1}", f"not UTF-8 text: {err.reason}") from err


def _parse(line: str, source: str, number: int) -> dict[str, Any]:
    try:
        data = json.loads(line, parse_constant=_no_constant)
    except (json.JSONDecodeError, ValueError) as err:
        raise BadInputError(source, f"line {number}", f"not a JSON object: {err}") from err
    if not isinstance(data, dict):
        raise BadInputError(source, f"line {number}", "not a JSON object")
    return data


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number a history stores")


def _number(value: Any, where: str, field: str, *, optional: bool = False) -> None:
    if value is None and optional:
        return
    try:
        finite = not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(float(value))
    except OverflowError:  # an integer past the largest double
        finite = False
    if not finite:
        raise BadInputError(where, field, f"must be a finite number, got {str(value)[:40]}")


def _text(value: Any, where: str, field: str) -> None:
    if not isinstance(value, str):
        raise BadInputError(where, field, f"must be a string, got {value!r}")


def _one_of(value: str, allowed: tuple[str, ...], where: str, field: str) -> None:
    if value not in allowed:
        raise BadInputError(where, field, f"{value[:40]!r} is not one of {', '.join(allowed)}")


def check_record(record: dict[str, Any], where: str) -> dict[str, Any]:
    """``record`` if it is an export record a store could have written, else ``BadInputError(where,
    field, why)``: an id both stores hold, project/stage/service as DNS-1123 labels (``documents/names.py``,
    as ``evaluate`` takes them), the gate's vocabulary, a UTC ``created_at``, one entry per
    indicator id, finite numbers (so an import never ends as the database's overflow error)."""
    ident = record.get("id")
    if isinstance(ident, bool) or not isinstance(ident, int) or not 1 <= ident <= MAX_ID:
        raise BadInputError(where, "id", f"must be a positive integer up to {MAX_ID}, got {str(ident)[:40]}")
    for name in _TEXT:
        _text(record.get(name), where, name)
    for name in ("project", "stage", "service"):  # a series' name, held to the grammar every way in has
        check_label(record[name], where, name)
    if not _CREATED_AT.fullmatch(record["created_at"]):
        raise BadInputError(where, "created_at", f"must be an ISO-8601 UTC time (2026-11-26T10:00:00.123456Z), got"
                            f" {record['created_at'][:40]!r}")
    _one_of(record["verdict"], Verdict.values(), where, "verdict")
    _one_of(record["kind"], KINDS, where, "kind")
    _one_of(record["result"], RESULTS, where, "result")
    for name in ("score", "max_score"):
        _number(record.get(name), where, name)
    context = record.get("context")
    if not isinstance(context, dict):
        raise BadInputError(where, "context", "must be an object")
    for name in ("project", "stage", "service"):
        if context.get(name) != record[name]:
            raise BadInputError(where, f"context.{name}", f"must equal {name} ({record[name]!r})")
    indicators = record.get("indicators")
    if not isinstance(indicators, list):
        raise BadInputError(where, "indicators", "must be a list")
    positions: dict[str, int] = {}
    for n, ind in enumerate(indicators):
        at = f"indicators[{n}]"
        if not isinstance(ind, dict):
            raise BadInputError(where, at, "must be an object")
        for name in _INDICATOR_TEXT:
            _text(ind.get(name), where, f"{at}.{name}")
        if ind["id"] in positions:
            raise BadInputError(where, f"{at}.id", f"{ind['id'][:40]!r} is already indicators[{positions[ind['id']]}]")
        positions[ind["id"]] = n
        if ind["status"] not in IndicatorStatus.values():
            raise BadInputError(where, f"{at}.status", f"{ind['status']!r} is not one of {', '.join(IndicatorStatus.values())}")
        value = ind.get("value")
        if not (isinstance(value, str) and value in _NON_FINITE):
            try:
                _number(value, where, f"{at}.value", optional=True)
            except BadInputError:
                raise BadInputError(where, f"{at}.value", f"must be a finite number, +Inf, -Inf or null, got"
                                    f" {str(value)[:40]}") from None
        for name in ("score", "max_score"):
            _number(ind.get(name), where, f"{at}.{name}")
        if not isinstance(ind.get("key_sli"), bool):
            raise BadInputError(where, f"{at}.key_sli", "must be true or false")
    return record


def indicator_of(ind: dict[str, Any]) -> HistoryIndicator:
    """A checked record's indicator as the store returns it."""
    value = ind["value"]
    number = None if value is None else _NON_FINITE[value] if isinstance(value, str) else float(value)
    return HistoryIndicator(ind["id"], number, IndicatorStatus(ind["status"]),
                            float(ind["score"]), float(ind["max_score"]), ind["criteria"], ind["query"], ind["source"],
                            ind["reason"], ind["key_sli"])


def entry_of(record: dict[str, Any]) -> HistoryEntry:
    """A checked record as the store would hand it back (numbers as floats)."""
    return HistoryEntry(record["id"], record["created_at"], record["context"], record["kind"], record["verdict"],
                        record["result"], float(record["score"]), float(record["max_score"]),
                        [indicator_of(ind) for ind in record["indicators"]])
