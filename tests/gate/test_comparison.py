"""Lighthouse 0.8 comparison against history, end to end through the evaluate step (testrun source, real SQLite).

Aspects: which earlier evaluations form the pool (compare_with single_result/several_results,
number_of_comparison_results, include_result_with_score all/pass/pass_or_warn, filtering on the
earlier evaluation's overall result, newest first), lighthouse's defaults (no comparison block:
1 result; a block without compare_with: 3 results whatever the number says; N missing or 0: 3),
and the aggregate (avg, p90, p95) that the relative target is built from; comparedEvents names
the pool.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline_steps.documents.context import StageContext
from pipeline_steps.documents.evaluation import IndicatorReport, Window
from pipeline_steps.documents.vocabulary import IndicatorStatus
from pipeline_steps.gate.slo import load_slo
from pipeline_steps.history import open_history
from pipeline_steps.sources.base import SourceSettings
from pipeline_steps.sources.testrun import TestrunSettings
from pipeline_steps.steps.evaluate import GateRun, evaluate

CTX = StageContext("sockshop", "staging", "carts")
# Earlier evaluations, oldest first: (value of rt, overall result). Ids are 1..4.
EARLIER = [(100.0, "pass"), (200.0, "warning"), (600.0, "fail"), (400.0, "pass")]

DOCUMENT = {"performance": {"latency_ms": {"p95": 1.0}}}


@pytest.mark.parametrize(("comparison", "compared", "target"), [
    ("", [4], 440.0),                                                                        # no block: single_result
    ("{compare_with: single_result, number_of_comparison_results: 3}", [4], 440.0),
    ("{compare_with: several_results, number_of_comparison_results: 2}", [4, 3], 550.0),    # avg(400, 600)
    ("{compare_with: several_results, number_of_comparison_results: 3, include_result_with_score: pass}",
     [4, 1], 275.0),                                                                         # the fail and warning left out
    ("{compare_with: several_results, number_of_comparison_results: 3, include_result_with_score: pass_or_warn}",
     [4, 2, 1], 700.0 / 3 * 1.1),
    ("{number_of_comparison_results: 2, aggregate_function: p90}", [4, 3, 2], 660.0),       # no compare_with: 3 results
    ("{compare_with: several_results, aggregate_function: p95}", [4, 3, 2], 660.0),         # N missing: 3
    ("{compare_with: several_results, number_of_comparison_results: 2, aggregate_function: p90}",
     [4, 3], 660.0),                                                # p90 of (400, 600): position 2.7 >= n, the largest
])
def test_comparison_pool_and_aggregate(tmp_path: Path, comparison: str, compared: list[int], target: float) -> None:
    history = open_history(str(tmp_path / "h.sqlite"))
    for value, result in EARLIER:
        history.add(context=CTX.to_dict(), kind="slo", verdict=result.upper(), result=result, score=1, max_score=1,
                    indicators=[IndicatorReport("rt", "testrun", "q", IndicatorStatus(result), 1, 1, value=value)])
    slo = tmp_path / "slo.yaml"
    slo.write_text((f"comparison: {comparison}\n" if comparison else "")
                   + "objectives:\n  - sli: rt\n    pass: [{criteria: ['<=+10%']}]\ntotal_score: {pass: '90%'}\n")
    sli = tmp_path / "sli.yaml"
    sli.write_text("indicators:\n  rt: performance.latency_ms.p95\n")
    run = GateRun(context=CTX, window=Window(1000, 1060), out_dir=tmp_path / "out", history=history,
                  settings=SourceSettings(context=CTX, groups={"testrun": TestrunSettings(DOCUMENT)}))
    outcome = evaluate(load_slo(slo, sli, "testrun"), run)
    assert outcome.document["comparedEvents"] == [str(i) for i in compared]
    assert outcome.document["indicatorResults"][0]["passTargets"][0]["targetValue"] == pytest.approx(target)
    assert outcome.verdict.value == "PASS"
