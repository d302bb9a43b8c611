"""``pipeline-steps report``: write the HTML history report of one service (and its stylesheet)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from pipeline_steps.commands.options import history_from_options, history_options


@click.command("report")
@history_options
@click.option("--project", envvar="PROJECT", required=True, help="Project [env PROJECT].")
@click.option("--service", envvar="SERVICE", required=True, help="Service [env SERVICE].")
@click.option("--stage", "stages", multiple=True, help="Stage(s) to show (repeat); default: every stage of --shipyard.")
@click.option("--shipyard", envvar="SHIPYARD", default=None, type=click.Path(dir_okay=False),
              help="Take the stages, in order, from this shipyard [env SHIPYARD].")
@click.option("--key-indicator", default="",
              help="Indicator to chart against its thresholds (default: the newest build's first).")
@click.option("--builds", type=click.IntRange(min=1), default=50, show_default=True,
              help="Newest evaluations per stage in the table (the chart always covers the whole history).")
@click.option("--out", "out_file", default="out/report.html", show_default=True,
              help="HTML file to write; report.css is written next to it (keep both together).")
def report(**options: Any) -> None:
    """One HTML page (plus report.css): the newest build of every stage, then per stage a heatmap of
    indicators x the newest builds (newest first) and the key indicator over the whole history."""
    from pipeline_steps.documents.names import check_label
    from pipeline_steps.documents.shipyard import load_shipyard
    from pipeline_steps.errors import BadInputError
    from pipeline_steps.files import check_writable, write_text
    from pipeline_steps.report.chart import MAX_POINTS
    from pipeline_steps.report.html import STYLESHEET, StageHistory, render_report, stylesheet

    project, service, key_indicator = options["project"], options["service"], options["key_indicator"]
    shipyard = options["shipyard"]
    names = list(options["stages"]) or ([s.name for s in load_shipyard(shipyard).stages] if shipyard else [])
    if not names:
        raise BadInputError("report", "--stage", "give --stage (repeatable) or --shipyard")
    for flag, value in (("--project", project), ("--service", service), *(("--stage", n) for n in names)):
        check_label(value, "command line", flag)
    out = Path(options["out_file"])
    check_writable([out, out.parent / STYLESHEET])  # both, before either is written
    store = history_from_options(options)
    try:
        if not store.exists():
            raise BadInputError(store.location, None, "no evaluation history here (run evaluate with --history first)")
        data = []
        for name in names:
            entries = store.previous(project, name, service, limit=options["builds"])
            key = key_indicator or (entries[0].indicators[0].id if entries and entries[0].indicators else "")
            series = store.series(project, name, service, indicator=key, max_points=MAX_POINTS) if key else []
            data.append(StageHistory(name, entries, store.count(project, name, service), key, series))
    finally:
        store.close()
    path = write_text(out, render_report(project, service, data))
    write_text(out.parent / STYLESHEET, stylesheet())
    count = sum(s.stored for s in data)
    click.echo(f"report: {path} and {STYLESHEET} ({count} evaluation(s) of {service} in {', '.join(names)})")
