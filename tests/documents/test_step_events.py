"""Events left by deploy, run-tests and evaluate, and re-running evaluation-done from one alone.

Aspects: each event carries the Keptn 0.2 fields plus the deployment facts; evaluationpassed
follows Keptn (pass or warning); a crash between "gate failed" and "weights flipped" is
recovered by running evaluation-done with nothing but the evaluation-done event.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline_steps.cli import cli
from pipeline_steps.documents import events as step_events
from pipeline_steps.documents.service import ServiceSpec
from pipeline_steps.documents.weights import Weights
from pipeline_steps.errors import ExitCode
from tests.fakes import FakePlatform

CTX = {"project": "sockshop", "stage": "staging", "service": "carts", "image": "reg/carts", "tag": "0.6.1",
       "deployment_strategy": "blue_green_service", "test_strategy": "performance", "keptn_context": "k42"}
SHIPYARD = Path(__file__).resolve().parent / "fixtures/shipyard.yaml"


def _documents(out: Path, verdict: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "deployment.json").write_text(json.dumps({
        "context": CTX, "platform": "local", "namespace": "sockshop-staging", "colour": "green", "previous_colour": "blue",
        "weights_before": {"blue": 100, "green": 0}, "weights_after": {"blue": 0, "green": 100}, "switched": True}))
    (out / "testrun.json").write_text(json.dumps({"context": CTX, "start": "2026-11-26T10:00:00Z",
                                                  "end": "2026-11-26T10:00:15Z", "result": "pass"}))
    (out / "evaluation.json").write_text(json.dumps({
        "context": CTX, "verdict": verdict, "totalScore": 0, "objectives": {"pass": 90, "warning": 75},
        "indicatorResults": [], "result": verdict.lower(), "options": {"timeStart": 1, "timeEnd": 2}, "indicators": []}))


def test_each_step_event_carries_context_and_deployment_facts(tmp_path: Path) -> None:
    _documents(tmp_path, "WARNING")
    paths = [step_events.after_deploy(tmp_path), step_events.after_tests(tmp_path),
             step_events.after_evaluation(tmp_path)]
    events = [json.loads(p.read_text()) for p in paths if p is not None]
    assert [e["type"] for e in events] == ["sh.keptn.events.deployment-finished", "sh.keptn.events.tests-finished",
                                           "sh.keptn.events.evaluation-done"]
    for event in events:
        assert event["shkeptncontext"] == "k42" and event["data"]["tag"] == "0.6.1"
        assert event["data"]["deployment"]["weights_before"] == {"blue": 100, "green": 0}
    assert events[1]["data"]["startedat"] == "2026-11-26T10:00:00Z"
    done = events[2]["data"]
    assert done["evaluationpassed"] is True and done["verdict"] == "WARNING"
    assert done["evaluationdetails"]["result"] == "warning" and "indicators" not in done["evaluationdetails"]


def test_missing_document_writes_no_event(tmp_path: Path) -> None:
    assert step_events.after_evaluation(tmp_path) is None and not (tmp_path / "events").exists()


def test_rerun_from_the_event_alone_finishes_a_crashed_rollback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    platform = FakePlatform()
    from pipeline_steps.documents.context import StageContext

    v1 = StageContext(**{**CTX, "tag": "0.6.0"})
    platform.apply(v1, "blue", ServiceSpec("carts"))
    platform.apply(StageContext(**CTX), "green", ServiceSpec("carts"))
    platform.set_weights(v1, Weights(0, 100))  # flipped to v2, then the gate failed and the job died
    monkeypatch.setattr("pipeline_steps.platforms.make_platform", lambda name, settings: platform)
    _documents(tmp_path / "left-behind", "FAIL")
    event = step_events.after_evaluation(tmp_path / "left-behind")
    assert event is not None
    result = CliRunner().invoke(cli, ["evaluation-done", "--event", str(event), "--shipyard", str(SHIPYARD),
                                      "--out-dir", str(tmp_path / "rerun")], env={})
    assert result.exit_code == ExitCode.FAIL, result.output
    assert platform.stage(v1).weights == Weights(100, 0)
    assert platform.stage(v1).colours["green"].mark == "failed"
