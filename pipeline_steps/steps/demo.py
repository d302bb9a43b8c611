"""The use case, played for real on this machine: v1 onboarded, slow v2 stopped in staging, v3 to production.

Everything runs through the same commands a user or Jenkins runs (``local build``, ``run``,
``report``), on the local platform: a real Envoy per stage switches traffic between colours, a
real Prometheus scrapes the carts processes, and the gate judges the carts perfspec of the use
case. Without Prometheus the gate judges the load test's own measurements (``testrun`` source).

The demo checks its own story and exits 1 if it did not happen: v2 must stop in staging with
staging's traffic back on v1 and production untouched, and production must answer ``v3``.

It must tell that story every time (issue 15): its Prometheus scrapes twice a second
(``--scrape-interval``, default 500 ms: three stages for half a minute, not a fleet; each gate
waits for every target's first scrape past the test's end, about one interval), each staging
deployment returns only once Prometheus scrapes the new colour (``platforms/local/monitoring.py``;
every stage's ports are reserved when Prometheus starts, so no deployment adds a target, and only
v1's staging deployment waits, for Prometheus' first discovery tick ~5 s after its start),
and a ``--test-duration`` shorter than two scrape intervals is refused before anything starts
(exit 2): the gate's ``rate()`` needs two samples of the new version inside the test window.
"""

from __future__ import annotations

import shutil
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.request import urlopen

from pipeline_steps.documents.context import StageContext
from pipeline_steps.documents.vocabulary import DeploymentStrategy
from pipeline_steps.errors import BadInputError, ExitCode, InfrastructureError
from pipeline_steps.files import read_json
from pipeline_steps.platforms.local.monitoring import MIN_INTERVALS_PER_WINDOW
from pipeline_steps.platforms.local.platform import AUTO_PROMETHEUS_ENV, LocalPlatform
from pipeline_steps.platforms.local.prometheus_server import duration_seconds
from pipeline_steps.steps.launch import run_cli

Printer = Callable[[str], None]

PROJECT = "sockshop"
SERVICE = "carts"


@dataclass(frozen=True)
class Version:
    tag: str
    version: str
    delay_ms: int
    story: str
    expect_reach: str
    """The last stage the chain must leave the version in."""


VERSIONS = (
    Version("0.6.0", "v1", 0, "carts v1 is onboarded through dev, staging and production", "production"),
    Version("0.6.1", "v2", 1000, "carts v2 adds a 1 s delay: it must be stopped in staging", "dev"),
    Version("0.6.2", "v3", 0, "carts v3 removes the delay: it must pass and serve production", "production"),
)


@dataclass(frozen=True)
class DemoSettings:
    workdir: Path
    source: Path
    """The carts sample (examples/carts)."""
    shipyard: Path
    test_duration: int = 15
    users: int = 10
    keep: bool = False
    use_prometheus: bool = True
    testrun_gate: Path | None = None
    scrape_interval: str = "500ms"
    """Prometheus' scrape interval for the demo's platform (``--scrape-interval``)."""


def check_settings(settings: DemoSettings, prometheus: bool) -> None:
    """Refuse what cannot tell the story (``BadInputError``, exit 2) before anything changes: with
    Prometheus as the gate's source, the staging test must span ``MIN_INTERVALS_PER_WINDOW`` scrapes."""
    interval_s = duration_seconds(settings.scrape_interval)
    if prometheus and settings.test_duration < MIN_INTERVALS_PER_WINDOW * interval_s:
        raise BadInputError("--test-duration", None, (
            f"{settings.test_duration}s is shorter than {MIN_INTERVALS_PER_WINDOW} scrape intervals "
            f"({MIN_INTERVALS_PER_WINDOW} x {settings.scrape_interval}): the gate's rate() over the test window needs "
            f"at least two Prometheus samples of the new version; use --test-duration "
            f"{MIN_INTERVALS_PER_WINDOW * interval_s:g} or more, or a shorter --scrape-interval"))


def examples_dir() -> Path:
    """``examples/`` next to the package (a source checkout) or in the current folder."""
    for base in (Path(__file__).resolve().parents[2], Path.cwd()):
        if (base / "examples" / "carts" / "service.yaml").is_file():
            return base / "examples"
    raise InfrastructureError("demo", "examples/carts not found: run the demo from a checkout of pipeline-steps")


def play(settings: DemoSettings, printer: Printer = print) -> int:
    """Run the whole story; return 0 when every expectation held. ``BadInputError`` for settings that
    cannot tell it (``check_settings``), before anything is stopped or removed."""
    with_prometheus = settings.use_prometheus and bool(shutil.which("prometheus"))
    check_settings(settings, with_prometheus)
    state = settings.workdir / "state"
    out = settings.workdir / "out"
    history = settings.workdir / "history.sqlite"
    if state.exists():  # a previous demo left its platform: stop exactly what it started
        _cli(["local", "down", "--state-dir", str(state)], check=False)
    for path in (state, out):
        if path.exists():
            shutil.rmtree(path)
    history.unlink(missing_ok=True)
    common = ["--platform", "local", "--state-dir", str(state)]
    prometheus_url = ""
    gate_args: list[str] = []
    child_env: dict[str, str] = {}
    failures: list[str] = []
    try:
        if with_prometheus:
            # every stage's ports are Prometheus targets from its start: no deployment adds a target; inside
            # the try, so a local up that fails midway (a broken pipe) leaves no Prometheus running
            _cli(["local", "up", "--state-dir", str(state), "--scrape-interval", settings.scrape_interval,
                  "--shipyard", str(settings.shipyard), "--project", PROJECT, "--service", SERVICE], env=child_env)
            prometheus_url = LocalPlatform(state).prometheus_url()
            printer(f"Prometheus: {prometheus_url}, scraping every {settings.scrape_interval} "
                    "(gate: the carts perfspec of the use case)")
        else:
            reason = "asked for" if not settings.use_prometheus else "prometheus is not installed (apt-get install prometheus)"
            gate = settings.testrun_gate or (settings.source.parent / "gates" / "perfspec_testrun.json")
            gate_args = ["--gate", str(gate)]
            child_env[AUTO_PROMETHEUS_ENV] = "off"  # no step may start one behind the story's back
            printer(f"No Prometheus ({reason}): the gate judges the load test's own measurements ({gate.name})")
        for version in VERSIONS:
            printer("")
            printer(f"== {version.story} ==")
            image = str(state / "artifacts" / SERVICE)
            _cli(["local", "build", "--source", str(settings.source), "--image", image, "--tag", version.tag,
                  "--set", f"version={version.version}", "--set", f"delayInMillis={version.delay_ms}"], env=child_env)
            argv = ["run", "--shipyard", str(settings.shipyard), "--service-config", str(settings.source / "service.yaml"),
                    "--project", PROJECT, "--image", image, "--tag", version.tag, "--keptn-context", str(uuid.uuid4()),
                    *common, "--out-dir", str(out), "--history", str(history), "--test-duration", str(settings.test_duration),
                    "--users", str(settings.users), *gate_args]
            if prometheus_url:
                argv += ["--prometheus-url", prometheus_url]
            _cli(argv, check=False, env=child_env)
            failures += _check_version(version, out, state, printer)
        failures += _check_production(state, printer)
        report = out / "report.html"
        _cli(["report", "--history", str(history), "--project", PROJECT, "--service", SERVICE,
              "--shipyard", str(settings.shipyard), "--out", str(report)], env=child_env)
        printer("")
        printer(f"Report: {report.resolve()}")
    finally:
        if not settings.keep:
            _cli(["local", "down", "--state-dir", str(state)], check=False, env=child_env)
        else:
            printer(f"Platform left running (state {state}); stop it with: pipeline-steps local down --state-dir {state}")
    if failures:
        printer("The demo did NOT play as the use case says:")
        for failure in failures:
            printer(f"  - {failure}")
        return int(ExitCode.FAIL)
    printer("Use case played: v2 was stopped in staging and never served production; v3 serves production.")
    return int(ExitCode.OK)


def _check_version(version: Version, out: Path, state: Path, printer: Printer) -> list[str]:
    chain = read_json(out / version.tag / "chain.json")
    reached = chain.get("reached", "")
    stages = [s["stage"] for s in chain.get("stages", [])]
    printer(f"-> {version.version} ({version.tag}) reached: {reached or 'nothing'}; stages run: {' -> '.join(stages)}")
    problems = []
    if reached != version.expect_reach:
        problems.append(f"{version.version} reached {reached or 'nothing'}, expected {version.expect_reach}")
    if version.expect_reach != "production":
        if "production" in stages:
            problems.append(f"{version.version} was deployed to production")
        staging = _stage_status(state, "staging")
        live = staging.get("live")
        live_tag = next((c.get("tag") for c in staging.get("colours", []) if c.get("colour") == live), None)
        printer(f"-> staging traffic: {staging.get('weights')} (live {live}: {live_tag})")
        if live_tag == version.tag:
            problems.append(f"staging still routes traffic to {version.version}")
    return problems


def _check_production(state: Path, printer: Printer) -> list[str]:
    ctx = StageContext(PROJECT, "production", SERVICE, deployment_strategy=DeploymentStrategy.BLUE_GREEN)
    url = LocalPlatform(state).endpoints(ctx).public_url
    answers = []
    for _ in range(5):
        with urlopen(f"{url}/version", timeout=5) as resp:
            answers.append(resp.read().decode("utf-8", "replace").strip())
    printer(f"GET {url}/version -> {answers[0]}")
    if not all("v3" in a for a in answers):
        return [f"production answered {sorted(set(answers))}, expected v3"]
    return []


def _stage_status(state: Path, stage: str) -> dict[str, Any]:
    ctx = StageContext(PROJECT, stage, SERVICE, deployment_strategy=DeploymentStrategy.BLUE_GREEN)
    status = LocalPlatform(state).status(ctx)
    return {"live": status.live, "weights": str(status.weights) if status.weights else None,
            "colours": [{"colour": c.colour, "tag": c.tag, "mark": c.mark} for c in status.colours]}


def _cli(argv: list[str], check: bool = True, env: dict[str, str] | None = None) -> int:
    started = time.monotonic()
    code = run_cli(argv, env or {})
    if check and code != 0:
        raise InfrastructureError("demo", f"pipeline-steps {' '.join(argv[:2])} failed with exit {code} "
                                          f"after {time.monotonic() - started:.0f}s")
    return code
