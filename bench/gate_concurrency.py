"""Benchmark: a gate of 100 indicators against the real local Prometheus, concurrent vs sequential.

Why: Pitometer fetched all indicators at once (Promise.all); a gate that queries one after
another makes every pipeline wait for the sum of all round trips. This starts a real
Prometheus (Debian package) scraping a small exporter with 100 gauges, runs the same evaluate
step one query after another and then with 8, 16 and 32 worker threads, and prints the wall
times and the ratios.

Two settings are measured side by side:
* direct: Prometheus on loopback (sub-millisecond network; the server and this process share
  2 cores, so this mostly measures CPU, and concurrency can only overlap so much);
* remote-like: the same Prometheus behind a loopback proxy that adds 20 ms per request, the
  round trip of a Jenkins agent querying an in-cluster Prometheus through an ingress. This is
  the case concurrency exists for; the target (>= 5x) applies to it.
Run: python3 bench/gate_concurrency.py [--indicators 100] [--rtt-ms 20] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from prometheus_client import CollectorRegistry, Gauge, start_http_server

import pipeline_steps.steps.evaluate as step
from pipeline_steps.documents.context import StageContext
from pipeline_steps.documents.evaluation import Window
from pipeline_steps.gate.perfspec import parse_perfspec
from pipeline_steps.platforms.local.procs import free_port
from pipeline_steps.platforms.local.prometheus_server import PrometheusServer
from pipeline_steps.sources import http
from pipeline_steps.sources.base import MAX_WORKERS, SourceSettings
from pipeline_steps.sources.prometheus import PrometheusSettings

JOB = "bench-sockshop-dev"


def delay_proxy(target: str, delay_s: float) -> ThreadingHTTPServer:
    """Forward POSTs to ``target`` after ``delay_s``: a network round trip without a network."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            time.sleep(delay_s)
            request = urllib.request.Request(target + self.path, data=body, method="POST",
                                             headers={"Content-Type": self.headers.get("Content-Type", "")})
            with urllib.request.urlopen(request, timeout=30) as resp:
                payload = resp.read()
                status = resp.status
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: object) -> None:
            return None

    class Server(ThreadingHTTPServer):
        request_queue_size = 128  # the default backlog of 5 drops bursts of 32 connects (1 s SYN retry)
        daemon_threads = True

    server = Server(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def spec(n: int) -> dict[str, object]:
    return {"indicators": [{
        "id": f"ind_{i:03d}", "source": "Prometheus",
        "query": f"avg_over_time(bench_value{{name=\"v{i}\",job='bench-$ENVIRONMENT'}}[$DURATION_MINUTESm])",
        "grading": {"type": "Threshold", "thresholds": {"upperSevere": 1000}, "metricScore": 1}} for i in range(n)],
        "objectives": {"pass": n, "warning": n / 2}}


def timed(url: str, perfspec: object, window: Window, out: Path, workers: int) -> tuple[float, str]:
    step.MAX_WORKERS = workers
    http.session.__defaults__ = (max(workers, MAX_WORKERS),)  # a connection per worker, as the product sizes it
    ctx = StageContext("sockshop", "dev", "bench")
    settings = SourceSettings(context=ctx, groups={"prometheus": PrometheusSettings(url)})
    run = step.GateRun(context=ctx, window=window, settings=settings, out_dir=out)
    started = time.perf_counter()
    outcome = step.evaluate(perfspec, run)  # type: ignore[arg-type]
    return time.perf_counter() - started, outcome.verdict.value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--indicators", type=int, default=100)
    parser.add_argument("--rtt-ms", type=float, default=20.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workers", default="8,16,32", help="worker counts to time concurrently (comma-separated)")
    args = parser.parse_args()
    registry = CollectorRegistry()
    gauge = Gauge("bench_value", "bench", ["name"], registry=registry)
    for i in range(args.indicators):
        gauge.labels(name=f"v{i}").set(i)
    port = free_port()
    exporter, _ = start_http_server(port, addr="127.0.0.1", registry=registry)
    with tempfile.TemporaryDirectory() as tmp:
        server = PrometheusServer(Path(tmp) / "prom", [{"job_name": JOB, "targets": [f"127.0.0.1:{port}"]}]).start()
        proxy = delay_proxy(server.url, args.rtt_ms / 1000)
        try:
            server.wait_up(JOB, timeout_s=30)
            time.sleep(2.5)
            end = time.time()
            window = Window(end - 2, end)
            perfspec = parse_perfspec(json.loads(json.dumps(spec(args.indicators))), "bench-perfspec.json")
            settings = {"direct": server.url, f"remote-like (+{args.rtt_ms:.0f} ms per request)":
                        f"http://127.0.0.1:{proxy.server_port}"}
            workers = [int(w) for w in args.workers.split(",")]
            print(f"{args.indicators} indicators, Prometheus {server.url}, median of {args.repeat} runs, "
                  f"default workers {MAX_WORKERS}")
            for label, url in settings.items():
                cpu_before = (time.process_time(), _cpu_s(server.pid))
                seq = [timed(url, perfspec, window, Path(tmp) / "out", 1) for _ in range(args.repeat)]
                client_cpu = (time.process_time() - cpu_before[0]) / args.repeat
                server_cpu = (_cpu_s(server.pid) - cpu_before[1]) / args.repeat
                t_seq = statistics.median(t for t, _ in seq)
                print(f"  {label}: sequential {t_seq * 1000:.0f} ms")
                for w in workers:
                    conc = [timed(url, perfspec, window, Path(tmp) / "out", w) for _ in range(args.repeat)]
                    verdicts = sorted({v for _, v in conc + seq})
                    t_conc = statistics.median(t for t, _ in conc)
                    print(f"    concurrent, {w:2d} workers: {t_conc * 1000:.0f} ms, ratio {t_seq / t_conc:.1f}x  "
                          f"(verdicts {verdicts})")
                if label == "direct":
                    # On loopback nothing waits: the gate is CPU, and this process's share runs on one core
                    # at a time (the GIL), so no number of threads gets the gate below it.
                    print(f"    CPU per gate: this process {client_cpu * 1000:.0f} ms (the floor for any worker count: "
                          f"ratio at most {t_seq / client_cpu:.1f}x), Prometheus {server_cpu * 1000:.0f} ms")
        finally:
            proxy.shutdown()
            server.stop()
            exporter.shutdown()


if __name__ == "__main__":
    main()
