"""Pitometer 1.0.x scoring: the threshold grader (1.0.1), the run's total and result, and the judgement
of a perfspec (Pitometer's run document plus one report per indicator), as pure functions.

Why pure: verdicts must equal what Pitometer computed for the same values, quirks included
(inclusive breaches, a threshold of 0 ignored, lower and upper checks independent, minimum
over series, halving on warning, total as a plain sum). Keeping them free of I/O lets the tests
pin every quirk with a table. docs/gate.md lists what is kept and what is fixed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pipeline_steps.documents.evaluation import IndicatorReport, Judgement, Window, number
from pipeline_steps.documents.vocabulary import IndicatorStatus, Verdict
from pipeline_steps.gate.perfspec import LEGACY_KEYS, Grading, PerfIndicator, PerfSpec
from pipeline_steps.sources.base import Fetched

NO_VALUES = "The indicator returned no values"


@dataclass(frozen=True)
class Graded:
    """One indicator's result in Pitometer's terms plus the status our reports use."""

    score: float
    violations: list[dict[str, Any]] = field(default_factory=list)
    status: IndicatorStatus = IndicatorStatus.PASS
    """pass | warning | fail | no_data"""


def grade(fetched: Fetched, grading: Grading) -> Graded:
    """Grade the samples of one indicator (Fetched without error) the way grader 1.0.1 did."""
    t = grading.thresholds
    meta = {"metadata": grading.metadata} if grading.metadata is not None else {}
    if not fetched.samples:
        if grading.ignore_empty:
            return Graded(grading.metric_score, [], IndicatorStatus.PASS)
        return Graded(0.0, [{**meta, "breach": NO_VALUES}], IndicatorStatus.NO_DATA)
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
    status = IndicatorStatus.PASS if best >= grading.metric_score else (
        IndicatorStatus.FAIL if best == 0 else IndicatorStatus.WARNING)
    if grading.metric_score == 0:
        status = IndicatorStatus.FAIL if any(v["breach"].endswith("Severe") for v in violations) else (
            IndicatorStatus.WARNING if violations else IndicatorStatus.PASS)
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


def run_document(window: Window, total: float, objectives: dict[str, float], results: list[tuple[str, Graded]],
                 result: str) -> dict[str, Any]:
    """Pitometer's run result, keys in its order; numbers as numbers."""
    return {
        "options": {"timeStart": number(float(int(window.start))), "timeEnd": number(float(int(window.end)))},
        "totalScore": number(total),
        "objectives": {"pass": number(objectives["pass"]), "warning": number(objectives["warning"])},
        "indicatorResults": [{"id": ident, "violations": g.violations, "score": number(g.score)} for ident, g in results],
        "result": result,
    }


def judge(spec: PerfSpec, window: Window, fetched: list[Fetched], described: list[str]) -> Judgement:
    """The verdict on a perfspec from each indicator's fetched samples (in spec order) and its query as
    the source describes it: any source error makes it ERROR, never PASS (Pitometer had no such state)."""
    reports: list[IndicatorReport] = []
    graded: list[tuple[str, Graded]] = []
    errors: list[str] = []
    for ind, query, got in zip(spec.indicators, described, fetched, strict=True):
        if got.error is not None:
            errors.append(f"{ind.id}: {got.error}")
            reports.append(IndicatorReport(ind.id, ind.source, query, IndicatorStatus.ERROR, 0.0, ind.grading.metric_score,
                                           thresholds=dict(ind.grading.thresholds), criteria_text=threshold_text(ind),
                                           reason=got.error))
            continue
        result = grade(got, ind.grading)
        graded.append((ind.id, result))
        reports.append(_report(ind, query, got, result))
    total, result_word = total_and_result([g.score for _, g in graded], spec.objectives)
    doc = run_document(window, total, spec.objectives, graded, result_word)
    verdict = Verdict.ERROR if errors else Verdict(result_word.upper())
    if errors:
        doc["result"] = "failed"
        doc["error"] = "; ".join(errors)
    warnings = [f"{ind.id}: threshold key {k!r} is not known and ignored (as Pitometer did)"
                for ind in spec.indicators for k in ind.ignored_keys]
    warnings += [f"{ind.id}: threshold key {k!r} read as {LEGACY_KEYS[k]!r} (pre-release Pitometer name; 1.0.1 ignored it)"
                 for ind in spec.indicators for k in ind.legacy_keys]
    maximum = sum(ind.grading.metric_score for ind in spec.indicators)
    return Judgement("perfspec", spec.path, verdict, doc, reports, total, maximum, result_word, warnings)


def threshold_text(ind: PerfIndicator) -> str:
    """The thresholds as one human line: ``fail if >= 0.8; warn if >= 0.5``."""
    parts = []
    for key, op in (("upperSevere", ">="), ("upperWarning", ">="), ("lowerWarning", "<="), ("lowerSevere", "<=")):
        if key in ind.grading.thresholds:
            value = ind.grading.thresholds[key]
            level = "fail" if key.endswith("Severe") else "warn"
            parts.append(f"{level} if {op} {number(value)}" + (" (0: ignored, as Pitometer)" if value == 0 else ""))
    return "; ".join(parts) or "no thresholds"


def _report(ind: PerfIndicator, described: str, got: Fetched, result: Graded) -> IndicatorReport:
    worst = None
    worst_score = None
    for sample in got.samples:
        score = grade(Fetched(samples=[sample]), ind.grading).score
        if worst_score is None or score < worst_score:
            worst, worst_score = sample, score
    if result.status is IndicatorStatus.NO_DATA:
        reasons = [NO_VALUES]
    else:
        reasons = [f"{v['value']} breaches {v['breach']} {v['threshold']}" + (f" on {v['key']}" if v["key"] else "")
                   for v in result.violations]
    reasons += [got.dropped_text()] if got.dropped else []  # a dropped series is never silent, even on a pass
    return IndicatorReport(ind.id, ind.source, described, result.status, result.score, ind.grading.metric_score,
                           value=worst.value if worst else None, values=list(got.samples),
                           thresholds={k: number(v) for k, v in ind.grading.thresholds.items()},
                           criteria_text=threshold_text(ind), reason="; ".join(r for r in reasons if r),
                           dropped=list(got.dropped_keys))
