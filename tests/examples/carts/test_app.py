"""The carts sample as a real process: the use case's knobs and the metrics the perfspec queries.

Aspects: /version and /health answer; items are stored per cart (POST then GET);
delayInMillis from application.properties delays cart requests (and not /health);
the runtime delay knob; 12 slow requests run concurrently; promotionRate makes POSTs fail;
/metrics and /prometheus carry requests_latency_seconds (_sum, _count) and requests_total.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.error import HTTPError
from urllib.request import Request, urlopen

import pytest

from pipeline_steps.platforms.local.procs import free_port, spawn, stop_pid, wait_http

CARTS = Path(__file__).resolve().parents[3] / "examples" / "carts"


def _start(tmp_path: Path, **props: str) -> Iterator[str]:
    folder = tmp_path / "carts"
    shutil.copytree(CARTS, folder)
    text = (folder / "application.properties").read_text()
    for key, value in props.items():
        text = re.sub(rf"(?m)^{key}=.*$", f"{key}={value}", text)
    (folder / "application.properties").write_text(text)
    port = free_port()
    proc = spawn([sys.executable, "app.py", "--port", str(port)], log_path=tmp_path / "carts.log", cwd=folder)
    try:
        wait_http(f"http://127.0.0.1:{port}/health", timeout_s=15, what="carts", proc=proc, log_path=tmp_path / "carts.log")
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_pid(proc.pid)
        proc.wait(5)


@pytest.fixture()
def carts(tmp_path: Path) -> Iterator[str]:
    yield from _start(tmp_path)


@pytest.fixture()
def slow_carts(tmp_path: Path) -> Iterator[str]:
    yield from _start(tmp_path, version="v2", delayInMillis="500")


def _get(url: str) -> tuple[int, bytes, float]:
    started = time.monotonic()
    try:
        with urlopen(url, timeout=10) as resp:
            return resp.status, resp.read(), time.monotonic() - started
    except HTTPError as err:
        return err.code, err.read(), time.monotonic() - started


def _post(url: str, body: dict[str, object]) -> tuple[int, bytes]:
    request = Request(url, data=json.dumps(body).encode(), method="POST", headers={"Content-Type": "application/json"})
    try:
        with urlopen(request, timeout=10) as resp:
            return resp.status, resp.read()
    except HTTPError as err:
        return err.code, err.read()


def test_version_health_and_items(carts: str) -> None:
    status, body, _ = _get(carts + "/version")
    assert status == 200 and json.loads(body) == {"version": "v1", "delayInMillis": 0, "promotionRate": 0}
    assert _get(carts + "/health")[0] == 200
    assert _post(carts + "/carts/7/items", {"itemId": "sock", "unitPrice": 3.5})[0] == 201
    status, body, _ = _get(carts + "/carts/7/items")
    assert status == 200 and json.loads(body) == [{"itemId": "sock", "unitPrice": 3.5}]
    assert json.loads(_get(carts + "/carts/8/items")[1]) == []
    assert _get(carts + "/nothing")[0] == 404


def test_delay_from_properties_applies_to_cart_requests_only(slow_carts: str) -> None:
    assert json.loads(_get(slow_carts + "/version")[1])["version"] == "v2"
    assert _get(slow_carts + "/health")[2] < 0.4
    _, _, took = _get(slow_carts + "/carts/1/items")
    assert took >= 0.5


def test_runtime_delay_knob(carts: str) -> None:
    status, body, _ = _get(carts + "/carts/1/items/delay/300")
    assert status == 200 and json.loads(body) == {"delayInMillis": 300}
    started = time.monotonic()
    assert _post(carts + "/carts/1/items", {"itemId": "x"})[0] == 201
    assert time.monotonic() - started >= 0.3
    assert json.loads(_get(carts + "/version")[1])["delayInMillis"] == 300


def test_slow_requests_are_served_concurrently(slow_carts: str) -> None:
    started = time.monotonic()
    with ThreadPoolExecutor(12) as pool:
        results = list(pool.map(lambda _: _get(slow_carts + "/carts/1/items"), range(12)))
    elapsed = time.monotonic() - started
    assert all(r[0] == 200 for r in results)
    assert elapsed < 3.0, f"12 requests of 0.5 s took {elapsed:.1f}s: served one by one (6 s)?"


def test_promotion_rate_fails_posts(carts: str) -> None:
    assert json.loads(_get(carts + "/carts/1/items/promotion/100")[1]) == {"promotionRate": 100}
    assert _post(carts + "/carts/1/items", {"itemId": "x"})[0] == 500
    _get(carts + "/carts/1/items/promotion/0")
    assert _post(carts + "/carts/1/items", {"itemId": "x"})[0] == 201


@pytest.mark.parametrize("path", ["/metrics", "/prometheus"])
def test_metrics_names_match_the_perfspec(carts: str, path: str) -> None:
    _get(carts + "/carts/1/items/delay/50")
    for _ in range(3):
        _post(carts + "/carts/1/items", {"itemId": "x"})
    status, body, _ = _get(carts + path)
    text = body.decode()
    assert status == 200
    samples = {line.split(" ")[0]: float(line.split(" ")[1]) for line in text.splitlines() if line and not line.startswith("#")}
    assert samples["requests_latency_seconds_count"] == 3
    assert samples["requests_latency_seconds_sum"] >= 0.15
    assert samples['requests_total{method="POST",status="201"}'] == 3
    assert samples['carts_version_info{version="v1"}'] == 1
