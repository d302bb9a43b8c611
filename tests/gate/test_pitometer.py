"""Pitometer 1.0.x scoring (threshold grader 1.0.1), pinned by tables with no HTTP.

Aspects: inclusive breaches; a threshold of 0 ignored (truthiness); lower and upper checks
independent (two warnings quarter the score); minimum over series; halving on warning; no values
scores 0 with a violation unless ignoreEmpty; total is a plain uncapped sum; pass/warning
objectives; the run document reproduces real Pitometer output captured in the Keptn 0.2.2 docs;
the pre-release names (upper_critical, ...) are read as the current ones (1.0.1 ignored them: a
gate that could never breach), the current name winning when both are given.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from pipeline_steps.documents.evaluation import Sample, Window
from pipeline_steps.gate import pitometer
from pipeline_steps.gate.perfspec import Grading, parse_perfspec
from pipeline_steps.sources.base import Fetched

FIXTURES = Path(__file__).parent / "fixtures"


def fetched(*values: float) -> Fetched:
    return Fetched(samples=[Sample(f"s{i}", v) for i, v in enumerate(values)])


@pytest.mark.parametrize(("thresholds", "values", "score", "breaches"), [
    ({"upperSevere": 0.8}, [0.79], 100, []),
    ({"upperSevere": 0.8}, [0.8], 0, ["upperSevere"]),                       # inclusive
    ({"upperSevere": 0.8, "upperWarning": 0.5}, [0.5], 50, ["upperWarning"]),  # inclusive, halved
    ({"upperSevere": 0.8, "upperWarning": 0.5}, [0.9], 0, ["upperSevere"]),    # severe wins, no warning listed
    ({"lowerSevere": 0}, [-5.0], 100, []),                                    # 0 is ignored (truthiness)
    ({"upperSevere": 0}, [3.0], 100, []),
    ({"lowerWarning": 10, "upperWarning": 5}, [7.0], 25, ["lowerWarning", "upperWarning"]),  # independent
    ({"lowerSevere": 10, "upperSevere": 5}, [7.0], 0, ["lowerSevere", "upperSevere"]),
    ({"lowerSevere": 1}, [1.0], 0, ["lowerSevere"]),                          # inclusive lower
    ({}, [1e9], 100, []),
])
def test_threshold_grader_quirks(thresholds: dict[str, float], values: list[float], score: float, breaches: list[str]) -> None:
    result = pitometer.grade(fetched(*values), Grading(thresholds, 100))
    assert result.score == score
    assert [v["breach"] for v in result.violations] == breaches


def test_minimum_over_series_and_every_violation_listed() -> None:
    result = pitometer.grade(fetched(0.1, 0.6, 0.9, 0.2), Grading({"upperSevere": 0.8, "upperWarning": 0.5}, 40))
    assert result.score == 0
    assert [(v["key"], v["breach"]) for v in result.violations] == [("s1", "upperWarning"), ("s2", "upperSevere")]
    assert result.status == "fail"


def test_no_values_scores_zero_unless_ignore_empty() -> None:
    empty = pitometer.grade(Fetched(), Grading({"upperSevere": 1}, 30))
    assert (empty.score, empty.status) == (0, "no_data")
    assert empty.violations == [{"breach": "The indicator returned no values"}]
    ignored = pitometer.grade(Fetched(dropped=2), Grading({"upperSevere": 1}, 30, ignore_empty=True))
    assert (ignored.score, ignored.violations) == (30, [])


def test_metadata_is_copied_into_violations_first() -> None:
    result = pitometer.grade(fetched(5), Grading({"upperSevere": 2}, 10, metadata={"playbookhints": ["x"]}))
    assert list(result.violations[0]) == ["metadata", "value", "key", "breach", "threshold"]


@pytest.mark.parametrize(("scores", "result"), [
    ([100], "pass"), ([90], "pass"), ([89.5], "warning"), ([75], "warning"), ([74], "fail"),
    ([100, 100, -150], "fail"), ([50, 50, 40], "pass"),  # a plain sum, 140 is not capped
])
def test_total_and_result(scores: list[float], result: str) -> None:
    total, word = pitometer.total_and_result(scores, {"pass": 90, "warning": 75})
    assert total == sum(scores) and word == result


def test_run_document_matches_real_pitometer_output() -> None:
    text = (FIXTURES / "evaluation-done-fail.jsonc").read_text()
    expected = json.loads("\n".join(line.split("//")[0] for line in text.splitlines()))["data"]["evaluationdetails"]
    grading = Grading({"upperSevere": 1000000, "upperWarning": 800000}, 100)
    graded = pitometer.grade(Fetched(samples=[Sample("SERVICE-64F930D2B8E888FF", 1014676.0082135524)]), grading)
    total, word = pitometer.total_and_result([graded.score], {"pass": 90, "warning": 75})
    doc = pitometer.run_document(Window(1557839081, 1557839741), total, {"pass": 90, "warning": 75},
                                 [("ResponseTime_Backend", graded)], word)
    assert json.dumps(doc) == json.dumps(expected)


@pytest.mark.parametrize(("thresholds", "value", "score", "breaches", "legacy", "ignored"), [
    ({"upper_critical": 0.8}, 0.9, 0, ["upperSevere"], ("upper_critical",), ()),
    ({"upper_warning": 0.5, "upper_critical": 0.8}, 0.6, 50, ["upperWarning"], ("upper_warning", "upper_critical"), ()),
    ({"lower_critical": 10, "lower_warning": 20}, 15, 50, ["lowerWarning"], ("lower_critical", "lower_warning"), ()),
    ({"upperSevere": 2, "upper_critical": 0.8}, 0.9, 100, [], (), ("upper_critical",)),  # the current name wins
    ({"lowerWarning ": 5}, 1, 100, [], (), ("lowerWarning ",)),                           # the sample's typo: ignored
])
def test_legacy_threshold_names(thresholds: dict[str, float], value: float, score: float, breaches: list[str],
                                legacy: tuple[str, ...], ignored: tuple[str, ...]) -> None:
    spec = parse_perfspec({"indicators": [{"id": "rt", "source": "Prometheus", "query": "q", "grading": {
        "type": "Threshold", "thresholds": thresholds, "metricScore": 100}}], "objectives": {"pass": 90, "warning": 75}},
        "p.json")
    indicator = spec.indicators[0]
    assert (indicator.legacy_keys, indicator.ignored_keys) == (legacy, ignored)
    result = pitometer.grade(fetched(value), indicator.grading)
    assert result.score == score and [v["breach"] for v in result.violations] == breaches


@pytest.mark.parametrize(("values", "thresholds", "score"), [
    ([0.01, math.inf], {"upperSevere": 0.1}, 0.0),            # +Inf breaches an upper threshold
    ([0.5, -math.inf], {"lowerSevere": 0.1}, 0.0),            # -Inf breaches a lower one
    ([0.5, math.inf], {"lowerSevere": 0.1}, 100.0),           # +Inf against a lower bound only: a value like any other
    ([0.5, -math.inf], {"upperWarning": 1}, 100.0),
    ([math.inf], {"upperWarning": 1, "upperSevere": 2}, 0.0),  # severe wins over warning on the same side
])
def test_infinite_values_are_graded_as_values(values: list[float], thresholds: dict[str, float], score: float) -> None:
    got = pitometer.grade(Fetched(samples=[Sample(str(i), v) for i, v in enumerate(values)]), Grading(thresholds, 100))
    assert got.score == score
