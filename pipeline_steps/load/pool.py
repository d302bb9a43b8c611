"""One event loop per core: the load engine in worker processes, their recorders merged exactly.

Why processes: one Python event loop is one core, and a generator that runs out of CPU reports
its own limits as the service's latency (issue 15: one loop for every socket reached 0.5x wrk at
1,000 users). Each worker runs a ``LoadEngine`` on its ``Part`` of the users (closed model) or
of the arrival slots (open model), so together they send exactly what one engine would; their
histograms add bucket by bucket (``stats.Recorder.add``), never by averaging percentiles.

Protocol over a socket pair (pickled messages, ``multiprocessing.connection``), per worker:
parent -> ``job``; worker opens its connections -> ``ready``; parent -> ``go`` with one start time
(``perf_counter`` is CLOCK_MONOTONIC, shared by every process on the machine) so the clocks
start together after every connection is open; worker -> ``tick`` (running totals for the
progress line) ... -> ``done`` (its recorder) or ``crash`` (a traceback). The parent sends
``stop`` on Ctrl-C/SIGTERM; a worker ignores SIGINT (the parent decides), treats SIGTERM and a
vanished parent as ``stop``, and always reports what it measured.

Workers are started as ``python -c _BOOT FD`` rather than by ``multiprocessing``'s spawn, which
would re-import the caller's main module (the CLI, pytest); ``_BOOT`` ignores SIGINT and SIGTERM
before anything else. When the run is being stopped, a worker that vanished (killed with the
whole process tree) is not a bug: the others' results are kept and the run is aborted (130).

Every wait on a worker has an end: a worker whose socket closed (it died, even before it could
ignore SIGTERM: a Jenkins abort can reach the tree while the interpreter still starts) answers
every later question with its crash, not only the first one (a lost ``ready`` once left
``finished()`` waiting forever); start-up is bounded by ``START_S`` plus the connect timeout;
after a stop, a worker that has not reported within ``STOP_GRACE_S`` is killed and counted lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import signal
import socket
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import replace
from multiprocessing.connection import Connection as Pipe
from pathlib import Path
from typing import Any

from pipeline_steps.load.engine import WHOLE, LoadEngine, LoadOutcome, Part, cpu_time, expected_requests, run_loop
from pipeline_steps.load.stats import Recorder, Snapshot
from pipeline_steps.load.workload import PerformanceSpec

_RATE_PER_PROCESS = 20_000  # the open model needs few processes: one schedule is the most precise
START_S = 60.0
"""Seconds a worker may take to start Python and import the engine (measured well under 1 s idle; a
loaded 2-core CI machine takes several), on top of the spec's connect timeout."""
STOP_GRACE_S = 10.0
"""Seconds a told-to-stop worker has to send what it measured before it is killed and counted lost."""


def default_processes(spec: PerformanceSpec, part: Part = WHOLE) -> int:
    """How many worker processes ``auto`` means: for a closed model that runs flat out, one per
    ``USERS_PER_LOOP`` users, at most one per usable core; one when users think (they are mostly
    idle) and for open models below ``_RATE_PER_PROCESS`` req/s."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    users = part.count(spec.users)
    if spec.model == "open":
        wanted = math.ceil(spec.rate_rps / part.stride / _RATE_PER_PROCESS)
    else:
        wanted = 1 if spec.think_time_ms else users // USERS_PER_LOOP
    return max(1, min(cores, wanted, users))


USERS_PER_LOOP = 200
"""Connections one event loop serves before a second one pays. A loop's wake-up (``epoll_wait``
and a turn of the loop, several µs) is shared by the answers that arrived meanwhile: split 10 or
100 busy connections over two loops and each wake-up serves fewer, which on this 2-core machine
cost 14.8-17.1 µs of CPU per request at 10 users and 12.3-12.6 µs at 100, against 10.7-11.0 µs
in one loop, and fewer requests per second (bench/loadgen_vs_wrk.py). From several hundred
connections one loop runs out of CPU first (1,000 users: 13.5-14.1 µs and more req/s in two)."""


class LoadPool:
    """Runs ``spec``'s ``part`` (``--shard``) in ``processes`` event loops (1: in this process)."""

    def __init__(self, base_url: str, spec: PerformanceSpec, variables: dict[str, str], *,
                 part: Part = WHOLE, processes: int | None = None) -> None:
        self.base_url, self.spec, self.variables, self.part = base_url, spec, variables, part
        users = part.count(spec.users)  # connections: a process without one would idle
        self.processes = max(1, min(processes, users)) if processes else default_processes(spec, part)
        self.parts = [part.split(i, self.processes) for i in range(self.processes)]
        if self.processes == 1:
            LoadEngine(base_url, spec, variables, part)  # bad input raises here, before anything starts

    @property
    def expected(self) -> int | None:
        counts = [expected_requests(self.spec, p) for p in self.parts]
        return None if None in counts else sum(c or 0 for c in counts)

    async def run(self, stop: asyncio.Event, on_tick: Callable[[Snapshot], None] | None = None,
                  tick_s: float = 1.0) -> LoadOutcome:
        outcome = await self._run(stop, on_tick, tick_s)
        if self.part.stride > 1:  # a shard says so: `testrun merge` needs every shard once
            shard = f"{self.part.offset + 1}/{self.part.stride}"
            outcome = replace(outcome, result=replace(outcome.result, shard=shard))
        return outcome

    async def _run(self, stop: asyncio.Event, on_tick: Callable[[Snapshot], None] | None, tick_s: float) -> LoadOutcome:
        if self.processes == 1:
            return await LoadEngine(self.base_url, self.spec, self.variables, self.part).run(stop, on_tick, tick_s)
        workers = [_Worker(self, p, tick_s) for p in self.parts]
        try:
            await _tolerant(_within(asyncio.gather(*(w.started() for w in workers)), START_S + self.spec.timeout_s,
                                    "report ready"), stop)
            start = time.perf_counter() + 0.005  # every worker is waiting: start together
            start_unix = time.time() + (start - time.perf_counter())
            cpu = cpu_time()
            for w in workers:  # a stop that came during start-up: the workers report an empty, aborted run
                w.tell("stop" if stop.is_set() else "go", start)
            ticker = asyncio.create_task(_ticks(workers, on_tick, tick_s, start)) if on_tick else None
            waiting = [asyncio.ensure_future(w.finished()) for w in workers]
            stopper = asyncio.create_task(stop.wait())
            await asyncio.wait([*waiting, stopper], return_when=asyncio.FIRST_COMPLETED)
            if not all(f.done() for f in waiting) and stopper.done():
                for w in workers:
                    w.tell("stop")
            stopper.cancel()
            if stop.is_set():  # each has been told; one that does not answer is killed, so its socket closes
                _, late = await asyncio.wait(waiting, timeout=STOP_GRACE_S)
                for w, f in zip(workers, waiting, strict=True):
                    if f in late:
                        w.kill()
            results = await asyncio.gather(*waiting, return_exceptions=True)
            lost = [r for r in results if isinstance(r, BaseException)]
            if lost and not stop.is_set():
                raise lost[0]
            done = [r for r in results if not isinstance(r, BaseException)]  # aborting: a killed worker is no bug
            cpu = cpu_time() - cpu
            if ticker:
                ticker.cancel()
        finally:
            for w in workers:
                w.close()
        recorder = Recorder([r.name for r in self.spec.requests])
        for state, _, _, _ in done:
            recorder.add(Recorder.from_state(state))
        duration = max([end - start for _, end, _, _ in done] + [0.0])
        aborted = stop.is_set() or any(a for _, _, a, _ in done)
        cpu += sum(c for _, _, _, c in done)
        result = recorder.result(duration, self.spec.limits, model=self.spec.model, users=self.spec.users,
                                 expected=self.expected)
        return LoadOutcome(result, start_unix, start_unix + duration, aborted, cpu)


class _Worker:
    """The parent's end of one worker process."""

    def __init__(self, pool: LoadPool, part: Part, tick_s: float) -> None:
        mine, theirs = socket.socketpair()
        self.pipe = Pipe(mine.detach())
        fd = theirs.detach()
        # the worker must run this very package, wherever it was imported from (a checkout, an install)
        root = str(Path(__file__).resolve().parents[2])
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH", "")) if p)}
        # its own session: a signal to the step's process group (Ctrl-C, killpg) is the parent's to handle
        self.proc = subprocess.Popen([sys.executable, "-c", _BOOT, str(fd), root], pass_fds=[fd],
                                     stdin=subprocess.DEVNULL, env=env, start_new_session=True)
        os.close(fd)
        with contextlib.suppress(OSError):  # killed already (a whole process tree): finished() reports it
            self.pipe.send(("job", pool.base_url, pool.spec, pool.variables, part, min(tick_s, 0.5)))
        self.totals = (0, 0, 0, 0)  # requests, errors, latency samples, their sum in µs
        self.inbox: asyncio.Queue[tuple[Any, ...]] = asyncio.Queue()
        _watch(self.pipe, self._readable)

    def _readable(self) -> None:
        try:
            message = self.pipe.recv()
        except (EOFError, OSError):
            message = ("crash", f"worker {self.proc.pid} exited ({self.proc.poll()}) without reporting")
            asyncio.get_running_loop().remove_reader(self.pipe.fileno())
        if message[0] == "tick":
            self.totals = message[1]
        else:
            self.inbox.put_nowait(message)

    async def _expect(self, kind: str) -> tuple[Any, ...]:
        message = await self.inbox.get()
        while message[0] == "ready" and kind == "done":  # start-up was given up on (stopped, or too slow)
            message = await self.inbox.get()
        if message[0] == "crash":
            self.inbox.put_nowait(message)  # it stays dead: whoever asks next (finished() after started()) learns it too
            raise RuntimeError(f"load worker failed: {message[1]}")
        if message[0] != kind:
            raise RuntimeError(f"load worker sent {message[0]!r}, expected {kind!r}")
        return message

    async def started(self) -> None:
        await self._expect("ready")

    async def finished(self) -> tuple[dict[str, Any], float, bool, float]:
        _, state, end, aborted, cpu = await self._expect("done")
        return state, end, aborted, cpu

    def tell(self, *message: Any) -> None:
        with contextlib.suppress(OSError):  # it has gone; finished() reports that
            self.pipe.send(message)

    def kill(self) -> None:
        """SIGKILL the worker (it did not answer in time): its socket closes and ``finished()`` reports it lost."""
        with contextlib.suppress(OSError):
            self.proc.kill()

    def close(self) -> None:
        with contextlib.suppress(ValueError, OSError):
            asyncio.get_running_loop().remove_reader(self.pipe.fileno())
        self.pipe.close()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


async def _within(work: Any, seconds: float, what: str) -> Any:
    """Await ``work`` for at most ``seconds``; a ``RuntimeError`` saying the workers did not ``what`` after that."""
    try:
        return await asyncio.wait_for(work, seconds)
    except asyncio.TimeoutError:
        raise RuntimeError(f"load workers did not {what} within {seconds:g}s") from None


async def _tolerant(work: Any, stop: asyncio.Event) -> None:
    """Await ``work``; a worker lost while stopping (a SIGTERM to the whole process tree) is not a bug."""
    try:
        await work
    except RuntimeError:
        if not stop.is_set():
            raise


async def _ticks(workers: list[_Worker], on_tick: Callable[[Snapshot], None], tick_s: float, start: float) -> None:
    seen = (0, 0)
    while True:
        await asyncio.sleep(tick_s)
        requests, errors, samples, total = (sum(w.totals[i] for w in workers) for i in range(4))
        n, us = samples - seen[0], total - seen[1]
        seen = (samples, total)
        on_tick(Snapshot(requests, errors, us / n / 1000 if n else 0.0, time.perf_counter() - start))


def _watch(pipe: Pipe, callback: Callable[[], None]) -> None:
    """Call ``callback`` when ``pipe`` has data. libuv makes a polled fd non-blocking; ``recv`` and
    ``send`` of a message larger than the socket buffer need it blocking again (readiness is all
    the loop needs)."""
    asyncio.get_running_loop().add_reader(pipe.fileno(), callback)
    os.set_blocking(pipe.fileno(), True)


# --- the worker process

# Ctrl-C reaches the whole process group, and Jenkins' durable-task sends SIGTERM to the step's whole
# process tree: a worker ignores both from its first instruction (before any import) and stops when the
# parent says so or goes away, so the parent always gets what was measured and exits 130, not 4.
_BOOT = ("import signal, sys; signal.signal(signal.SIGINT, signal.SIG_IGN); signal.signal(signal.SIGTERM, signal.SIG_IGN); "
         # ahead of '' (the working folder, first for `python -c`): a checkout there must not win
         "sys.path.insert(0, sys.argv[2]); from pipeline_steps.load.pool import _worker_main; _worker_main(int(sys.argv[1]))")

async def _work(pipe: Pipe) -> None:
    _, base_url, spec, variables, part, tick_s = pipe.recv()
    engine = LoadEngine(base_url, spec, variables, part)
    await engine.connect()
    pipe.send(("ready",))
    loop = asyncio.get_running_loop()
    got: asyncio.Queue[tuple[Any, ...]] = asyncio.Queue()
    stop = asyncio.Event()

    def readable() -> None:
        try:
            got.put_nowait(pipe.recv())
        except (EOFError, OSError):  # the parent has gone: stop, never run on unsupervised
            loop.remove_reader(pipe.fileno())
            got.put_nowait(("stop",))

    _watch(pipe, readable)
    message = await got.get()
    if message[0] != "go":
        stop.set()
    start = message[1] if message[0] == "go" else time.perf_counter()

    async def listen() -> None:
        while True:
            if (await got.get())[0] == "stop":
                stop.set()

    def tick(_: Snapshot) -> None:
        rec = engine.recorder
        totals = (sum(rec.counts), sum(rec.errors), sum(h.total for h in rec.hists), sum(h.sum for h in rec.hists))
        pipe.send(("tick", totals))

    listener = asyncio.create_task(listen())
    outcome = await engine.run(stop, tick, tick_s, start=start)
    listener.cancel()
    pipe.send(("done", engine.recorder.state(), start + (outcome.end_unix - outcome.start_unix), outcome.aborted,
               outcome.cpu_s))


def _worker_main(fd: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # as _BOOT did; kept for a worker started another way
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    pipe = Pipe(fd)
    try:
        run_loop(_work(pipe))
    except BaseException:
        with contextlib.suppress(OSError):
            pipe.send(("crash", traceback.format_exc(limit=8)))
        raise SystemExit(1) from None


if __name__ == "__main__":
    _worker_main(int(sys.argv[1]))
