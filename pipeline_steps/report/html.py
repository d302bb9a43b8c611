"""The evaluation history of one service as an HTML page plus its stylesheet (Jenkins archives both).

What a user asks after a red build is "why, and since when?" (peers.md §3, item 3). Like Keptn's
Bridge, a heatmap shows indicators x builds coloured by result, each cell with its value, score
and thresholds; a chart (``chart.py``) draws the key indicator over the stage's whole history.

Bounded at any history size (issue 15): the first screen is the newest build of every stage; each
stage's table holds its newest ``builds`` evaluations, newest first (left), and says how many more
are stored; the chart has at most 500 points. No scripts, fonts or images from elsewhere.

Jenkins serves archived files under ``sandbox; default-src 'none'; img-src 'self'; style-src
'self';`` (Jenkins "Configuring Content Security Policy"), which blocks inline ``<style>`` and
``style=`` attributes and every script. So the page links ``STYLESHEET``, written next to it under
that stable name, and colours are classes (``s-<status>``); the page holds no script at all.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape

from pipeline_steps.documents.vocabulary import IndicatorStatus
from pipeline_steps.history import HistoryEntry, SeriesPoint
from pipeline_steps.report.chart import render_chart

STYLESHEET = "report.css"
"""The stylesheet's file name, next to the HTML (archive and publish the folder with both)."""
DEFAULT_BUILDS = 50
COLOURS: dict[IndicatorStatus, str] = {
    IndicatorStatus.PASS: "#2e9e5b", IndicatorStatus.WARNING: "#e0a526", IndicatorStatus.FAIL: "#d64545",
    IndicatorStatus.NO_DATA: "#9aa0a6", IndicatorStatus.ERROR: "#6b3fa0", IndicatorStatus.INFO: "#4a78c2",
}
"""Each status's cell colour in the heatmap, chart and legend (class ``s-<status>`` in report.css)."""
_VERDICT_STATUS = {"PASS": "pass", "WARNING": "warning", "FAIL": "fail", "ERROR": "error"}


@dataclass(frozen=True)
class StageHistory:
    """What the report shows of one stage: its newest ``entries`` (newest first), how many are
    stored (``total``), the chart's indicator and its series (oldest first)."""

    stage: str
    entries: Sequence[HistoryEntry]
    total: int = -1
    key: str = ""
    series: Sequence[SeriesPoint] = field(default_factory=list)

    @property
    def stored(self) -> int:
        return len(self.entries) if self.total < 0 else self.total


def render_report(project: str, service: str, stages: Sequence[StageHistory]) -> str:
    """The whole HTML page (link ``STYLESHEET``; write ``stylesheet()`` next to it)."""
    total = sum(s.stored for s in stages)
    body = [f"<h1>{escape(service)} <small>{escape(project)}</small></h1>",
            f"<p class='meta'>{total} evaluation(s) stored in {len(stages)} stage(s); newest first. "
            "Cells: value, score/max and criteria; hover for the reason and the query.</p>",
            _latest(stages)]
    for stage in stages:
        body.append(f"<h2 id='stage-{escape(stage.stage)}'>{escape(stage.stage)}</h2>")
        if not stage.entries:
            body.append("<p>No evaluations stored for this stage.</p>")
            continue
        if stage.stored > len(stage.entries):
            body.append(f"<p class='meta'>The newest {len(stage.entries)} of {stage.stored} evaluations"
                        " (<code>--builds</code> shows more); the chart covers all of them.</p>")
        body.append(_heatmap(stage.entries))
        if stage.key and stage.series:
            newest = next((i for i in stage.entries[0].indicators if i.id == stage.key), None)
            body.append(render_chart(stage.key, stage.series, newest.criteria if newest else ""))
    legend = " ".join(f"<span class='chip s-{s.value}'>{escape(s.value)}</span>" for s in COLOURS)
    body.append(f"<p class='legend'>{legend}</p>")
    return _PAGE.format(title=escape(f"{service} quality gate history"), css=STYLESHEET, body="\n".join(body))


def _latest(stages: Sequence[StageHistory]) -> str:
    rows = ["<tr><th>stage</th><th>newest build</th><th>verdict</th><th>score</th><th>evaluated (UTC)</th><th>stored</th></tr>"]
    for stage in stages:
        if not stage.entries:
            rows.append(f"<tr><td>{escape(stage.stage)}</td><td colspan='5'>no evaluations</td></tr>")
            continue
        e = stage.entries[0]
        rows.append(f"<tr class='newest'><td><a href='#stage-{escape(stage.stage)}'>{escape(stage.stage)}</a></td>"
                    f"<td>{escape(e.tag)}</td><td class='verdict s-{_VERDICT_STATUS.get(e.verdict, 'none')}'>"
                    f"{escape(e.verdict)}</td><td>{_num(e.score)}/{_num(e.max_score)}</td>"
                    f"<td>{escape(_when(e.created_at))}</td><td>{stage.stored}</td></tr>")
    return "<table class='latest'>" + "".join(rows) + "</table>"


def _heatmap(entries: Sequence[HistoryEntry]) -> str:
    ids: dict[str, None] = {}
    for entry in entries:
        ids.update((i.id, None) for i in entry.indicators)
    head = ["<th>indicator</th>"]
    for e in entries:
        head.append(f"<th class='build {escape(e.result)}' data-evaluation='{e.id}'>{escape(e.tag)}<br><small>"
                    f"{escape(_when(e.created_at))}</small><br>{escape(e.verdict)} {_num(e.score)}/{_num(e.max_score)}</th>")
    rows = ["<tr>" + "".join(head) + "</tr>"]
    for indicator_id in ids:
        cells = [f"<th class='indicator'>{escape(indicator_id)}</th>"]
        for e in entries:
            ind = next((i for i in e.indicators if i.id == indicator_id), None)
            if ind is None:
                cells.append("<td class='empty'></td>")
                continue
            value = "no data" if ind.value is None else _num(ind.value)
            title = "; ".join(x for x in (f"{ind.id} = {value}", ind.criteria, f"score {_num(ind.score)}/{_num(ind.max_score)}",
                                          ind.reason, f"query: {ind.query}") if x)
            cells.append(f"<td class='cell s-{ind.status.value}' data-status='{ind.status.value}'"
                         f" title='{escape(title, quote=True)}'><b>{escape(value)}</b><br><small>"
                         f"{_num(ind.score)}/{_num(ind.max_score)}{' · ' + escape(ind.criteria) if ind.criteria else ''}"
                         "</small></td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return "<div class='scroll'><table class='heatmap'>" + "\n".join(rows) + "</table></div>"


def stylesheet() -> str:
    """report.css: layout, and one class per status colour (``COLOURS``)."""
    colours = "\n".join(f".s-{s.value} {{ background: {c}; fill: {c}; }}" for s, c in COLOURS.items())
    return _CSS + colours + "\n"


def _when(created_at: str) -> str:
    return created_at[:19].replace("T", " ")


def _num(value: float) -> str:
    return f"{value:.4g}" if math.isfinite(value) else ("+Inf" if value > 0 else "-Inf" if value < 0 else "NaN")


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<link rel="stylesheet" href="{css}">
</head><body>
{body}
</body></html>
"""

_CSS = """/* pipeline-steps report: served as a file so Jenkins' style-src 'self' allows it. */
body { font-family: system-ui, sans-serif; margin: 24px; color: #222; }
small { color: #555; font-weight: normal; }
p.meta { color: #444; }
table { border-collapse: collapse; margin: 8px 0 16px; }
table.latest th, table.latest td { border: 1px solid #ddd; padding: 4px 10px; text-align: left; }
td.verdict { color: #fff; font-weight: bold; }
div.scroll { overflow-x: auto; max-width: 100%; }
table.heatmap th, table.heatmap td { border: 1px solid #fff; padding: 6px 8px; text-align: center; font-size: 13px; }
table.heatmap th.indicator { text-align: right; position: sticky; left: 0; background: #fff; }
td.cell { color: #fff; min-width: 90px; } td.cell small { color: #f4f4f4; }
th.build { white-space: nowrap; } th.build.pass { border-bottom: 4px solid #2e9e5b; }
th.build.fail { border-bottom: 4px solid #d64545; } th.build.warning { border-bottom: 4px solid #e0a526; }
svg.chart { max-width: 100%; height: auto; }
svg.chart text { font-size: 11px; fill: #444; }
svg.chart .trend { fill: none; stroke: #555; }
svg.chart .range { stroke: #999; stroke-width: 2; }
svg.chart .axis { stroke: #bbb; }
svg.chart .threshold { stroke: #d64545; stroke-dasharray: 6 4; }
svg.chart .nodata { fill: #9aa0a6; }
.chip { color: #fff; padding: 2px 8px; border-radius: 8px; font-size: 12px; }
.s-none { background: #ccc; fill: #ccc; }
"""
