"""The small value types every part of the gate shares: window, samples, statuses, verdicts.

Why a module of its own: sources produce ``Sample`` lists, graders judge them, scoring turns
judgements into a ``Verdict``, and the report/history read the results; none of them should
import another's internals to name a type.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from pipeline_steps.errors import ExitCode


class Verdict(str, Enum):
    """The closed verdict set: ``ERROR`` (broken) is kept apart from ``FAIL`` (bad)."""

    PASS = "PASS"
    WARNING = "WARNING"
    FAIL = "FAIL"
    ERROR = "ERROR"

    @property
    def exit_code(self) -> ExitCode:
        return {Verdict.PASS: ExitCode.OK, Verdict.WARNING: ExitCode.WARNING,
                Verdict.FAIL: ExitCode.FAIL, Verdict.ERROR: ExitCode.INFRA}[self]


# Per-indicator status, as the history store and the report see it.
STATUSES = ("pass", "warning", "fail", "no_data", "error", "info")


@dataclass(frozen=True)
class Window:
    """The evaluation window in unix seconds; instant queries are evaluated at ``end``."""

    start: float
    end: float

    @property
    def seconds(self) -> float:
        return self.end - self.start

    def to_dict(self) -> dict[str, Any]:
        from datetime import datetime, timezone

        def iso(t: float) -> str:
            return datetime.fromtimestamp(t, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

        return {"start": iso(self.start), "end": iso(self.end), "start_unix": self.start, "end_unix": self.end}


@dataclass(frozen=True)
class Sample:
    """One series' value: ``key`` names the series (Prometheus labels as JSON, a Dynatrace entity)."""

    key: str
    value: float


@dataclass(frozen=True)
class Fetched:
    """What a source returned for one indicator: the usable samples, or the error that stopped it."""

    samples: list[Sample] = field(default_factory=list)
    dropped: int = 0
    """Series dropped because their value was NaN/Inf/null (an idle instance, e.g. the colour without traffic)."""
    error: str | None = None
    """Set when the source was down or answered an error; the verdict becomes ERROR."""

    @property
    def values(self) -> list[float]:
        return [s.value for s in self.samples]


def finite_samples(pairs: list[tuple[str, Any]]) -> Fetched:
    """Samples from ``(key, raw value)`` pairs, dropping values that are not finite numbers."""
    kept: list[Sample] = []
    dropped = 0
    for key, raw in pairs:
        try:
            value = float(raw)
        except (TypeError, ValueError):
            dropped += 1
            continue
        if math.isfinite(value):
            kept.append(Sample(key, value))
        else:
            dropped += 1
    return Fetched(samples=kept, dropped=dropped)


def number(value: float) -> float | int:
    """``value`` as JSON would print it from JavaScript: integral floats become ints (100, not 100.0)."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value


@dataclass
class IndicatorReport:
    """One indicator as every report sees it (evaluation.json ``indicators``, JUnit, summary, history)."""

    id: str
    source: str
    query: str
    """The query after placeholder substitution (Dynatrace: the request it became)."""
    status: str
    """pass | warning | fail | no_data | error | info"""
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

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "source": self.source, "query": self.query, "status": self.status,
            "value": None if self.value is None else number(self.value),
            "values": [{"key": s.key, "value": number(s.value)} for s in self.values],
            "thresholds": self.thresholds, "criteria": self.criteria_text,
            "score": number(self.score), "max_score": number(self.max_score), "reason": self.reason,
            "key_sli": self.key_sli,
        }
