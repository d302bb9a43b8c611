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

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline_steps.documents.context import StageContext
from pipeline_steps.documents.shipyard import Shipyard, Stage
from pipeline_steps.documents.vocabulary import Action
from pipeline_steps.errors import ExitCode
from pipeline_steps.files import read_document, under, write_json
from pipeline_steps.steps.launch import run_cli

Runner = Callable[[Sequence[str], dict[str, str]], int]
"""Runs one ``pipeline-steps`` command (argv after the program name) with extra env; returns its exit code."""

Printer = Callable[[str], None]
Asker = Callable[[str, str], str]
"""Asked (stage, reason) when a manual approval is required; returns ``approve`` or ``reject``."""


@dataclass(frozen=True)
class ChainSettings:
    """What the chain passes to every step."""

    out_dir: Path
    service_config: Path | None = None
    platform_args: tuple[str, ...] = ("--platform", "local")
    """The platform flags every step gets, as the run command was given them."""
    history: str = ""
    approval: str = "auto"
    """auto | approve | reject (the answer to a manual approval; ``prompt`` is handled by the CLI)."""
    test_overrides: tuple[str, ...] = ()
    """Extra run-tests flags (``--duration 15``, ``--users 5``) so demos and CI stay short."""
    evaluate_extra: tuple[str, ...] = ()
    """Extra evaluate flags."""
    evaluate_env: Mapping[str, str] = field(default_factory=dict)
    """Environment for evaluate: where the metric sources are (``PROMETHEUS_URL``); a URL may carry
    credentials, which must not appear on a command line (``ps``, Jenkins' step log)."""
    default_gate: str = ""


@dataclass
class StageOutcome:
    """What happened in one stage, for the summary and chain.json."""

    stage: str
    steps: list[tuple[str, int]] = field(default_factory=list)
    verdict: str = ""
    """What the stage found: the gate's verdict word, or ``deployed``, ``tests failed``, ..."""
    action: Action | None = None
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"stage": self.stage, "steps": [{"step": s, "exit_code": c} for s, c in self.steps],
                "verdict": self.verdict, "action": self.action.value if self.action else "", "detail": self.detail}


@dataclass
class ChainResult:
    outcomes: list[StageOutcome]
    exit_code: int
    reached: str
    """The last stage the version was deployed to and kept in (empty if none)."""


def stage_out(out_dir: Path, ctx: StageContext) -> Path:
    """``OUT/<tag>/<stage>``, the documents of one stage; never outside ``OUT`` (``files.under``)."""
    return under(out_dir, ctx.tag, ctx.stage, source="--tag")


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
        env = _env(stage_ctx, settings, stage_out(settings.out_dir, stage_ctx), shipyard)
        code = _run_stage(_StageRun(stage_ctx, stage, settings, runner, printer, outcome, env), ask)
        if code != ExitCode.OK:
            _write_summary(settings.out_dir, ctx, outcomes, (code, reached))
            return ChainResult(outcomes, code, reached)
        reached = stage.name
        stage = shipyard.next_stage(stage.name) if outcome.action is Action.PROMOTE else None
    _write_summary(settings.out_dir, ctx, outcomes, (ExitCode.OK, reached))
    return ChainResult(outcomes, int(ExitCode.OK), reached)


@dataclass
class _StageRun:
    """One stage of the chain: its context, where its documents go, and how to run and report steps."""

    ctx: StageContext
    stage: Stage
    settings: ChainSettings
    runner: Runner
    printer: Printer
    outcome: StageOutcome
    env: dict[str, str]

    @property
    def out(self) -> Path:
        return stage_out(self.settings.out_dir, self.ctx)

    def say(self, text: str) -> None:
        self.printer(f"[{self.stage.name}] {text}")

    def step(self, name: str, argv: list[str]) -> int:
        env = {**self.env, **self.settings.evaluate_env} if name == "evaluate" else self.env
        code = self.runner(argv, env)
        self.outcome.steps.append((name, code))
        return code

    def stop(self, action: Action, detail: str) -> None:
        self.outcome.action, self.outcome.detail = action, detail


def _run_stage(run: _StageRun, ask: Asker | None) -> int:
    ctx, stage, settings, outcome, out = run.ctx, run.stage, run.settings, run.outcome, run.out
    common = list(settings.platform_args)
    flip_now = not (stage.blue_green and stage.test_strategy and stage.switch == "after_gate")
    run.say(f"deploy {ctx.service} {ctx.tag} ({stage.deployment_strategy})")
    code = run.step("deploy", ["deploy", *common, *([] if flip_now else ["--no-switch"])])
    deployment = read_document(out / "deployment.json")
    if code != ExitCode.OK:
        run.stop(Action.STOP, f"deploy failed (exit {code})")
        run.say(f"deploy failed (exit {code}); traffic unchanged")
        return code
    run.say(f"  {_describe_deployment(deployment)}")
    if not stage.test_strategy:
        outcome.verdict = "deployed"
        run.stop(Action.NONE, f"{ctx.tag} serves {stage.name} (no tests in this stage)")
        run.say(outcome.detail)
        return int(ExitCode.OK)

    test_args = ["run-tests", *common, *settings.test_overrides]
    if not flip_now and deployment:
        colour_url = deployment.get("endpoints", {}).get("colour_urls", {}).get(deployment.get("colour", ""), "")
        if colour_url:
            test_args += ["--target", colour_url]
    run.say(f"run-tests ({stage.test_strategy})")
    code = run.step("run-tests", test_args)
    run.say(f"  {_describe_testrun(read_document(out / 'testrun.json'))}")
    if code != ExitCode.OK:
        return _tests_failed(run, code)

    gate = stage.gate or settings.default_gate
    verdict_args: list[str]
    if stage.test_strategy == "performance" or stage.gate:
        if not gate:
            run.stop(Action.STOP, "performance stage without a gate spec (service.yaml gate or shipyard gate)")
            run.say(outcome.detail)
            return int(ExitCode.BAD_INPUT)
        spec_flag = "--slo" if gate.endswith((".yaml", ".yml")) else "--spec"
        eval_args = ["evaluate", spec_flag, gate, "--testrun", str(out / "testrun.json"), *settings.evaluate_extra]
        if settings.history:
            eval_args += ["--history", settings.history]
        run.say(f"evaluate {Path(gate).name}")
        code = run.step("evaluate", eval_args)
        evaluation = read_document(out / "evaluation.json")
        run.say(f"  {_describe_evaluation(evaluation, code)}")
        if not evaluation or code == ExitCode.BAD_INPUT:
            run.stop(Action.STOP, f"evaluate failed before a verdict (exit {code})")
            return code if code != ExitCode.OK else int(ExitCode.INFRA)
        verdict_args = ["--evaluation", str(out / "evaluation.json")]
    else:
        verdict_args = ["--verdict", "pass"]
    code = _evaluation_done(run, settings.approval, verdict_args)
    if code == ExitCode.APPROVAL_REQUIRED and ask is not None:
        code = _evaluation_done(run, ask(stage.name, outcome.detail), verdict_args)
    return code


def _tests_failed(run: _StageRun, code: int) -> int:
    """Tests that did not pass stop the version; in a blue/green stage traffic goes back (Keptn 0.2's run_tests
    post-failure). That includes a bad workload (2) and an abort (130): the flip already happened, and an
    untested colour must not stay live (fail closed). The chain then exits with run-tests' own code."""
    outcome = run.outcome
    outcome.verdict = "tests failed" if code == ExitCode.FAIL else f"tests not run through (exit {code})"
    if run.stage.blue_green:
        deployment = str(run.out / "deployment.json")
        rb = run.step("rollback", ["rollback", *run.settings.platform_args, "--deployment", deployment])
        back = "traffic routed back" if rb == ExitCode.OK else f"rollback exit {rb}"
        run.stop(Action.ROLLBACK, f"{outcome.verdict}; {back}")
    else:
        run.stop(Action.STOP, f"{outcome.verdict}; not promoted")
    run.say(outcome.detail)
    return code


def _evaluation_done(run: _StageRun, approval: str, verdict_args: list[str]) -> int:
    args = ["evaluation-done", *run.settings.platform_args, *verdict_args, "--deployment", str(run.out / "deployment.json"),
            "--approval", approval]
    code = run.step("evaluation-done", args)
    promotion = read_document(run.out / "promotion.json") or {}
    run.outcome.verdict = str(promotion.get("verdict", run.outcome.verdict))
    action = promotion.get("action")
    run.stop(Action(action) if action in Action.values() else Action.STOP,
             str(promotion.get("reason", f"evaluation-done exit {code}")))
    run.say(f"evaluation-done: {run.outcome.action} — {run.outcome.detail}")
    return code


def _env(ctx: StageContext, settings: ChainSettings, out: Path, shipyard: Shipyard) -> dict[str, str]:
    """Jenkins-style parameters: the steps read the context from these, as in the Jenkinsfiles."""
    env = {
        "PROJECT": ctx.project, "STAGE": ctx.stage, "SERVICE": ctx.service, "IMAGE": ctx.image, "TAG": ctx.tag,
        "DEPLOYMENTSTRATEGY": str(ctx.deployment_strategy), "TESTSTRATEGY": ctx.test_strategy, "KEPTNCONTEXT": ctx.keptn_context,
        "OUT_DIR": str(out), "SHIPYARD": shipyard.source,
    }
    if settings.service_config:
        env["SERVICE_CONFIG"] = str(settings.service_config)
    return env


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


def _write_summary(out_dir: Path, ctx: StageContext, outcomes: list[StageOutcome], result: tuple[int, str]) -> None:
    code, reached = result
    doc = {"context": ctx.to_dict(), "exit_code": int(code), "reached": reached, "stages": [o.to_json() for o in outcomes]}
    write_json(under(out_dir, ctx.tag, "chain.json", source="--tag"), doc)


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
        lines.append(f"  {o.stage:<12} {o.verdict or '-':<14} {o.action.value if o.action else '-':<14} {o.detail}  [{steps}]")
    return lines
