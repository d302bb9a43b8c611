"""Closed vocabularies are enums used end to end, and every table keyed by one covers all members.

Aspects: each table keyed by a verdict or an indicator status (exit codes, summary marks, JUnit
outcomes, report colours, the chart's severity ranks) has exactly one entry per member; the words read back from documents
(Keptn's ``failed``/``passed``, Pitometer's lower-case results) parse to the members; members
format and serialise as their words; a known deployment strategy becomes the member wherever a
context or stage is made, an unknown one is bad input.
"""

from __future__ import annotations

import json
from enum import Enum

import pytest

from pipeline_steps.documents.context import StageContext
from pipeline_steps.documents.shipyard import Stage
from pipeline_steps.documents.vocabulary import VERDICT_EXIT_CODES, Action, DeploymentStrategy, IndicatorStatus, Verdict
from pipeline_steps.errors import BadInputError, ExitCode
from pipeline_steps.history.base import SEVERITY
from pipeline_steps.report import gate_summary, html

TABLES: dict[str, tuple[dict[object, object], type[Enum]]] = {
    "verdict exit codes": (VERDICT_EXIT_CODES, Verdict),  # type: ignore[dict-item]
    "summary marks": (gate_summary.MARKS, IndicatorStatus),  # type: ignore[dict-item]
    "junit outcomes": (gate_summary.JUNIT_OUTCOMES, IndicatorStatus),  # type: ignore[dict-item]
    "report colours": (html.COLOURS, IndicatorStatus),  # type: ignore[dict-item]
    "history chart severity": (SEVERITY, IndicatorStatus),  # type: ignore[dict-item]
}


@pytest.mark.parametrize("name", sorted(TABLES))
def test_every_table_covers_every_member(name: str) -> None:
    table, enum = TABLES[name]
    assert set(table) == set(enum), f"{name}: missing {set(enum) - set(table)}, extra {set(table) - set(enum)}"


def test_a_gate_error_is_never_a_pass_or_a_fail() -> None:
    assert Verdict.ERROR.exit_code == ExitCode.INFRA
    assert {v.exit_code for v in Verdict} == {ExitCode.OK, ExitCode.WARNING, ExitCode.FAIL, ExitCode.INFRA}


def test_junit_tells_bad_from_broken() -> None:
    outcomes = gate_summary.JUNIT_OUTCOMES
    assert outcomes[IndicatorStatus.FAIL] == outcomes[IndicatorStatus.WARNING] == "failure"
    assert outcomes[IndicatorStatus.ERROR] == outcomes[IndicatorStatus.NO_DATA] == "error"


@pytest.mark.parametrize(("word", "verdict"), [
    ("PASS", Verdict.PASS), ("pass", Verdict.PASS), ("passed", Verdict.PASS), (" Warning ", Verdict.WARNING),
    ("fail", Verdict.FAIL), ("failed", Verdict.ERROR), ("ERROR", Verdict.ERROR), ("great", None), ("", None),
])
def test_verdict_words(word: str, verdict: Verdict | None) -> None:
    assert Verdict.parse(word) is verdict


@pytest.mark.parametrize("member", [*Verdict, *IndicatorStatus, *Action, *DeploymentStrategy])
def test_members_read_as_their_words(member: Enum) -> None:
    assert f"{member}" == str(member) == member.value
    assert json.loads(json.dumps({"k": member})) == {"k": member.value}


def test_deployment_strategy_is_the_member_end_to_end() -> None:
    ctx = StageContext("sockshop", "staging", "carts", deployment_strategy="blue_green_service").validate()
    assert ctx.deployment_strategy is DeploymentStrategy.BLUE_GREEN and ctx.blue_green
    assert ctx.to_dict()["deployment_strategy"] == "blue_green_service"
    assert Stage("dev", "direct").deployment_strategy is DeploymentStrategy.DIRECT
    with pytest.raises(BadInputError, match="deployment_strategy"):
        StageContext("sockshop", "staging", "carts", deployment_strategy="canary").validate()


def test_indicator_status_read_back_becomes_the_member() -> None:
    from pipeline_steps.documents.evaluation import IndicatorReport

    assert IndicatorReport("rt", "testrun", "q", "no_data", 0, 1).status is IndicatorStatus.NO_DATA  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        IndicatorReport("rt", "testrun", "q", "nodata", 0, 1)  # type: ignore[arg-type]
