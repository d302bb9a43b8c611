"""Keptn lighthouse 0.8 SLO scoring as pure functions: criteria, comparison pool, total score.

Why pure: relative criteria (``<=+10%``) make verdicts depend on history, which is exactly
where users lose trust when the semantics are vague (peers.md §3.2, §3.10). Everything here is
a function of the current values and the previous values passed in, so tables pin it down.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from pipeline_steps.gate.model import number
from pipeline_steps.gate.slo import Criterion, Objective, SloSpec


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
    status: str
    """pass | warning | fail | no_data | info"""
    pass_targets: list[dict[str, Any]] = field(default_factory=list)
    warning_targets: list[dict[str, Any]] = field(default_factory=list)
    message: str = ""


def evaluate_objective(objective: Objective, value: float | None, previous: list[float], function: str,
                       no_data_message: str = "no value received") -> SliOutcome:
    if value is None:
        status = "no_data" if objective.passing else "info"
        return SliOutcome(objective, None, 0.0, status, message=no_data_message)
    passed, pass_targets = check_blocks(value, objective.passing, previous, function)
    warned, warning_targets = check_blocks(value, objective.warning, previous, function)
    if not objective.passing:
        return SliOutcome(objective, value, 0.0, "info", pass_targets, warning_targets)
    if passed:
        return SliOutcome(objective, value, objective.weight, "pass", pass_targets, warning_targets)
    if objective.warning and warned:
        return SliOutcome(objective, value, objective.weight / 2, "warning", pass_targets, warning_targets)
    return SliOutcome(objective, value, 0.0, "fail", pass_targets, warning_targets)


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
    key_failed = any(o.objective.key_sli and o.status in ("fail", "no_data", "error") for o in outcomes)
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
