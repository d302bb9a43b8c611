"""The load generator: asyncio + aiohttp, closed and open workload models, HDR latencies.

Why built in: Keptn 0.2 ran JMeter in a container and only parsed its console summary; Flagger
runs ``hey`` and never judges it (peers.md §3 item 14). Here the numbers the gate judges are
measured in-process, per request name, and the acceptance limits are applied to them.

Models:
- closed: ``users`` tasks, each sends, waits for the answer, thinks, repeats (``loops`` times
  and/or until ``duration_s``); user *i* starts at ``i * ramp_up_s / users`` like a JMeter
  thread group. A slow service slows the senders, as real users would be slowed.
- open: requests are *scheduled* at ``rate_rps`` for ``duration_s``; ``users`` workers (the
  connection pool) take the next slot, wait for its time if it is in the future, and measure
  latency from the slot's intended send time. When the service stalls, slots pile up in the
  past and their latency includes the wait, so coordinated omission cannot hide a stall.

Hot path notes (see bench/loadgen_vs_hey.py): each user owns one keep-alive connection of the
lean client in ``transport.py`` (aiohttp cost 66-82 µs CPU per request here, capping a process
near 10k req/s); requests are built to bytes once; a response whose request has no assertions
is judged by status alone; uvloop runs the loop when it is installed.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

from pipeline_steps.documents.testrun import PerformanceResult
from pipeline_steps.load.checks import encode_body, judge, substitute
from pipeline_steps.load.stats import Recorder, Snapshot
from pipeline_steps.load.transport import Client, Origin, TransportError, Watchdog, build_request, parse_headers
from pipeline_steps.load.workload import PerformanceSpec, RequestSpec

T = TypeVar("T")


def run_loop(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` on uvloop when installed (this engine: 17 vs 27 µs CPU per request here), else the stdlib loop."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)


@dataclass(frozen=True)
class Prepared:
    """A request ready to send many times."""

    index: int
    spec: RequestSpec
    raw: bytes
    """The whole request (line, headers, body) as sent."""
    head: bool
    status_only: bool
    """No assertions: judged by status alone."""


@dataclass(frozen=True)
class LoadOutcome:
    result: PerformanceResult
    start_unix: float
    end_unix: float
    aborted: bool


def weighted_order(weights: list[int]) -> list[int]:
    """Indices in smooth weighted round-robin order (weights 3:1 -> 0, 0, 1, 0): exact shares
    over every cycle, interleaved so no request runs in long bursts."""
    divisor = math.gcd(*weights)
    weights = [w // divisor for w in weights]
    current = [0] * len(weights)
    order = []
    for _ in range(sum(weights)):
        for i, w in enumerate(weights):
            current[i] += w
        best = max(range(len(weights)), key=lambda i: current[i])
        current[best] -= sum(weights)
        order.append(best)
    return order


class LoadEngine:
    """Runs one ``PerformanceSpec`` against ``base_url``; ``stop`` ends it early (Ctrl-C, SIGTERM)."""

    def __init__(self, base_url: str, spec: PerformanceSpec, variables: dict[str, str]) -> None:
        self.spec = spec
        self.origin = Origin.parse(base_url)
        prefix = urlsplit(base_url).path.rstrip("/")
        self.prepared: list[Prepared] = []
        for i, req in enumerate(spec.requests):
            body, headers = encode_body(req, variables)
            raw = build_request(self.origin, req.method, prefix + substitute(req.path, variables), headers, body)
            plain = not req.assertions and not req.expect_status
            self.prepared.append(Prepared(i, req, raw, req.method == "HEAD", plain))
        self.order = [self.prepared[i] for i in weighted_order([r.weight for r in spec.requests])]
        self.recorder = Recorder([r.name for r in spec.requests])
        self._next_slot = 0

    @property
    def expected(self) -> int | None:
        """How many requests a complete run sends, when that is known in advance."""
        if self.spec.model == "open":
            return math.ceil(self.spec.duration_s * self.spec.rate_rps)
        if self.spec.loops and not self.spec.duration_s:
            return self.spec.loops * self.spec.users
        return None

    async def run(self, stop: asyncio.Event, on_tick: Callable[[Snapshot], None] | None = None,
                  tick_s: float = 1.0) -> LoadOutcome:
        spec = self.spec
        watchdog = Watchdog(spec.timeout_s)
        clients = [Client(self.origin, spec.timeout_s, watchdog) for _ in range(spec.users)]
        start_unix, start = time.time(), time.perf_counter()
        if spec.model == "open":
            end = start + spec.duration_s
            workers = [self._open_worker(client, start, end) for client in clients]
        else:
            deadline = start + spec.duration_s if spec.duration_s else 0.0
            workers = [self._closed_user(client, uid, start, deadline) for uid, client in enumerate(clients)]
        tasks = [asyncio.create_task(w) for w in workers]
        helpers = [asyncio.create_task(watchdog.run()), asyncio.create_task(stop.wait())]
        if on_tick:
            helpers.append(asyncio.create_task(self._tick(on_tick, tick_s, start)))
        everyone: asyncio.Future[list[None]] = asyncio.gather(*tasks)
        await asyncio.wait([everyone, helpers[1]], return_when=asyncio.FIRST_COMPLETED)  # type: ignore[type-var]
        aborted = helpers[1].done() and not everyone.done()
        for task in [*tasks, *helpers]:
            task.cancel()
        await asyncio.gather(everyone, *helpers, return_exceptions=True)
        duration = time.perf_counter() - start
        end_unix = start_unix + duration
        for client in clients:
            client.close()
        crash = None if aborted or everyone.cancelled() else everyone.exception()
        if crash is not None and not isinstance(crash, asyncio.CancelledError):
            raise crash  # a bug in a user task: never report a short run as a result
        result = self.recorder.result(duration, spec.limits, model=spec.model, users=spec.users, expected=self.expected)
        return LoadOutcome(result, start_unix, end_unix, aborted)

    async def _tick(self, on_tick: Callable[[Snapshot], None], tick_s: float, start: float) -> None:
        while True:
            await asyncio.sleep(tick_s)
            on_tick(self.recorder.snapshot(time.perf_counter() - start))

    async def _closed_user(self, client: Client, uid: int, start: float, deadline: float) -> None:
        spec, order, perf = self.spec, self.order, time.perf_counter
        if spec.ramp_up_s and uid:
            await asyncio.sleep(start + spec.ramp_up_s * uid / spec.users - perf())
        think = spec.think_time_ms / 1000
        loops, done, n, i = spec.loops, 0, len(order), uid % len(order)
        send = self._send
        while not (loops and done >= loops) and not (deadline and perf() >= deadline):
            req = order[i]
            i = i + 1 if i + 1 < n else 0
            await send(client, req, perf())
            done += 1
            if think:
                await asyncio.sleep(think)

    async def _open_worker(self, client: Client, start: float, end: float) -> None:
        interval, order, perf = 1.0 / self.spec.rate_rps, self.order, time.perf_counter
        n = len(order)
        while True:
            slot = self._next_slot  # one event loop: read-and-increment cannot interleave
            self._next_slot = slot + 1
            intended = start + slot * interval
            if intended >= end:
                return
            delay = intended - perf()
            if delay > 0:
                await asyncio.sleep(delay)
            await self._send(client, order[slot % n], intended)

    async def _send(self, client: Client, req: Prepared, intended: float) -> None:
        """Send once; latency runs from ``intended`` (the send time, or the open model's slot)."""
        recorder = self.recorder
        try:
            status, head, body = await client.send(req.raw, req.head)
        except TransportError as err:
            if err.kind == "timeout":
                recorder.error(req.index, "timeout", f"no answer within {self.spec.timeout_s:g}s",
                               int((time.perf_counter() - intended) * 1_000_000))
            else:
                recorder.error(req.index, err.kind, str(err), None)
            return
        latency = int((time.perf_counter() - intended) * 1_000_000)
        if req.status_only:
            if 200 <= status < 400:
                recorder.ok(req.index, latency)
            else:
                recorder.error(req.index, "status", f"HTTP {status}, expected 2xx/3xx", latency)
            return
        verdict = judge(req.spec, status, parse_headers(head), body)
        if verdict is None:
            recorder.ok(req.index, latency)
        else:
            recorder.error(req.index, verdict[0], verdict[1], latency)
