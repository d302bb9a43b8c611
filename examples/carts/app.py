"""carts: the sample service of the use case, small enough to run as a local process per colour.

Keptn 0.2's carts (Java/Spring) had the knobs the use case turns: ``version`` and
``delayInMillis`` in ``application.properties`` (v2 = a 1 s slowdown that must fail the quality
gate, v3 = no slowdown), a runtime knob to change the delay, and Prometheus metrics whose names
the carts perfspec queries (``requests_latency_seconds`` sum/count). This keeps those facts and
drops the rest (MongoDB, Spring): carts are held in memory.

Endpoints: ``GET /version``, ``GET /health``, ``GET|POST /carts/{id}/items`` (both delayed by
``delayInMillis``; a POST fails with 500 for ``promotionRate`` % of requests),
``GET /carts/{id}/items/delay/{ms}`` and ``GET /carts/{id}/items/promotion/{rate}`` (runtime
knobs), ``GET /metrics`` and ``GET /prometheus`` (Prometheus text format).

Threads, not asyncio: a slow request sleeps in its own thread, so dozens of 1 s requests run
at once, as in a servlet container.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

_ITEMS = re.compile(r"^/carts/([^/]+)/items/?$")
_DELAY = re.compile(r"^/carts/([^/]+)/items/delay/(\d+)/?$")
_PROMOTION = re.compile(r"^/carts/([^/]+)/items/promotion/(\d+)/?$")


def read_properties(path: Path) -> dict[str, str]:
    """Java-style ``key=value`` lines; ``#``/``!`` comments and blank lines are skipped."""
    props: dict[str, str] = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line[0] in "#!" or "=" not in line:
            continue
        key, value = line.split("=", 1)
        props[key.strip()] = value.strip()
    return props


class Carts:
    """State shared by all request threads: knobs, carts and metrics (one registry per app)."""

    def __init__(self, version: str, delay_ms: int, promotion_rate: int) -> None:
        self.version = version
        self.delay_ms = delay_ms
        self.promotion_rate = promotion_rate
        self.lock = threading.Lock()
        self.carts: dict[str, list[dict[str, Any]]] = {}
        self.registry = CollectorRegistry()
        # Unlabelled on purpose: the perfspec divides _sum by _count per target, one series per colour.
        self.latency = Histogram(
            "requests_latency_seconds", "Latency of cart requests (delay included).", registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.8, 1.0, 1.5, 2.5, 5.0),
        )
        self.requests = Counter("requests", "Cart requests by method and status.", ["method", "status"], registry=self.registry)
        self.info = Gauge("carts_version_info", "Always 1; the label names the running version.", ["version"],
                          registry=self.registry)
        self.info.labels(version=version).set(1)
        self.delay_gauge = Gauge("carts_delay_milliseconds", "Current delayInMillis.", registry=self.registry)
        self.delay_gauge.set(delay_ms)

    def set_delay(self, delay_ms: int) -> None:
        with self.lock:
            self.delay_ms = delay_ms
        self.delay_gauge.set(delay_ms)


class Handler(BaseHTTPRequestHandler):
    server: CartsServer
    protocol_version = "HTTP/1.1"
    # Headers and body are two writes; with Nagle on, the second waits for a keep-alive peer's
    # delayed ACK (~40 ms through Envoy), which would swamp the latency the gate measures.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        pass  # access logs would flood the colour's log file under load

    def _send(self, status: int, body: Any, content_type: str = "application/json") -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        carts = self.server.carts
        path = self.path.split("?", 1)[0]
        if path == "/version":
            self._send(200, {"version": carts.version, "delayInMillis": carts.delay_ms, "promotionRate": carts.promotion_rate})
        elif path == "/health":
            self._send(200, {"status": "UP"})
        elif path in ("/metrics", "/prometheus"):
            self._send(200, generate_latest(carts.registry), CONTENT_TYPE_LATEST)
        elif match := _DELAY.match(path):
            carts.set_delay(int(match.group(2)))
            self._send(200, {"delayInMillis": carts.delay_ms})
        elif match := _PROMOTION.match(path):
            carts.promotion_rate = min(100, int(match.group(2)))
            self._send(200, {"promotionRate": carts.promotion_rate})
        elif match := _ITEMS.match(path):
            self._cart_request("GET", match.group(1), None)
        else:
            self._send(404, {"error": f"no route {path}"})

    def do_POST(self) -> None:
        path = self.path.split("?", 1)[0]
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        match = _ITEMS.match(path)
        if not match:
            self._send(404, {"error": f"no route {path}"})
            return
        try:
            item = json.loads(raw or b"{}")
        except ValueError:
            self._send(400, {"error": "body must be JSON"})
            return
        self._cart_request("POST", match.group(1), item if isinstance(item, dict) else {"value": item})

    def _cart_request(self, method: str, cart_id: str, item: dict[str, Any] | None) -> None:
        carts = self.server.carts
        started = time.perf_counter()
        if carts.delay_ms > 0:
            time.sleep(carts.delay_ms / 1000.0)
        if method == "POST" and carts.promotion_rate and random.randrange(100) < carts.promotion_rate:
            status, body = 500, {"error": "promotion failed"}
        elif method == "POST":
            assert item is not None
            with carts.lock:
                carts.carts.setdefault(cart_id, []).append(item)
            status, body = 201, item
        else:
            with carts.lock:
                status, body = 200, list(carts.carts.get(cart_id, []))
        carts.latency.observe(time.perf_counter() - started)
        carts.requests.labels(method=method, status=str(status)).inc()
        self._send(status, body)


class CartsServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], carts: Carts) -> None:
        self.carts = carts
        super().__init__(address, Handler)


def make_server(host: str, port: int, properties: Path) -> CartsServer:
    props = read_properties(properties)
    carts = Carts(props.get("version", "v1"), int(props.get("delayInMillis", "0")), int(props.get("promotionRate", "0")))
    return CartsServer((host, port), carts)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="carts sample service")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--properties", type=Path, default=Path(__file__).resolve().parent / "application.properties")
    args = parser.parse_args(argv)
    server = make_server(args.host, args.port, args.properties)
    carts = server.carts
    print(f"carts {carts.version} (delayInMillis={carts.delay_ms}) on http://{args.host}:{server.server_port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
