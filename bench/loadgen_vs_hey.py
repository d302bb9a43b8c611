"""Our load engine vs ``hey`` (Debian package), side by side, against the same loopback server; and the parser's cost.

Why: run-tests' numbers feed the quality gate, so the generator must neither cap throughput nor
add latency of its own. The goals (issue 4): requests/s ours/hey >= 1.0 on this 2-core machine,
and mean and p95 latency within 10 % of hey's on a server that answers in 10 ms. Issue 18 moved
response framing from byte searching to llhttp (``httptools``) and asks that the CPU per request
not grow: ``--before ROOT`` runs another checkout's engine (e.g. ``git archive <commit> | tar -x
-C /tmp/before``) in the same rounds, and the parser section feeds the same answer through both
framing codes in-process (no sockets), so the parser's own cost is seen apart from the engine's.

The server (aiohttp, ``/`` instant, ``/slow`` after 10 ms) runs in its own process so it does not
share the generator's event loop. Tools use the same number of connections and duration, in the
order hey, ours, [before], then reversed, so drifting load from other processes on the machine
hits them alike; figures are medians. CPU per request is measured while the clock runs.

    python3 bench/loadgen_vs_hey.py [--connections 20] [--duration 6] [--before /tmp/before]   # about 1-2 minutes
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.loadgen_vs_wrk import run_hey, run_ours  # noqa: E402
from pipeline_steps.platforms.local.procs import free_port, stop_pid, wait_http  # noqa: E402

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

ANSWER = (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 2\r\n"
          b"Date: Sun, 29 Nov 2026 10:00:00 GMT\r\nServer: Python/3.11 aiohttp/3.9\r\n\r\nok")


class _Transport:
    def write(self, data: bytes) -> None:
        pass

    def close(self) -> None:
        pass

    def is_closing(self) -> bool:
        return False


def parser_cost(before: Path | None, n: int = 200_000) -> None:
    """µs of CPU to frame one answer (aiohttp's five-header 200) by each framing code, no sockets."""
    from pipeline_steps.load.transport import Connection

    class Again:
        def answered(self, conn: Connection, *args: object) -> None:
            conn.busy = True

        def failed(self, conn: Connection, *args: object) -> None:
            raise AssertionError(args)

    rows = []
    for want, label in ((False, "llhttp, status only (engine's hot path)"), (True, "llhttp, headers and body kept")):
        conn = Connection()
        conn.connection_made(_Transport())  # type: ignore[arg-type]
        conn.send(b"", Again(), deadline=1e18, want=want)
        began = time.process_time()
        for _ in range(n):
            conn.data_received(ANSWER)
        rows.append((label, (time.process_time() - began) / n * 1e6))
    if before is not None:
        spec = importlib.util.spec_from_file_location("before_transport", before / "pipeline_steps/load/transport.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses look their module up
        spec.loader.exec_module(module)

        class Waiter:
            def done(self) -> bool:
                return False

            def set_result(self, result: object) -> None:
                pass

        old = module._Connection()
        old.connection_made(_Transport())
        old.waiter = Waiter()
        began = time.process_time()
        for _ in range(n):
            old.data_received(ANSWER)
        rows.append((f"byte search ({before})", (time.process_time() - began) / n * 1e6))
    print(f"framing one answer, in-process, {n} answers:")
    for label, us in rows:
        print(f"  {label:<48} {us:6.2f} µs CPU")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=20)
    parser.add_argument("--duration", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--before", type=Path, help="root of another checkout whose engine runs as 'before'")
    args = parser.parse_args()
    if shutil.which("hey") is None:
        raise SystemExit("hey is not installed (apt-get install hey)")
    parser_cost(args.before)
    port = free_port()
    log = Path("/tmp") / f"bench-server-{port}.log"
    proc = subprocess.Popen([sys.executable, "-c", SERVER, str(port)], stdout=log.open("wb"), stderr=subprocess.STDOUT,
                            start_new_session=True)
    tools = ["hey", "ours"] + (["before"] if args.before else [])
    try:
        wait_http(f"http://127.0.0.1:{port}/", timeout_s=10, what="bench server", proc=proc, log_path=log)
        print(f"{args.connections} connections, {args.duration}s per run, median of {args.rounds} rounds, "
              f"server pid {proc.pid} (own process, aiohttp)")
        print(f"{'server':<8} {'tool':<7} {'req/s':>9} {'mean ms':>8} {'p99 ms':>8} {'CPU µs/req':>11}")
        for label, path in (("0 ms", ""), ("10 ms", "slow")):
            url = f"http://127.0.0.1:{port}/{path}"
            runs: dict[str, list[dict[str, float]]] = {t: [] for t in tools}
            for i in range(args.rounds):
                for tool in tools if i % 2 == 0 else reversed(tools):
                    root = {"ours": ROOT, "before": args.before}.get(tool)
                    runs[tool].append(run_hey(url, args.connections, args.duration) if root is None
                                      else run_ours(root, url, args.connections, args.duration))
                    time.sleep(0.5)
            med = {t: {k: statistics.median(r[k] for r in runs[t]) for k in runs[t][0]} for t in tools}
            for tool in tools:
                f = med[tool]
                print(f"{label:<8} {tool:<7} {f['req_s']:>9.0f} {f['mean_ms']:>8.2f} {f['p99_ms']:>8.2f} {f['cpu_us']:>11.1f}")
            hey, ours = med["hey"], med["ours"]
            print(f"{label:<8} ratio ours/hey: req/s {ours['req_s'] / hey['req_s']:.2f}, "
                  f"mean {ours['mean_ms'] / hey['mean_ms']:.2f}, p99 {ours['p99_ms'] / hey['p99_ms']:.2f}")
    finally:
        stop_pid(proc.pid)
    asyncio.set_event_loop(None)


if __name__ == "__main__":
    main()
