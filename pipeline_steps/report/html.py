"""The evaluation history of one service as one self-contained HTML file (Jenkins archives it).

What a user asks after a red build is "why, and since when?" (peers.md §3, item 3). Like Keptn's
Bridge, a heatmap shows indicators x builds coloured by result, each cell with its value, score
and thresholds; a chart draws the key indicator against its absolute thresholds over builds.
No scripts, fonts or images from elsewhere: the file opens offline and from a Jenkins artifact.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from pipeline_steps.documents.vocabulary import IndicatorStatus
from pipeline_steps.history.sqlite import HistoryEntry

COLOURS: dict[IndicatorStatus, str] = {
    IndicatorStatus.PASS: "#2e9e5b", IndicatorStatus.WARNING: "#e0a526", IndicatorStatus.FAIL: "#d64545",
    IndicatorStatus.NO_DATA: "#9aa0a6", IndicatorStatus.ERROR: "#6b3fa0", IndicatorStatus.INFO: "#4a78c2",
}
"""Each status's cell colour in the heatmap (and its legend chip)."""
_ABSOLUTE = re.compile(r"(<=|>=|<|>|=)\s*(-?\d+(?:\.\d+)?)(?![\d.]*%)")


@dataclass(frozen=True)
class StageHistory:
    """The evaluations of the service in one stage, oldest first."""

    stage: str
    entries: Sequence[HistoryEntry]


def render_report(project: str, service: str, stages: Sequence[StageHistory], key_indicator: str = "") -> str:
    """The whole HTML page."""
    body = [f"<h1>{escape(service)} <small>{escape(project)}</small></h1>"]
    total = sum(len(s.entries) for s in stages)
    body.append(f"<p class='meta'>{total} evaluation(s) in {len(stages)} stage(s). "
                "Cells: value, score/max; hover for thresholds and query.</p>")
    for stage in stages:
        body.append(f"<h2>{escape(stage.stage)}</h2>")
        if not stage.entries:
            body.append("<p>No evaluations stored for this stage.</p>")
            continue
        body.append(_heatmap(stage.entries))
        latest = stage.entries[-1].indicators
        key = key_indicator or (latest[0].id if latest else "")
        if key:
            body.append(_chart(stage.entries, key))
    legend = " ".join(f"<span class='chip' style='background:{c}'>{escape(s.value)}</span>" for s, c in COLOURS.items())
    body.append(f"<p class='legend'>{legend}</p>")
    return _PAGE.format(title=escape(f"{service} quality gate history"), body="\n".join(body))


def _heatmap(entries: Sequence[HistoryEntry]) -> str:
    ids: list[str] = []
    for entry in entries:
        ids.extend(i.id for i in entry.indicators if i.id not in ids)
    head = ["<th>indicator</th>"]
    for e in entries:
        tag = str(e.context.get("tag", "")) or f"#{e.id}"
        head.append(f"<th class='build {e.result}' data-evaluation='{e.id}'>{escape(tag)}<br><small>"
                    f"{escape(e.created_at[:19].replace('T', ' '))}</small><br>{escape(e.verdict)} "
                    f"{_num(e.score)}/{_num(e.max_score)}</th>")
    rows = ["<tr>" + "".join(head) + "</tr>"]
    for indicator_id in ids:
        cells = [f"<th class='indicator'>{escape(indicator_id)}</th>"]
        for e in entries:
            ind = next((i for i in e.indicators if i.id == indicator_id), None)
            if ind is None:
                cells.append("<td class='empty'></td>")
                continue
            value = "no data" if ind.value is None else _num(ind.value)
            title = f"{ind.id} = {value}; {ind.criteria}; score {_num(ind.score)}/{_num(ind.max_score)}; query: {ind.query}"
            cells.append(f"<td class='cell' data-status='{escape(ind.status.value)}' style='background:"
                         f"{COLOURS[ind.status]}' title='{escape(title, quote=True)}'>"
                         f"<b>{escape(value)}</b><br><small>{_num(ind.score)}/{_num(ind.max_score)} · "
                         f"{escape(ind.criteria)}</small></td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return "<table class='heatmap'>" + "\n".join(rows) + "</table>"


def _chart(entries: Sequence[HistoryEntry], key: str, width: int = 720, height: int = 240) -> str:
    """An SVG line of ``key`` over builds with its absolute thresholds as dashed lines."""
    points = [(e, next((i for i in e.indicators if i.id == key), None)) for e in entries]
    values = [i.value for _, i in points if i is not None and i.value is not None and math.isfinite(i.value)]
    criteria = next((i.criteria for _, i in reversed(points) if i is not None), "")
    thresholds = sorted({float(m.group(2)) for m in _ABSOLUTE.finditer(criteria)})
    scale = [*values, *thresholds] or [0.0, 1.0]
    low, high = min(0.0, *scale), max(scale) * 1.15 or 1.0
    pad = 40
    step = (width - 2 * pad) / max(1, len(points) - 1)

    def y(v: float) -> float:  # an infinite value (a graded +Inf/-Inf) sits on the chart's edge
        return pad if v == math.inf else height - pad if v == -math.inf else (
            height - pad - (v - low) / (high - low) * (height - 2 * pad))

    parts = [f"<svg class='chart' width='{width}' height='{height}' role='img' aria-label='{escape(key)} over builds'>",
             f"<text x='{pad}' y='16'>{escape(key)} over builds</text>"]
    for t in thresholds:
        parts.append(f"<line class='threshold' x1='{pad}' x2='{width - pad}' y1='{y(t):.1f}' y2='{y(t):.1f}' "
                     f"stroke='#d64545' stroke-dasharray='6 4'/><text x='{width - pad + 2}' y='{y(t) + 4:.1f}'>{_num(t)}</text>")
    line = []
    for n, (entry, ind) in enumerate(points):
        x = pad + n * step
        tag = escape(str(entry.context.get("tag", "")) or f"#{entry.id}")
        parts.append(f"<text x='{x:.1f}' y='{height - 12}' text-anchor='middle'>{tag}</text>")
        if ind is None or ind.value is None:
            parts.append(f"<text class='nodata' x='{x:.1f}' y='{height - pad:.1f}' text-anchor='middle'>n/a</text>")
            continue
        line.append(f"{x:.1f},{y(ind.value):.1f}")
        parts.append(f"<circle class='point' data-value='{_num(ind.value)}' cx='{x:.1f}' cy='{y(ind.value):.1f}' r='5' "
                     f"fill='{COLOURS[ind.status]}'><title>{tag}: {_num(ind.value)}</title></circle>")
    if len(line) > 1:
        parts.insert(2, f"<polyline points='{' '.join(line)}' fill='none' stroke='#555'/>")
    parts.append("</svg>")
    return "\n".join(parts)


def _num(value: float) -> str:
    return f"{value:.4g}" if math.isfinite(value) else ("+Inf" if value > 0 else "-Inf" if value < 0 else "NaN")


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 24px; color: #222; }}
small {{ color: #555; font-weight: normal; }}
table.heatmap {{ border-collapse: collapse; margin: 8px 0 16px; }}
table.heatmap th, table.heatmap td {{ border: 1px solid #fff; padding: 6px 8px; text-align: center; font-size: 13px; }}
table.heatmap th.indicator {{ text-align: right; }}
td.cell {{ color: #fff; min-width: 90px; }} td.cell small {{ color: #f4f4f4; }}
th.build.pass {{ border-bottom: 4px solid #2e9e5b; }} th.build.fail {{ border-bottom: 4px solid #d64545; }}
th.build.warning {{ border-bottom: 4px solid #e0a526; }}
svg.chart text {{ font-size: 11px; fill: #444; }}
.chip {{ color: #fff; padding: 2px 8px; border-radius: 8px; font-size: 12px; }}
</style></head><body>
{body}
</body></html>
"""
