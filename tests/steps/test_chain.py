"""The chain's decisions with scripted steps: which commands run, in which stage, and where it stops.

Aspects: a good version walks dev -> staging -> production running exactly the Jenkins
commands; a failed gate stops in staging after evaluation-done and never deploys production;
failed tests in a blue/green stage roll back; ``switch: after_gate`` deploys with --no-switch
and tests the new colour directly; a manual approval asks and then continues.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline_steps.cli import cli
from pipeline_steps.documents.context import StageContext
from pipeline_steps.documents.shipyard import Shipyard, Stage
from pipeline_steps.errors import ExitCode
from pipeline_steps.steps.chain import ChainResult, ChainSettings, run_chain

ROOT = Path(__file__).resolve().parents[2]

SHIPYARD = Shipyard(stages=(Stage("dev", "direct", "functional"), Stage("staging", "blue_green_service", "performance"),
                            Stage("production", "blue_green_service")), source="shipyard.yaml")
CTX = StageContext("sockshop", "dev", "carts", "/art/carts", "v2", keptn_context="k1")


class ScriptedSteps:
    """Plays the steps: records argv + env, writes the documents a real step would, returns codes."""

    def __init__(self, verdicts: dict[str, str], test_codes: dict[str, int] | None = None) -> None:
        self.verdicts = verdicts
        self.test_codes = test_codes or {}
        self.calls: list[tuple[str, str, list[str]]] = []

    def __call__(self, argv: Sequence[str], env: dict[str, str]) -> int:
        step, stage, out = argv[0], env["STAGE"], Path(env["OUT_DIR"])
        self.calls.append((stage, step, list(argv)))
        out.mkdir(parents=True, exist_ok=True)
        if step == "deploy":
            doc = {"tag": env["TAG"], "colour": "green" if env["DEPLOYMENTSTRATEGY"] == "blue_green_service" else "",
                   "weights_after": {"blue": 0, "green": 100}, "endpoints": {"colour_urls": {"green": "http://green"}}}
            (out / "deployment.json").write_text(json.dumps(doc))
        elif step == "run-tests":
            (out / "testrun.json").write_text(json.dumps({"checks": [{"name": "health", "passed": True}]}))
            return self.test_codes.get(stage, 0)
        elif step == "evaluate":
            verdict = self.verdicts[stage]
            (out / "evaluation.json").write_text(json.dumps({"verdict": verdict.upper(), "indicators": []}))
            return {"pass": 0, "fail": 1, "warning": 3}[verdict]
        elif step == "evaluation-done":
            verdict = argv[argv.index("--verdict") + 1] if "--verdict" in argv else self.verdicts[stage]
            approval = argv[argv.index("--approval") + 1]
            if verdict == "warning" and approval == "auto":
                action, code = "wait_approval", 5
            elif verdict in ("pass", "warning") and approval != "reject":
                action, code = ("promote" if stage != "production" else "none"), 0
            else:
                action, code = "rollback", 1
            (out / "promotion.json").write_text(json.dumps({"action": action, "verdict": verdict, "reason": action}))
            return code
        return 0


def _settings(tmp_path: Path, **kw: object) -> ChainSettings:
    return ChainSettings(out_dir=tmp_path, default_gate="/gate/perfspec.json", **kw)  # type: ignore[arg-type]


def _steps(calls: list[tuple[str, str, list[str]]]) -> list[tuple[str, str]]:
    return [(stage, step) for stage, step, _ in calls]


def test_good_version_reaches_production_with_jenkins_commands(tmp_path: Path) -> None:
    steps = ScriptedSteps({"staging": "pass"})
    result = run_chain(CTX, SHIPYARD, _settings(tmp_path), runner=steps, printer=lambda _: None)
    assert result.exit_code == 0 and result.reached == "production"
    assert _steps(steps.calls) == [
        ("dev", "deploy"), ("dev", "run-tests"), ("dev", "evaluation-done"),
        ("staging", "deploy"), ("staging", "run-tests"), ("staging", "evaluate"), ("staging", "evaluation-done"),
        ("production", "deploy"),
    ]
    dev_done = steps.calls[2][2]
    assert dev_done[dev_done.index("--verdict") + 1] == "pass"  # functional tests passed = pass (Keptn 0.2)
    evaluate = steps.calls[5][2]
    assert evaluate[evaluate.index("--spec") + 1] == "/gate/perfspec.json"
    assert evaluate[evaluate.index("--testrun") + 1] == str(tmp_path / "v2/staging/testrun.json")
    summary = json.loads((tmp_path / "v2/chain.json").read_text())
    assert summary["reached"] == "production" and [s["stage"] for s in summary["stages"]] == ["dev", "staging", "production"]


def test_failed_gate_stops_in_staging_and_never_deploys_production(tmp_path: Path) -> None:
    steps = ScriptedSteps({"staging": "fail"})
    result = run_chain(CTX, SHIPYARD, _settings(tmp_path), runner=steps, printer=lambda _: None)
    assert result.exit_code == ExitCode.FAIL and result.reached == "dev"
    assert ("production", "deploy") not in _steps(steps.calls)
    assert _steps(steps.calls)[-1] == ("staging", "evaluation-done")
    assert result.outcomes[-1].action == "rollback"


def test_failed_tests_in_blue_green_roll_back(tmp_path: Path) -> None:
    steps = ScriptedSteps({}, test_codes={"staging": 1})
    result = run_chain(CTX, SHIPYARD, _settings(tmp_path), runner=steps, printer=lambda _: None)
    assert result.exit_code == ExitCode.FAIL
    assert _steps(steps.calls)[-2:] == [("staging", "run-tests"), ("staging", "rollback")]
    rollback = steps.calls[-1][2]
    assert rollback[rollback.index("--deployment") + 1] == str(tmp_path / "v2/staging/deployment.json")


def test_switch_after_gate_tests_the_new_colour_directly(tmp_path: Path) -> None:
    shipyard = Shipyard(stages=(Stage("staging", "blue_green_service", "performance", switch="after_gate"),))
    steps = ScriptedSteps({"staging": "pass"})
    run_chain(CTX, shipyard, _settings(tmp_path), runner=steps, printer=lambda _: None)
    deploy, tests = steps.calls[0][2], steps.calls[1][2]
    assert "--no-switch" in deploy
    assert tests[tests.index("--target") + 1] == "http://green"


def test_manual_approval_asks_then_continues(tmp_path: Path) -> None:
    steps = ScriptedSteps({"staging": "warning"})
    asked: list[str] = []
    result = run_chain(CTX, SHIPYARD, _settings(tmp_path), runner=steps, printer=lambda _: None,
                       ask=lambda stage, reason: asked.append(stage) or "approve")
    assert asked == ["staging"] and result.reached == "production"
    approvals = [c[2][c[2].index("--approval") + 1] for c in steps.calls if c[1] == "evaluation-done" and c[0] == "staging"]
    assert approvals == ["auto", "approve"]


def test_approval_without_an_answer_stops_with_code_5(tmp_path: Path) -> None:
    steps = ScriptedSteps({"staging": "warning"})
    result = run_chain(CTX, SHIPYARD, _settings(tmp_path), runner=steps, printer=lambda _: None)
    assert result.exit_code == ExitCode.APPROVAL_REQUIRED and result.reached == "dev"


def test_aborted_or_unrunnable_tests_in_blue_green_also_roll_back(tmp_path: Path) -> None:
    for code in (ExitCode.ABORTED, ExitCode.BAD_INPUT):
        steps = ScriptedSteps({}, test_codes={"staging": int(code)})
        result = run_chain(CTX, SHIPYARD, _settings(tmp_path / str(int(code))), runner=steps, printer=lambda _: None)
        assert result.exit_code == code
        assert _steps(steps.calls)[-1] == ("staging", "rollback")


def test_failed_tests_in_a_direct_stage_stop_without_rollback(tmp_path: Path) -> None:
    steps = ScriptedSteps({}, test_codes={"dev": 1})
    result = run_chain(CTX, SHIPYARD, _settings(tmp_path), runner=steps, printer=lambda _: None)
    assert result.exit_code == ExitCode.FAIL and _steps(steps.calls)[-1] == ("dev", "run-tests")
    assert result.outcomes[-1].action == "stop"


def test_a_prometheus_url_reaches_evaluate_through_the_environment_only(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """``run --prometheus-url http://user:pw@host`` must not put the password on a child's command line
    (``ps``, Jenkins' step log): the chain hands it to evaluate as ``PROMETHEUS_URL``."""
    url = "http://gate:s3cret-pw@prometheus:9090"
    seen: list[ChainSettings] = []
    monkeypatch.setattr("pipeline_steps.steps.chain.run_chain", lambda ctx, shipyard, settings, **kw: seen.append(
        settings) or ChainResult([], 0, "production"))
    result = CliRunner().invoke(cli, ["run", "--shipyard", str(ROOT / "examples" / "shipyard.yaml"), "--project", "sockshop",
                                      "--service", "carts", "--image", "img", "--tag", "1", "--prometheus-url", url])
    assert result.exit_code == 0, result.output
    settings = seen[0]
    assert "s3cret-pw" not in repr((settings.platform_args, settings.evaluate_extra, settings.test_overrides))
    assert settings.evaluate_env == {"PROMETHEUS_URL": url}

    steps = ScriptedSteps({"staging": "pass"})
    envs: list[tuple[list[str], dict[str, str]]] = []

    def runner(argv: Sequence[str], env: dict[str, str]) -> int:
        envs.append((list(argv), dict(env)))
        return steps(argv, env)

    run_chain(CTX, SHIPYARD, _settings(tmp_path, evaluate_env=settings.evaluate_env), runner=runner, printer=lambda _: None)
    assert all("s3cret-pw" not in " ".join(argv) for argv, _ in envs)
    assert [env.get("PROMETHEUS_URL") for argv, env in envs if argv[0] == "evaluate"] == [url]
    assert all("PROMETHEUS_URL" not in env for argv, env in envs if argv[0] != "evaluate")
