"""The HTTP edge of the sources (pipeline_steps/sources/http.py): time bounds, credentials, environment.

Aspects: a dead backend costs a gate of 100 indicators about one retry budget, not one per wave
of workers, and the queries after the budget report that they were not retried; the budget
starts afresh after close(); a backend that accepts but never answers is an error (a read timeout)
within the budget, retries included; user:password@ in a Prometheus URL becomes basic auth and never
appears in a message or an output file; the proxy from the environment is still used although
it is read once per session; a netrc entry for the host is used, but never over a token.
"""

from __future__ import annotations

import base64
import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline_steps.cli import cli
from pipeline_steps.documents.evaluation import Window
from pipeline_steps.errors import ExitCode
from pipeline_steps.platforms.local.procs import free_port
from pipeline_steps.secrets import Secret
from pipeline_steps.sources.base import MAX_WORKERS
from pipeline_steps.sources.prometheus import PrometheusSource

FIXTURES = Path(__file__).resolve().parents[1] / "gate" / "fixtures"


@contextmanager
def answering_503(seen: list[tuple[str, str]], port: int = 0) -> Iterator[int]:
    """A server that records (path, Authorization) of each POST and answers 503; yields its port."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            seen.append((self.path, self.headers.get("Authorization", "")))
            self.send_response(503)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_port
    finally:
        server.shutdown()
        server.server_close()


def test_a_dead_backend_costs_one_budget_for_the_whole_gate() -> None:
    source = PrometheusSource(f"http://127.0.0.1:{free_port()}", retry_budget_s=1.0, timeout_s=0.5)
    started = time.monotonic()
    with ThreadPoolExecutor(MAX_WORKERS) as pool:
        results = list(pool.map(lambda i: source.fetch(f"up{{i='{i}'}}", Window(0, 10)), range(100)))
    elapsed = time.monotonic() - started
    assert all(r.error and not r.samples for r in results)
    # One budget per query ran in waves of MAX_WORKERS: about 5 s here. Shared, it is under 1 s.
    assert elapsed < 2.5, f"{elapsed:.1f}s"
    assert any("not retried" in (r.error or "") for r in results)


def test_a_backend_that_never_answers_is_an_error_within_the_budget() -> None:
    with socket.socket() as silent:  # the kernel accepts connections; nobody ever reads or answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(64)
        source = PrometheusSource(f"http://127.0.0.1:{silent.getsockname()[1]}", timeout_s=1.0, retry_budget_s=1.2)
        started = time.monotonic()
        got = source.fetch("up", Window(0, 10))
        elapsed = time.monotonic() - started
    assert got.error and "Timeout" in got.error and not got.samples
    # a 1 s attempt, then a retry cut to what is left of the 1.2 s budget; uncut it would end at 2.1 s
    assert elapsed < 1.7, f"{elapsed:.2f}s"


def test_the_budget_starts_afresh_after_close() -> None:
    port = free_port()
    source = PrometheusSource(f"http://127.0.0.1:{port}", retry_budget_s=0.3)
    assert "unreachable after" in (source.fetch("up", Window(0, 10)).error or "")
    assert "not retried" in (source.fetch("up", Window(0, 10)).error or "")
    source.close()
    seen: list[tuple[str, str]] = []
    with answering_503(seen, port):
        got = source.fetch("up", Window(0, 10))
    assert seen and "HTTP 503" in (got.error or "")


def test_credentials_in_the_url_are_basic_auth_and_never_shown(tmp_path: Path) -> None:
    seen: list[tuple[str, str]] = []
    with answering_503(seen) as port:
        source = PrometheusSource(f"http://gate:pw-in-url@127.0.0.1:{port}", retry_budget_s=0.2)
        got = source.fetch("up", Window(0, 10))
    assert seen[0][1] == "Basic " + base64.b64encode(b"gate:pw-in-url").decode()
    assert got.error and "pw-in-url" not in got.error and "pw-in-url" not in source.url
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, [
        "evaluate", "--project", "sockshop", "--stage", "staging", "--service", "carts", "--no-history",
        "--spec", str(FIXTURES / "perfspec_prometheus.json"), "--start", "1000", "--end", "1300", "--out-dir", str(out),
        "--prometheus-url", f"http://gate:pw-in-url@127.0.0.1:{free_port()}", "--retry-budget", "0.3"])
    assert result.exit_code == ExitCode.INFRA, result.output
    assert json.loads((out / "evaluation.json").read_text())["verdict"] == "ERROR"
    assert "pw-in-url" not in result.output
    assert all("pw-in-url" not in p.read_text() for p in out.rglob("*") if p.is_file())


def test_the_proxy_from_the_environment_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[str, str]] = []
    with answering_503(seen) as proxy_port:
        for name in ("http_proxy", "HTTP_PROXY", "no_proxy", "NO_PROXY", "all_proxy", "ALL_PROXY"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy_port}")
        # The proxy answers for the unresolvable host: nothing leaves the machine.
        got = PrometheusSource("http://prometheus.invalid:9090", retry_budget_s=0.2).fetch("up", Window(0, 10))
    assert seen and seen[0][0] == "http://prometheus.invalid:9090/api/v1/query"
    assert got.error and "HTTP 503" in got.error


def test_netrc_is_used_but_a_token_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login fromnetrc password pw\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    seen: list[tuple[str, str]] = []
    with answering_503(seen) as port:
        PrometheusSource(f"http://127.0.0.1:{port}", retry_budget_s=0.1).fetch("up", Window(0, 10))
        PrometheusSource(f"http://127.0.0.1:{port}", token=Secret("tok"), retry_budget_s=0.1).fetch("up", Window(0, 10))
    assert seen[0][1] == "Basic " + base64.b64encode(b"fromnetrc:pw").decode()
    assert seen[-1][1] == "Bearer tok"


VALID_BODY = json.dumps({"status": "success", "data": {"resultType": "vector", "result": [
    {"metric": {}, "value": [1300, "0.01"]}]}}).encode()


@contextmanager
def trickling(*, headers_too: bool, chunked: bool = False) -> Iterator[tuple[int, list[float]]]:
    """A server that answers every request with a valid Prometheus answer at 2 bytes/s: the headers
    too when ``headers_too``, else headers at once and a trickling body (Content-Length or chunked).
    Yields its port and the times connections arrived."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    arrivals: list[float] = []
    stop = threading.Event()

    def answer(conn: socket.socket) -> None:
        with conn:
            conn.recv(65536)
            if chunked:
                head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                body = b"".join(b"1\r\n" + bytes([c]) + b"\r\n" for c in VALID_BODY) + b"0\r\n\r\n"
            else:
                head = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                        + str(len(VALID_BODY)).encode() + b"\r\n\r\n")
                body = VALID_BODY
            slow = head + body if headers_too else body
            with contextlib.suppress(OSError):
                if not headers_too:
                    conn.sendall(head)
                for i in range(0, len(slow), 2):
                    if stop.wait(1.0):
                        return
                    conn.sendall(slow[i:i + 2])

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            arrivals.append(time.monotonic())
            threading.Thread(target=answer, args=(conn,), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield listener.getsockname()[1], arrivals
    finally:
        stop.set()
        listener.close()


@pytest.mark.parametrize(("headers_too", "chunked"), [(False, False), (True, False), (False, True)],
                         ids=["body trickles", "headers trickle", "chunks trickle"])
def test_a_trickling_backend_is_bounded_by_the_timeout_and_the_budget(headers_too: bool, chunked: bool) -> None:
    """Issue 11 item 8: requests' timeout is per read, so 2 bytes/s never timed out; the whole answer
    is bounded now, and the source's work by its budget (+ one timeout)."""
    with trickling(headers_too=headers_too, chunked=chunked) as (port, arrivals):
        source = PrometheusSource(f"http://127.0.0.1:{port}", timeout_s=1.0, retry_budget_s=1.5)
        started = time.monotonic()
        with ThreadPoolExecutor(4) as pool:
            results = list(pool.map(lambda i: source.fetch(f"up{{i='{i}'}}", Window(0, 10)), range(8)))
        elapsed = time.monotonic() - started
    assert all(r.error and not r.samples for r in results), results
    assert any("no complete answer within" in (r.error or "") for r in results)
    assert elapsed < 1.5 + 1.0 + 1.0, f"{elapsed:.1f}s: budget 1.5 s + one 1 s timeout, plus slack"
    assert max(arrivals) - started < 1.5 + 0.2, "no request may start once the budget is spent"


def test_a_trickling_backend_through_the_cli_is_error_not_pass(tmp_path: Path) -> None:
    """The issue's case end to end: --timeout 2 --retry-budget 4 took 63 s and passed; now ERROR (exit 4) in seconds."""
    with trickling(headers_too=False) as (port, _):
        started = time.monotonic()
        result = CliRunner().invoke(cli, [
            "evaluate", "--project", "sockshop", "--stage", "staging", "--service", "carts", "--no-history",
            "--spec", str(FIXTURES / "perfspec_prometheus.json"), "--start", "1000", "--end", "1300",
            "--out-dir", str(tmp_path / "out"), "--prometheus-url", f"http://127.0.0.1:{port}",
            "--timeout", "2", "--retry-budget", "4"])
        elapsed = time.monotonic() - started
    assert result.exit_code == ExitCode.INFRA, result.output
    assert json.loads((tmp_path / "out" / "evaluation.json").read_text())["verdict"] == "ERROR"
    assert elapsed < 4 + 2 + 1.5, f"{elapsed:.1f}s"
