"""The HTML history report is checked against the stored history, cell by cell.

Aspects: one column per stored evaluation (tag, verdict, score) in order; one cell per
indicator with the stored value, status colour, score and thresholds; the key-indicator chart
has a point per value and the absolute thresholds as lines; stage sections follow the shipyard;
bad input (no history) is exit 2; the page is self-contained (no external resources).
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

from click.testing import CliRunner

from pipeline_steps.cli import cli
from pipeline_steps.documents.evaluation import IndicatorReport
from pipeline_steps.errors import ExitCode
from pipeline_steps.history.sqlite import HistoryStore

CTX = {"project": "sockshop", "stage": "staging", "service": "carts", "keptn_context": "k"}


def _store(tmp_path: Path) -> HistoryStore:
    store = HistoryStore(tmp_path / "history.sqlite")
    for tag, latency, status, score in [("v1", 0.012, "pass", 100), ("v2", 1.004, "fail", 0), ("v3", 0.011, "pass", 100)]:
        ind = IndicatorReport(id="request_latency_seconds", source="Prometheus", query="rate(x[30s])", status=status,
                              score=score, max_score=100, value=latency, criteria_text="breach if >= 0.8")
        err = IndicatorReport(id="error_rate", source="testrun", query="performance.error_rate", status="pass",
                              score=10, max_score=10, value=0.0, criteria_text="breach if >= 0.05")
        store.add(context={**CTX, "tag": tag}, kind="perfspec", verdict="PASS" if status == "pass" else "FAIL",
                  result=status, score=score + 10, max_score=110, indicators=[ind, err])
    return store


class _Cells(HTMLParser):
    """Collects heatmap headers, cells and chart points with their attributes and text."""

    def __init__(self) -> None:
        super().__init__()
        self.builds: list[str] = []
        self.cells: list[tuple[str, str]] = []
        self.points: list[float] = []
        self.thresholds = 0
        self.external: list[str] = []
        self._capture: str | None = None
        self._text = ""
        self._status = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "br" and self._capture:
            self._text += " "
        if tag in ("script", "link", "img") or any((v or "").startswith("http") for k, v in attrs if k in ("src", "href")):
            self.external.append(tag)
        if tag == "th" and "build" in (a.get("class") or ""):
            self._capture, self._text = "build", ""
        if tag == "td" and a.get("class") == "cell":
            self._capture, self._text, self._status = "cell", "", a.get("data-status") or ""
        if tag == "circle":
            self.points.append(float(a["data-value"] or "nan"))
        if tag == "line" and a.get("class") == "threshold":
            self.thresholds += 1

    def handle_endtag(self, tag: str) -> None:
        if self._capture == "build" and tag == "th":
            self.builds.append(self._text)
            self._capture = None
        if self._capture == "cell" and tag == "td":
            self.cells.append((self._status, self._text))
            self._capture = None

    def handle_data(self, data: str) -> None:
        if self._capture:
            self._text += data


def test_report_matches_the_stored_history(tmp_path: Path) -> None:
    store = _store(tmp_path)
    out = tmp_path / "report.html"
    result = CliRunner().invoke(cli, ["report", "--history", str(store.path), "--project", "sockshop", "--service", "carts",
                                      "--stage", "staging", "--out", str(out)])
    assert result.exit_code == 0, result.output
    parsed = _Cells()
    parsed.feed(out.read_text())
    entries = store.list("sockshop", "staging", "carts")
    assert [b.split()[0] for b in parsed.builds] == [e.context["tag"] for e in entries] == ["v1", "v2", "v3"]
    assert [("FAIL" in b, f"{e.score:.4g}/{e.max_score:.4g}" in b) for b, e in zip(parsed.builds, entries, strict=True)] == [
        (e.verdict == "FAIL", True) for e in entries]
    expected = [(ind.status, f"{ind.value:.4g}") for ind_id in ("request_latency_seconds", "error_rate")
                for e in entries for ind in e.indicators if ind.id == ind_id]
    assert [(status, text.split()[0]) for status, text in parsed.cells] == expected
    assert all("breach if >=" in text for _, text in parsed.cells)
    assert parsed.points == [e.value_of("request_latency_seconds") for e in entries]
    assert parsed.thresholds == 1  # 0.8, the absolute threshold of the key indicator
    assert parsed.external == []


def test_stages_come_from_the_shipyard(tmp_path: Path) -> None:
    store = _store(tmp_path)
    shipyard = tmp_path / "shipyard.yaml"
    shipyard.write_text("stages:\n  - {name: dev, deployment_strategy: direct}\n"
                        "  - {name: staging, deployment_strategy: blue_green_service}\n")
    out = tmp_path / "r.html"
    result = CliRunner().invoke(cli, ["report", "--history", str(store.path), "--project", "sockshop", "--service", "carts",
                                      "--shipyard", str(shipyard), "--out", str(out), "--key-indicator", "error_rate"])
    assert result.exit_code == 0, result.output
    html = out.read_text()
    assert re.findall(r"<h2>(\w+)</h2>", html) == ["dev", "staging"]
    assert "No evaluations stored for this stage." in html and "error_rate over builds" in html


def test_missing_history_is_bad_input(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["report", "--history", str(tmp_path / "none.sqlite"), "--project", "p",
                                      "--service", "s", "--stage", "dev", "--out", str(tmp_path / "r.html")])
    assert result.exit_code == ExitCode.BAD_INPUT and "none.sqlite" in result.output
    assert not (tmp_path / "r.html").exists()
