"""The local platform's real Prometheus scrapes each colour as the carts perfspec expects.

Aspects: the first apply starts Prometheus; both colours are targets of job
``carts-<project>-<stage>`` with a ``colour`` label, Envoy is a target on /stats/prometheus; the
request counts Prometheus holds equal the requests sent through Envoy (all to the live colour);
the carts perfspec's query (with $ENVIRONMENT and $DURATION_MINUTES filled in) yields the live
colour's average latency (>= its 200 ms delay) while the idle colour is NaN; ``prometheus_url``
is what ``local status`` reports; a corrupt stage file drops only that stage's targets.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from pathlib import Path
from urllib.request import Request, urlopen

from pipeline_steps.documents.service import ServiceSpec
from pipeline_steps.platforms.local import monitoring
from pipeline_steps.platforms.local.platform import LocalPlatform
from pipeline_steps.platforms.local.prometheus_server import PrometheusServer
from pipeline_steps.platforms.local.state import StateDir
from tests.platforms.local.conftest import CARTS, context

JOB = "carts-sockshop-staging"


def _wait_for(check: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


def test_colours_and_envoy_are_scraped_with_real_samples(make_platform: Callable[..., LocalPlatform], carts_image: str,
                                                         carts_service: ServiceSpec) -> None:
    platform = make_platform("prom", auto_prometheus=True)
    ctx = context(carts_image, "2")  # v2: 200 ms delay
    platform.apply(ctx, "blue", carts_service)
    platform.wait_available(ctx, "blue", 15)
    platform.wait_available(ctx, "green", 15)
    prometheus = PrometheusServer.attach(json.loads(platform.state.prometheus_file.read_text())["server"])
    assert platform.prometheus_url() == prometheus.url
    prometheus.wait_up(JOB, timeout_s=20, targets=2)
    prometheus.wait_up("envoy-carts-sockshop-staging", timeout_s=10)
    colours = sorted(r["metric"]["colour"] for r in prometheus.query(f'up{{job="{JOB}"}}'))
    assert colours == ["blue", "green"]

    public = platform.endpoints(ctx).public_url
    for i in range(8):
        body = json.dumps({"itemId": f"sock-{i}", "unitPrice": 1}).encode()
        with urlopen(Request(public + "/carts/1/items", data=body, method="POST"), timeout=5) as resp:
            assert resp.status == 201

    def counted() -> bool:
        result = prometheus.query(f'requests_latency_seconds_count{{job="{JOB}"}}')
        return {r["metric"]["colour"]: float(r["value"][1]) for r in result} == {"blue": 8.0, "green": 0.0}

    _wait_for(counted, 15, "8 requests counted on blue and none on green")

    perfspec = json.loads((CARTS / "perfspec" / "perfspec.json").read_text())
    query = perfspec["indicators"][0]["query"].replace("$ENVIRONMENT", ctx.namespace).replace("$DURATION_MINUTES", "1")
    time.sleep(1.5)  # rate() needs a second sample after the traffic
    values = {r["metric"]["colour"]: float(r["value"][1]) for r in prometheus.query(query)}
    assert 0.19 <= values["blue"] < 1.0, values
    assert math.isnan(values["green"]), values

    def routed() -> bool:
        result = prometheus.query('envoy_cluster_upstream_rq_total{envoy_cluster_name="blue"}')
        return bool(result) and float(result[0]["value"][1]) >= 8

    _wait_for(routed, 10, "Envoy's own count of the 8 requests routed to blue")


def test_a_corrupt_stage_file_drops_only_its_own_targets(tmp_path: Path) -> None:
    state = StateDir(tmp_path)
    dev, staging = context("img", "1", stage="dev"), context("img", "1")
    state.save_stage(dev, {"project": "sockshop", "stage": "dev", "service": "carts",
                           "colours": {"blue": {"port": 1234}}, "envoy": {"stats_port": 1235}})
    state.stage_file(staging).parent.mkdir(parents=True)
    state.stage_file(staging).write_text("{not json", encoding="utf-8")
    configs = monitoring.scrape_configs(state)
    assert [(c["job_name"], c["targets"], c.get("labels")) for c in configs] == [
        ("carts-sockshop-dev-blue", ["127.0.0.1:1234"], {"job": "carts-sockshop-dev", "colour": "blue"}),
        ("envoy-carts-sockshop-dev", ["127.0.0.1:1235"], None)]
