"""Our load engine vs ``wrk`` and ``hey`` (Debian packages), side by side, 10 to 5,000 users.

Why: issue 15 asks the engine to keep up with wrk (>= 0.9x its req/s at 10, 100 and 1,000
users, >= 0.8x at 5,000), to cost no more CPU per request at 5,000 users than 1.3x its 100-user
figure, to keep p99 at 5,000 users within 1.5x wrk's, and to read the mean of a 10 ms server
within 3 % of wrk's. This script prints that table. ``--before ROOT`` also runs the engine of
another checkout (e.g. ``git archive <commit> | tar -x -C /tmp/before``) in the same rounds, so
before/after figures come from the same machine minutes.

Every tool runs as its own process against the same server (``bench/instant_server.py``, its own
process) with the same connection count and duration; wrk gets as many threads as there are
cores, ours as many worker processes (its default). CPU per request is the tool's user+system
time (all its processes and threads) over the requests it completed; for our engine it is
measured around the load phase only (not Python's start-up). Rounds run the tools in turn
(wrk, ours, [before], hey, then reversed) so drifting load from other processes on a shared
machine hits them alike; each figure is the median over rounds.

    python3 bench/loadgen_vs_wrk.py [--users 10,100,1000,5000] [--duration 5] [--rounds 3]
        [--before /tmp/before] [--no-hey] [--no-slow]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline_steps.platforms.local.procs import free_port, stop_pid, wait_http  # noqa: E402

Figures = dict[str, float]
"""req_s, cpu_us (per request), p99_ms, mean_ms."""


def _timed(argv: list[str], env: dict[str, str] | None = None) -> tuple[str, float]:
    """Run ``argv`` to its end; stdout and the user+system CPU seconds of its whole process tree."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    out = proc.stdout.read() if proc.stdout else b""  # type: ignore[union-attr]
    err = proc.stderr.read() if proc.stderr else b""  # type: ignore[union-attr]
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"{argv[0]} failed ({proc.returncode}): {err.decode(errors='replace')[-2000:]}")
    return out.decode(), usage.ru_utime + usage.ru_stime


def _ms(value: str, unit: str) -> float:
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def run_wrk(url: str, users: int, duration: int) -> Figures:
    threads = min(users, os.cpu_count() or 1)
    out, cpu = _timed(["wrk", f"-t{threads}", f"-c{users}", f"-d{duration}s", "--latency", url])
    total = re.search(r"(\d+) requests in", out)
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    mean = re.search(r"Latency\s+([\d.]+)(us|ms|s)", out)
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    if not (total and rate and mean and p99):
        raise SystemExit(f"cannot parse wrk output:\n{out}")
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)|Socket errors: (.*)", out)
    return {"req_s": float(rate.group(1)), "cpu_us": cpu / int(total.group(1)) * 1e6,
            "p99_ms": _ms(*p99.groups()), "mean_ms": _ms(*mean.groups()), "errors": 1.0 if errors else 0.0}


def run_hey(url: str, users: int, duration: int) -> Figures:
    out, cpu = _timed(["hey", "-z", f"{duration}s", "-c", str(users), url])
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    mean = re.search(r"Average:\s+([\d.]+) secs", out)
    p99 = re.search(r"99% in ([\d.]+) secs", out)
    total = re.search(r"\[200\]\s+(\d+) responses", out)
    if not (rate and mean and p99 and total):
        raise SystemExit(f"cannot parse hey output:\n{out}")
    return {"req_s": float(rate.group(1)), "cpu_us": cpu / int(total.group(1)) * 1e6,
            "p99_ms": float(p99.group(1)) * 1000, "mean_ms": float(mean.group(1)) * 1000}


RUNNER = r"""
import asyncio, json, resource, sys
sys.path.insert(0, sys.argv[1])
url, users, duration = sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
from pipeline_steps.load.workload import parse_workload
base, path = url.rsplit("/", 1)
spec = parse_workload({"performance": {"users": users, "duration_s": duration, "timeout_s": 30,
                                       "requests": [{"name": "r", "path": "/" + path}]}}, "bench").performance

def cpu():
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime

try:  # this branch's engine: worker processes, connections opened before the clock, CPU of the clocked phase
    from pipeline_steps.load.pool import LoadPool
except ImportError:
    LoadPool = None
from pipeline_steps.load.engine import LoadEngine, run_loop
async def main():
    if LoadPool is not None:
        return await LoadPool(base, spec, {}).run(asyncio.Event())
    return await LoadEngine(base, spec, {}).run(asyncio.Event())
before = cpu()
outcome = run_loop(main())
used = getattr(outcome, "cpu_s", 0.0) or cpu() - before  # an older engine: its whole run, lazy connects included
r = outcome.result
print(json.dumps({"req_s": r.throughput_rps, "cpu_us": used / max(r.requests, 1) * 1e6,
                  "p99_ms": r.latency_ms["p99"], "mean_ms": r.latency_ms["mean"], "errors": r.errors,
                  "first_errors": r.first_errors}))
"""


def run_ours(root: Path, url: str, users: int, duration: int) -> Figures:
    out, _ = _timed([sys.executable, "-c", RUNNER, str(root), url, str(users), str(duration)])
    figures = json.loads(out.strip().splitlines()[-1])
    if figures["errors"]:
        print(f"  ({root}: {figures['errors']} errors: {figures['first_errors'][:2]})", file=sys.stderr)
    return {k: float(v) for k, v in figures.items() if k != "first_errors"}


def start_server() -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    log = Path("/tmp") / f"bench-instant-{port}.log"
    proc = subprocess.Popen([sys.executable, str(ROOT / "bench/instant_server.py"), str(port)],
                            stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True)
    wait_http(f"http://127.0.0.1:{port}/", timeout_s=10, what="instant server", proc=proc, log_path=log)
    return proc, port


def measure(tools: dict[str, Callable[[str, int, int], Figures]], url: str, users: int, duration: int,
            rounds: int) -> dict[str, Figures]:
    """Median figures per tool over ``rounds`` rounds, tools alternating order each round."""
    runs: dict[str, list[Figures]] = {name: [] for name in tools}
    order = list(tools)
    for i in range(rounds):
        for name in order if i % 2 == 0 else reversed(order):
            runs[name].append(tools[name](url, users, duration))
            time.sleep(0.5)  # let TIME_WAIT sockets and the server settle
    return {name: {key: statistics.median(r[key] for r in figures) for key in figures[0]}
            for name, figures in runs.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", default="10,100,1000,5000")
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--before", type=Path, help="root of another checkout whose engine runs as 'before'")
    parser.add_argument("--no-hey", action="store_true")
    parser.add_argument("--no-slow", action="store_true", help="skip the 10 ms server means")
    args = parser.parse_args()
    for tool in ("wrk", "hey"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is not installed (apt-get install {tool})")
    tools: dict[str, Callable[[str, int, int], Figures]] = {"wrk": run_wrk}
    tools["ours"] = lambda url, users, duration: run_ours(ROOT, url, users, duration)
    if args.before:
        tools["before"] = lambda url, users, duration: run_ours(args.before, url, users, duration)
    if not args.no_hey:
        tools["hey"] = run_hey
    proc, port = start_server()
    try:
        load = os.getloadavg()[0]
        print(f"{os.cpu_count()} cores, load average {load:.2f} at start; {args.duration}s runs, median of "
              f"{args.rounds} rounds; server pid {proc.pid} (own process)")
        others = [t for t in tools if t != "wrk"]
        head = f"{'users':>6} {'wrk req/s':>10} " + " ".join(f"{t + ' req/s':>12} {t + '/wrk':>9}" for t in others)
        head += "  CPU µs/req " + "/".join(["wrk", *others]) + "  p99 ms " + "/".join(["wrk", *others])
        rows = []
        for users in (int(u) for u in args.users.split(",")):
            fast = measure(tools, f"http://127.0.0.1:{port}/", users, args.duration, args.rounds)
            slow = ({} if args.no_slow or users > 1000 else
                    measure({t: f for t, f in tools.items() if t != "hey"}, f"http://127.0.0.1:{port}/slow",
                            users, args.duration, args.rounds))
            rows.append((users, fast, slow))
            wrk = fast["wrk"]
            line = f"{users:>6} {wrk['req_s']:>10.0f} " + " ".join(
                f"{fast[t]['req_s']:>12.0f} {fast[t]['req_s'] / wrk['req_s']:>9.2f}" for t in others)
            line += "  " + " / ".join(f"{fast[t]['cpu_us']:.1f}" for t in ["wrk", *others])
            line += "  " + " / ".join(f"{fast[t]['p99_ms']:.2f}" for t in ["wrk", *others])
            if slow:
                line += "  10ms mean " + " / ".join(f"{slow[t]['mean_ms']:.2f}" for t in slow)
                line += " (" + ", ".join(f"{t}/wrk {slow[t]['mean_ms'] / slow['wrk']['mean_ms']:.3f}"
                                         for t in slow if t != "wrk") + ")"
            print(head if len(rows) == 1 else "", end="\n" if len(rows) == 1 else "")
            print(line, flush=True)
        print(f"load average {os.getloadavg()[0]:.2f} at the end")
        print(json.dumps({str(u): {"instant": f, "10ms": s} for u, f, s in rows}), file=sys.stderr)
    finally:
        stop_pid(proc.pid)


if __name__ == "__main__":
    main()
