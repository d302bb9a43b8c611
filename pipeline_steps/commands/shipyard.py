"""``pipeline-steps shipyard``: validate a shipyard and answer stage questions for Jenkinsfiles."""

from __future__ import annotations

import click

from pipeline_steps.files import to_json


@click.group("shipyard")
def shipyard() -> None:
    """Validate a shipyard and look up stages."""


@shipyard.command("validate")
@click.argument("path", type=click.Path(dir_okay=False))
def validate(path: str) -> None:
    """Check PATH; exit 2 with FILE: FIELD: problem when it is malformed."""
    from pipeline_steps.documents.shipyard import load_shipyard

    loaded = load_shipyard(path)
    click.echo(f"{path}: ok, stages: {' -> '.join(s.name for s in loaded.stages)}")


@shipyard.command("next-stage")
@click.option("--shipyard", "path", envvar="SHIPYARD", required=True, type=click.Path(dir_okay=False))
@click.option("--stage", envvar="STAGE", default="", help="Current stage; empty prints the first stage.")
def next_stage(path: str, stage: str) -> None:
    """Print the stage after --stage (nothing after the last one)."""
    from pipeline_steps.documents.shipyard import load_shipyard

    loaded = load_shipyard(path)
    found = loaded.first if not stage else loaded.next_stage(stage)
    click.echo(found.name if found else "")


@shipyard.command("stage")
@click.option("--shipyard", "path", envvar="SHIPYARD", required=True, type=click.Path(dir_okay=False))
@click.option("--name", required=True, help="Stage name.")
@click.option("--output", type=click.Choice(["text", "json"]), default="text", show_default=True)
def stage(path: str, name: str, output: str) -> None:
    """Print one stage's strategies."""
    from pipeline_steps.documents.shipyard import load_shipyard

    found = load_shipyard(path).stage(name).to_dict()
    if output == "json":
        click.echo(to_json(found, indent=None))
    else:
        for key, value in found.items():
            click.echo(f"{key}: {value}")
