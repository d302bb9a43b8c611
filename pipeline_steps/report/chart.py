"""The key indicator over a stage's whole history as inline SVG, bounded whatever the history's size.

Why bounded: one point per evaluation made a 50,000-build history a 67 MB page that took Chromium
a minute. The store hands at most ``MAX_POINTS`` buckets of consecutive evaluations (one
evaluation each while they fit), each with its low, mean, high and worst status; the chart draws
the means as a line, a bucket's low..high as a bar, at most ``MAX_LABELS`` build labels, and the
indicator's absolute thresholds (from its newest criteria text) as dashed lines.

Colours come from classes in report.css (``s-<status>``), never from ``style`` attributes: Jenkins
serves artifacts under ``style-src 'self'``, which blocks inline styles (issue 14).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from html import escape

from pipeline_steps.history import SeriesPoint

MAX_POINTS = 500
MAX_LABELS = 20
WIDTH, HEIGHT, PAD, BOTTOM = 960, 260, 48, 70
"""The plot spans PAD..WIDTH-PAD across and PAD/2..HEIGHT-BOTTOM down; labels may widen the margins."""
LABEL_CHARS = 32
"""A longer build label is cut with an ellipsis: its start (the version) is what tells builds apart."""
CHAR_PX = 6.6
"""Width of one label character at the labels' 11 px (digits and lower case measure 5.5-6.2 px in Chromium's sans)."""
_SLANT = math.radians(30)
_ABSOLUTE = re.compile(r"(<=|>=|<|>|=)\s*(-?\d+(?:\.\d+)?)(?![\d.]*%)")


def thresholds_of(criteria: str) -> list[float]:
    """The absolute numbers in a criteria text (``breach if >= 0.8``, ``pass: (<600)``); relative ones are skipped."""
    return sorted({float(m.group(2)) for m in _ABSOLUTE.finditer(criteria)})


def label_positions(count: int, most: int = MAX_LABELS) -> list[int]:
    """Which of ``count`` points get an x label: at most ``most``, evenly spaced, always the newest."""
    if count <= 0:
        return []
    step = max(1, math.ceil(count / most))
    return sorted(range(count - 1, -1, -step))


def _label(text: str) -> str:
    return text if len(text) <= LABEL_CHARS else text[:LABEL_CHARS - 1] + "\u2026"


def render_chart(key: str, points: Sequence[SeriesPoint], criteria: str) -> str:
    """An ``<svg>`` of ``key`` over ``points`` (oldest first) with the thresholds found in ``criteria``.

    Labels are slanted 30 degrees and end under their point, so the longest label decides how much room
    the chart leaves at its left (the oldest label) and bottom; tags such as ``git describe``'s
    ``0.7.12-14-g1a2b3c4-dirty`` are drawn whole."""
    values = [v for p in points for v in (p.low, p.high) if v is not None and math.isfinite(v)]
    thresholds = thresholds_of(criteria)
    scale = [*values, *thresholds] or [0.0, 1.0]
    low, high = min(0.0, *scale), (max(scale) * 1.15) or 1.0
    labelled = label_positions(len(points))
    room = max((len(_label(points[n].label)) for n in labelled), default=0) * CHAR_PX
    left = max(PAD, math.ceil(room * math.cos(_SLANT)) + 8)
    base = HEIGHT - BOTTOM
    height = max(HEIGHT, base + 22 + math.ceil(room * math.sin(_SLANT)))
    step = (WIDTH - PAD - left) / max(1, len(points) - 1)
    radius = 5 if len(points) <= 60 else 2

    def y(v: float) -> float:  # an infinite value (a graded +Inf/-Inf) sits on the chart's edge
        if not math.isfinite(v):
            return PAD / 2 if v > 0 else base
        return base - (v - low) / (high - low) * (base - PAD / 2)

    builds = sum(p.count for p in points)
    parts = [f"<svg class='chart' viewBox='0 0 {WIDTH} {height}' width='{WIDTH}' height='{height}' role='img'"
             f" aria-label='{escape(key)} over builds'>",
             f"<text class='title' x='{left}' y='14'>{escape(key)} over {builds} build(s)"
             f"{'' if builds == len(points) else f', {len(points)} points of up to {math.ceil(builds / len(points))} builds'}"
             "</text>"]
    for t in thresholds:
        parts.append(f"<line class='threshold' x1='{left}' x2='{WIDTH - PAD}' y1='{y(t):.1f}' y2='{y(t):.1f}'/>"
                     f"<text class='threshold-label' x='{WIDTH - PAD + 3}' y='{y(t) + 4:.1f}'>{_num(t)}</text>")
    line: list[str] = []
    marks: list[str] = []
    for n, point in enumerate(points):
        x = left + n * step
        status = f"s-{point.status.value}" if point.status is not None else "s-none"
        if point.mean is None or point.low is None or point.high is None:
            marks.append(f"<rect class='nodata' x='{x - 2:.1f}' y='{base - 4}' width='4' height='4'>"
                         f"<title>{escape(point.label)}: no data</title></rect>")
            continue
        line.append(f"{x:.1f},{y(point.mean):.1f}")
        if point.count > 1 and point.high > point.low:
            marks.append(f"<line class='range' x1='{x:.1f}' x2='{x:.1f}' y1='{y(point.low):.1f}' y2='{y(point.high):.1f}'/>")
        what = (f"{escape(point.label)}: {_num(point.mean)}" if point.count == 1 else
                f"{escape(point.label)} and the {point.count - 1} builds before: mean {_num(point.mean)},"
                f" min {_num(point.low)}, max {_num(point.high)}")
        marks.append(f"<circle class='point {status}' data-value='{_num(point.mean)}' cx='{x:.1f}' cy='{y(point.mean):.1f}'"
                     f" r='{radius}'><title>{what}</title></circle>")
    if len(line) > 1:
        parts.append(f"<polyline class='trend' points='{' '.join(line)}'/>")
    parts.extend(marks)
    parts.append(f"<line class='axis' x1='{left}' x2='{WIDTH - PAD}' y1='{base}' y2='{base}'/>")
    for n in labelled:
        x = left + n * step
        parts.append(f"<text class='xlabel' x='{x:.1f}' y='{base + 14}' text-anchor='end'"
                     f" transform='rotate(-30 {x:.1f} {base + 14})'>{escape(_label(points[n].label))}</text>")
    parts.append("</svg>")
    return "\n".join(parts)


def _num(value: float) -> str:
    return f"{value:.4g}" if math.isfinite(value) else ("+Inf" if value > 0 else "-Inf" if value < 0 else "NaN")
