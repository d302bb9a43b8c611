"""The load engine's own costs at scale: garbage-collector pauses, memory over a long run, open-model timing.

Why: issue 15 found the collector taking 11 % of a 5,000-user run (pauses up to 34 ms, landing
in the latencies), asks memory to stay flat over 60 s, and found the open model reading 0.7-1.0 ms
p90 on a server whose closed-model p90 is 0.17 ms (1 ms timer sleeps). This script measures the
three against the instant server (``bench/instant_server.py``, own process), one event loop:

- ``gc``: collections, total and longest pause during the clocked phase at ``--users`` (5,000),
  this engine with its policy (``engine.gc_policy``), this engine with CPython's defaults, and
  ``--before ROOT``'s engine (another checkout) with the defaults.
- ``memory``: resident set size every 5 s over a ``--seconds`` (60) closed-model run, 100 users.
- ``open``: p90 of the open model at 1k and 5k req/s (50 connections) against the p90 of a
  closed model with one user (the unloaded server): the issue asks for at most 0.2 ms between them.

    python3 bench/loadgen_scale.py [gc memory open] [--before /tmp/before] [--seconds 60] [--users 5000]
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.loadgen_vs_wrk import start_server  # noqa: E402
from pipeline_steps.platforms.local.procs import stop_pid  # noqa: E402

GC_RUNNER = r"""
import asyncio, contextlib, gc, json, sys, time
sys.path.insert(0, sys.argv[1])
url, users, seconds, policy = sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), sys.argv[5] == "policy"
from pipeline_steps.load import engine as eng
from pipeline_steps.load.workload import parse_workload
spec = parse_workload({"performance": {"users": users, "duration_s": seconds, "timeout_s": 30,
                                       "requests": [{"name": "r", "path": "/"}]}}, "bench").performance
pauses, began, clocked = [], [0.0], [False]
def watch(phase, info):
    if phase == "start":
        began[0] = time.perf_counter()
    elif clocked[0]:
        pauses.append(time.perf_counter() - began[0])
gc.callbacks.append(watch)
inner = getattr(eng, "gc_policy", None) if policy else None
@contextlib.contextmanager
def measured():
    with (inner() if inner else contextlib.nullcontext()):
        clocked[0] = True  # what the policy does before the clock (collect, freeze) is not a pause of the run
        yield
if hasattr(eng, "gc_policy"):
    eng.gc_policy = measured
else:
    clocked[0] = True  # an engine without a policy: everything it runs is the run
async def main():
    return await eng.LoadEngine(url, spec, {}).run(asyncio.Event())
r = eng.run_loop(main()).result
print(json.dumps({"requests": r.requests, "req_s": r.throughput_rps, "p99_ms": r.latency_ms["p99"],
                  "collections": len(pauses), "gc_ms": sum(pauses) * 1000, "longest_ms": max(pauses, default=0) * 1000,
                  "share": sum(pauses) / r.duration_s}))
"""


def gc_part(url: str, users: int, before: Path | None) -> None:
    print(f"garbage collector, {users} users, 5 s, one event loop:")
    runs = [("this engine, its policy", ROOT, "policy"), ("this engine, CPython defaults", ROOT, "default")]
    if before:
        runs.append(("before, CPython defaults", before, "default"))
    for label, root, policy in runs:
        out = subprocess.run([sys.executable, "-c", GC_RUNNER, str(root), url, str(users), "5", policy],
                             capture_output=True, text=True, check=True).stdout
        f = json.loads(out.strip().splitlines()[-1])
        print(f"  {label:<32} {f['collections']:>5} collections, {f['gc_ms']:7.1f} ms = {f['share']:6.2%} of the run, "
              f"longest {f['longest_ms']:6.2f} ms  ({f['req_s']:.0f} req/s, p99 {f['p99_ms']:.1f} ms)")
        time.sleep(1)


def memory_part(url: str, seconds: float) -> None:
    import asyncio

    from pipeline_steps.load.engine import LoadEngine, run_loop
    from pipeline_steps.load.stats import Snapshot
    from pipeline_steps.load.workload import parse_workload

    spec = parse_workload({"performance": {"users": 100, "duration_s": seconds, "requests": [{"name": "r", "path": "/"}]}},
                          "bench").performance
    assert spec is not None
    page = os.sysconf("SC_PAGE_SIZE")
    samples: list[tuple[float, int, float]] = []

    def rss() -> float:
        return int(Path("/proc/self/statm").read_text().split()[1]) * page / 2**20

    def tick(snap: Snapshot) -> None:
        samples.append((snap.elapsed_s, snap.requests, rss()))

    async def main() -> None:
        await LoadEngine(url, spec, {}).run(asyncio.Event(), tick, 5.0)

    start = rss()
    run_loop(main())
    print(f"memory, 100 users, {seconds:g} s, one event loop: RSS {start:.1f} MB before the run")
    for elapsed, requests, mb in samples:
        print(f"  {elapsed:5.1f} s  {requests:>9} requests  RSS {mb:6.1f} MB")
    first, last = samples[0][2], samples[-1][2]
    print(f"  growth from the first sample to the last: {last - first:+.1f} MB over {samples[-1][1] - samples[0][1]} requests")


OPEN_RUNNER = r"""
import asyncio, json, sys
sys.path.insert(0, sys.argv[1])
from pipeline_steps.load.engine import LoadEngine, run_loop
from pipeline_steps.load.workload import parse_workload
url, model, rate = sys.argv[2], sys.argv[3], float(sys.argv[4])
perf = {"model": "open", "rate_rps": rate, "users": 50, "duration_s": 5} if model == "open" else {"users": 1, "duration_s": 5}
spec = parse_workload({"performance": {**perf, "requests": [{"name": "r", "path": "/"}]}}, "bench").performance
async def main():
    return await LoadEngine(url, spec, {}).run(asyncio.Event())
r = run_loop(main()).result
print(json.dumps({"requests": r.requests, "p50": r.latency_ms["p50"], "p90": r.latency_ms["p90"], "p99": r.latency_ms["p99"]}))
"""


def open_part(url: str, before: Path | None, rounds: int = 3) -> None:
    import statistics

    print("open model p90 vs closed model p90 (1 user), instant server, 5 s runs, median of "
          f"{rounds}:")
    roots = [("this engine", ROOT)] + ([("before", before)] if before else [])
    for label, root in roots:
        figures: dict[str, list[dict[str, float]]] = {"closed": [], "1000": [], "5000": []}
        for _ in range(rounds):
            for key in figures:
                model, rate = ("closed", "0") if key == "closed" else ("open", key)
                out = subprocess.run([sys.executable, "-c", OPEN_RUNNER, str(root), url, model, rate],
                                     capture_output=True, text=True, check=True).stdout
                figures[key].append(json.loads(out.strip().splitlines()[-1]))
        p90 = {k: statistics.median(f["p90"] for f in v) for k, v in figures.items()}
        gaps = {k: p90[k] - p90["closed"] for k in ("1000", "5000")}
        print(f"  {label:<12} closed p90 {p90['closed']:.3f} ms; open 1k req/s p90 {p90['1000']:.3f} ms "
              f"(+{gaps['1000']:.3f}); open 5k req/s p90 {p90['5000']:.3f} ms (+{gaps['5000']:.3f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("parts", nargs="*", default=["gc", "memory", "open"])
    parser.add_argument("--before", type=Path)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--users", type=int, default=5000)
    args = parser.parse_args()
    proc, port = start_server()
    url = f"http://127.0.0.1:{port}"
    try:
        print(f"load average {os.getloadavg()[0]:.2f} at start (2 shared cores: figures are noisy)")
        if "gc" in args.parts:
            gc_part(url, args.users, args.before)
        if "open" in args.parts:
            open_part(url, args.before)
        if "memory" in args.parts:
            with contextlib.suppress(KeyboardInterrupt):
                memory_part(url, args.seconds)
    finally:
        stop_pid(proc.pid)
    gc.collect()


if __name__ == "__main__":
    main()
