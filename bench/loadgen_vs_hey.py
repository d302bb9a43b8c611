"""Our load engine vs ``hey`` (Debian package), side by side, against the same loopback server.

Why: run-tests' numbers feed the quality gate, so the generator must neither cap throughput nor
add latency of its own. The goals (issue 4): requests/s ours/hey >= 1.0 on this 2-core machine,
and mean and p95 latency within 10 % of hey's on a server that answers in 10 ms.

The server (aiohttp, ``/`` instant, ``/slow`` after 10 ms) runs in its own process so it does not
share the generator's event loop. Both tools use the same number of connections and duration,
and run in the order hey, ours, ours, hey so drifting load from other processes on the machine
hits both alike; each figure is the mean of the two runs. "ours" also reports CPU µs per request.

    python3 bench/loadgen_vs_hey.py [--connections 20] [--duration 6]   # about 1 minute
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline_steps.load.engine import LoadEngine, LoadOutcome, run_loop
from pipeline_steps.load.workload import parse_workload
from pipeline_steps.platforms.local.procs import free_port, stop_pid, wait_http

SERVER = """
import asyncio, sys
from aiohttp import web
async def fast(request): return web.Response(text="ok")
async def slow(request):
    await asyncio.sleep(0.010)
    return web.Response(text="ok")
app = web.Application()
app.router.add_get("/", fast)
app.router.add_get("/slow", slow)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)
"""


def run_hey(url: str, connections: int, duration: int) -> tuple[float, float, float]:
    """requests/s, mean ms, p95 ms from hey's summary."""
    out = subprocess.run(["hey", "-z", f"{duration}s", "-c", str(connections), url],
                         capture_output=True, text=True, check=True).stdout

    def grab(pattern: str) -> float:
        match = re.search(pattern, out)
        if not match:
            raise SystemExit(f"cannot parse hey output ({pattern}):\n{out}")
        return float(match.group(1))

    return grab(r"Requests/sec:\s+([\d.]+)"), grab(r"Average:\s+([\d.]+) secs") * 1000, grab(r"95% in ([\d.]+) secs") * 1000


def run_ours(url: str, connections: int, duration: int) -> tuple[float, float, float, float]:
    base, path = url.rsplit("/", 1)
    spec = parse_workload({"performance": {"users": connections, "duration_s": duration,
                                           "requests": [{"name": "r", "path": "/" + path}]}}, "bench").performance
    assert spec is not None
    async def main() -> LoadOutcome:
        return await LoadEngine(base, spec, {}).run(asyncio.Event())

    cpu = time.process_time()
    outcome = run_loop(main())
    cpu = time.process_time() - cpu
    result = outcome.result
    if result.errors:
        raise SystemExit(f"our engine saw errors: {result.first_errors}")
    return result.throughput_rps, result.latency_ms["mean"], result.latency_ms["p95"], cpu / result.requests * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=20)
    parser.add_argument("--duration", type=int, default=6)
    args = parser.parse_args()
    if shutil.which("hey") is None:
        raise SystemExit("hey is not installed (apt-get install hey)")
    port = free_port()
    log = Path("/tmp") / f"bench-server-{port}.log"
    proc = subprocess.Popen([sys.executable, "-c", SERVER, str(port)], stdout=log.open("wb"), stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        wait_http(f"http://127.0.0.1:{port}/", timeout_s=10, what="bench server", proc=proc, log_path=log)
        print(f"{args.connections} connections, {args.duration}s per run, server pid {proc.pid} (own process)")
        print(f"{'server':<8} {'tool':<5} {'req/s':>9} {'mean ms':>8} {'p95 ms':>8}")
        for label, path in (("0 ms", ""), ("10 ms", "slow")):
            url = f"http://127.0.0.1:{port}/{path}"
            run_ours(url, args.connections, 1)  # warm-up: imports, first connections
            runs: dict[str, list[tuple[float, ...]]] = {"hey": [], "ours": []}
            for tool in ("hey", "ours", "ours", "hey"):
                runs[tool].append(run_hey(url, args.connections, args.duration) if tool == "hey"
                                  else run_ours(url, args.connections, args.duration))
                time.sleep(0.5)
            hey, ours = (tuple(sum(col) / len(col) for col in zip(*runs[t], strict=True)) for t in ("hey", "ours"))
            print(f"{label:<8} {'hey':<5} {hey[0]:>9.0f} {hey[1]:>8.2f} {hey[2]:>8.2f}")
            print(f"{label:<8} {'ours':<5} {ours[0]:>9.0f} {ours[1]:>8.2f} {ours[2]:>8.2f}   ({ours[3]:.1f} CPU µs/request)")
            print(f"{label:<8} ratio ours/hey: req/s {ours[0] / hey[0]:.2f}, mean {ours[1] / hey[1]:.2f}, "
                  f"p95 {ours[2] / hey[2]:.2f}")
    finally:
        stop_pid(proc.pid)


if __name__ == "__main__":
    main()
