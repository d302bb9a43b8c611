"""The Istio example gates (examples/carts/istio) judge real PromQL over Istio's standard metrics.

A real Prometheus scrapes an exporter that reports what an Istio sidecar reports for carts
(``istio_request_duration_milliseconds`` histogram with Istio's default buckets and
``istio_requests_total``, labelled ``reporter``, ``destination_service_namespace``,
``destination_service_name``, ``destination_version``, ``response_code``).

Aspects: with only the fast version serving, the perfspec and the SLO both PASS; once a slow
version serves too, both FAIL and the perfspec names the slow ``destination_version`` (one
series per version, so the fast one cannot hide it); a version answering 5xx fails the error
rate; a window with no traffic is no data, never a pass.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server

from pipeline_steps.platforms.local.procs import free_port
from pipeline_steps.platforms.local.prometheus_server import PrometheusServer

ISTIO = Path(__file__).resolve().parents[3] / "examples" / "carts" / "istio"
REPO = Path(__file__).resolve().parents[3]
# Istio's default buckets for istio_request_duration_milliseconds (ms).
BUCKETS = (0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000,
           1800000, 3600000)
LABELS = ("reporter", "destination_service_namespace", "destination_service_name", "destination_version",
          "response_code")


class Sidecars:
    """What the sidecars of carts' pods in sockshop-staging report, per version."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.duration = Histogram("istio_request_duration_milliseconds", "request duration", LABELS,
                                  buckets=BUCKETS, registry=self.registry)
        self.requests = Counter("istio_requests", "requests", LABELS, registry=self.registry)
        self.port = free_port()
        self._server, _ = start_http_server(self.port, addr="127.0.0.1", registry=self.registry)
        self.serving: dict[str, tuple[float, str]] = {}
        """version -> (latency ms, response code) of the traffic it gets now."""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            for version, (latency_ms, code) in list(self.serving.items()):
                labels = ("destination", "sockshop-staging", "carts", version, code)
                self.duration.labels(*labels).observe(latency_ms)
                self.requests.labels(*labels).inc()

    def stop(self) -> None:
        self._stop.set()
        self._server.shutdown()


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Sidecars, PrometheusServer]]:
    sidecars = Sidecars()
    server = PrometheusServer(tmp_path_factory.mktemp("prom"), [
        {"job_name": "istio-sidecars", "static_configs": [{"targets": [f"127.0.0.1:{sidecars.port}"]}]}])
    server.start()
    try:
        server.wait_up("istio-sidecars", timeout_s=20)
        yield sidecars, server
    finally:
        server.stop()
        sidecars.stop()


def window(seconds: float) -> tuple[str, str]:
    """Serve for ``seconds`` (plus two scrapes), return the window as ISO timestamps."""
    start = time.time()
    time.sleep(seconds)
    end = time.time()
    time.sleep(2.5)  # the last samples of the window are scraped
    iso = lambda t: datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")  # noqa: E731
    return iso(start + 1), iso(end)


def evaluate(server: PrometheusServer, tmp: Path, start: str, end: str, *gate: str) -> tuple[int, dict]:
    out = tmp / f"out-{time.monotonic_ns()}"
    proc = subprocess.run([sys.executable, "-m", "pipeline_steps", "evaluate", *gate, "--prometheus-url", server.url,
                           "--start", start, "--end", end, "--project", "sockshop", "--stage", "staging",
                           "--service", "carts", "--out-dir", str(out), "--history", str(tmp / "history.sqlite")],
                          capture_output=True, text=True, timeout=120, cwd=REPO,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    document = json.loads((out / "evaluation.json").read_text()) if (out / "evaluation.json").exists() else {}
    return proc.returncode, document


PERFSPEC = ("--spec", str(ISTIO / "perfspec.json"))
SLO = ("--slo", str(ISTIO / "slo.yaml"), "--sli", str(ISTIO / "sli.yaml"))


def test_istio_gates_pass_a_fast_version_and_fail_a_slow_one(mesh: tuple[Sidecars, PrometheusServer],
                                                             tmp_path: Path) -> None:
    sidecars, server = mesh
    sidecars.serving = {"0.7.1": (30.0, "200")}
    start, end = window(4)
    assert evaluate(server, tmp_path, start, end, *PERFSPEC)[0] == 0
    assert evaluate(server, tmp_path, start, end, *SLO)[0] == 0

    sidecars.serving = {"0.7.1": (30.0, "200"), "0.7.2": (1200.0, "200")}
    start, end = window(4)
    code, document = evaluate(server, tmp_path, start, end, *PERFSPEC)
    assert code == 1
    latency = next(i for i in document["indicators"] if i["id"] == "istio_request_duration_p95_ms")
    assert latency["status"] == "fail" and latency["reason"].endswith('on {"destination_version":"0.7.2"}')
    assert evaluate(server, tmp_path, start, end, *SLO)[0] == 1

    sidecars.serving = {"0.7.3": (30.0, "503")}
    start, end = window(4)
    code, document = evaluate(server, tmp_path, start, end, *PERFSPEC)
    errors = next(i for i in document["indicators"] if i["id"] == "istio_error_rate")
    assert code == 1 and errors["status"] == "fail"

    sidecars.serving = {}
    time.sleep(2)
    start, end = window(4)
    assert evaluate(server, tmp_path, start, end, *PERFSPEC)[0] != 0  # no traffic: no data, never a pass
