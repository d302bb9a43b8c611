"""Prometheus sees a new colour before its load test starts, and scrapes at the interval asked for (issue 15).

Aspects: in a stage with a performance test, ``wait_available`` returns only once Prometheus
scrapes the colour's address, and run-tests' performance test waits the same way for a colour a deploy
without test strategy did not wait for (checked right after it returns, on the first deployment of a stage,
whose targets are new); a new version in a colour keeps the colour's port, so its target and
series stay and Prometheus is not even reloaded; the scrape interval given to the platform is
the server's, kept by a later invocation that gives none, changed by ``local up
--scrape-interval``, and ``DEFAULT_SCRAPE_INTERVAL`` otherwise; a malformed interval is bad input
(exit 2, naming the flag) and starts nothing.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from urllib.request import urlopen

from pipeline_steps.documents.service import ServiceSpec
from pipeline_steps.platforms.local import monitoring
from pipeline_steps.platforms.local.platform import LocalPlatform
from pipeline_steps.platforms.local.prometheus_server import PrometheusServer
from pipeline_steps.steps.run_tests import observe_before_load
from tests.platforms.local.conftest import context

JOB = "carts-sockshop-staging"


def _server(platform: LocalPlatform) -> PrometheusServer:
    server = monitoring.attached(platform.state)
    assert server is not None
    return server


def _loaded_interval(server: PrometheusServer) -> str:
    with urlopen(f"{server.url}/api/v1/status/config", timeout=5) as resp:
        config = json.loads(resp.read())["data"]["yaml"]
    return config.split("scrape_interval:", 1)[1].split()[0]


def _scraped(server: PrometheusServer, colour: str, port: int) -> list[dict[str, object]]:
    return server.query(f'up{{job="{JOB}",colour="{colour}",instance="127.0.0.1:{port}"}}')


def test_a_performance_stage_is_available_only_once_prometheus_scrapes_the_colour(
        make_platform: Callable[..., LocalPlatform], carts_image: str, carts_service: ServiceSpec) -> None:
    platform = make_platform("scrape", auto_prometheus=True, scrape_interval="1s")
    ctx = context(carts_image, "1")
    assert ctx.test_strategy == "performance"
    platform.apply(ctx, "blue", carts_service)
    platform.wait_available(ctx, "blue", 60)
    stage = json.loads(platform.state.stage_file(ctx).read_text())
    server = _server(platform)
    assert _scraped(server, "blue", stage["colours"]["blue"]["port"]), "wait_available returned before the first scrape"

    reloads = server._reload_metrics()
    config = server.config_path.read_text()
    v2 = context(carts_image, "2")
    platform.apply(v2, "green", carts_service)
    platform.wait_available(v2, "green", 60)
    after = json.loads(platform.state.stage_file(v2).read_text())
    assert after["colours"]["green"]["port"] == stage["colours"]["green"]["port"]
    assert after["colours"]["green"]["process"]["pid"] != stage["colours"]["green"]["process"]["pid"]
    assert server.config_path.read_text() == config and server._reload_metrics() == reloads  # same targets: no reload
    assert _scraped(server, "green", after["colours"]["green"]["port"])


def test_the_scrape_interval_is_the_one_asked_for_and_is_kept(make_platform: Callable[..., LocalPlatform],
                                                              carts_image: str, carts_service: ServiceSpec) -> None:
    first = make_platform("interval", auto_prometheus=True, scrape_interval="2s")
    dev = context(carts_image, "1", stage="dev", strategy="direct")
    first.apply(dev, None, carts_service)
    assert _loaded_interval(_server(first)) == "2s"

    later = LocalPlatform(first.state.root, auto_prometheus=True)  # another invocation, no --scrape-interval
    later.apply(context(carts_image, "1"), "blue", carts_service)  # new targets: a reload
    assert _loaded_interval(_server(later)) == "2s"

    up = subprocess.run([sys.executable, "-m", "pipeline_steps", "local", "up", "--state-dir", str(first.state.root),
                         "--scrape-interval", "3s"], capture_output=True, text=True, timeout=60)
    assert up.returncode == 0, up.stderr
    assert "scrape interval 3s" in up.stdout
    assert _loaded_interval(_server(later)) == "3s"
    assert json.loads(first.state.prometheus_file.read_text())["server"]["scrape_interval"] == "3s"

    fresh = make_platform("default", auto_prometheus=True, scrape_interval="")
    fresh.apply(dev, None, carts_service)
    assert _loaded_interval(_server(fresh)) == monitoring.DEFAULT_SCRAPE_INTERVAL


def test_a_malformed_interval_is_bad_input_and_starts_nothing(tmp_path: Path) -> None:
    for argv in (["local", "up", "--scrape-interval", "5 s"],
                 ["deploy", "--platform", "local", "--project", "p", "--stage", "s", "--service", "carts", "--image",
                  str(tmp_path / "img"), "--tag", "1", "--scrape-interval", "0s"]):
        result = subprocess.run([sys.executable, "-m", "pipeline_steps", *argv, "--state-dir", str(tmp_path / "state")],
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 2, result.stderr
        assert result.stderr.strip().startswith("error: --scrape-interval:") and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "state").exists()


def test_run_tests_waits_for_the_scrape_that_a_deploy_without_test_strategy_skipped(
        make_platform: Callable[..., LocalPlatform], carts_image: str, carts_service: ServiceSpec) -> None:
    """A pipeline that tells deploy no test strategy gets no wait there; the performance test itself then
    waits (``observe_before_load``) for every colour that takes traffic, so its window holds that colour's samples."""
    platform = make_platform("observe", auto_prometheus=True, scrape_interval="1s")
    deployed = dataclasses.replace(context(carts_image, "1"), test_strategy="")
    platform.apply(deployed, "blue", carts_service)
    platform.wait_available(deployed, "blue", 60)  # no performance test announced: returns without waiting
    stage = json.loads(platform.state.stage_file(deployed).read_text())
    server = _server(platform)
    waited = time.monotonic()
    observe_before_load(platform, context(carts_image, "1"), 60)
    waited = time.monotonic() - waited
    assert _scraped(server, "blue", stage["colours"]["blue"]["port"]), "the load would start before the first scrape"
    assert waited < 30, waited
