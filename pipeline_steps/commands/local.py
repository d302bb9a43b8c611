"""``pipeline-steps local up|down|status|build``: run the local platform by hand and from the demo.

The steps (deploy, switch, ...) start what they need through the platform; these commands are
for people and scripts around them: start Prometheus before a run (``up``), see every stage and
the Prometheus URL for the gate (``status --output json``), stop everything that was started and
nothing else (``down``), and "build an image" for the local platform (``build``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from pipeline_steps.commands.options import declared
from pipeline_steps.documents.context import StageContext
from pipeline_steps.errors import BadInputError, ExitCode, PipelineStepsError
from pipeline_steps.files import to_json
from pipeline_steps.platforms.local.platform import LocalPlatform

_STATE_DIR = declared(*LocalPlatform.OPTIONS[0])
"""The local platform's own ``--state-dir``, declared once (by the platform)."""
_SCRAPE_INTERVAL = declared(*LocalPlatform.OPTIONS[1])


@click.group()
def local() -> None:
    """Start, inspect and stop the local platform (Envoy per stage, Prometheus, a process per colour)."""


@local.command()
@_STATE_DIR
@_SCRAPE_INTERVAL
@click.option("--shipyard", type=click.Path(dir_okay=False), default=None,
              help="Reserve the ports of every stage of this shipyard for --project/--service before they are "
                   "deployed, so Prometheus scrapes their addresses from the start.")
@click.option("--project", default=None, help="With --shipyard: the project (namespace <project>-<stage>).")
@click.option("--service", default=None, help="With --shipyard: the service.")
def up(state_dir: str, scrape_interval: str, shipyard: str | None, project: str | None, service: str | None) -> int:
    """Start Prometheus (or apply a new --scrape-interval to the running one), and the traffic switch
    (Envoy) of any deployed stage whose Envoy is down. With --shipyard, --project and --service, first
    give each stage not deployed yet its stable ports (both colours, or the direct one, and Envoy's):
    they are scrape targets from now on, so a stage's first deployment is not a new target that its
    load test would have to wait for."""
    from pipeline_steps.platforms.local import monitoring
    from pipeline_steps.platforms.local.prometheus_server import duration_seconds

    if scrape_interval:
        duration_seconds(scrape_interval.strip())  # bad input before anything starts
    platform = LocalPlatform(state_dir)
    for ctx in _stages_to_reserve(shipyard, project, service):  # all checked before anything is reserved
        reserved = platform.reserve(ctx)
        click.echo(f"{ctx.namespace}/{ctx.service}: ports reserved " + ", ".join(f"{k} {v}" for k, v in reserved.items()))
    if monitoring.installed():
        crashed = monitoring.problem(platform.state)
        if crashed:
            click.echo(f"prometheus had stopped on its own ({crashed}); starting it again", err=True)
        server = monitoring.ensure_started(platform.state, scrape_interval.strip())
        click.echo(f"prometheus: {server.url} (scrape interval {server.scrape_interval})")
    else:
        click.echo("prometheus: not installed (apt-get install prometheus); gates can only use the testrun source", err=True)
    for ctx in platform.contexts():
        url = platform.revive(ctx)
        if url:
            click.echo(f"{ctx.namespace}/{ctx.service}: {url}")
    return ExitCode.OK


def _stages_to_reserve(shipyard: str | None, project: str | None, service: str | None) -> list[StageContext]:
    """One context per stage of the shipyard; bad input (exit 2) when the three options do not come together."""
    given = {"--shipyard": shipyard, "--project": project, "--service": service}
    if not any(given.values()):
        return []
    missing = [name for name, value in given.items() if not value]
    if missing:
        raise BadInputError(missing[0], None, "--shipyard, --project and --service reserve ports together; give all three")
    from pipeline_steps.documents.shipyard import load_shipyard

    stages = load_shipyard(str(shipyard)).stages
    return [StageContext(project=str(project), stage=stage.name, service=str(service),
                         deployment_strategy=stage.deployment_strategy,
                         test_strategy=stage.test_strategy).validate("--project/--service") for stage in stages]


@local.command()
@_STATE_DIR
def down(state_dir: str) -> int:
    """Stop every process this state folder started (checked by pid and command line) and forget the stages."""
    from pipeline_steps.platforms.local import monitoring, processes, procs

    platform = LocalPlatform(state_dir)
    stopped = 0
    unreadable: list[str] = []
    for ctx in list(platform.contexts(unreadable)):
        stopped += platform.stop_stage(ctx)
        click.echo(f"stopped {ctx.namespace}/{ctx.service}")
    if monitoring.stop(platform.state):
        stopped += 1
        click.echo("stopped prometheus")
    for problem in unreadable:
        click.echo(f"warning: {problem}", err=True)
    # processes whose record is lost (a corrupt or deleted state file): found by our wrapper's command line
    for pid in processes.started_under(platform.state.root):
        procs.stop_pid(pid)
        stopped += 1
        click.echo(f"stopped unrecorded process {pid} (started under {platform.state.root})")
    click.echo(f"{stopped} process(es) stopped")
    return ExitCode.OK


@local.command()
@_STATE_DIR
@click.option("--output", type=click.Choice(["text", "json"]), default="text", show_default=True)
def status(state_dir: str, output: str) -> int:
    """Every stage: colours, versions, health, weights, URLs; and the Prometheus URL."""
    from pipeline_steps.platforms.local import monitoring

    platform = LocalPlatform(state_dir)
    unreadable: list[str] = []
    url, crashed = platform.prometheus_url(), monitoring.problem(platform.state)
    doc: dict[str, Any] = {
        "schema": "pipeline-steps/local-status/v1", "state_dir": str(platform.state.root),
        "prometheus_url": url,
        "prometheus": "running" if url else "crashed" if crashed else "stopped" if monitoring.installed() else "not installed",
        "prometheus_error": crashed,
        "stages": [platform.describe(ctx) for ctx in platform.contexts(unreadable)],
        "unreadable": unreadable,
    }
    if output == "json":
        click.echo(to_json(doc))
        return ExitCode.OK
    click.echo(f"prometheus: {url or doc['prometheus']}" + (f": {crashed}" if crashed else ""))
    for problem in unreadable:
        click.echo(f"! {problem}")
    if not doc["stages"] and not unreadable:
        click.echo("no stage deployed")
    for stage in doc["stages"]:
        name = f"{stage['namespace']}/{stage['service']}"
        if not stage["colours"] and stage["reserved"] and not stage["error"]:  # ``local up --shipyard``: no strategy yet
            click.echo(f"{name}: not deployed yet; ports reserved: "
                       + ", ".join(f"{k} {v}" for k, v in stage["reserved"].items())
                       + (f"; Envoy listener {stage['public_url']}" if stage["public_url"] else ""))
            continue
        weights = stage["weights"]
        split = f"blue {weights['blue']} / green {weights['green']}" if weights else "-"
        click.echo(f"{name} ({stage['strategy']}) {stage['public_url']}  weights: {split}")
        if stage["reserved"]:
            click.echo("  ports reserved, not deployed yet: " + ", ".join(f"{k} {v}" for k, v in stage["reserved"].items()))
        if stage["error"]:
            click.echo(f"  ! {stage['error']}")
        for colour in stage["colours"]:
            state = "available" if colour["available"] else "NOT AVAILABLE"
            mark = f" [{colour['mark']}]" if colour["mark"] else ""
            click.echo(f"  {colour['colour'] or 'direct':6} {colour['tag']:10} {colour['url']:24} {state}{mark}")
            for reason in colour["reasons"]:
                click.echo(f"         {reason}")
    return ExitCode.OK


@local.command()
@click.option("--source", type=click.Path(path_type=Path), required=True, help="The service's source folder.")
@click.option("--image", required=True, help="Artifact root (the local 'repository'), e.g. .pipeline-steps/images/carts.")
@click.option("--tag", required=True, help="Version; the build lands in IMAGE/TAG/.")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="Override in application.properties (repeatable).")
def build(source: Path, image: str, tag: str, sets: tuple[str, ...]) -> int:
    """Make the folder IMAGE/TAG/ from SOURCE with properties overridden (the local 'docker build')."""
    from pipeline_steps.platforms.local.build import build as build_folder
    from pipeline_steps.platforms.local.build import parse_sets

    try:
        target = build_folder(source, image, tag, parse_sets(sets))
    except OSError as err:
        raise PipelineStepsError(f"build of {image}:{tag} failed: {err}") from err
    click.echo(str(target))
    return ExitCode.OK
