"""Keptn lighthouse 0.8 SLO scoring as pure functions: criteria, comparison pool, total score, and the
judgement of an SLO (lighthouse's evaluation document plus one report per objective).

Why pure: relative criteria (``<=+10%``) make verdicts depend on history, which is exactly
where users lose trust when the semantics are vague (peers.md §3.2, §3.10). Everything here is
a function of the current values and the previous values passed in, so tables pin it down.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pipeline_steps.documents.evaluation import IndicatorReport, Judgement, Window, number
from pipeline_steps.documents.vocabulary import IndicatorStatus, Verdict
from pipeline_steps.gate.slo import Criterion, Objective, SloSpec
from pipeline_steps.history.base import HistoryEntry
from pipeline_steps.sources.base import Fetched

INCLUDED_RESULTS: dict[str, tuple[str, ...] | None] = {"pass": ("pass",), "pass_or_warn": ("pass", "warning"), "all": None}
"""``comparison.include_result_with_score`` -> the stored results the comparison pool draws from."""


def aggregate(values: list[float], function: str) -> float:
    """avg, or pN as lighthouse computed it: position p*(n+1), linear between neighbours
    (p90 of [0..10] = 9.8)."""
    if not values:
        return 0.0
    if function == "avg":
        return sum(values) / len(values)
    ordered = sorted(values)
    p = float(function[1:]) / 100
    pos = p * (len(ordered) + 1)
    if pos < 1.0:
        return ordered[0]
    if pos >= len(ordered):
        return ordered[-1]
    lower, upper = ordered[int(pos) - 1], ordered[int(pos)]
    return lower + (pos - math.floor(pos)) * (upper - lower)


def _compare(value: float, op: str, target: float) -> bool:
    return {"<": value < target, "<=": value <= target, "=": value == target,
            ">": value > target, ">=": value >= target}[op]


def target_of(criterion: Criterion, previous: list[float], function: str) -> tuple[float, bool]:
    """``(target, skip)``: relative criteria without usable previous values pass (target 0)."""
    if not criterion.relative:
        return criterion.number, False
    if not previous:
        return 0.0, True
    base = aggregate(previous, function)
    if criterion.percent:
        return base * (100 + criterion.sign * criterion.number) / 100, False
    return base + criterion.sign * criterion.number, False


def check_blocks(value: float, blocks: tuple[tuple[Criterion, ...], ...], previous: list[float],
                 function: str) -> tuple[bool, list[dict[str, Any]]]:
    """Any block whose criteria all hold; plus lighthouse's target list ``{criteria, targetValue, violated}``."""
    satisfied = False
    targets: list[dict[str, Any]] = []
    for block in blocks:
        block_ok = True
        for criterion in block:
            target, skip = target_of(criterion, previous, function)
            violated = not skip and not _compare(value, criterion.op, target)
            block_ok = block_ok and not violated
            targets.append({"criteria": criterion.text, "targetValue": number(target), "violated": violated})
        satisfied = satisfied or block_ok
    return satisfied, targets


@dataclass
class SliOutcome:
    objective: Objective
    value: float | None
    score: float
    status: IndicatorStatus
    pass_targets: list[dict[str, Any]] = field(default_factory=list)
    warning_targets: list[dict[str, Any]] = field(default_factory=list)
    message: str = ""
    dropped: list[str] = field(default_factory=list)


def evaluate_objective(objective: Objective, value: float | None, previous: list[float], function: str,
                       no_data_message: str = "no value received") -> SliOutcome:
    if value is None:
        status = IndicatorStatus.NO_DATA if objective.passing else IndicatorStatus.INFO
        return SliOutcome(objective, None, 0.0, status, message=no_data_message)
    passed, pass_targets = check_blocks(value, objective.passing, previous, function)
    warned, warning_targets = check_blocks(value, objective.warning, previous, function)
    if not objective.passing:
        return SliOutcome(objective, value, 0.0, IndicatorStatus.INFO, pass_targets, warning_targets)
    if passed:
        return SliOutcome(objective, value, objective.weight, IndicatorStatus.PASS, pass_targets, warning_targets)
    if objective.warning and warned:
        return SliOutcome(objective, value, objective.weight / 2, IndicatorStatus.WARNING, pass_targets, warning_targets)
    return SliOutcome(objective, value, 0.0, IndicatorStatus.FAIL, pass_targets, warning_targets)


_NOT_MET = (IndicatorStatus.FAIL, IndicatorStatus.NO_DATA, IndicatorStatus.ERROR)


@dataclass
class SloOutcome:
    outcomes: list[SliOutcome]
    score: float
    """Percent, 0..100."""
    achieved: float
    maximum: float
    result: str
    key_sli_failed: bool


def score_slo(spec: SloSpec, outcomes: list[SliOutcome]) -> SloOutcome:
    maximum = sum(o.objective.weight for o in outcomes if o.objective.passing)
    achieved = sum(o.score for o in outcomes)
    key_failed = any(o.objective.key_sli and o.status in _NOT_MET for o in outcomes)
    if maximum == 0:
        return SloOutcome(outcomes, 100.0, achieved, maximum, "pass", False)
    score = 100.0 * achieved / maximum
    if score >= spec.total_pass and not key_failed:
        result = "pass"
    elif spec.total_warning is not None and score >= spec.total_warning and not key_failed:
        result = "warning"
    else:
        result = "fail"
    return SloOutcome(outcomes, score, achieved, maximum, result, key_failed)


def history_note(found: int, asked: int) -> str:
    """What a relative criterion with ``found`` of ``asked`` previous results means (empty when enough).
    Lighthouse passed such a criterion silently; we say so (issue 16)."""
    if found == 0:
        return f"no previous results: relative criterion not applied (0 of {asked} asked)"
    if found < asked:
        return f"{found} of {asked} previous results: relative criterion compared with fewer than asked"
    return ""


def _history(objective: Objective, found: int, asked: int) -> dict[str, Any] | None:
    if not any(c.relative for block in (*objective.passing, *objective.warning) for c in block):
        return None
    return {"asked": asked, "found": found, "note": history_note(found, asked)}


def judge(spec: SloSpec, window: Window, fetched: list[Fetched], described: list[str],
          previous: Sequence[HistoryEntry], *, require_history: str = "off") -> Judgement:
    """The verdict on an SLO from each objective's fetched value (in objective order), its query as the
    source describes it, and the comparison pool (``previous``, newest first); a source error makes it ERROR.

    ``require_history`` (off | warning | error, the stricter of the flag and the SLO's setting) decides
    what a relative criterion with fewer previous results than asked does: ``off`` only says so (in
    ``indicators[].history``, the summary and JUnit), ``warning`` turns such a passed indicator and a
    PASS verdict into WARNING, ``error`` turns it and a PASS or WARNING verdict into ERROR (a FAIL stays
    FAIL: the absolute criteria already failed). Scores stay lighthouse's."""
    outcomes: list[SliOutcome] = []
    errors: list[str] = []
    histories: list[dict[str, Any] | None] = []
    for objective, got in zip(spec.objectives, fetched, strict=True):
        # An infinite previous value would make every relative target infinite (always met): a
        # baseline must be finite, so such a value is no baseline (fail closed).
        prev_values = [v for v in (e.value_of(objective.sli) for e in previous) if v is not None and math.isfinite(v)]
        histories.append(_history(objective, len(prev_values), spec.comparison.pool_size))
        if got.error is not None:
            errors.append(f"{objective.sli}: {got.error}")
            outcomes.append(SliOutcome(objective, None, 0.0, IndicatorStatus.ERROR, message=got.error))
            continue
        value = got.samples[0].value if got.samples else None
        dropped = got.dropped_text()
        message = "no value received from the SLI provider" + (f" ({dropped})" if dropped else "")
        outcome = evaluate_objective(objective, value, prev_values, spec.comparison.aggregate_function, message)
        notes = [f"{len(got.samples)} series returned; the first was used (as prometheus-sli-service)"] if len(
            got.samples) > 1 else []
        if value is not None and dropped:
            notes.append(dropped)
        if notes:
            outcome.message = "; ".join(notes)
        outcome.dropped = list(got.dropped_keys)
        outcomes.append(outcome)
    scored = score_slo(spec, outcomes)
    verdict = Verdict.ERROR if errors else Verdict(scored.result.upper())
    doc = _document(spec, window, scored, verdict, [str(e.id) for e in previous])
    if errors:
        doc["error"] = "; ".join(errors)
    reports = [_report(o, spec.provider, d) for o, d in zip(outcomes, described, strict=True)]
    for report, history in zip(reports, histories, strict=True):
        report.history = history
    verdict, warnings = _require_history(reports, verdict, require_history)
    return Judgement("slo", spec.path, verdict, doc, reports, scored.achieved, scored.maximum, scored.result, warnings)


_RAISED = {"warning": (IndicatorStatus.WARNING, (IndicatorStatus.PASS,), (Verdict.PASS,)),
           "error": (IndicatorStatus.ERROR, (IndicatorStatus.PASS, IndicatorStatus.WARNING), (Verdict.PASS, Verdict.WARNING))}


def _require_history(reports: list[IndicatorReport], verdict: Verdict, level: str) -> tuple[Verdict, list[str]]:
    """Apply ``require_history`` to the reports whose relative criteria found fewer results than asked."""
    short = [r for r in reports if r.history and r.history["note"]]
    if not short or verdict is Verdict.ERROR:
        return verdict, []
    names = ", ".join(r.id for r in short)
    if level not in _RAISED:
        return verdict, [f"relative criteria of {names} compared with fewer previous results than asked"
                         " (indicators[].history); --require-history warning|error makes that count"]
    status, raised, verdicts = _RAISED[level]
    for report in short:
        note = (report.history or {})["note"]
        if report.status in raised:
            report.status = status
            report.reason = "; ".join(x for x in (report.reason, f"{note} (require_history: {level})") if x)
    return (Verdict(level.upper()) if verdict in verdicts else verdict), [
        f"relative criteria of {names} compared with fewer previous results than asked; require_history: {level}"]


def _report(o: SliOutcome, provider: str, described: str) -> IndicatorReport:
    obj = o.objective
    blocks = {"pass": [[c.text for c in b] for b in obj.passing], "warning": [[c.text for c in b] for b in obj.warning]}
    text = "; ".join(f"{k}: " + " or ".join("(" + " and ".join(b) + ")" for b in v) for k, v in blocks.items() if v)
    violated = [t for t in o.pass_targets if t["violated"]]
    if o.status in (IndicatorStatus.NO_DATA, IndicatorStatus.ERROR):
        reason = o.message
    elif o.status in (IndicatorStatus.FAIL, IndicatorStatus.WARNING):
        reason = "; ".join(f"{number(o.value or 0)} violates {t['criteria']} (target {t['targetValue']})" for t in violated)
        reason += (" [key SLI]" if obj.key_sli and o.status is IndicatorStatus.FAIL else "")
        reason += f"; {o.message}" if o.message else ""
    else:
        reason = o.message
    max_score = obj.weight if obj.passing else 0.0
    return IndicatorReport(obj.sli, provider, described, o.status, o.score, max_score, value=o.value,
                           thresholds=blocks, criteria_text=text or "no pass criteria (info only)", reason=reason,
                           key_sli=obj.key_sli, dropped=o.dropped)


def _document(spec: SloSpec, window: Window, scored: SloOutcome, verdict: Verdict, compared: list[str]) -> dict[str, Any]:
    """lighthouse's evaluation (``evaluationdetails``), keys in its order."""
    times = window.to_dict()
    results = []
    for o in scored.outcomes:
        value: dict[str, Any] = {"metric": o.objective.sli, "value": number(o.value) if o.value is not None else 0,
                                 "success": o.value is not None}
        if o.message:
            value["message"] = o.message
        status = IndicatorStatus.FAIL if o.status in (IndicatorStatus.NO_DATA, IndicatorStatus.ERROR) else o.status
        results.append({"score": number(o.score), "value": value, "displayName": o.objective.display_name,
                        "passTargets": o.pass_targets or None, "warningTargets": o.warning_targets or None,
                        "keySli": o.objective.key_sli, "status": status.value})
    return {
        "timeStart": times["start"], "timeEnd": times["end"],
        "result": "failed" if verdict is Verdict.ERROR else scored.result, "score": number(round(scored.score, 6)),
        "sloFileContent": base64.b64encode(spec.text.encode()).decode(),
        "indicatorResults": results, "comparedEvents": compared,
    }
