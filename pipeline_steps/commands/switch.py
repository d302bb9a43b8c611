"""``pipeline-steps switch`` and ``rollback``: move traffic between colours, verified.

``rollback`` reads its target from ``deployment.json`` (the weights recorded before the flip),
so it also undoes a flip that failed half-way; with no context flags it takes the project,
stage and service from that file too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from pipeline_steps.commands.options import (
    build_platform,
    context_from_options,
    context_options,
    out_dir_option,
    platform_options,
)


class WeightsType(click.ParamType):
    """``--weights 90/10`` (blue/green) or a colour; checked when the flag is parsed."""

    name = "BLUE/GREEN|blue|green"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        from pipeline_steps.documents.weights import Weights
        from pipeline_steps.errors import BadInputError

        if isinstance(value, Weights):
            return value
        try:
            return Weights.parse(str(value))
        except BadInputError as err:
            self.fail(err.message, param, ctx)


@click.command("switch")
@context_options
@platform_options
@click.option("--weights", required=True, type=WeightsType(), help="90/10 (blue/green), or blue / green for 100 %.")
def switch(weights: Any, **options: Any) -> int:
    """Set this service's route weights (only its own route), read them back and verify.

    Refuses to send traffic to a colour that is not available. Running it twice changes nothing
    the second time. Exit 0 done, 2 bad input, 4 refused or platform error (traffic unchanged).
    """
    from pipeline_steps.steps.traffic import switch as run_switch

    ctx = context_from_options(options)
    change = run_switch(build_platform(options), ctx, weights)
    verb = "switched" if change.changed else "unchanged"
    click.echo(f"{verb}: {ctx.service} in {ctx.namespace}: {change.before} -> {change.after} (verified)")
    return 0


@click.command("rollback")
@context_options
@platform_options
@click.option("--deployment", "deployment_file", default=None, type=click.Path(dir_okay=False),
              help="deployment.json whose weights_before to restore [default: OUT/deployment.json].")
@click.option("--to", "to_colour", default=None, type=click.Choice(["blue", "green"]),
              help="Send all traffic to this colour instead.")
@out_dir_option("Where deploy wrote deployment.json.")
def rollback(deployment_file: str | None, to_colour: str | None, **options: Any) -> int:
    """Restore the weights from before the last flip (or all to --to COLOUR), verified.

    Exit 0 done, 2 bad input, 4 refused (target colour not available) or platform error.
    """
    from pipeline_steps.documents.deployment import read_record
    from pipeline_steps.errors import BadInputError
    from pipeline_steps.steps.traffic import rollback as run_rollback

    record, path = None, Path(deployment_file) if deployment_file else Path(options["out_dir"]) / "deployment.json"
    if to_colour is None:
        record = read_record(path)
    elif deployment_file:
        raise BadInputError("command line", None, "give either --deployment or --to, not both")
    if record is not None and not (options.get("project") or options.get("stage") or options.get("service")):
        ctx = record.context
    else:
        ctx = context_from_options(options)
    change = run_rollback(build_platform(options), ctx, record, to_colour, source=str(path))
    verb = "rolled back" if change.changed else "already there"
    click.echo(f"{verb}: {ctx.service} in {ctx.namespace}: {change.before} -> {change.after} (verified)")
    return 0
