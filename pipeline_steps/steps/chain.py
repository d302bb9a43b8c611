"""The whole stage chain for one new version: deploy -> run-tests -> evaluate -> evaluation-done, stage after stage.

Why the chain calls the CLI: Jenkins runs exactly these commands (Jenkinsfiles/), so running
them the same way here means the local chain, the demo and Jenkins cannot drift apart. Each
step writes its documents into ``OUT/<stage>/``; the chain reads them to tell the story and to
decide whether to go on. It stops at the first failure, after the rollback is done.

Per stage:
1. deploy (blue/green: into the free colour; the flip happens now unless the stage says
   ``switch: after_gate``);
2. if the stage has a test strategy: run-tests (failed tests in a blue/green stage roll back,
   as Keptn 0.2 did); performance tests (or a stage gate) are judged by evaluate; functional
   tests that pass are a pass (Keptn 0.2's pitometer-service did the same);
3. evaluation-done acts on the verdict (promote / roll back / approval);
4. a stage without tests ends the chain there once deployed (Keptn: production).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline_steps.documents.context import StageContext
from pipeline_steps.documents.shipyard import Shipyard, Stage
from pipeline_steps.errors import ExitCode

Runner = Callable[[Sequence[str], dict[str, str]], int]
"""Runs one ``pipeline-steps`` command (argv after the program name) with extra env; returns its exit code."""

Printer = Callable[[str], None]
Asker = Callable[[str, str], str]
"""Asked (stage, reason) when a manual approval is required; returns ``approve`` or ``reject``."""


def run_cli(argv: Sequence[str], env: dict[str, str]) -> int:
    """Run ``python -m pipeline_steps ARGV`` with its output on our terminal (progress stays live)."""
    full_env = {**os.environ, **env}
    return subprocess.run([sys.executable, "-m", "pipeline_steps", *argv], env=full_env, check=False).returncode


@dataclass(frozen=True)
class ChainSettings:
    """What the chain passes to every step."""

    out_dir: Path
    service_config: Path | None = None
    platform: str = "local"
    state_dir: str = ".pipeline-steps"
    kubeconfig: str | None = None
    kube_context: str | None = None
    prometheus_url: str = ""
    history: str = ""
    approval: str = "auto"
    """auto | approve | reject (the answer to a manual approval; ``prompt`` is handled by the CLI)."""
    test_overrides: tuple[str, ...] = ()
    """Extra run-tests flags (``--duration 15``, ``--users 5``) so demos and CI stay short."""
    evaluate_extra: tuple[str, ...] = ()
    """Extra evaluate flags (e.g. ``--dynatrace-url``)."""
    default_gate: str = ""


@dataclass
class StageOutcome:
    """What happened in one stage, for the summary and chain.json."""

    stage: str
    steps: list[tuple[str, int]] = field(default_factory=list)
    verdict: str = ""
    action: str = ""
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"stage": self.stage, "steps": [{"step": s, "exit_code": c} for s, c in self.steps],
                "verdict": self.verdict, "action": self.action, "detail": self.detail}


@dataclass
class ChainResult:
    outcomes: list[StageOutcome]
    exit_code: int
    reached: str
    """The last stage the version was deployed to and kept in (empty if none)."""


def run_chain(ctx: StageContext, shipyard: Shipyard, settings: ChainSettings, *, runner: Runner = run_cli,
              printer: Printer = print, start_stage: str = "", ask: Asker | None = None) -> ChainResult:
    """Run every stage from ``start_stage`` (default: the first) until the version stops or arrives."""
    outcomes: list[StageOutcome] = []
    stage: Stage | None = shipyard.stage(start_stage) if start_stage else shipyard.first
    reached = ""
    while stage is not None:
        stage_ctx = ctx.with_stage(stage.name, stage.deployment_strategy, stage.test_strategy)
        outcome = StageOutcome(stage.name)
        outcomes.append(outcome)
        code = _run_stage(stage_ctx, stage, shipyard, settings, runner, printer, outcome, ask)
        if code != ExitCode.OK:
            _write_summary(settings.out_dir, ctx, outcomes, code, reached)
            return ChainResult(outcomes, code, reached)
        reached = stage.name
        stage = shipyard.next_stage(stage.name) if outcome.action == "promote" else None
    _write_summary(settings.out_dir, ctx, outcomes, ExitCode.OK, reached)
    return ChainResult(outcomes, int(ExitCode.OK), reached)


def _run_stage(ctx: StageContext, stage: Stage, shipyard: Shipyard, settings: ChainSettings, runner: Runner,
               printer: Printer, outcome: StageOutcome, ask: Asker | None) -> int:
    out = settings.out_dir / ctx.tag / stage.name
    env = _env(ctx, settings, out, shipyard)
    common = _platform_args(settings)
    flip_now = not (stage.blue_green and stage.test_strategy and stage.switch == "after_gate")
    printer(f"[{stage.name}] deploy {ctx.service} {ctx.tag} ({stage.deployment_strategy})")
    code = _step(outcome, "deploy", runner, ["deploy", *common, *([] if flip_now else ["--no-switch"])], env)
    deployment = _read_json(out / "deployment.json")
    if code != ExitCode.OK:
        outcome.action, outcome.detail = "stop", f"deploy failed (exit {code})"
        printer(f"[{stage.name}] deploy failed (exit {code}); traffic unchanged")
        return code
    printer(f"[{stage.name}]   {_describe_deployment(deployment)}")
    if not stage.test_strategy:
        outcome.verdict, outcome.action = "deployed", "none"
        outcome.detail = f"{ctx.tag} serves {stage.name} (no tests in this stage)"
        printer(f"[{stage.name}] {outcome.detail}")
        return int(ExitCode.OK)

    test_args = ["run-tests", *common, *settings.test_overrides]
    if not flip_now and deployment:
        colour_url = deployment.get("endpoints", {}).get("colour_urls", {}).get(deployment.get("colour", ""), "")
        if colour_url:
            test_args += ["--target", colour_url]
    printer(f"[{stage.name}] run-tests ({stage.test_strategy})")
    code = _step(outcome, "run-tests", runner, test_args, env)
    testrun = _read_json(out / "testrun.json")
    printer(f"[{stage.name}]   {_describe_testrun(testrun)}")
    if code != ExitCode.OK:
        return _tests_failed(ctx, stage, settings, runner, printer, outcome, env, code)

    gate = stage.gate or settings.default_gate
    verdict_args: list[str]
    if stage.test_strategy == "performance" or stage.gate:
        if not gate:
            outcome.action, outcome.detail = "stop", "performance stage without a gate spec (service.yaml gate or shipyard gate)"
            printer(f"[{stage.name}] {outcome.detail}")
            return int(ExitCode.BAD_INPUT)
        spec_flag = "--slo" if gate.endswith((".yaml", ".yml")) else "--spec"
        eval_args = ["evaluate", spec_flag, gate, "--testrun", str(out / "testrun.json"), *settings.evaluate_extra]
        if settings.prometheus_url:
            eval_args += ["--prometheus-url", settings.prometheus_url]
        if settings.history:
            eval_args += ["--history", settings.history]
        printer(f"[{stage.name}] evaluate {Path(gate).name}")
        code = _step(outcome, "evaluate", runner, eval_args, env)
        evaluation = _read_json(out / "evaluation.json")
        printer(f"[{stage.name}]   {_describe_evaluation(evaluation, code)}")
        if not evaluation or code == ExitCode.BAD_INPUT:
            outcome.action, outcome.detail = "stop", f"evaluate failed before a verdict (exit {code})"
            return code if code != ExitCode.OK else int(ExitCode.INFRA)
        verdict_args = ["--evaluation", str(out / "evaluation.json")]
    else:
        verdict_args = ["--verdict", "pass"]
    code = _evaluation_done(stage, settings.approval, runner, printer, outcome, env, common, verdict_args, out)
    if code == ExitCode.APPROVAL_REQUIRED and ask is not None:
        answer = ask(stage.name, outcome.detail)
        code = _evaluation_done(stage, answer, runner, printer, outcome, env, common, verdict_args, out)
    return code


def _tests_failed(ctx: StageContext, stage: Stage, settings: ChainSettings, runner: Runner, printer: Printer,
                  outcome: StageOutcome, env: dict[str, str], code: int) -> int:
    """Tests that did not pass stop the version; in a blue/green stage traffic goes back (Keptn 0.2's run_tests
    post-failure). That includes a bad workload (2) and an abort (130): the flip already happened, and an
    untested colour must not stay live (fail closed). The chain then exits with run-tests' own code."""
    outcome.verdict = "tests failed" if code == ExitCode.FAIL else f"tests not run through (exit {code})"
    if stage.blue_green:
        out = settings.out_dir / ctx.tag / stage.name
        rb = _step(outcome, "rollback", runner, ["rollback", *_platform_args(settings),
                                                 "--deployment", str(out / "deployment.json")], env)
        outcome.action = "rollback"
        outcome.detail = f"{outcome.verdict}; " + ("traffic routed back" if rb == ExitCode.OK else f"rollback exit {rb}")
    else:
        outcome.action, outcome.detail = "stop", f"{outcome.verdict}; not promoted"
    printer(f"[{stage.name}] {outcome.detail}")
    return code


def _evaluation_done(stage: Stage, approval: str, runner: Runner, printer: Printer, outcome: StageOutcome,
                     env: dict[str, str], common: list[str], verdict_args: list[str], out: Path) -> int:
    args = ["evaluation-done", *common, *verdict_args, "--deployment", str(out / "deployment.json"),
            "--approval", approval]
    code = _step(outcome, "evaluation-done", runner, args, env)
    promotion = _read_json(out / "promotion.json") or {}
    outcome.verdict = str(promotion.get("verdict", outcome.verdict))
    outcome.action = str(promotion.get("action", "stop"))
    outcome.detail = str(promotion.get("reason", f"evaluation-done exit {code}"))
    printer(f"[{stage.name}] evaluation-done: {outcome.action} — {outcome.detail}")
    return code


def _step(outcome: StageOutcome, name: str, runner: Runner, argv: list[str], env: dict[str, str]) -> int:
    code = runner(argv, env)
    outcome.steps.append((name, code))
    return code


def _env(ctx: StageContext, settings: ChainSettings, out: Path, shipyard: Shipyard) -> dict[str, str]:
    """Jenkins-style parameters: the steps read the context from these, as in the Jenkinsfiles."""
    env = {
        "PROJECT": ctx.project, "STAGE": ctx.stage, "SERVICE": ctx.service, "IMAGE": ctx.image, "TAG": ctx.tag,
        "DEPLOYMENTSTRATEGY": ctx.deployment_strategy, "TESTSTRATEGY": ctx.test_strategy, "KEPTNCONTEXT": ctx.keptn_context,
        "OUT_DIR": str(out), "SHIPYARD": shipyard.source,
    }
    if settings.service_config:
        env["SERVICE_CONFIG"] = str(settings.service_config)
    return env


def _platform_args(settings: ChainSettings) -> list[str]:
    args = ["--platform", settings.platform, "--state-dir", settings.state_dir]
    if settings.kubeconfig:
        args += ["--kubeconfig", settings.kubeconfig]
    if settings.kube_context:
        args += ["--context", settings.kube_context]
    return args


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


def _describe_deployment(doc: dict[str, Any] | None) -> str:
    if not doc:
        return "deployed (no deployment.json)"
    colour = doc.get("colour") or "direct"
    after = doc.get("weights_after") or doc.get("weights_before")
    weights = f", weights blue {after['blue']} / green {after['green']}" if isinstance(after, dict) else ""
    return f"{doc.get('tag', '')} running as {colour}{weights}"


def _describe_testrun(doc: dict[str, Any] | None) -> str:
    if not doc:
        return "no testrun.json"
    perf = doc.get("performance") or {}
    checks = doc.get("checks") or []
    failed = [c.get("name", "?") for c in checks if not c.get("passed")]
    text = f"{len(checks) - len(failed)}/{len(checks)} checks passed"
    if perf:
        latency = perf.get("latency_ms") or {}
        text += (f"; {perf.get('requests', 0)} requests, {perf.get('errors', 0)} errors, "
                 f"mean {latency.get('mean', 0):.0f} ms, p95 {latency.get('p95', 0):.0f} ms")
    return text + (f"; failed: {', '.join(failed)}" if failed else "")


def _describe_evaluation(doc: dict[str, Any] | None, code: int) -> str:
    if not doc:
        return f"no evaluation.json (exit {code})"
    parts = [f"verdict {doc.get('verdict', '?')}"]
    for indicator in doc.get("indicators", []) or []:
        value = indicator.get("value")
        shown = f"{value:.3f}" if isinstance(value, (int, float)) else str(value)
        parts.append(f"{indicator.get('id')} = {shown} ({indicator.get('status', '')})")
    return "; ".join(parts)


def _write_summary(out_dir: Path, ctx: StageContext, outcomes: list[StageOutcome], code: int, reached: str) -> None:
    path = out_dir / ctx.tag / "chain.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {"context": ctx.to_dict(), "exit_code": int(code), "reached": reached, "stages": [o.to_json() for o in outcomes]}
    path.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")


def summary_lines(result: ChainResult, ctx: StageContext) -> list[str]:
    """A per-stage table for the end of a run."""
    if result.exit_code == ExitCode.OK:
        head = f"arrived: serves {result.reached}"
    else:
        last = result.outcomes[-1] if result.outcomes else None
        head = f"stopped in {last.stage if last else '?'} (exit {result.exit_code})" + (
            f"; passed up to {result.reached}" if result.reached else "")
    lines = [f"{ctx.service} {ctx.tag}: {head}"]
    for o in result.outcomes:
        steps = ", ".join(f"{name} {code}" for name, code in o.steps)
        lines.append(f"  {o.stage:<12} {o.verdict or '-':<14} {o.action or '-':<14} {o.detail}  [{steps}]")
    return lines
