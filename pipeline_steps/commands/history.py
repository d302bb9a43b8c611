"""``pipeline-steps history``: upgrade, move and bound the evaluation history (SQLite or PostgreSQL).

Why commands and not automatic: a shared PostgreSQL history is read by agents that may run an
older pipeline-steps; an upgrade in place is a decision for whoever runs them, so evaluate and
report refuse an old schema with a hint instead of migrating behind everyone's back.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from pipeline_steps.commands.options import history_from_options, history_options


@click.group("history")
def history() -> None:
    """Upgrade (migrate), move (export, import) and bound (prune) the evaluation history."""


@history.command("migrate")
@history_options
def migrate(**options: Any) -> None:
    """Upgrade the history's schema in place (one transaction; an empty store is created)."""
    store = history_from_options(options)
    before, after = store.migrate()
    store.close()
    done = "already at" if before == after else f"upgraded from schema {before} to"
    click.echo(f"history: {store.location}: {done} schema {after}")


@history.command("export")
@history_options
@click.option("--out", "out_file", default="-", show_default=True, help="JSON-lines file to write; - for standard output.")
def export(**options: Any) -> None:
    """Write every evaluation as JSON lines (first line: the format), oldest first, with its id."""
    from pipeline_steps.files import atomic_text
    from pipeline_steps.history.records import write_export

    store = history_from_options(options)
    if options["out_file"] == "-":
        count = write_export(store.export(), sys.stdout)
    else:
        with atomic_text(options["out_file"]) as out:
            count = write_export(store.export(), out)
    store.close()
    click.echo(f"history: exported {count} evaluation(s) from {store.location}", err=True)


@history.command("import")
@history_options
@click.argument("source", type=click.Path(dir_okay=False, allow_dash=True))
def import_(**options: Any) -> None:
    """Add the evaluations of a `history export` file (- for standard input) under their own ids.

    All or nothing: one malformed line, or an id that already holds a different evaluation, is
    bad input (exit 2) and nothing is added. Evaluations already there (same id, same content) are skipped.
    """
    from pipeline_steps.errors import BadInputError
    from pipeline_steps.history.records import read_export

    source = options["source"]
    store = history_from_options(options)
    if source == "-":
        added, skipped = store.import_records(read_export(sys.stdin, "standard input"))
    else:
        try:
            lines = open(source, encoding="utf-8")  # noqa: SIM115 - closed by the with below
        except OSError as err:
            raise BadInputError(source, None, f"cannot read: {err.strerror or err}") from err
        with lines:
            added, skipped = store.import_records(read_export(lines, source))
    store.close()
    click.echo(f"history: imported {added} evaluation(s) into {store.location}; {skipped} already there")


@history.command("prune")
@history_options
@click.option("--keep", type=click.IntRange(min=1), required=True,
              help="Evaluations to keep per project/stage/service (the newest).")
@click.option("--project", default="", help="Only this project.")
@click.option("--stage", default="", help="Only this stage.")
@click.option("--service", default="", help="Only this service.")
def prune(**options: Any) -> None:
    """Delete all but the newest --keep evaluations of every project/stage/service (one transaction).

    Keep at least the number_of_comparison_results of your SLOs, or relative criteria compare with fewer.
    """
    store = history_from_options(options)
    removed = store.prune(options["keep"], project=options["project"], stage=options["stage"], service=options["service"])
    store.close()
    click.echo(f"history: pruned {removed} evaluation(s) from {store.location}; kept the newest {options['keep']}"
               " of each project/stage/service")
