"""Shared test rig: a real Prometheus scraping two small exporter apps (blue, green) the test drives.

Why: gate queries must run against real PromQL over real samples. The apps expose the carts
metric names (``requests_latency_seconds`` summary) plus a labelled gauge ``gate_test_value``
whose value a test sets and then reads back through Prometheus, so expected values are known.
One Prometheus per test session (the first scrape takes ~5 s).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Gauge, Summary, start_http_server

from pipeline_steps.platforms.local.procs import free_port
from pipeline_steps.platforms.local.prometheus_server import PrometheusServer

JOB = "carts-sockshop-staging"


class MetricsApp:
    """One colour's exporter on 127.0.0.1."""

    def __init__(self, colour: str) -> None:
        self.colour = colour
        self.registry = CollectorRegistry()
        self.latency = Summary("requests_latency_seconds", "request latency", registry=self.registry)
        self.gauge = Gauge("gate_test_value", "a value the test sets", ["name"], registry=self.registry)
        self.port = free_port()
        self._server, self._thread = start_http_server(self.port, addr="127.0.0.1", registry=self.registry)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class Traffic:
    """Observes ``latency_s`` on an app every 50 ms in a thread, like requests arriving."""

    def __init__(self, app: MetricsApp, latency_s: float) -> None:
        self.app = app
        self.latency_s = latency_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.app.latency.observe(self.latency_s)
            time.sleep(0.05)

    def __enter__(self) -> Traffic:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


@dataclass
class PromEnv:
    server: PrometheusServer
    blue: MetricsApp
    green: MetricsApp

    @property
    def url(self) -> str:
        return self.server.url

    def wait_for(self, expr: str, expected: float, timeout_s: float = 10.0) -> float:
        """Wait until Prometheus has scraped a value; return the time it first answered ``expected``."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            result = self.server.query(expr)
            if result and abs(float(result[0]["value"][1]) - expected) < 1e-9:
                return time.time()
            time.sleep(0.2)
        raise AssertionError(f"{expr} did not become {expected} within {timeout_s}s")


def start_env(tmp: Path) -> PromEnv:
    blue, green = MetricsApp("blue"), MetricsApp("green")
    server = PrometheusServer(tmp / "prometheus", [
        {"job_name": JOB, "static_configs": [
            {"targets": [f"127.0.0.1:{blue.port}"], "labels": {"colour": "blue"}},
            {"targets": [f"127.0.0.1:{green.port}"], "labels": {"colour": "green"}}]},
    ])
    server.start()
    try:
        server.wait_up(JOB, timeout_s=20, targets=2)
    except Exception:
        server.stop()
        raise
    return PromEnv(server, blue, green)


def stop_env(env: PromEnv) -> None:
    env.server.stop()
    env.blue.stop()
    env.green.stop()


@pytest.fixture(scope="module")
def prom_env(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PromEnv]:
    """One rig for the whole session, however many modules import this fixture (each import would
    otherwise be its own fixture with its own 5 s start); stopped when the session ends."""
    env: PromEnv | None = getattr(request.config, "_pipeline_steps_prom_env", None)
    if env is None:
        env = start_env(tmp_path_factory.mktemp("prom"))
        request.config._pipeline_steps_prom_env = env  # type: ignore[attr-defined]
        request.config.add_cleanup(lambda: stop_env(env))
    yield env
