"""What the local traffic switch costs: carts directly vs through the stage's Envoy, and flip time.

Why: the local platform puts a real Envoy in front of every blue/green stage so that weights are
switched and verified like an Istio VirtualService. The load test then measures through Envoy,
so Envoy must not distort what the gate judges, and a flip must be quick. Side by side in one
run, same generator, same connections, same duration:

- requests/s and p95 latency against one carts colour directly (the baseline, "no switch") and
  through Envoy (public URL) -> ratios envoy/direct;
- "flip requested" -> "flip verified" (``set_weights``: availability check, ``runtime_modify``,
  read-back, state write), and -> the first answer from the new colour through Envoy.

Load generator: ``hey`` (Debian) by default, or the project's own engine (``--generator engine``).

    python3 bench/envoy_overhead.py [--connections 10] [--duration 8] [--delay-ms 0] [--flips 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.request import urlopen

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline_steps.documents.context import StageContext
from pipeline_steps.documents.service import load_service
from pipeline_steps.documents.weights import Weights
from pipeline_steps.platforms.local import monitoring
from pipeline_steps.platforms.local.build import build
from pipeline_steps.platforms.local.platform import LocalPlatform

CARTS = Path(__file__).resolve().parents[1] / "examples" / "carts"
PATH = "/carts/1/items"


def run_hey(url: str, connections: int, duration: int) -> tuple[float, float]:
    """requests/s and p95 ms from hey's summary."""
    out = subprocess.run(["hey", "-z", f"{duration}s", "-c", str(connections), url],
                         capture_output=True, text=True, check=True).stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p95 = re.search(r"95% in ([\d.]+) secs", out)
    if not rps or not p95:
        raise SystemExit(f"cannot parse hey output:\n{out}")
    return float(rps.group(1)), float(p95.group(1)) * 1000


def run_engine(url: str, connections: int, duration: int) -> tuple[float, float]:
    from pipeline_steps.load.engine import LoadEngine
    from pipeline_steps.load.workload import parse_workload

    base, path = url.split(PATH)[0], PATH
    workload = parse_workload({"performance": {"users": connections, "duration_s": duration,
                                               "requests": [{"name": "items", "path": path}]}}, "bench")
    assert workload.performance is not None
    outcome = asyncio.run(LoadEngine(base, workload.performance, {}).run(asyncio.Event()))
    return outcome.result.throughput_rps, outcome.result.latency_ms["p95"]


def first_answer_from(url: str, version: str, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with urlopen(url + "/version", timeout=2) as resp:
            if json.loads(resp.read())["version"] == version:
                return
    raise SystemExit(f"{version} never answered through Envoy")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--connections", type=int, default=10)
    parser.add_argument("--duration", type=int, default=8)
    parser.add_argument("--delay-ms", type=int, default=0, help="carts delayInMillis (0: measure pure overhead)")
    parser.add_argument("--flips", type=int, default=20)
    parser.add_argument("--generator", choices=["hey", "engine"], default="hey" if shutil.which("hey") else "engine")
    args = parser.parse_args()
    load = run_hey if args.generator == "hey" else run_engine

    work = Path(tempfile.mkdtemp(prefix="envoy-bench-"))
    image = str(work / "images" / "carts")
    build(CARTS, image, "1", {"version": "v1", "delayInMillis": str(args.delay_ms)})
    build(CARTS, image, "2", {"version": "v2", "delayInMillis": str(args.delay_ms)})
    platform = LocalPlatform(work / "state", auto_prometheus=False)
    service = load_service(CARTS / "service.yaml")
    ctx = StageContext("bench", "staging", "carts", image, "1", "blue_green_service")
    try:
        platform.apply(ctx, "blue", service)
        platform.wait_available(ctx, "blue", 30)
        ctx2 = StageContext("bench", "staging", "carts", image, "2", "blue_green_service")
        platform.apply(ctx2, "green", service)
        platform.wait_available(ctx2, "green", 30)
        endpoints = platform.endpoints(ctx)
        print(f"generator: {args.generator}; {args.connections} connections x {args.duration}s; GET {PATH}; "
              f"carts delayInMillis={args.delay_ms}; Envoy --concurrency 1")

        results = {}
        for label, url in (("direct", endpoints.colour_urls["blue"]), ("envoy", endpoints.public_url),
                           ("direct#2", endpoints.colour_urls["blue"]), ("envoy#2", endpoints.public_url)):
            results[label] = load(url + PATH, args.connections, args.duration)
            print(f"  {label:9} {results[label][0]:9.0f} req/s   p95 {results[label][1]:7.2f} ms")
        direct = [results["direct"], results["direct#2"]]
        envoy = [results["envoy"], results["envoy#2"]]
        rps_ratio = statistics.mean(e[0] for e in envoy) / statistics.mean(d[0] for d in direct)
        p95_ratio = statistics.mean(e[1] for e in envoy) / statistics.mean(d[1] for d in direct)
        print(f"throughput envoy/direct: {rps_ratio:.2f}x   p95 envoy/direct: {p95_ratio:.2f}x"
              f"   (p95 added: {statistics.mean(e[1] for e in envoy) - statistics.mean(d[1] for d in direct):+.2f} ms)")

        verified, effective = [], []
        for i in range(args.flips):
            colour, version = ("green", "v2") if i % 2 == 0 else ("blue", "v1")
            started = time.perf_counter()
            platform.set_weights(ctx, Weights.all_to(colour))
            verified.append((time.perf_counter() - started) * 1000)
            first_answer_from(endpoints.public_url, version)
            effective.append((time.perf_counter() - started) * 1000)
        print(f"flip requested -> verified (set_weights, read back): median {statistics.median(verified):.1f} ms, "
              f"p95 {pct(verified, 0.95):.1f} ms over {args.flips} flips")
        print(f"flip requested -> first answer from the new colour through Envoy: median "
              f"{statistics.median(effective):.1f} ms, p95 {pct(effective, 0.95):.1f} ms")
    finally:
        for stage in list(platform.contexts()):
            platform.stop_stage(stage)
        monitoring.stop(platform.state)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
