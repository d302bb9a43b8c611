"""``pipeline-steps events``: inspect an event a run left behind, or write a new-artefact event by hand."""

from __future__ import annotations

from typing import Any

import click

from pipeline_steps.commands.options import context_from_options, context_options, out_dir_option
from pipeline_steps.files import to_json


@click.group("events")
def events() -> None:
    """Write or inspect Keptn CloudEvents (sh.keptn.events.*)."""


@events.command("show")
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--output", type=click.Choice(["text", "json"]), default="text", show_default=True)
def show(path: str, output: str) -> None:
    """Validate PATH and print its type, context and data (exit 2 when malformed)."""
    from pipeline_steps.documents.events import read_event

    event = read_event(path)
    if output == "json":
        click.echo(to_json(event.to_json()))
        return
    click.echo(f"{event.type} (shkeptncontext {event.keptn_context or '-'}, "
               f"source {event.source or '-'}, time {event.time or '-'})")
    for key, value in event.data.items():
        shown = to_json(value, indent=None) if isinstance(value, (dict, list)) else value
        click.echo(f"  {key}: {shown}")


@events.command("new-artefact")
@context_options
@out_dir_option("Where events/new-artefact.json goes.")
def new_artefact(**options: Any) -> None:
    """Write OUT/events/new-artefact.json for a new version (what `keptn send event new-artifact` sent).

    Needs --project, --service, --image and --tag; --stage may stay empty (the first stage).
    """
    from pipeline_steps.documents.events import make_event, write_event

    options["stage"] = options.get("stage") or "none"
    ctx = context_from_options(options)
    event = make_event("new-artefact", ctx, "cli")
    if ctx.stage == "none":
        event.data["stage"] = ""
    click.echo(str(write_event(options["out_dir"], event)))
