"""Load and validate a Pitometer ``perfspec.json`` into frozen dataclasses, once, at the edge.

Why strict where Pitometer was lax: Pitometer silently skipped an indicator whose source was not
registered and let duplicate ids overwrite each other, so a typo could turn a gate into a pass.
Here every such problem is a ``BadInputError`` naming the file and the field, raised before any
query runs or any history is written. Quirks that change verdicts are kept (docs/gate.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline_steps.errors import BadInputError
from pipeline_steps.files import read_json
from pipeline_steps.finite import number
from pipeline_steps.gate.placeholders import Query, check_queries
from pipeline_steps.sources import SOURCES

THRESHOLD_KEYS = ("lowerSevere", "lowerWarning", "upperSevere", "upperWarning")
LEGACY_KEYS = {"lower_critical": "lowerSevere", "lower_warning": "lowerWarning",
               "upper_critical": "upperSevere", "upper_warning": "upperWarning"}
"""The pre-release grader's names, still in third-party docs. Grader 1.0.1 ignored them, so such a
gate could never breach; they are read as the current names (unless those are given too)."""
GRADERS = {"threshold": "Threshold"}
"""Grading types (matched case-insensitively); Pitometer 1.0 knew only ``Threshold``."""


@dataclass(frozen=True)
class Grading:
    thresholds: dict[str, float]
    """Only the four known keys; values are numbers (a 0 is kept here and ignored by the grader)."""
    metric_score: float
    ignore_empty: bool = False
    metadata: Any = None
    """``grading.metadata`` (grader 1.0.1 copies it into every violation)."""


@dataclass(frozen=True)
class PerfIndicator:
    id: str
    source: str
    """Lower-case key of ``SOURCES``."""
    query: Any
    """What its source accepts (``MetricSource.check_query``): a string, or a query object."""
    grading: Grading
    ignored_keys: tuple[str, ...] = ()
    """Threshold keys Pitometer ignores (e.g. the sample's ``"lowerWarning "`` typo); reported as warnings."""
    legacy_keys: tuple[str, ...] = ()
    """``LEGACY_KEYS`` that were read as their current names; reported as warnings."""


@dataclass(frozen=True)
class PerfSpec:
    path: str
    indicators: tuple[PerfIndicator, ...]
    objectives: dict[str, float]
    """``{"pass": p, "warning": w}`` in absolute points."""

    def queries(self) -> list[Query]:
        return [(f"indicators[{i}].query", ind.source, ind.query) for i, ind in enumerate(self.indicators)]


def load_perfspec(path: Path | str) -> PerfSpec:
    """Parse ``path``; raise ``BadInputError(file, field, why)`` for the first problem found."""
    return parse_perfspec(read_json(path), str(path))


def parse_perfspec(doc: Any, name: str) -> PerfSpec:
    if not isinstance(doc, dict):
        raise BadInputError(name, None, "must be a JSON object")
    indicators = doc.get("indicators")
    if not isinstance(indicators, list) or not indicators:
        raise BadInputError(name, "indicators", "must be a non-empty list (Keptn: 'Bad perfspec format.')")
    objectives = doc.get("objectives")
    if not isinstance(objectives, dict):
        raise BadInputError(name, "objectives", "must be an object with pass and warning")
    for key in ("pass", "warning"):
        number(objectives.get(key), name, f"objectives.{key}")
    parsed: list[PerfIndicator] = []
    seen: dict[str, int] = {}
    for i, raw in enumerate(indicators):
        indicator = _parse_indicator(raw, name, f"indicators[{i}]")
        if indicator.id in seen:
            raise BadInputError(name, f"indicators[{i}].id",
                                f"duplicate id {indicator.id!r} (also indicators[{seen[indicator.id]}]); ids must be unique")
        seen[indicator.id] = i
        parsed.append(indicator)
    return PerfSpec(name, tuple(parsed), {"pass": float(objectives["pass"]), "warning": float(objectives["warning"])})


def _parse_indicator(raw: Any, name: str, where: str) -> PerfIndicator:
    if not isinstance(raw, dict):
        raise BadInputError(name, where, "must be an object")
    ident = raw.get("id")
    if not isinstance(ident, str) or not ident.strip():
        raise BadInputError(name, f"{where}.id", "must be a non-empty string")
    label = f"{where}.source"
    source = raw.get("source")
    if not isinstance(source, str) or source.lower() not in SOURCES:
        raise BadInputError(name, label, f"indicator {ident!r}: unknown source {source!r}; valid: {', '.join(SOURCES)}")
    query = raw.get("query")
    check_queries(name, [(f"{where}.query", source.lower(), query)])
    grading = raw.get("grading")
    if not isinstance(grading, dict):
        raise BadInputError(name, f"{where}.grading", "must be an object")
    gtype = grading.get("type")
    if not isinstance(gtype, str) or gtype.lower() not in GRADERS:
        raise BadInputError(name, f"{where}.grading.type",
                            f"indicator {ident!r}: unknown grading type {gtype!r}; valid: {', '.join(GRADERS.values())}")
    thresholds = grading.get("thresholds", {})
    if not isinstance(thresholds, dict):
        raise BadInputError(name, f"{where}.grading.thresholds", "must be an object")
    known: dict[str, float] = {}
    legacy: list[str] = []
    for key, value in thresholds.items():
        canonical = LEGACY_KEYS.get(key, key)
        if canonical not in THRESHOLD_KEYS or (key in LEGACY_KEYS and canonical in thresholds):
            continue
        known[canonical] = float(number(value, name, f"{where}.grading.thresholds.{key}"))
        if key in LEGACY_KEYS:
            legacy.append(key)
    score = number(grading.get("metricScore"), name, f"{where}.grading.metricScore", minimum=0)
    ignore_empty = grading.get("ignoreEmpty", False)
    if not isinstance(ignore_empty, bool):
        raise BadInputError(name, f"{where}.grading.ignoreEmpty", "must be true or false")
    ignored = tuple(k for k in thresholds if k not in THRESHOLD_KEYS and k not in legacy)
    return PerfIndicator(ident, source.lower(), query, Grading(known, float(score), ignore_empty, grading.get("metadata")),
                         ignored, tuple(legacy))
