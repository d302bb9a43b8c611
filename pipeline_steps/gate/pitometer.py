"""Pitometer 1.0.x scoring: the threshold grader (1.0.1) and the run's total and result, as pure functions.

Why pure: verdicts must equal what Pitometer computed for the same values, quirks included
(inclusive breaches, a threshold of 0 ignored, lower and upper checks independent, minimum
over series, halving on warning, total as a plain sum). Keeping them free of I/O lets the tests
pin every quirk with a table. docs/gate.md lists what is kept and what is fixed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pipeline_steps.gate.model import Fetched, number
from pipeline_steps.gate.perfspec import Grading

NO_VALUES = "The indicator returned no values"


@dataclass(frozen=True)
class Graded:
    """One indicator's result in Pitometer's terms plus the status our reports use."""

    score: float
    violations: list[dict[str, Any]] = field(default_factory=list)
    status: str = "pass"
    """pass | warning | fail | no_data"""


def grade(fetched: Fetched, grading: Grading) -> Graded:
    """Grade the samples of one indicator (Fetched without error) the way grader 1.0.1 did."""
    t = grading.thresholds
    meta = {"metadata": grading.metadata} if grading.metadata is not None else {}
    if not fetched.samples:
        if grading.ignore_empty:
            return Graded(grading.metric_score, [], "pass")
        return Graded(0.0, [{**meta, "breach": NO_VALUES}], "no_data")
    best: float | None = None
    violations: list[dict[str, Any]] = []
    for sample in fetched.samples:
        score = grading.metric_score
        v = sample.value
        # Truthiness, as in JavaScript: a threshold of 0 (or absent) never fires.
        if t.get("lowerSevere") and v <= t["lowerSevere"]:
            score = 0.0
            violations.append(_violation(meta, sample.key, v, "lowerSevere", t["lowerSevere"]))
        elif t.get("lowerWarning") and v <= t["lowerWarning"]:
            score /= 2
            violations.append(_violation(meta, sample.key, v, "lowerWarning", t["lowerWarning"]))
        if t.get("upperSevere") and v >= t["upperSevere"]:
            score = 0.0
            violations.append(_violation(meta, sample.key, v, "upperSevere", t["upperSevere"]))
        elif t.get("upperWarning") and v >= t["upperWarning"]:
            score /= 2
            violations.append(_violation(meta, sample.key, v, "upperWarning", t["upperWarning"]))
        if best is None or score < best:
            best = score
    assert best is not None
    status = "pass" if best >= grading.metric_score else ("fail" if best == 0 else "warning")
    if grading.metric_score == 0:
        status = "fail" if any(v["breach"].endswith("Severe") for v in violations) else (
            "warning" if violations else "pass")
    return Graded(best, violations, status)


def _violation(meta: dict[str, Any], key: str, value: float, breach: str, threshold: float) -> dict[str, Any]:
    return {**meta, "value": number(value), "key": key, "breach": breach, "threshold": number(threshold)}


def total_and_result(scores: list[float], objectives: dict[str, float]) -> tuple[float, str]:
    """``totalScore`` (plain sum, not capped or normalised) and ``pass|warning|fail``."""
    total = sum(scores)
    if objectives["pass"] <= total:
        return total, "pass"
    if objectives["warning"] <= total:
        return total, "warning"
    return total, "fail"


def run_document(window_start: float, window_end: float, total: float, objectives: dict[str, float],
                 results: list[tuple[str, Graded]], result: str) -> dict[str, Any]:
    """Pitometer's run result, keys in its order; numbers as numbers."""
    return {
        "options": {"timeStart": number(float(int(window_start))), "timeEnd": number(float(int(window_end)))},
        "totalScore": number(total),
        "objectives": {"pass": number(objectives["pass"]), "warning": number(objectives["warning"])},
        "indicatorResults": [{"id": ident, "violations": g.violations, "score": number(g.score)} for ident, g in results],
        "result": result,
    }
