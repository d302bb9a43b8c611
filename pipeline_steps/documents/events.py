"""Keptn 0.2 events between steps, as CloudEvents 1.0 JSON files, and the event each step leaves behind.

Why files: every step can be re-run by hand from the event a failed run left behind
(``pipeline-steps deploy --event out/staging/events/configuration-changed.json``), and Keptn-era
tooling that consumed these events keeps working. We write CloudEvents 1.0 envelopes with
Keptn 0.2's types and data fields; we read 1.0 and Keptn 0.2's own 0.2 envelopes (Jenkins sent
every value as a string and ``//`` comments appear in the documented examples).

A 1.0 event is checked against the CloudEvents 1.0 core spec (``check_cloudevent``): ``id`` a
non-empty string, ``source`` a non-empty URI-reference (RFC 3986), ``type`` non-empty, ``time``
when present an RFC 3339 timestamp, attribute names lower-case letters and digits. A 0.2
envelope is not: Keptn 0.2's own documented examples have no ``id`` or ``source`` and a ``time``
like ``20190325-15:22:50.560``, and they must keep working.

deploy, run-tests and evaluate each end with one call of ``after_deploy``, ``after_tests`` or
``after_evaluation``, so their events (``deployment-finished``, ``tests-finished``,
``evaluation-done``) are made one way, from the same JSON the next step reads, and always carry
what a later step needs to be re-run by hand from the event alone: the context, and the
deployment facts (colour, colour live before, weights before the flip) that evaluation-done and
rollback act on.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from pipeline_steps.documents.context import StageContext
from pipeline_steps.documents.vocabulary import Verdict
from pipeline_steps.errors import BadInputError
from pipeline_steps.files import iso_utc, parse_json, read_document, read_text, write_json

PREFIX = "sh.keptn.events."
TYPES = ("new-artefact", "configuration-changed", "deployment-finished", "tests-finished", "evaluation-done", "problem")
"""The Keptn 0.2 event names; the wire type is ``sh.keptn.events.<name>`` (British ``artefact``)."""

# Keptn 0.2 data keys -> StageContext fields.
_DATA_TO_CONTEXT = {
    "project": "project",
    "stage": "stage",
    "service": "service",
    "image": "image",
    "tag": "tag",
    "deploymentstrategy": "deployment_strategy",
    "teststrategy": "test_strategy",
}


@dataclass(frozen=True)
class Event:
    """One CloudEvent: ``name`` is the short Keptn type (``tests-finished``)."""

    name: str
    data: dict[str, Any]
    keptn_context: str = ""
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    source: str = "pipeline-steps"
    time: str = field(default_factory=lambda: iso_utc(micro=True))

    @property
    def type(self) -> str:
        return PREFIX + self.name

    def to_json(self) -> dict[str, Any]:
        return {
            "specversion": "1.0",
            "id": self.id,
            "source": self.source,
            "type": self.type,
            "time": self.time,
            "datacontenttype": "application/json",
            "shkeptncontext": self.keptn_context,
            "data": self.data,
        }

    def context(self, source: str = "event") -> StageContext:
        """The StageContext the event describes (validated)."""
        values = {ctx_key: _as_text(self.data.get(key, "")) for key, ctx_key in _DATA_TO_CONTEXT.items()}
        values["keptn_context"] = self.keptn_context
        values["deployment_strategy"] = values["deployment_strategy"] or "direct"
        return StageContext(**values).validate(source)


def context_data(ctx: StageContext) -> dict[str, Any]:
    """The eight Keptn 0.2 data fields every pipeline event carries."""
    return {
        "githuborg": "",
        "project": ctx.project,
        "teststrategy": ctx.test_strategy,
        "deploymentstrategy": ctx.deployment_strategy,
        "stage": ctx.stage,
        "service": ctx.service,
        "image": ctx.image,
        "tag": ctx.tag,
    }


def make_event(name: str, ctx: StageContext, source: str, **extra: Any) -> Event:
    """An event of Keptn type ``name`` for ``ctx`` with extra data fields (``startedat``, ...)."""
    if name not in TYPES:
        raise ValueError(f"unknown event type {name!r}")
    return Event(name=name, data={**context_data(ctx), **extra}, keptn_context=ctx.keptn_context,
                 source=f"pipeline-steps/{source}")


def event_path(out_dir: str | Path, name: str) -> Path:
    """Where the event ``name`` is written: ``OUT/events/<name>.json``."""
    return Path(out_dir) / "events" / f"{name}.json"


def write_event(out_dir: str | Path, event: Event) -> Path:
    """Write ``OUT/events/<name>.json`` atomically (a re-run overwrites, never half-writes)."""
    return write_json(event_path(out_dir, event.name), event.to_json())


def read_event(path: str | Path) -> Event:
    """Parse and validate an event file; errors name the file and the field."""
    source = str(path)
    raw = parse_json(_strip_line_comments(read_text(path)), source)
    if not isinstance(raw, dict):
        raise BadInputError(source, None, "must be a JSON object (a CloudEvent)")
    if str(raw.get("specversion", "")) not in ("0.2", "1.0"):
        raise BadInputError(source, "specversion", f"must be '1.0' (or Keptn's '0.2'), got {raw.get('specversion')!r}")
    etype = raw.get("type")
    if not isinstance(etype, str) or not etype.startswith(PREFIX) or etype[len(PREFIX):] not in TYPES:
        raise BadInputError(source, "type", f"{etype!r} is not one of {', '.join(PREFIX + t for t in TYPES)}")
    data = raw.get("data")
    if not isinstance(data, dict):
        raise BadInputError(source, "data", "must be an object")
    name = etype[len(PREFIX):]
    if name != "problem":
        for key in ("project", "service"):
            if not _as_text(data.get(key, "")):
                raise BadInputError(source, f"data.{key}", "is required")
    if raw.get("specversion") == "1.0":
        check_cloudevent(raw, source)
    return Event(name=name, data=data, keptn_context=_as_text(raw.get("shkeptncontext", "")),
                 id=_as_text(raw.get("id", "")), source=_as_text(raw.get("source", "")), time=_as_text(raw.get("time", "")))


# RFC 3339 §5.6 date-time: full-date "T" full-time, with a time offset (Z or +hh:mm); T and Z in either case.
_RFC3339 = re.compile(r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-](\d{2}):(\d{2}))")
# RFC 3986 URI-reference: only unreserved, reserved and %XX may appear (no spaces or controls).
_URI_REFERENCE = re.compile(r"(?:[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=]|%[0-9A-Fa-f]{2})+")
_ATTRIBUTE = re.compile(r"[a-z0-9]+")


def check_cloudevent(raw: dict[str, Any], source: str) -> None:
    """CloudEvents 1.0 (spec.md, "Context Attributes"): required ``id``, ``source``, ``specversion``,
    ``type``; ``time`` in RFC 3339 when present; names of lower-case letters and digits. Raises
    ``BadInputError`` naming the attribute."""
    for name in raw:
        if name != "data" and not _ATTRIBUTE.fullmatch(str(name)):
            raise BadInputError(source, str(name), "is not a CloudEvents attribute name (lower-case letters and digits)")
    for name in ("id", "source", "type"):
        value = raw.get(name)
        if not isinstance(value, str) or not value:
            raise BadInputError(source, name, f"is required by CloudEvents 1.0 (a non-empty string), got {value!r}")
    if not _URI_REFERENCE.fullmatch(raw["source"]):
        raise BadInputError(source, "source", f"must be a URI-reference (RFC 3986), got {raw['source']!r}")
    if "time" in raw and not _rfc3339(raw["time"]):
        raise BadInputError(source, "time", f"must be an RFC 3339 timestamp like 2026-11-26T10:00:00Z, got {raw['time']!r}")
    for name in ("datacontenttype", "subject", "dataschema"):
        if name in raw and (not isinstance(raw[name], str) or not raw[name]):
            raise BadInputError(source, name, f"must be a non-empty string when present, got {raw[name]!r}")


def _rfc3339(value: Any) -> bool:
    match = _RFC3339.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        return False
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    offset_h, offset_m = match.group(9), match.group(10)
    if offset_h is not None and (int(offset_h) > 23 or int(offset_m) > 59):
        return False
    try:  # a leap second (60) is valid RFC 3339; datetime knows none
        datetime(year, month, day, hour, minute, min(second, 59))
    except ValueError:
        return False
    return second <= 60


def truthy(value: Any) -> bool:
    """Keptn's Jenkins sent booleans as strings: ``"true"`` -> True."""
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return bool(value)


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else ("" if value is None else str(value))


_STRING_OR_COMMENT = re.compile(r'"(?:\\.|[^"\\])*"|//[^\n]*')


def _strip_line_comments(text: str) -> str:
    """Drop ``// ...`` comments outside strings (Keptn's documented examples carry them)."""
    return _STRING_OR_COMMENT.sub(lambda m: m.group(0) if m.group(0).startswith('"') else "", text)


_FACTS = ("colour", "previous_colour", "weights_before", "weights_after", "switched", "namespace", "platform")


def _deployment(out_dir: Path) -> dict[str, Any] | None:
    doc = read_document(out_dir / "deployment.json")
    return {k: doc.get(k) for k in _FACTS} if doc else None


def _after(out_dir: str | Path, document: str, name: str, extra: Callable[[dict[str, Any]], dict[str, Any]]) -> Path | None:
    """The ``name`` event from OUT/``document`` (None when the step wrote none): its context, the
    deployment facts, and ``extra(document)``; written to OUT/events/."""
    out = Path(out_dir)
    doc = read_document(out / document)
    if doc is None:
        return None
    ctx = StageContext.from_dict(doc.get("context", {}), str(out / document))
    return write_event(out, make_event(name, ctx, _WRITERS[name], **extra(doc), deployment=_deployment(out)))


_WRITERS = {"deployment-finished": "deploy", "tests-finished": "run-tests", "evaluation-done": "evaluate"}
_DETAILS = ("options", "totalScore", "objectives", "indicatorResults", "result", "timeStart", "timeEnd", "score")


def after_deploy(out_dir: str | Path) -> Path | None:
    """``sh.keptn.events.deployment-finished`` from OUT/deployment.json (None when deploy wrote none)."""
    return _after(out_dir, "deployment.json", "deployment-finished", lambda doc: {})


def after_tests(out_dir: str | Path) -> Path | None:
    """``sh.keptn.events.tests-finished`` from OUT/testrun.json; ``startedat`` is the test start (the gate's window)."""
    return _after(out_dir, "testrun.json", "tests-finished", lambda doc: {
        "startedat": doc.get("start", ""), "finishedat": doc.get("end", ""), "result": doc.get("result", "")})


def after_evaluation(out_dir: str | Path) -> Path | None:
    """``sh.keptn.events.evaluation-done`` from OUT/evaluation.json.

    ``evaluationpassed`` follows Keptn 0.2's pitometer-service (pass or warning); ``evaluationdetails``
    is the Pitometer/lighthouse-shaped result; ``verdict`` is ours (PASS|WARNING|FAIL|ERROR).
    """
    def extra(doc: dict[str, Any]) -> dict[str, Any]:
        verdict = str(doc.get("verdict", "ERROR"))
        return {"evaluationpassed": verdict in (Verdict.PASS, Verdict.WARNING),
                "evaluationdetails": {k: v for k, v in doc.items() if k in _DETAILS}, "verdict": verdict}

    return _after(out_dir, "evaluation.json", "evaluation-done", extra)
