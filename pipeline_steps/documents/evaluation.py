"""``evaluation.json``: what ``evaluate`` decided and why, and the value types it is made of.

Why here, below the gate and the sources: a source returns ``Sample``s over a ``Window``, a gate
dialect judges them into ``IndicatorReport``s and a ``Verdict``, and the report, the history and
the events read the result; each of them names these types without importing another's
internals (the cycle sources -> gate -> sources is gone). Schema ``pipeline-steps/evaluation/v1``
(docs/documents.md): the dialect's own document (Pitometer's run result or lighthouse's
evaluation) plus our keys beside it. One writer, ``write_evaluation``, through ``files.write_json``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pipeline_steps.documents.context import StageContext
from pipeline_steps.documents.vocabulary import IndicatorStatus, Verdict
from pipeline_steps.errors import BadInputError
from pipeline_steps.files import iso_utc, write_json
from pipeline_steps.finite import unix_seconds
from pipeline_steps.secrets import Secret, redact_data

SCHEMA = "pipeline-steps/evaluation/v1"

CLOCK_SKEW_S = 30.0
"""How far the window's end may lie ahead of this machine's clock: NTP keeps Jenkins agents and
Prometheus within a second or two; a test run's recorded end is never ahead of the clock that
judges it by more. Beyond it the window has not ended yet (``--end now+7200`` passed on the 2
samples it had, and became a baseline in the history)."""


def number(value: float) -> float | int | str:
    """``value`` as JSON would print it from JavaScript: integral floats become ints (100, not 100.0),
    so documents equal Pitometer's and lighthouse's for the same numbers. Infinities (a value, e.g.
    a ratio over zero requests) and NaN become Prometheus' own notation ``"+Inf"``, ``"-Inf"``,
    ``"NaN"``: JSON has no literal for them."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("+Inf" if value > 0 else "-Inf")
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value


def parse_time(text: str, source: str, field: str) -> float:
    """Unix seconds from ``1795687260``, ``1795687260.5`` or ISO-8601 (``2026-11-26T10:01:00Z``,
    UTC when no offset is given), between 1970 and 9999; else bad input naming ``source`` and ``field``."""
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return unix_seconds(seconds, source, field)  # float() takes "nan", "inf" and "1e300"
    try:
        parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise BadInputError(source, field, f"{text[:40]!r} is neither unix seconds nor an ISO-8601 time") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return unix_seconds(parsed.timestamp(), source, field)


def checked_window(start: float, end: float, *, where: tuple[str, str], now: float | None = None) -> Window:
    """The window ``start``..``end`` if it has ended: end after start, and end not beyond the clock
    (``now``, default this machine's) plus ``CLOCK_SKEW_S``; else bad input naming ``where`` (the
    file or ``command line``, and the field or flag that set the end)."""
    source, end_field = where
    if end <= start:
        raise BadInputError(source, end_field, f"window end ({end:.0f}) must be after its start ({start:.0f})")
    clock = time.time() if now is None else now
    if end > clock + CLOCK_SKEW_S:
        raise BadInputError(source, end_field, f"window end {iso_utc(end)} is {end - clock:.0f}s in the future "
                                               f"(beyond the {CLOCK_SKEW_S:g}s clock-skew tolerance): a window is "
                                               "judged once it has ended; nothing was queried or stored")
    return Window(start, end)


@dataclass(frozen=True)
class Window:
    """The evaluation window in unix seconds; instant queries are evaluated at ``end``."""

    start: float
    end: float

    @property
    def seconds(self) -> float:
        return self.end - self.start

    def to_dict(self) -> dict[str, Any]:
        return {"start": iso_utc(self.start), "end": iso_utc(self.end), "start_unix": self.start, "end_unix": self.end}


@dataclass(frozen=True)
class Sample:
    """One series' value: ``key`` names the series (Prometheus labels as JSON, a Dynatrace entity)."""

    key: str
    value: float


@dataclass
class IndicatorReport:
    """One indicator as every report sees it (evaluation.json ``indicators``, JUnit, summary, history)."""

    id: str
    source: str
    query: str
    """The query after placeholder substitution (Dynatrace: the request it became)."""
    status: IndicatorStatus
    score: float
    max_score: float
    value: float | None = None
    """The value that decided the score (the worst series for a perfspec), None without data."""
    values: list[Sample] = field(default_factory=list)
    thresholds: dict[str, Any] = field(default_factory=dict)
    """Perfspec thresholds, or SLO ``{"pass": [[...]], "warning": [[...]]}`` criteria blocks."""
    criteria_text: str = ""
    """Thresholds/criteria as one human line: ``breach if >= 0.8`` or ``pass: <=+10% and <600``."""
    reason: str = ""
    """Why it did not pass (empty when it passed)."""
    key_sli: bool = False
    dropped: list[str] = field(default_factory=list)
    """Keys of the series the source dropped (NaN or no value); also counted in ``reason``."""
    history: dict[str, Any] | None = None
    """For an SLO objective with relative criteria: ``{"asked": N, "found": k, "note": text}``, the
    previous results the criteria asked for and found (``note`` empty when k >= N); None otherwise."""

    def __post_init__(self) -> None:
        self.status = IndicatorStatus(self.status)  # the word as read back (history, a test table) becomes the member

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "source": self.source, "query": self.query, "status": self.status.value,
            "value": None if self.value is None else number(self.value),
            "values": [{"key": s.key, "value": number(s.value)} for s in self.values],
            "thresholds": self.thresholds, "criteria": self.criteria_text,
            "score": number(self.score), "max_score": number(self.max_score), "reason": self.reason,
            "key_sli": self.key_sli, "dropped": list(self.dropped),
            **({"history": self.history} if self.history is not None else {}),
        }


@dataclass(frozen=True)
class Judgement:
    """What a gate dialect (Pitometer perfspec, Keptn SLO) decided: its own document, one report per
    indicator, the points and the verdict. ``evaluation_document`` adds our keys around it."""

    kind: str
    """``perfspec`` or ``slo``."""
    spec: str
    """The spec file judged by."""
    verdict: Verdict
    dialect: dict[str, Any]
    """Pitometer's run result or lighthouse's evaluation, keys in their order."""
    reports: list[IndicatorReport]
    achieved: float
    maximum: float
    result: str
    """The dialect's own result word (``pass``, ``warning``, ``fail``) as the history stores it."""
    warnings: list[str] = field(default_factory=list)

    @property
    def measured(self) -> bool:
        """False when a source failed (both dialects then carry ``error``): nothing to store in the history."""
        return "error" not in self.dialect


def evaluation_document(judgement: Judgement, context: StageContext, window: Window,
                        history_id: int | None = None) -> dict[str, Any]:
    """The whole evaluation.json (see docs/documents.md)."""
    document: dict[str, Any] = {
        "schema": SCHEMA, "kind": judgement.kind, "spec": judgement.spec, "context": context.to_dict(),
        "verdict": judgement.verdict.value, "window": window.to_dict(),
        "points": {"achieved": number(judgement.achieved), "max": number(judgement.maximum)},
        **judgement.dialect,
        "indicators": [r.to_dict() for r in judgement.reports], "warnings": judgement.warnings,
    }
    if history_id is not None:
        document["history_id"] = history_id
    return document


def write_evaluation(path: Path, document: dict[str, Any], secrets: list[Secret | None]) -> Path:
    """Write evaluation.json atomically, every secret masked (a source bug's exception text or a
    query that embeds a credential must not carry one into an archived artifact)."""
    return write_json(path, redact_data(document, secrets))
