"""The gate's human outputs: a one-screen summary for the console and the JUnit cases for Jenkins.

Why together: both answer "why did the gate decide this?" from the same per-indicator facts
(value, thresholds, query, score, reason); keeping them side by side keeps them consistent.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from pipeline_steps.documents.evaluation import IndicatorReport, number
from pipeline_steps.documents.vocabulary import IndicatorStatus
from pipeline_steps.report.junit import JUnitCase, write_junit
from pipeline_steps.secrets import Secret

MARKS: dict[IndicatorStatus, str] = {
    IndicatorStatus.PASS: "ok  ", IndicatorStatus.WARNING: "WARN", IndicatorStatus.FAIL: "FAIL",
    IndicatorStatus.NO_DATA: "NODT", IndicatorStatus.ERROR: "ERR ", IndicatorStatus.INFO: "info",
}
"""The four-letter mark of each status in the summary."""

JUNIT_OUTCOMES: dict[IndicatorStatus, str | None] = {
    IndicatorStatus.PASS: None, IndicatorStatus.INFO: None,
    IndicatorStatus.WARNING: "failure", IndicatorStatus.FAIL: "failure",
    IndicatorStatus.NO_DATA: "error", IndicatorStatus.ERROR: "error",
}
"""How Jenkins shows an indicator: a breach is a failure (the version is bad), no data or a source
error an error (the gate could not judge), anything else a passed case."""


def _short(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _value(report: IndicatorReport) -> str:
    if report.value is None:
        return "-"
    return f"{report.value:.6g}" if math.isfinite(report.value) else str(number(report.value))


def history_text(report: IndicatorReport) -> str:
    """What the relative criteria of ``report`` found in the history (empty without relative criteria)."""
    if not report.history:
        return ""
    found, asked = report.history["found"], report.history["asked"]
    return report.history["note"] or f"compared with {found} previous result(s) ({asked} asked)"


def render_summary(document: dict[str, Any], reports: list[IndicatorReport]) -> str:
    """At most ~25 lines: verdict, score, window, one line per indicator, then the reasons."""
    ctx = document["context"]
    window = document["window"]
    points = document["points"]
    lines = [
        f"Quality gate {document['verdict']}  ({document['kind']}: {document['spec']})",
        f"  {ctx['service']} {ctx.get('tag') or ''} in {ctx['project']}/{ctx['stage']}   "
        f"score {number(round(float(points['achieved']), 3))}/{points['max']}"
        + (f" = {document['score']:.1f}%" if document["kind"] == "slo" else ""),
        f"  window {window['start']} .. {window['end']} ({number(round(window['end_unix'] - window['start_unix'], 1))} s)",
    ]
    if document["kind"] == "perfspec":
        lines[1] += f"   objectives pass>={document['objectives']['pass']} warning>={document['objectives']['warning']}"
    lines.append("")
    shown = reports[:15]
    for r in shown:
        lines.append(f"  {MARKS[r.status]:4} {_short(r.id, 32):32} {_value(r):>12}  "
                     f"{number(r.score)}/{number(r.max_score)}  {_short(r.criteria_text, 40)}")
    if len(reports) > len(shown):
        lines.append(f"  ... {len(reports) - len(shown)} more in evaluation.json")
    # what did not pass, and what passed without some of its series (every dropped series is reported)
    reasons = [r for r in reports if r.reason and (JUNIT_OUTCOMES[r.status] or r.dropped)]
    if reasons:
        lines.append("")
        for r in reasons[:6]:
            lines.append(f"  {r.id}: {_short(r.reason, 100)}")
    notes = [r for r in reports if r.history and r.history["note"] and r.history["note"] not in r.reason]
    if notes:
        lines.append("")
        lines.extend(f"  {r.id}: {_short(history_text(r), 100)}" for r in notes[:6])
    for warning in document.get("warnings", [])[:3]:
        lines.append(f"  note: {_short(warning, 100)}")
    return "\n".join(lines)


def write_gate_junit(path: Path, document: dict[str, Any], reports: list[IndicatorReport], *,
                     secrets: list[Secret | None]) -> Path:
    """One test case per indicator: a breach is a failure, no data or a source error is an error."""
    ctx = document["context"]
    classname = f"quality-gate.{ctx['project']}.{ctx['stage']}.{ctx['service']}"
    cases = []
    for r in reports:
        props = {"value": _value(r), "thresholds": r.criteria_text, "query": r.query,
                 "score": f"{number(r.score)}/{number(r.max_score)}", "status": r.status.value, "source": r.source}
        if r.history:
            props["history"] = history_text(r)
        failure = error = None
        outcome = JUNIT_OUTCOMES[r.status]
        if outcome == "failure":
            failure = f"{r.status}: {r.reason}" if r.reason else r.status.value
        elif outcome == "error":
            error = f"{r.status}: {r.reason}"
        details = "\n".join(f"{k}: {v}" for k, v in props.items()) + (f"\nreason: {r.reason}" if r.reason else "")
        stdout = f"reason: {r.reason}" if r.reason and outcome is None else ""  # a pass without some series
        cases.append(JUnitCase(name=r.id, classname=classname, stdout=stdout, properties=props, failure=failure, error=error,
                               details=details))
    window = document["window"]
    return write_junit(path, "quality-gate", cases, secrets=secrets,
                       properties={"verdict": document["verdict"], "window": f"{window['start']}..{window['end']}"})
