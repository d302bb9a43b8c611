"""The wait before the gate's queries for a window that ended moments ago (sources/prometheus_settle.py).

Aspects: against the real Prometheus, a window ending now returns only once every target was scraped
past its end (read back from the targets API), within two intervals plus the margin, and a window
that ended long ago returns at once; the shapes of the Prometheus HTTP API
(https://prometheus.io/docs/prometheus/latest/querying/api/#targets: ``activeTargets[].lastScrape``
RFC 3339 with nanoseconds, ``scrapeInterval``, ``health`` "unknown" and Go's zero time before the
first scrape; ``/api/v1/status/config`` ``data.yaml``) through a loopback stand-in: a target never
scraped is not waited for, a target no longer scraped holds the gate at most two intervals plus the
margin and is named, a refused targets API (403, as a proxy answers) falls back to one configured
interval past the end, neither readable proceeds at once and says so, ``--settle-timeout 0`` and an
old window send no request, an unreachable Prometheus is not waited for twice; through the CLI the
wait's line is printed with the verdict.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.request import urlopen

import pytest
from click.testing import CliRunner

from pipeline_steps.cli import cli
from pipeline_steps.documents.evaluation import Window
from pipeline_steps.platforms.local.procs import free_port
from pipeline_steps.sources.prometheus import PrometheusSource
from pipeline_steps.sources.prometheus_settle import MARGIN_S, active_targets, configured_interval, duration_s, unix_time
from tests.sources.prom_env import JOB, PromEnv, prom_env

__all__ = ["prom_env"]


def last_scrapes(url: str) -> list[float]:
    with urlopen(f"{url}/api/v1/targets?state=active", timeout=5) as resp:
        targets = json.load(resp)["data"]["activeTargets"]
    return [t for t in (unix_time(x["lastScrape"]) for x in targets) if t is not None]


def test_a_window_ending_now_waits_until_every_target_was_scraped_past_its_end(prom_env: PromEnv) -> None:
    end = time.time()
    assert min(last_scrapes(prom_env.url)) < end, "a scrape cannot have started after now"
    started = time.monotonic()
    note = PrometheusSource(prom_env.url, settle_timeout_s=10).settle(Window(end - 5, end))
    elapsed = time.monotonic() - started
    scraped = last_scrapes(prom_env.url)
    assert len(scraped) == 2 and min(scraped) >= end, (scraped, end, note)
    assert elapsed <= 2 * 1.0 + MARGIN_S + 0.5, elapsed  # the rig scrapes every second
    assert note == "" or note.startswith("prometheus: waited"), note


def test_a_window_that_ended_long_ago_is_queried_at_once(prom_env: PromEnv) -> None:
    started = time.monotonic()
    assert PrometheusSource(prom_env.url, settle_timeout_s=10).settle(Window(time.time() - 300, time.time() - 60)) == ""
    assert time.monotonic() - started < 0.1


def test_the_cli_prints_the_wait_with_the_verdict(prom_env: PromEnv, tmp_path: Path) -> None:
    prom_env.blue.gauge.labels(name="settled").set(0.5)
    prom_env.wait_for('gate_test_value{name="settled"}', 0.5)
    spec = tmp_path / "perfspec.json"
    spec.write_text(json.dumps({"indicators": [{"id": "v", "source": "Prometheus", "query": 'gate_test_value{name="settled"}',
                                                "grading": {"type": "Threshold", "thresholds": {"upperSevere": 1},
                                                            "metricScore": 100}}],
                                "objectives": {"pass": 90, "warning": 75}}))
    end = time.time() + 3  # within the 30 s clock skew evaluate allows; no target can be past it yet: a wait is certain
    result = CliRunner().invoke(cli, ["evaluate", "--project", "p", "--stage", "s", "--service", "c", "--spec", str(spec),
                                      "--start", str(end - 10), "--end", str(end), "--prometheus-url", prom_env.url,
                                      "--out-dir", str(tmp_path / "out"), "--no-history", "--settle-timeout", "10"])
    assert result.exit_code == 0, result.output
    assert "prometheus: waited" in result.output, result.output
    assert min(last_scrapes(prom_env.url)) >= end


def rfc3339(t: float) -> str:
    """As Go prints a time.Time: nanoseconds, UTC with a Z."""
    whole = datetime.fromtimestamp(int(t), tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{whole}.{int((t % 1) * 1e9):09d}Z"


class StandIn:
    """Prometheus' targets and config endpoints as a loopback server; ``targets`` is called per request
    so a target's ``lastScrape`` can advance with the clock, as a scraping server's does."""

    def __init__(self, targets: Any = None, config: str | None = None, refuse_targets: bool = False) -> None:
        self.paths: list[str] = []
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                stand_in.paths.append(self.path)
                if self.path == "/api/v1/targets?state=active" and not refuse_targets:
                    self._send(200, {"status": "success", "data": {"activeTargets": targets(), "droppedTargets": []}})
                elif self.path == "/api/v1/status/config" and config is not None:
                    self._send(200, {"status": "success", "data": {"yaml": config}})
                else:  # what a proxy in front of Prometheus answers for an API it does not let through
                    self._send(403, None)

            def _send(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode() if body is not None else b"Forbidden"
                self.send_response(status)
                self.send_header("Content-Type", "application/json" if body is not None else "text/plain")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def target(url: str, last: float | None, interval: str = "1s") -> dict[str, Any]:
    """One ``activeTargets`` element in Prometheus 2.42's shape; ``last`` None: never scraped."""
    return {"discoveredLabels": {"__address__": url}, "labels": {"job": JOB}, "scrapePool": JOB,
            "scrapeUrl": f"http://{url}/metrics", "globalUrl": f"http://{url}/metrics", "lastError": "",
            "lastScrape": rfc3339(last) if last is not None else "0001-01-01T00:00:00Z", "lastScrapeDuration": 0.002,
            "health": "up" if last is not None else "unknown", "scrapeInterval": interval, "scrapeTimeout": interval}


@pytest.fixture()
def stand_ins() -> Iterator[list[StandIn]]:
    made: list[StandIn] = []
    yield made
    for s in made:
        s.close()


def timed(url: str, end: float, cap: float = 10.0) -> tuple[str, float]:
    started = time.monotonic()
    note = PrometheusSource(url, settle_timeout_s=cap, timeout_s=2, retry_budget_s=2).settle(Window(end - 6, end))
    return note, time.monotonic() - started


def test_a_target_never_scraped_is_not_waited_for_and_a_scraping_one_is(stand_ins: list[StandIn]) -> None:
    # scraped every 0.5 s: its lastScrape passes the end within half a second
    s = StandIn(lambda: [target("a:1", (time.time() // 0.5) * 0.5, "500ms"), target("new:2", None)])
    stand_ins.append(s)
    note, elapsed = timed(s.url, time.time())
    assert 0.0 < elapsed < 0.5 + 0.1 + 0.3, (elapsed, note)
    assert note.startswith("prometheus: waited"), note
    assert len(s.paths) >= 2 and set(s.paths) == {"/api/v1/targets?state=active"}


def test_a_target_no_longer_scraped_holds_the_gate_two_intervals_and_is_named(stand_ins: list[StandIn]) -> None:
    stuck = time.time() - 0.2
    s = StandIn(lambda: [target("stuck:9", stuck), target("fine:1", time.time())])
    stand_ins.append(s)
    end = time.time()
    note, elapsed = timed(s.url, end)
    assert 2 * 1.0 + MARGIN_S - 0.3 <= elapsed <= 2 * 1.0 + MARGIN_S + 1.0, elapsed
    assert "not scraped since the window end: http://stuck:9/metrics" in note and "fine:1" not in note, note


def test_the_absolute_cap_bounds_the_wait_whatever_the_interval(stand_ins: list[StandIn]) -> None:
    last = time.time() - 1  # next scrape due in 5 minutes
    s = StandIn(lambda: [target("slow:1", last, "5m")])
    stand_ins.append(s)
    note, elapsed = timed(s.url, time.time(), cap=1.5)
    assert 1.3 <= elapsed <= 2.5, elapsed
    assert "slow:1" in note


def test_a_refused_targets_api_waits_one_configured_interval_past_the_end(stand_ins: list[StandIn]) -> None:
    config = "global:\n  scrape_interval: 500ms\nscrape_configs:\n- job_name: a\n  scrape_interval: 1s\n- job_name: b\n"
    s = StandIn(config=config, refuse_targets=True)
    stand_ins.append(s)
    end = time.time()
    note, elapsed = timed(s.url, end)
    assert 1.0 + MARGIN_S - 0.2 <= elapsed <= 1.0 + MARGIN_S + 0.5, elapsed
    assert "targets API not usable (HTTP 403)" in note and "one scrape interval (1s)" in note, note


@pytest.mark.parametrize("shape", ["no scrapeInterval (before 2.30)", "lastScrape not a time"])
def test_a_targets_answer_of_another_shape_falls_back_to_the_interval(stand_ins: list[StandIn], shape: str) -> None:
    def listed() -> list[dict[str, Any]]:
        item = target("a:1", time.time() - 0.1)
        if shape.startswith("no"):
            del item["scrapeInterval"]
        else:
            item["lastScrape"] = "yesterday"
        return [item]

    s = StandIn(listed, config="global:\n  scrape_interval: 200ms\n")
    stand_ins.append(s)
    note, elapsed = timed(s.url, time.time())
    assert "targets API not usable (HTTP 200)" in note and elapsed <= 0.2 + MARGIN_S + 0.5, (note, elapsed)


def test_neither_api_readable_proceeds_at_once_and_says_so(stand_ins: list[StandIn]) -> None:
    s = StandIn(refuse_targets=True)
    stand_ins.append(s)
    note, elapsed = timed(s.url, time.time())
    assert elapsed < 0.5
    assert "no scrape interval readable: judging at once" in note, note
    assert s.paths == ["/api/v1/targets?state=active", "/api/v1/status/config"]


def test_settle_timeout_0_and_an_old_window_send_no_request(stand_ins: list[StandIn]) -> None:
    s = StandIn(lambda: [target("stuck:9", time.time() - 100)])
    stand_ins.append(s)
    assert timed(s.url, time.time(), cap=0)[0] == ""
    assert timed(s.url, time.time() - 11, cap=10)[0] == ""
    assert s.paths == []


def test_an_unreachable_prometheus_is_not_waited_for_twice() -> None:
    source = PrometheusSource(f"http://127.0.0.1:{free_port()}", settle_timeout_s=10, timeout_s=0.5, retry_budget_s=1)
    started = time.monotonic()
    note = source.settle(Window(time.time() - 6, time.time()))
    got = source.fetch("up", Window(time.time() - 6, time.time()))
    assert note.startswith("prometheus: not waited for the last scrape") and "unreachable" in note, note
    assert got.error is not None and "unreachable" in got.error, got
    assert time.monotonic() - started < 2.5, "the queries did not spend a second retry budget"


@pytest.mark.parametrize(("text", "seconds"), [("15s", 15.0), ("1m30s", 90.0), ("500ms", 0.5), ("2h", 7200.0),
                                               ("", None), ("15", None), ("s", None), ("0s", None), (None, None)])
def test_prometheus_durations(text: Any, seconds: float | None) -> None:
    assert duration_s(text) == seconds


def test_go_times_with_nanoseconds_and_offsets() -> None:
    assert unix_time("2026-11-29T20:46:56.922415975Z") == pytest.approx(1795985216.922415975)
    assert unix_time("2026-11-29T21:46:56+01:00") == pytest.approx(1795985216.0)
    assert unix_time("2026-11-29 20:46:56") is None and unix_time(17) is None


def test_a_named_target_shows_no_query_or_userinfo_and_an_odd_config_is_no_crash() -> None:
    """Prometheus puts a job's ``params`` (an exporter's API key) and any userinfo into ``scrapeUrl``: the
    log names the target by scheme, host and path only; a config whose ``scrape_configs`` is no list is unreadable."""
    listed = {"status": "success", "data": {"activeTargets": [
        {"scrapeUrl": "http://u:PASSWORD@exp:9100/metrics?apikey=SUPERSECRET", "lastScrape": "2026-01-01T00:00:00Z",
         "scrapeInterval": "15s", "health": "up"}]}}
    targets = active_targets(200, listed)
    assert targets is not None and [t.url for t in targets] == ["http://exp:9100/metrics"]
    odd = {"status": "success", "data": {"yaml": "global: {scrape_interval: 7s}\nscrape_configs: 5\n"}}
    assert configured_interval(200, odd) == 7.0
