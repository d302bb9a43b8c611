"""The gate's human outputs (pipeline_steps/report/gate_summary.py): summary and JUnit.

Aspects: the summary fits one screen (<= 25 lines) even for 100 indicators and names the verdict,
score, window and the reasons of what did not pass; JUnit has one case per indicator, a breach
is a failure, no data and source errors are errors, value/thresholds/query/score are in the case,
and a secret in a query never reaches the file.
"""

from __future__ import annotations

from pathlib import Path
from xml.etree import ElementTree

from pipeline_steps.documents.evaluation import IndicatorReport
from pipeline_steps.report.gate_summary import render_summary, write_gate_junit
from pipeline_steps.secrets import Secret

DOC = {"kind": "perfspec", "spec": "perfspec.json", "verdict": "FAIL", "points": {"achieved": 50, "max": 400},
       "objectives": {"pass": 90, "warning": 75},
       "context": {"project": "sockshop", "stage": "staging", "service": "carts", "tag": "0.7.2"},
       "window": {"start": "2026-11-26T10:01:00Z", "end": "2026-11-26T10:03:00Z", "start_unix": 0.0, "end_unix": 120.0}}


def reports(n: int = 4) -> list[IndicatorReport]:
    base = [
        IndicatorReport("latency", "prometheus", "rate(x[120s])", "fail", 0, 100, value=0.93,
                        criteria_text="fail if >= 0.8", reason="0.93 breaches upperSevere 0.8"),
        IndicatorReport("errors", "prometheus", "err{token='s3cret'}", "warning", 50, 100, value=0.07,
                        criteria_text="warn if >= 0.05", reason="0.07 breaches upperWarning 0.05"),
        IndicatorReport("green", "prometheus", "q", "no_data", 0, 100, reason="The indicator returned no values"),
        IndicatorReport("dt", "dynatrace", "metricSelector=m", "error", 0, 100, reason="dynatrace answered HTTP 401"),
    ]
    return base + [IndicatorReport(f"ok_{i}", "prometheus", "q", "pass", 1, 1, value=float(i)) for i in range(n - 4)]


def test_summary_fits_one_screen_and_says_why() -> None:
    text = render_summary(DOC, reports(100))
    lines = text.splitlines()
    assert len(lines) <= 25 and all(len(line) <= 130 for line in lines)
    assert lines[0].startswith("Quality gate FAIL") and "score 50/400" in lines[1] and "(120 s)" in lines[2]
    assert "latency: 0.93 breaches upperSevere 0.8" in text and "dt: dynatrace answered HTTP 401" in text
    assert "... 85 more in evaluation.json" in text


def test_junit_one_case_per_indicator(tmp_path: Path) -> None:
    path = write_gate_junit(tmp_path / "j.xml", DOC, reports(), secrets=[Secret("s3cret")])
    cases = {c.get("name"): c for c in ElementTree.parse(path).getroot().iter("testcase")}
    assert list(cases) == ["latency", "errors", "green", "dt"]
    latency_failure = cases["latency"].find("failure")
    assert latency_failure is not None and "0.93 breaches upperSevere 0.8" in (latency_failure.get("message") or "")
    assert cases["errors"].find("failure") is not None
    assert cases["green"].find("error") is not None and cases["dt"].find("error") is not None
    out = cases["latency"].findtext("system-out") or ""
    assert "value: 0.93" in out and "thresholds: fail if >= 0.8" in out
    assert "query: rate(x[120s])" in out and "score: 0/100" in out
    text = path.read_text()
    assert "s3cret" not in text and "***" in text


def test_a_passing_indicator_with_dropped_series_says_so_everywhere(tmp_path: Path) -> None:
    """Issue 11: every dropped series is reported. A NaN green colour dropped from a passing indicator
    was named in evaluation.json only; the console summary and Jenkins' JUnit case showed a plain pass."""
    dropped = IndicatorReport("err", "prometheus", "q", "pass", 100, 100, value=0.01, criteria_text="fail if >= 0.1",
                              reason='1 series dropped (NaN or no value): {"colour":"green"}',
                              dropped=['{"colour":"green"}'])
    clean = IndicatorReport("ok", "prometheus", "q", "pass", 1, 1, value=1.0)
    doc = {**DOC, "verdict": "PASS"}
    text = render_summary(doc, [dropped, clean])
    assert 'err: 1 series dropped (NaN or no value): {"colour":"green"}' in text and "ok:" not in text
    cases = {c.get("name"): c for c in ElementTree.parse(write_gate_junit(
        tmp_path / "j.xml", doc, [dropped, clean], secrets=[])).getroot().iter("testcase")}
    assert cases["err"].find("failure") is None and cases["err"].find("error") is None
    assert 'reason: 1 series dropped (NaN or no value): {"colour":"green"}' in (cases["err"].findtext("system-out") or "")
    assert "reason" not in (cases["ok"].findtext("system-out") or "")
