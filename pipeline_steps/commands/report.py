"""``pipeline-steps report``: write the HTML history report of one service."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("report")
@click.option("--history", envvar="PIPELINE_STEPS_HISTORY", default=".pipeline-steps/history.sqlite", show_default=True,
              help="The evaluation history (SQLite) [env PIPELINE_STEPS_HISTORY].")
@click.option("--project", envvar="PROJECT", required=True, help="Project [env PROJECT].")
@click.option("--service", envvar="SERVICE", required=True, help="Service [env SERVICE].")
@click.option("--stage", "stages", multiple=True, help="Stage(s) to show (repeat); default: every stage of --shipyard.")
@click.option("--shipyard", envvar="SHIPYARD", default=None, type=click.Path(dir_okay=False),
              help="Take the stages, in order, from this shipyard [env SHIPYARD].")
@click.option("--key-indicator", default="", help="Indicator to chart against its thresholds (default: the first).")
@click.option("--out", "out_file", default="out/report.html", show_default=True, help="HTML file to write.")
def report(*, history: str, project: str, service: str, stages: tuple[str, ...], shipyard: str | None, key_indicator: str,
           out_file: str) -> None:
    """One self-contained HTML page: indicators x builds heatmap and the key indicator over builds."""
    from pipeline_steps.documents.shipyard import load_shipyard
    from pipeline_steps.errors import BadInputError
    from pipeline_steps.files import write_text
    from pipeline_steps.history.sqlite import HistoryStore
    from pipeline_steps.report.html import StageHistory, render_report

    names = list(stages) or ([s.name for s in load_shipyard(shipyard).stages] if shipyard else [])
    if not names:
        raise BadInputError("report", "--stage", "give --stage (repeatable) or --shipyard")
    if not Path(history).is_file():
        raise BadInputError(history, None, "no evaluation history at this path (run evaluate with --history first)")
    store = HistoryStore(history)
    data = [StageHistory(name, store.list(project, name, service)) for name in names]
    path = write_text(out_file, render_report(project, service, data, key_indicator))
    count = sum(len(s.entries) for s in data)
    click.echo(f"report: {path} ({count} evaluation(s) of {service} in {', '.join(names)})")
