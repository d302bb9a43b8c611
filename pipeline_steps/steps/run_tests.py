"""The run-tests step: health check, then functional checks or a performance test; JUnit + testrun.json.

Keptn 0.2's run_tests job ran a JMeter health check, then by test strategy a functional run
(1 user, 1 loop, zero errors allowed, against the cluster-internal name) or a performance run
(10 users x 500 loops through the ingress, so blue/green weights apply), and only checked that
JMeter started. This step judges the results (error rate, response-time limits) and records
the quality gate's window: the load's own start and end when a performance test ran (a long
health wait must not dilute it), else the whole run's.

Exit codes: 0 passed; 1 a check failed or a limit was exceeded (an unreachable service after
the health timeout is a failed health check: the version is bad); 2 bad input (raised before
anything is sent); 130 interrupted (SIGINT/SIGTERM), after writing what was measured.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import time
from collections.abc import Awaitable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO, TypeVar

from pipeline_steps.documents.context import StageContext
from pipeline_steps.documents.events import after_tests, event_path
from pipeline_steps.documents.testrun import CheckResult, PerformanceResult, TestRun
from pipeline_steps.errors import ExitCode
from pipeline_steps.files import check_writable
from pipeline_steps.load.engine import WHOLE, Part
from pipeline_steps.load.progress import Progress
from pipeline_steps.load.workload import HealthSpec, PerformanceSpec, Workload
from pipeline_steps.platforms.base import Platform
from pipeline_steps.report.junit import JUnitCase, write_junit

T = TypeVar("T")


def observe_before_load(platform: Platform, ctx: StageContext, timeout_s: float) -> None:
    """Before a performance test through ``platform``'s public address, wait for every colour that takes
    traffic (weight above 0, or the direct deployment) and is available, as deploy waits for it in a
    stage whose test strategy is ``performance``: ``Platform.wait_available`` with this context, which on
    the local platform returns once its Prometheus scrapes the colour (``platforms/local/monitoring.py``).

    A deploy told no test strategy did not wait, so the load could end before a new colour's first
    scrape and the gate judge a good version on no data (issue 15). A colour that is not available is
    left to the health check, which fails the run naming it. Raises ``NotReadyError`` (exit 4) when the
    monitoring never observes an available colour within ``timeout_s`` seconds."""
    with _sigterm_interrupts():  # a Jenkins abort while waiting ends as 130 (the CLI's KeyboardInterrupt), not 143
        status = platform.status(ctx)
        for state in status.colours:
            takes_traffic = status.weights is None or status.weights.of(state.colour) > 0
            if state.available and takes_traffic:
                platform.wait_available(ctx, state.colour or None, timeout_s)


@contextlib.contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """SIGTERM raises ``KeyboardInterrupt`` in this block, like SIGINT (main thread only; elsewhere a no-op)."""
    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


@dataclass(frozen=True)
class TestPlan:
    """Everything validated and resolved before the first request."""

    __test__ = False  # not a pytest class

    context: StageContext
    health: HealthSpec
    workload: Workload | None
    performance: PerformanceSpec | None
    """The performance test with command-line overrides applied (None: not run)."""
    functional_url: str
    performance_url: str
    out_dir: Path
    shard: Part = WHOLE
    """``--shard I/N``: this run's share of the users or of the rate."""
    processes: int | None = None
    """Event loops (worker processes) for the load; None: ``pool.default_processes``."""


@dataclass
class _Outcome:
    checks: list[CheckResult]
    performance: PerformanceResult | None = None
    window: tuple[float, float] | None = None
    """The load's own start and end: the gate's window when a performance test ran."""
    aborted: bool = False


def run_tests(plan: TestPlan, *, stream: TextIO | None = None, tty: bool | None = None) -> ExitCode:
    """Run the plan, write OUT/testrun.json, OUT/junit-tests.xml and the ``tests-finished`` event,
    return the exit code."""
    out = stream or sys.stdout
    from pipeline_steps.load.engine import run_loop

    check_writable([plan.out_dir / "testrun.json", plan.out_dir / "junit-tests.xml", event_path(plan.out_dir, "tests-finished")])

    start = time.time()
    outcome = run_loop(_run(plan, out, tty))
    end = time.time()
    if outcome.window is not None:
        # the gate judges the service under load: a long health wait must not dilute its window
        start, end = outcome.window
    failed = [c for c in outcome.checks if not c.passed]
    perf_ok = outcome.performance is None or outcome.performance.limits_passed
    passed = not failed and perf_ok and not outcome.aborted
    target = plan.performance_url if plan.performance else plan.functional_url
    run = TestRun(plan.context, target, start, end, result="pass" if passed else "fail", checks=outcome.checks,
                  performance=outcome.performance, aborted=outcome.aborted)
    run.write(plan.out_dir / "testrun.json")
    write_junit(plan.out_dir / "junit-tests.xml", f"run-tests.{plan.context.service}.{plan.context.stage}",
                _junit_cases(plan, outcome), properties={"target": target, "test_strategy": plan.context.test_strategy})
    after_tests(plan.out_dir)
    _summary(out, run)
    if outcome.aborted:
        return ExitCode.ABORTED
    return ExitCode.OK if passed else ExitCode.FAIL


async def _run(plan: TestPlan, out: TextIO, tty: bool | None) -> _Outcome:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    installed = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):  # not the main thread
            loop.add_signal_handler(sig, stop.set)
            installed.append(sig)
    try:
        return await _phases(plan, out, tty, stop)
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)


async def _until_stopped(work: Awaitable[T], stop: asyncio.Event) -> T | None:
    """``work``'s result, or None when ``stop`` is set first (the work is cancelled)."""
    task = asyncio.ensure_future(work)
    stopper = asyncio.create_task(stop.wait())
    await asyncio.wait([task, stopper], return_when=asyncio.FIRST_COMPLETED)
    stopper.cancel()
    if task.done():
        return task.result()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    return None


async def _phases(plan: TestPlan, out: TextIO, tty: bool | None, stop: asyncio.Event) -> _Outcome:
    import aiohttp

    from pipeline_steps.load.checks import run_functional, wait_healthy
    from pipeline_steps.load.pool import LoadPool

    outcome = _Outcome(checks=[])
    health_url = plan.performance_url if plan.performance else plan.functional_url
    print(f"health: GET {health_url.rstrip('/')}{plan.health.path} (up to {plan.health.timeout_s:g}s)", file=out, flush=True)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as session:
        health = await _until_stopped(wait_healthy(session, health_url, plan.health), stop)
        if health is None:
            outcome.aborted = True
            return outcome
        outcome.checks.append(health)
        if not health.passed:
            return outcome
        if plan.context.test_strategy == "functional" and plan.workload is not None:
            print(f"functional: {len(plan.workload.functional)} requests against {plan.functional_url}", file=out, flush=True)
            finished: list[CheckResult] = []
            done = await _until_stopped(run_functional(session, plan.functional_url, plan.workload.functional,
                                                       plan.workload.variables, results=finished), stop)
            outcome.checks.extend(finished)  # an abort keeps the checks that finished before it
            if done is None:
                outcome.aborted = True
                return outcome
    if plan.performance is not None and plan.workload is not None:
        spec = plan.performance
        shape = (f"{spec.rate_rps:g} req/s for {spec.duration_s:g}s over {spec.users} connections" if spec.model == "open"
                 else f"{spec.users} users x {spec.loops or 'unlimited'} loops"
                 + (f" for up to {spec.duration_s:g}s" if spec.duration_s else ""))
        pool = LoadPool(plan.performance_url, spec, plan.workload.variables, part=plan.shard, processes=plan.processes)
        shard = f", shard {plan.shard.offset + 1}/{plan.shard.stride}" if plan.shard.stride > 1 else ""
        print(f"performance ({spec.model}): {shape} against {plan.performance_url} "
              f"({pool.processes} event loop{'s' if pool.processes > 1 else ''}{shard})", file=out, flush=True)
        progress = Progress(pool.expected, spec.duration_s, stream=out, tty=tty)
        try:
            load = await pool.run(stop, progress, progress.tick_s)
        finally:
            progress.close()
        outcome.performance, outcome.aborted = load.result, load.aborted
        outcome.window = (load.start_unix, load.end_unix)
    return outcome


def _junit_cases(plan: TestPlan, outcome: _Outcome) -> list[JUnitCase]:
    classname = f"run-tests.{plan.context.service}.{plan.context.stage}"
    cases = [JUnitCase(c.name, f"{classname}.{c.kind}", c.duration_s, failure=c.message or None if not c.passed else None)
             for c in outcome.checks]
    health_failed = any(c.kind == "health" and not c.passed for c in outcome.checks)
    not_run = "not run: the health check failed" if health_failed else "not run: aborted" if outcome.aborted else None
    if plan.context.test_strategy == "functional" and plan.workload and not_run:
        ran = sum(c.kind == "functional" for c in outcome.checks)  # they run in order: the rest did not
        cases += [JUnitCase(r.name, f"{classname}.functional", skipped=not_run) for r in plan.workload.functional[ran:]]
    perf = outcome.performance
    if plan.performance is not None and perf is None:
        cases.append(JUnitCase("performance", f"{classname}.performance", skipped=not_run or "not run"))
    elif perf is not None:
        stats = {"requests": str(perf.requests), "errors": str(perf.errors), "error_rate": f"{perf.error_rate:.4%}",
                 "throughput_rps": f"{perf.throughput_rps:.1f}",
                 **{f"latency_{k}_ms": f"{v:.2f}" for k, v in perf.latency_ms.items()},
                 **{f"errors_{k}": str(v) for k, v in perf.errors_by_kind.items() if v}}
        reason = perf.reason or ("aborted before the end" if outcome.aborted else "")
        cases.append(JUnitCase("performance", f"{classname}.performance", perf.duration_s, properties=stats,
                               failure=reason or None, details="\n".join([reason, *perf.first_errors]).strip()))
    return cases


def _summary(out: TextIO, run: TestRun) -> None:
    for check in run.checks:
        label = check.kind if check.name == check.kind else f"{check.kind} {check.name}"
        print(f"{label}: {'ok' if check.passed else 'FAILED ' + check.message}", file=out)
    perf = run.performance
    if perf is not None:
        lat = perf.latency_ms
        print(f"performance: {perf.requests} requests, {perf.errors} errors ({perf.error_rate:.2%}), "
              f"{perf.throughput_rps:.1f} req/s; latency ms mean {lat['mean']:.1f} p50 {lat['p50']:.1f} "
              f"p95 {lat['p95']:.1f} p99 {lat['p99']:.1f} max {lat['max']:.1f}", file=out)
        con = perf.connect_ms
        if con:  # set up before the clock started: apart from the latencies, as wrk reports them
            print(f"connections: {int(con['connections'])} opened (ms mean {con['mean']:.1f} p99 {con['p99']:.1f} "
                  f"max {con['max']:.1f}), {int(con['errors'])} failed", file=out)
        for line in perf.first_errors:
            print(f"  error: {line}", file=out)
        print(f"performance limits: {'passed' if perf.limits_passed else 'FAILED ' + perf.reason}", file=out)
    state = "ABORTED (partial results written)" if run.aborted else run.result.upper()
    print(f"run-tests: {state}", file=out, flush=True)
