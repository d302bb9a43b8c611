"""evaluation-done against the in-memory platform: what each verdict does to traffic, and only that.

Aspects: pass keeps/makes the new colour live and promotes; fail and error restore the weights
recorded before the flip and mark the colour failed; warning follows the approval strategy;
idempotence (a second run issues no write); recovery after a half-done rollback; direct
stages; the CLI writes promotion.json and next-stage events and exits with the documented code.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline_steps.documents.context import StageContext
from pipeline_steps.documents.deployment import DeploymentFacts
from pipeline_steps.documents.service import ServiceSpec
from pipeline_steps.documents.shipyard import Stage
from pipeline_steps.documents.vocabulary import Verdict
from pipeline_steps.documents.weights import Weights
from pipeline_steps.errors import BadInputError, ExitCode, NotReadyError
from pipeline_steps.steps.evaluation_done import evaluation_done, normalise_verdict
from tests.fakes import FakePlatform

STAGING = Stage("staging", "blue_green_service", "performance")
PRODUCTION = Stage("production", "blue_green_service")
SERVICE = ServiceSpec(name="carts")


def _ctx(tag: str, stage: str = "staging") -> StageContext:
    return StageContext("sockshop", stage, "carts", "reg/carts", tag, "blue_green_service", "performance")


def _flipped_to_green(platform: FakePlatform) -> tuple[StageContext, DeploymentFacts]:
    """v1 live on blue, v2 deployed to green and flipped (as deploy leaves it)."""
    platform.apply(_ctx("v1"), "blue", SERVICE)
    ctx = _ctx("v2")
    platform.apply(ctx, "green", SERVICE)
    platform.set_weights(ctx, Weights(0, 100))
    platform.calls.clear()
    return ctx, DeploymentFacts(colour="green", previous_colour="blue", weights_before=Weights(100, 0))


def _writes(platform: FakePlatform) -> list[tuple[str, ...]]:
    return [c for c in platform.calls if c[0] == "set_weights"]


def test_fail_restores_weights_before_and_marks_colour_failed() -> None:
    platform = FakePlatform()
    ctx, facts = _flipped_to_green(platform)
    decision = evaluation_done(ctx, Verdict.FAIL, facts, STAGING, PRODUCTION, platform=platform)
    assert decision.action == "rollback" and decision.exit_code == ExitCode.FAIL and decision.next_stage == ""
    assert platform.stage(ctx).weights == Weights(100, 0)
    assert platform.stage(ctx).colours["green"].mark == "failed"
    assert "traffic back to blue" in decision.reason


def test_error_verdict_fails_closed_with_infra_code() -> None:
    platform = FakePlatform()
    ctx, facts = _flipped_to_green(platform)
    decision = evaluation_done(ctx, Verdict.ERROR, facts, STAGING, PRODUCTION, platform=platform)
    assert decision.action == "rollback" and decision.exit_code == ExitCode.INFRA
    assert platform.stage(ctx).weights == Weights(100, 0)


def test_pass_keeps_new_colour_live_and_promotes_without_rewriting_weights() -> None:
    platform = FakePlatform()
    ctx, facts = _flipped_to_green(platform)
    decision = evaluation_done(ctx, Verdict.PASS, facts, STAGING, PRODUCTION, platform=platform)
    assert (decision.action, decision.next_stage, decision.exit_code) == ("promote", "production", ExitCode.OK)
    assert _writes(platform) == []
    assert platform.stage(ctx).colours["green"].mark == "passed"


def test_pass_after_gate_flips_to_the_new_colour() -> None:
    platform = FakePlatform()
    platform.apply(_ctx("v1"), "blue", SERVICE)
    ctx = _ctx("v2")
    platform.apply(ctx, "green", SERVICE)  # deployed with --no-switch: blue still live
    facts = DeploymentFacts("green", "blue", Weights(100, 0))
    decision = evaluation_done(ctx, Verdict.PASS, facts, STAGING, None, platform=platform)
    assert decision.action == "none" and platform.stage(ctx).weights == Weights(0, 100)


def test_second_run_changes_nothing() -> None:
    platform = FakePlatform()
    ctx, facts = _flipped_to_green(platform)
    first = evaluation_done(ctx, Verdict.FAIL, facts, STAGING, PRODUCTION, platform=platform)
    platform.calls.clear()
    second = evaluation_done(ctx, Verdict.FAIL, facts, STAGING, PRODUCTION, platform=platform)
    assert _writes(platform) == [] and second.weights == first.weights == Weights(100, 0)
    assert "traffic back to blue" in first.reason and "traffic stays on blue" in second.reason


def test_rerun_finishes_a_rollback_that_crashed_before_the_flip() -> None:
    platform = FakePlatform()
    ctx, facts = _flipped_to_green(platform)
    platform.fail_set_weights = "before"
    with pytest.raises(Exception, match="injected failure"):
        evaluation_done(ctx, Verdict.FAIL, facts, STAGING, PRODUCTION, platform=platform)
    assert platform.stage(ctx).weights == Weights(0, 100)  # still on the failed version
    platform.fail_set_weights = ""
    evaluation_done(ctx, Verdict.FAIL, facts, STAGING, PRODUCTION, platform=platform)
    assert platform.stage(ctx).weights == Weights(100, 0)


def test_rollback_refuses_a_previous_colour_that_is_gone() -> None:
    platform = FakePlatform()
    ctx, facts = _flipped_to_green(platform)
    platform.break_colour(ctx, "blue", "CrashLoopBackOff")
    with pytest.raises(NotReadyError, match="carts-blue is not available"):
        evaluation_done(ctx, Verdict.FAIL, facts, STAGING, PRODUCTION, platform=platform)
    assert platform.stage(ctx).weights == Weights(0, 100)  # traffic stays on an available colour


@pytest.mark.parametrize(
    ("approval", "action", "code", "weights"),
    [("auto", "wait_approval", ExitCode.APPROVAL_REQUIRED, Weights(0, 100)),
     ("approve", "promote", ExitCode.OK, Weights(0, 100)),
     ("reject", "rollback", ExitCode.FAIL, Weights(100, 0))],
)
def test_warning_with_manual_approval(approval: str, action: str, code: ExitCode, weights: Weights) -> None:
    platform = FakePlatform()
    ctx, facts = _flipped_to_green(platform)
    manual = Stage("staging", "blue_green_service", "performance", approval_warning="manual")
    decision = evaluation_done(ctx, Verdict.WARNING, facts, manual, PRODUCTION, platform=platform, approval=approval)
    assert (decision.action, decision.exit_code) == (action, code)
    assert platform.stage(ctx).weights == weights
    if approval == "auto":
        assert _writes(platform) == [] and not [c for c in platform.calls if c[0] == "mark"]


def test_warning_with_automatic_approval_promotes() -> None:
    platform = FakePlatform()
    ctx, facts = _flipped_to_green(platform)
    assert evaluation_done(ctx, Verdict.WARNING, facts, STAGING, PRODUCTION, platform=platform).action == "promote"


def test_direct_stage_failure_stops_without_traffic_changes() -> None:
    platform = FakePlatform()
    ctx = StageContext("sockshop", "dev", "carts", "reg/carts", "v2", "direct", "functional")
    platform.apply(ctx, None, SERVICE)
    dev = Stage("dev", "direct", "functional")
    decision = evaluation_done(ctx, Verdict.FAIL, DeploymentFacts(), dev, STAGING, platform=platform)
    assert decision.action == "stop" and decision.exit_code == ExitCode.FAIL and _writes(platform) == []


def test_verdict_names() -> None:
    assert normalise_verdict("pass", "x") is Verdict.PASS and normalise_verdict("failed", "x") is Verdict.ERROR
    with pytest.raises(BadInputError):
        normalise_verdict("great", "x")


def _write(path: Path, data: object) -> str:
    path.write_text(json.dumps(data))
    return str(path)


def test_cli_writes_promotion_and_next_stage_event(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pipeline_steps.cli import cli

    platform = FakePlatform()
    _flipped_to_green(platform)
    monkeypatch.setattr("pipeline_steps.platforms.make_platform", lambda name, settings: platform)
    shipyard = Path(__file__).resolve().parents[1] / "documents/fixtures/shipyard.yaml"
    deployment = _write(tmp_path / "deployment.json", {"colour": "green", "previous_colour": "blue",
                                                       "weights_before": {"blue": 100, "green": 0}})
    evaluation = _write(tmp_path / "evaluation.json", {"verdict": "PASS"})
    env = {"PROJECT": "sockshop", "STAGE": "staging", "SERVICE": "carts", "IMAGE": "reg/carts", "TAG": "v2"}
    args = ["evaluation-done", "--shipyard", str(shipyard), "--evaluation", evaluation, "--deployment", deployment,
            "--out-dir", str(tmp_path / "out")]
    result = CliRunner().invoke(cli, args, env=env)
    assert result.exit_code == 0, result.output
    promotion = json.loads((tmp_path / "out/promotion.json").read_text())
    assert promotion["action"] == "promote" and promotion["next_stage"] == "production"
    changed = json.loads((tmp_path / "out/events/configuration-changed.json").read_text())
    assert changed["data"]["stage"] == "production" and changed["data"]["deploymentstrategy"] == "blue_green_service"
    assert json.loads((tmp_path / "out/events/new-artefact.json").read_text())["data"]["stage"] == "staging"


def test_cli_bad_input_changes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pipeline_steps.cli import cli

    platform = FakePlatform()
    _flipped_to_green(platform)
    monkeypatch.setattr("pipeline_steps.platforms.make_platform", lambda name, settings: platform)
    shipyard = Path(__file__).resolve().parents[1] / "documents/fixtures/shipyard.yaml"
    env = {"PROJECT": "sockshop", "STAGE": "qa", "SERVICE": "carts", "TAG": "v2"}
    result = CliRunner().invoke(cli, ["evaluation-done", "--shipyard", str(shipyard), "--verdict", "fail",
                                      "--colour", "green", "--weights-before", "100/0", "--out-dir", str(tmp_path)], env=env)
    assert result.exit_code == ExitCode.BAD_INPUT and "no stage named 'qa'" in result.output
    assert platform.calls == [] and not (tmp_path / "promotion.json").exists()
