"""Keptn lighthouse 0.8 SLO semantics, pinned by tables with no HTTP.

Aspects: criterion grammar (absolute, signed relative, percent relative; malformed rejected);
aggregates (avg, pN as lighthouse interpolated); relative criteria pass without history; OR
between blocks, AND inside one; warning half weight; info objectives outside the maximum; key
SLI failure forces fail; total percentages; the worked example of keptn/spec 0.1.4; the real
SLO fixtures load with lighthouse's defaults.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline_steps.errors import BadInputError
from pipeline_steps.gate import lighthouse
from pipeline_steps.gate.slo import Comparison, Criterion, Objective, SloSpec, load_slo, parse_criterion

FIXTURES = Path(__file__).parent / "fixtures"


def crit(*texts: str) -> tuple[Criterion, ...]:
    return tuple(parse_criterion(t, "slo.yaml", "x") for t in texts)


def objective(passing: list[list[str]], warning: list[list[str]] | None = None, weight: float = 1,
              key_sli: bool = False, sli: str = "rt") -> Objective:
    return Objective(sli, "", weight, key_sli, tuple(crit(*b) for b in passing), tuple(crit(*b) for b in warning or []))


def spec(*objectives: Objective, total_pass: float = 90, total_warning: float | None = 75) -> SloSpec:
    return SloSpec("slo.yaml", objectives, Comparison("single_result", "all", 1, "avg"), total_pass, total_warning,
                   {}, {}, "sli.yaml", "")


@pytest.mark.parametrize(("text", "op", "num", "relative", "percent", "sign"), [
    ("<600", "<", 600, False, False, 1),
    ("<= 800", "<=", 800, False, False, 1),
    ("=0", "=", 0, False, False, 1),
    (">=+10%", ">=", 10, True, True, 1),
    ("<=-5", "<=", 5, True, False, -1),
    ("<10%", "<", 10, True, True, 1),   # % without a sign counts as + (0.6.2+)
    (">.5", ">", 0.5, False, False, 1),
])
def test_criterion_grammar(text: str, op: str, num: float, relative: bool, percent: bool, sign: int) -> None:
    c = parse_criterion(text, "slo.yaml", "x")
    assert (c.op, c.number, c.relative, c.percent, c.sign) == (op, num, relative, percent, sign)


@pytest.mark.parametrize("text", ["<=+x%", "600", "<", "=>5", "<5%%", "<<5", 5])
def test_malformed_criteria_name_the_field(text: object) -> None:
    with pytest.raises(BadInputError) as err:
        parse_criterion(text, "slo.yaml", "objectives[0].pass[0].criteria[0]")
    assert str(err.value).startswith("slo.yaml: objectives[0].pass[0].criteria[0]: ")


@pytest.mark.parametrize(("values", "function", "expected"), [
    ([1, 2, 3, 6], "avg", 3.0),
    (list(range(11)), "p90", 9.8),
    (list(range(11)), "p50", 5.0),
    ([5], "p95", 5.0),
    ([1, 2], "p50", 1.5),
    ([], "avg", 0.0),
])
def test_aggregates(values: list[float], function: str, expected: float) -> None:
    assert lighthouse.aggregate([float(v) for v in values], function) == pytest.approx(expected)


def test_relative_criteria_pass_without_history_and_use_the_aggregate_with_it() -> None:
    obj = objective([["<=+10%"]])
    alone = lighthouse.evaluate_objective(obj, 1000.0, [], "avg")
    assert alone.status == "pass" and alone.pass_targets == [{"criteria": "<=+10%", "targetValue": 0, "violated": False}]
    compared = lighthouse.evaluate_objective(obj, 1000.0, [400.0, 600.0], "avg")
    assert compared.status == "fail" and compared.pass_targets[0]["targetValue"] == pytest.approx(550.0)
    minus = lighthouse.evaluate_objective(objective([[">=-50"]]), 460.0, [500.0], "avg")
    assert minus.status == "pass" and minus.pass_targets[0]["targetValue"] == 450


def test_worked_example_of_the_keptn_spec() -> None:
    obj = objective([["<=+10%", "<600"]], [["<=800"]])
    out = lighthouse.evaluate_objective(obj, 1002.6278552658177, [499.2698142261025], "avg")
    assert out.status == "fail" and out.score == 0
    assert out.pass_targets[0]["targetValue"] == pytest.approx(549.1967956487127)
    assert [t["violated"] for t in out.pass_targets + out.warning_targets] == [True, True, True]
    assert lighthouse.score_slo(spec(obj), [out]).result == "fail"


@pytest.mark.parametrize(("value", "status", "score"), [
    (100.0, "pass", 2),      # first block
    (700.0, "warning", 1),   # neither pass block, warning block holds: half weight
    (5000.0, "fail", 0),
    (-1.0, "pass", 2),       # second pass block (OR)
])
def test_blocks_or_and_warning_half(value: float, status: str, score: float) -> None:
    obj = objective([["<600", ">=0"], ["<0"]], [["<=800"]], weight=2)
    out = lighthouse.evaluate_objective(obj, value, [], "avg")
    assert (out.status, out.score) == (status, score)


def test_total_score_info_objectives_and_key_sli() -> None:
    a, b, info = objective([["<10"]], sli="a"), objective([["<10"]], [["<20"]], sli="b"), objective([], sli="c")
    outs = [lighthouse.evaluate_objective(a, 1.0, [], "avg"), lighthouse.evaluate_objective(b, 15.0, [], "avg"),
            lighthouse.evaluate_objective(info, 99.0, [], "avg")]
    scored = lighthouse.score_slo(spec(a, b, info), outs)
    assert (scored.maximum, scored.achieved, scored.score, scored.result) == (2, 1.5, 75.0, "warning")
    assert outs[2].status == "info"
    key = objective([["<10"]], key_sli=True, sli="k")
    many = [objective([["<10"]], sli=f"o{i}") for i in range(9)]
    outs2 = [lighthouse.evaluate_objective(o, 1.0, [], "avg") for o in many]
    outs2.append(lighthouse.evaluate_objective(key, 50.0, [], "avg"))
    scored2 = lighthouse.score_slo(spec(*many, key), outs2)
    assert scored2.score == 90.0 and scored2.result == "fail" and scored2.key_sli_failed


def test_no_value_fails_the_objective_and_only_pass_criteria_count_to_the_maximum() -> None:
    obj = objective([["<10"]])
    out = lighthouse.evaluate_objective(obj, None, [], "avg")
    assert (out.status, out.score) == ("no_data", 0)
    assert lighthouse.score_slo(spec(obj), [out]).result == "fail"
    assert lighthouse.score_slo(spec(objective([])), [lighthouse.evaluate_objective(objective([]), None, [], "avg")]).score == 100


def test_real_slo_fixtures_load_with_lighthouse_defaults(tmp_path: Path) -> None:
    sli = tmp_path / "sli.yaml"
    sli.write_text("indicators:\n  request_latency_p95: q1\n  error_rate: q2\n")
    loaded = load_slo(FIXTURES / "slo.yaml", sli)
    assert [o.sli for o in loaded.objectives] == ["request_latency_p95", "error_rate"]
    assert loaded.objectives[1].weight == 2 and loaded.total_pass == 90 and loaded.total_warning == 75
    assert loaded.comparison.pool_size == 1 and loaded.comparison.include_result_with_score == "pass"
    assert loaded.filters == {"handler": "ItemsController.addToCart"}
    gates = load_slo(FIXTURES / "slo-quality-gates.yaml", FIXTURES / "sli-config-prometheus.yaml")
    assert gates.objectives[0].passing[0][0].relative and gates.objectives[0].display_name == "Response time P95"
    bare = tmp_path / "slo.yaml"
    bare.write_text("objectives:\n  - sli: rt\n    weight: 0\n    pass: [{criteria: ['<1']}]\ntotal_score: {pass: 90%}\n")
    sli.write_text("indicators: {rt: q}\n")
    defaults = load_slo(bare, sli)
    assert defaults.comparison == Comparison("single_result", "all", 1, "avg") and defaults.objectives[0].weight == 1
    assert defaults.total_warning is None
