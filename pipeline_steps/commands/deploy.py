"""``pipeline-steps deploy``: parse flags, check them, build the platform, run the deploy step.

Input errors (context, service.yaml) are found before the platform is even built, so bad input
exits 2 with nothing deployed and no traffic moved. A platform with pre-flight checks
(``platforms.base.Preflight``: the cluster) runs them before the step's first write, so a cluster
that cannot take the deployment is refused with nothing changed (exit 4). ``--dry-run`` only runs
them and prints the checklist: the same command, flags and environment as the real deploy, which
is what users of ``kubectl apply --dry-run=server`` and ``helm upgrade --dry-run`` expect.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from pipeline_steps.commands.options import (
    Number,
    build_platform,
    context_from_options,
    context_options,
    out_dir_option,
    platform_options,
)
from pipeline_steps.errors import ExitCode
from pipeline_steps.finite import DAY_S


@click.command("deploy")
@context_options
@platform_options
@click.option("--service-config", envvar="SERVICE_CONFIG", default=None, type=click.Path(dir_okay=False),
              help="service.yaml: port, health path, replicas, chart values [env SERVICE_CONFIG].")
@out_dir_option("Where deployment.json and its event go.")
@click.option("--no-switch", is_flag=True, help="Deploy and wait, but leave the traffic where it is.")
@click.option("--timeout", "timeout_s", type=Number(minimum=1, maximum=DAY_S), default=300.0, show_default=True,
              help="Seconds to wait for the new colour to become available.")
@click.option("--dry-run", is_flag=True,
              help="Pre-flight only: check without writing anything that the cluster can take this deployment "
                   "(APIs, namespace, RBAC, route, server-side dry run, gateway, hosts); print the checklist; "
                   "exit 0 or 4. Deploy runs the same checks before its first write.")
def deploy(**options: Any) -> int:
    """Deploy IMAGE:TAG into the stage: direct, or blue/green into the colour that takes no traffic.

    Blue/green: traffic moves to the new colour only once all its replicas are available, and is
    verified by reading it back. OUT/deployment.json is written before the flip (with the weights
    to roll back to) and again after it. Exit 0 deployed, 2 bad input (nothing changed),
    4 platform error, a failed pre-flight check, or the new colour never became ready (traffic
    unchanged).
    """
    from pipeline_steps.documents.service import ServiceSpec, load_service
    from pipeline_steps.steps.deploy import DeployOptions
    from pipeline_steps.steps.deploy import deploy as run_deploy

    ctx = context_from_options(options)
    if not ctx.image or not ctx.tag:
        from pipeline_steps.errors import BadInputError

        raise BadInputError("command line", "--image" if not ctx.image else "--tag", "is required to deploy")
    from pipeline_steps.documents.names import check_text

    check_text(ctx.image, "--image", None)  # before any platform is built: a line break or NUL names nothing
    service = load_service(options["service_config"]) if options.get("service_config") else ServiceSpec.minimal(ctx.service)
    platform = build_platform(options)
    if not _preflight(platform, ctx, service, options["dry_run"]):
        return ExitCode.INFRA
    if options["dry_run"]:
        return ExitCode.OK
    out = Path(options["out_dir"]) / "deployment.json"
    record = run_deploy(platform, ctx, service, out, DeployOptions(switch=not options["no_switch"],
                                                                   timeout_s=options["timeout_s"]))
    where = f"{ctx.service} {ctx.image}:{ctx.tag} in {record.namespace}"
    if not record.applied and record.switched:
        click.echo(f"{where} already ran in {record.colour} (available): not deployed again; traffic "
                   f"{record.weights_before} -> {record.weights_after} (verified)")
    elif not record.applied and record.colour and record.weights_after is None:
        click.echo(f"{where} already runs in {record.colour} (available): not deployed again; traffic stays "
                   f"{record.weights_before}")
    elif not record.applied:
        live = f" and {record.colour} is live" if record.colour else ""
        click.echo(f"unchanged: {where} already runs{live}; nothing was deployed and traffic did not move")
    elif not record.colour:
        click.echo(f"deployed {where} (direct)")
    elif not record.previous_colour:
        click.echo(f"deployed {where}: first deployment, blue and green both run {ctx.tag}; blue is live")
    elif record.switched:
        click.echo(f"deployed {where} as {record.colour}; traffic {record.weights_before} -> {record.weights_after} (verified)")
    else:
        click.echo(f"deployed {where} as {record.colour}; traffic stays {record.weights_before}")
    click.echo(f"wrote {out}, {out.parent / 'events' / 'deployment-finished.json'}")
    return 0


def _preflight(platform: Any, ctx: Any, service: Any, dry_run: bool) -> bool:
    """Run the platform's pre-flight if it has one; False if ``--dry-run`` found a failure.
    Raises ``InfrastructureError`` (exit 4) when a real deploy would fail it."""
    from pipeline_steps.errors import BadInputError, InfrastructureError
    from pipeline_steps.platforms.base import Preflight

    if not isinstance(platform, Preflight):
        if dry_run:
            raise BadInputError("--dry-run", None, f"the {platform.name} platform has no pre-flight checks")
        return True
    checklist = platform.preflight(ctx, service)
    if dry_run:
        click.echo(checklist.render())
        return checklist.passed
    if not checklist.passed:
        click.echo(checklist.render(), err=True)
        failed = "; ".join(f"{c.name}: {c.detail}" for c in checklist.failed())
        raise InfrastructureError(platform.name, f"pre-flight failed, nothing was changed: {failed}")
    return True
