"""The HTML history report is checked against the stored history, cell by cell, on both history backends.

Aspects: the newest build of every stage comes first (the "latest" table, then each stage's
heatmap, newest column first); one cell per indicator with the stored value, status class,
score, thresholds and reason; the key-indicator chart has a point per evaluation while they fit
and the absolute thresholds as lines; at any size the table holds the newest ``--builds`` (default
50) and says how many are stored, the chart at most 500 points and 20 labels covering every
evaluation; stage sections follow the shipyard; bad input (no history) is exit 2; the page is
fit for Jenkins' Content-Security-Policy: report.css next to it under that name, no <style>, no
style= attribute, no script or event handler, nothing from elsewhere.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

from click.testing import CliRunner

from pipeline_steps.cli import cli
from pipeline_steps.documents.evaluation import IndicatorReport
from pipeline_steps.errors import ExitCode
from pipeline_steps.history import History, open_history
from pipeline_steps.report.html import STYLESHEET
from tests.history_data import fill

CTX = {"project": "sockshop", "stage": "staging", "service": "carts", "keptn_context": "k"}


def _store(location: str) -> History:
    store = open_history(location)
    for tag, latency, status, score in [("v1", 0.012, "pass", 100), ("v2", 1.004, "fail", 0), ("v3", 0.011, "pass", 100)]:
        ind = IndicatorReport(id="request_latency_seconds", source="Prometheus", query="rate(x[30s])", status=status,
                              score=score, max_score=100, value=latency, criteria_text="breach if >= 0.8",
                              reason="1.004 >= 0.8" if status == "fail" else "")
        err = IndicatorReport(id="error_rate", source="testrun", query="performance.error_rate", status="pass",
                              score=10, max_score=10, value=0.0, criteria_text="breach if >= 0.05")
        store.add(context={**CTX, "tag": tag}, kind="perfspec", verdict="PASS" if status == "pass" else "FAIL",
                  result=status, score=score + 10, max_score=110, indicators=[ind, err])
    return store


class Page(HTMLParser):
    """Collects the latest table, heatmap headers and cells, chart points and labels, and anything CSP would block."""

    def __init__(self) -> None:
        super().__init__()
        self.latest: list[str] = []
        self.builds: list[str] = []
        self.cells: list[tuple[str, str, str]] = []
        self.points: list[float] = []
        self.labels: list[str] = []
        self.thresholds = 0
        self.blocked: list[str] = []
        self.stylesheets: list[str] = []
        self._capture: str | None = None
        self._text = ""
        self._attrs: dict[str, str | None] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag in ("br", "td") and self._capture:
            self._text += " "
        if tag in ("script", "style", "img", "iframe", "object") or "style" in a or any(k.startswith("on") for k in a):
            self.blocked.append(tag)
        if any((v or "").startswith(("http:", "https:", "//", "javascript:")) for k, v in attrs if k in ("src", "href")):
            self.blocked.append(f"{tag} from elsewhere")
        if tag == "link":
            self.stylesheets.append(a.get("href") or "")
        if tag == "tr" and a.get("class") == "newest":
            self._capture, self._text = "latest", ""
        if tag == "th" and "build" in (a.get("class") or ""):
            self._capture, self._text = "build", ""
        if tag == "td" and "cell" in (a.get("class") or "").split():
            self._capture, self._text, self._attrs = "cell", "", a
        if tag == "circle":
            self.points.append(float(a["data-value"] or "nan"))
        if tag == "text" and a.get("class") == "xlabel":
            self._capture, self._text = "label", ""
        if tag == "line" and a.get("class") == "threshold":
            self.thresholds += 1

    def handle_endtag(self, tag: str) -> None:
        ends = {"latest": "tr", "build": "th", "cell": "td", "label": "text"}
        if self._capture and ends[self._capture] == tag:
            if self._capture == "cell":
                self.cells.append((self._attrs.get("class") or "", self._text, self._attrs.get("title") or ""))
            else:
                {"latest": self.latest, "build": self.builds, "label": self.labels}[self._capture].append(self._text.strip())
            self._capture = None

    def handle_data(self, data: str) -> None:
        if self._capture:
            self._text += data


def _report(location: str, out: Path, *args: str) -> Page:
    result = CliRunner().invoke(cli, ["report", "--history", location, "--project", "sockshop", "--service", "carts",
                                      "--out", str(out), *args])
    assert result.exit_code == 0, result.output
    page = Page()
    page.feed(out.read_text())
    return page


def test_report_matches_the_stored_history(history_location: str, tmp_path: Path) -> None:
    store = _store(history_location)
    out = tmp_path / "published" / "report.html"
    page = _report(history_location, out, "--stage", "staging")
    newest_first = store.previous("sockshop", "staging", "carts", limit=10)
    assert [b.split()[0] for b in page.builds] == [e.tag for e in newest_first] == ["v3", "v2", "v1"]
    assert page.latest[0].split()[:3] == ["staging", "v3", "PASS"]
    assert [("FAIL" in b, f"{e.score:.4g}/{e.max_score:.4g}" in b) for b, e in zip(page.builds, newest_first, strict=True)] == [
        (e.verdict == "FAIL", True) for e in newest_first]
    expected = [(f"cell s-{ind.status.value}", f"{ind.value:.4g}") for ind_id in ("request_latency_seconds", "error_rate")
                for e in newest_first for ind in e.indicators if ind.id == ind_id]
    assert [(cls, text.split()[0]) for cls, text, _ in page.cells] == expected
    assert all("breach if >=" in text for _, text, _ in page.cells)
    assert "1.004 >= 0.8" in page.cells[1][2] and "query: rate(x[30s])" in page.cells[1][2]
    assert page.points == [e.value_of("request_latency_seconds") for e in newest_first[::-1]]  # the chart runs oldest first
    assert page.labels == ["v1", "v2", "v3"] and page.thresholds == 1  # 0.8, the absolute threshold of the key indicator
    assert page.blocked == [] and page.stylesheets == [STYLESHEET]
    css = (out.parent / STYLESHEET).read_text()
    assert ".s-fail { background: #d64545;" in css and ".s-pass { background: #2e9e5b;" in css
    store.close()


def test_a_large_history_stays_bounded(history_location: str, tmp_path: Path) -> None:
    store = open_history(history_location)
    fill(store, 1234, failing=(-1,))
    fill(store, 3, stage="dev", first_id=5000)
    page = _report(history_location, tmp_path / "r.html", "--stage", "staging", "--stage", "dev", "--builds", "7")
    assert len(page.builds) == 7 + 3
    assert [b.split()[0] for b in page.builds[:7]] == [f"1.12.{n}" for n in range(33, 26, -1)]
    assert [line.split()[:3] for line in page.latest] == [["staging", "1.12.33", "FAIL"], ["dev", "1.0.2", "PASS"]]
    html = (tmp_path / "r.html").read_text()
    assert "The newest 7 of 1234 evaluations" in html and "over 1234 build(s), 500 points of up to 3 builds" in html
    assert len(page.points) == 500 + 3 and len(page.labels) <= 20 + 3 and page.labels[:20][-1] == "1.12.33"
    default = _report(history_location, tmp_path / "d.html", "--stage", "staging")
    assert len(default.builds) == 50 and default.cells[0][0] == "cell s-fail"
    store.close()


def test_stages_come_from_the_shipyard(tmp_path: Path) -> None:
    store = _store(str(tmp_path / "history.sqlite"))
    shipyard = tmp_path / "shipyard.yaml"
    shipyard.write_text("stages:\n  - {name: dev, deployment_strategy: direct}\n"
                        "  - {name: staging, deployment_strategy: blue_green_service}\n")
    out = tmp_path / "r.html"
    result = CliRunner().invoke(cli, ["report", "--history", str(tmp_path / "history.sqlite"), "--project", "sockshop",
                                      "--service", "carts", "--shipyard", str(shipyard), "--out", str(out),
                                      "--key-indicator", "error_rate"])
    assert result.exit_code == 0, result.output
    html = out.read_text()
    assert re.findall(r"<h2 id='stage-\w+'>(\w+)</h2>", html) == ["dev", "staging"]
    assert "No evaluations stored for this stage." in html and "error_rate over 3 build(s)" in html
    store.close()


def test_missing_history_is_bad_input(history_location: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["report", "--history", history_location, "--project", "p",
                                      "--service", "s", "--stage", "dev", "--out", str(tmp_path / "r.html")])
    assert result.exit_code == ExitCode.BAD_INPUT and "no evaluation history here" in result.output
    assert history_location in result.output and not (tmp_path / "r.html").exists()
    assert not open_history(history_location).exists()  # looking did not create one


def test_the_report_is_the_only_html_the_product_writes() -> None:
    """Every HTML page must pass Jenkins' CSP (issue 14): today the report is the only one, checked above."""
    package = Path(__file__).resolve().parents[2] / "pipeline_steps"
    writers = sorted(str(p.relative_to(package)) for p in package.rglob("*.py")
                     if re.search(r"<!doctype html|<html", p.read_text(encoding="utf-8"), re.IGNORECASE))
    assert writers == ["report/html.py"], "a new HTML page: give it the CSP checks of tests/report/ too"


def test_an_infinite_value_is_drawn_on_the_chart_edge(tmp_path: Path) -> None:
    store = open_history(str(tmp_path / "h.sqlite"))
    for n, value in enumerate([0.2, float("inf"), 0.3, float("-inf")]):
        store.add(context={**CTX, "tag": f"v{n}"}, kind="slo", verdict="PASS", result="pass", score=1, max_score=1,
                  indicators=[IndicatorReport("ratio", "prometheus", "q", "pass", 1, 1, value=value, criteria_text="<0.5")])
    store.close()
    page = _report(str(tmp_path / "h.sqlite"), tmp_path / "r.html", "--stage", "staging")
    assert [text.split()[0] for _, text, _ in page.cells] == ["-Inf", "0.3", "+Inf", "0.2"]
    assert [str(p) for p in page.points] == ["0.2", "inf", "0.3", "-inf"]
    assert "nan" not in (tmp_path / "r.html").read_text().lower()


def test_a_report_out_that_is_no_regular_file_is_bad_input_and_writes_nothing(history_location: str, tmp_path: Path) -> None:
    import os
    import stat

    _store(history_location).close()
    published = tmp_path / "published"
    published.mkdir()
    fifo = published / "report.html"  # as /dev/full or /dev/stdout would be: a rename would replace it
    os.mkfifo(fifo)
    result = CliRunner().invoke(cli, ["report", "--history", history_location, "--project", "sockshop", "--service", "carts",
                                      "--stage", "staging", "--out", str(fifo)])
    assert result.exit_code == ExitCode.BAD_INPUT, result.output
    assert f"error: {fifo}: is not a regular file" in result.output
    assert stat.S_ISFIFO(fifo.lstat().st_mode)
    assert sorted(p.name for p in published.iterdir()) == ["report.html"]  # no report.css beside it, no temp file
