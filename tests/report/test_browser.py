"""report.html in a real headless Chromium (Debian ``chromium``), served as Jenkins serves artifacts.

Aspects: under Jenkins' default Content-Security-Policy header (``sandbox; default-src 'none';
img-src 'self'; style-src 'self';``, from a loopback HTTP server) a FAIL cell is drawn red and a
PASS cell green, read from the screenshot's pixels inside each cell's box, and the page logs no
CSP violation; the same page with its stylesheet inlined is blocked under that header (no colour,
a violation logged), so the check can fail; with 10,000 evaluations stored the newest build's
column and the latest-builds row are on the first screen (1280x800), the newest cell red.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline_steps.cli import cli
from pipeline_steps.documents.vocabulary import IndicatorStatus
from pipeline_steps.history import open_history
from pipeline_steps.report.html import COLOURS, STYLESHEET
from tests.chromium import Rendered, render
from tests.history_data import fill, records

JENKINS_CSP = "sandbox; default-src 'none'; img-src 'self'; style-src 'self';"
"""hudson.model.DirectoryBrowserSupport.CSP's default (Jenkins docs, "Configuring Content Security Policy")."""
WIDTH, HEIGHT = 1280, 800


class _JenkinsLike(SimpleHTTPRequestHandler):
    def end_headers(self) -> None:
        self.send_header("Content-Security-Policy", JENKINS_CSP)
        self.send_header("X-Content-Type-Options", "nosniff")  # Jenkins sends it too: a stylesheet must be text/css
        super().end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """(folder, base URL) of a loopback server that answers with Jenkins' artifact headers."""
    folder = tmp_path / "artifacts"
    folder.mkdir()
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_JenkinsLike, directory=str(folder)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield folder, f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def _colour(page: Rendered, selector: str) -> tuple[int, int, int]:
    box = page.boxes[selector]
    assert box is not None, f"{selector} is not on the page"
    x, y, w, h = box
    return page.rgb(x + min(4, w / 2), y + min(4, h / 2))  # inside the cell's padding, clear of its text


def _near(rgb: tuple[int, int, int], hex_colour: str) -> bool:
    want = tuple(int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))
    return all(abs(a - b) <= 8 for a, b in zip(rgb, want, strict=True))


def _report(history: str, out: Path, *args: str) -> None:
    result = CliRunner().invoke(cli, ["report", "--history", history, "--project", "sockshop", "--service", "carts",
                                      "--stage", "staging", "--out", str(out), *args])
    assert result.exit_code == 0, result.output


def test_colours_survive_jenkins_csp(served: tuple[Path, str], tmp_path: Path) -> None:
    folder, base = served
    history = str(tmp_path / "history.sqlite")
    store = open_history(history)
    fill(store, 5, failing=(-1,))
    store.close()
    _report(history, folder / "report.html")
    page = render(f"{base}/report.html", ["td.cell.s-fail", "td.cell.s-pass", "td.verdict.s-fail"], width=WIDTH, height=HEIGHT)
    assert _near(_colour(page, "td.cell.s-fail"), COLOURS[IndicatorStatus.FAIL]), _colour(page, "td.cell.s-fail")
    assert _near(_colour(page, "td.cell.s-pass"), COLOURS[IndicatorStatus.PASS]), _colour(page, "td.cell.s-pass")
    assert _near(_colour(page, "td.verdict.s-fail"), COLOURS[IndicatorStatus.FAIL])
    assert not [line for line in page.log if "Content Security Policy" in line], page.log

    # The control: the same page with its stylesheet inlined, as the report was before, loses its colours.
    html = (folder / "report.html").read_text()
    inline = html.replace(f'<link rel="stylesheet" href="{STYLESHEET}">', f"<style>{(folder / STYLESHEET).read_text()}</style>")
    assert inline != html
    (folder / "inline.html").write_text(inline)
    blocked = render(f"{base}/inline.html", ["td.cell.s-fail"], width=WIDTH, height=HEIGHT)
    assert not _near(_colour(blocked, "td.cell.s-fail"), COLOURS[IndicatorStatus.FAIL])
    assert any("violates the following Content Security Policy directive" in line for line in blocked.log), blocked.log


def test_the_newest_build_is_on_the_first_screen_of_a_large_history(served: tuple[Path, str], tmp_path: Path) -> None:
    folder, base = served
    history = str(tmp_path / "history.sqlite")
    store = open_history(history)
    fill(store, 10_000, failing=(-1,))  # only the newest build fails
    store.close()
    _report(history, folder / "report.html")
    page = render(f"{base}/report.html", ["tr.newest", "th.build", "td.cell"], width=WIDTH, height=HEIGHT)
    for selector in ("tr.newest", "th.build", "td.cell"):
        box = page.boxes[selector]
        assert box is not None, selector
        x, y, w, h = box
        assert x >= 0 and x + w <= WIDTH and y >= 0 and y + h <= HEIGHT, (selector, box)
    assert _near(_colour(page, "td.cell"), COLOURS[IndicatorStatus.FAIL])  # the first column is the newest build


def test_the_charts_build_labels_are_drawn_whole(served: tuple[Path, str], tmp_path: Path) -> None:
    """Tags as the service Jenkinsfile makes them (`git describe --tags --always --dirty`: 0.7.12-14-g1a2b3c4-dirty)
    and one too long for any axis: the first and the newest label lie inside the chart, not cut at its left or
    bottom edge where the version number is."""
    folder, base = served
    history = str(tmp_path / "history.sqlite")
    store = open_history(history)
    long_tag = "release-2026.11.26-build-000123456789-with-a-very-long-suffix"
    store.import_records(dict(r, context={**r["context"], "tag": long_tag if r["id"] == 30 else
                                          f"0.7.{r['id']}-14-g1a2b3c4-dirty"}) for r in records(30))
    store.close()
    _report(history, folder / "report.html")
    page = render(f"{base}/report.html", ["svg.chart", "svg.chart text.xlabel", "svg.chart text.xlabel:last-of-type"],
                  width=WIDTH, height=HEIGHT)
    chart = page.boxes["svg.chart"]
    assert chart is not None
    for selector in ("svg.chart text.xlabel", "svg.chart text.xlabel:last-of-type"):
        label = page.boxes[selector]
        assert label is not None and label[2] > 0, selector
        assert chart[0] <= label[0] and label[0] + label[2] <= chart[0] + chart[2], (selector, label, chart)
        assert chart[1] <= label[1] and label[1] + label[3] <= chart[1] + chart[3], (selector, label, chart)
