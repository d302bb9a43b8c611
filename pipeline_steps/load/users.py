"""The users of a load engine: one connection each, driven by the parser's callbacks; and the open model's schedule.

Why apart from ``engine.py``: this is the hot path (see bench/loadgen_vs_wrk.py). A closed-model
user answers, records and writes its next pre-built request from the parser's callback, with no
task and no future per request; the common case (no assertions, a 2xx/3xx) is inlined in
``User.answered``. Rare paths run as tasks the engine cancels at the end: a reconnect after the
server closed, a redirect chain (``follow_redirects``: each hop on a connection of its own, the
chain timed as one request). ``Arrivals`` is the open model: slot ``g`` is due at
``start + g / rate`` on the µs ticker, takes an idle connection or waits for one.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from multidict import CIMultiDict

from pipeline_steps.load.ticker import Ticker
from pipeline_steps.load.transport import Connection, Origin, TransportError, Waiter, build_request, connect
from pipeline_steps.load.verdict import judge, status_ok
from pipeline_steps.load.wire import MAX_REDIRECTS, Outgoing, next_hop

if TYPE_CHECKING:
    from pipeline_steps.load.engine import LoadEngine, Prepared

_now = time.perf_counter


class User:
    """One connection and its schedule: the closed model's user, or one of the open model's pool."""

    __slots__ = ("conn", "current", "done", "engine", "i", "intended", "uid")

    def __init__(self, engine: LoadEngine, uid: int) -> None:
        self.engine, self.uid = engine, uid
        self.conn: Connection | None = None
        self.done = 0
        self.i = uid % len(engine.order)
        self.current: Prepared = engine.order[self.i]
        self.intended = 0.0

    def next(self) -> None:
        """Closed model: send the next request, or finish (loops done, deadline passed, stopping)."""
        engine = self.engine
        loops = engine.spec.loops
        if engine.stopping or (loops and self.done >= loops) or (engine.deadline and time.perf_counter() >= engine.deadline):
            engine.finished(self)
            return
        order = engine.order
        req = order[self.i]
        self.i = self.i + 1 if self.i + 1 < len(order) else 0
        self.send(req, 0.0)

    def send(self, req: Prepared, intended: float) -> None:
        """Send ``req``; latency runs from ``intended`` (open model) or from the write (0.0)."""
        self.current = req
        conn = self.conn
        if conn is None or conn.closed:
            self.engine.spawn(self._reconnect(req, intended))
            return
        now = time.perf_counter()
        self.intended = intended or now
        conn.send(req.raw, self, deadline=now + self.engine.spec.timeout_s, want=req.want, head=req.head)

    async def _reconnect(self, req: Prepared, intended: float) -> None:
        engine = self.engine
        began = time.perf_counter()
        try:
            self.conn = await connect(engine.origin, engine.spec.timeout_s)
        except TransportError as err:
            engine.recorder.connect_errors += 1
            self.failed(None, err.kind, str(err), time.perf_counter(), intended or began)
            return
        engine.recorder.connect.record(int((time.perf_counter() - began) * 1_000_000))
        engine.watchdog.connections.append(self.conn)
        self.send(req, intended)

    # --- transport.Handler

    def answered(self, conn: Connection, status: int, headers: CIMultiDict[str] | None, body: bytes, now: float) -> None:
        try:  # an exception here would vanish into the event loop's log and stall this user: end the run
            req = self.current
            engine = self.engine
            if not req.want and engine.fast and (200 <= status < 400):
                # the hot path, inlined: a plain closed-model request answered 2xx/3xx (Recorder.ok,
                # _after, next, Connection.send); the sample waits in ``pending`` (Histogram.fold)
                engine.recorder.hists[req.index].pending.append(int((now - self.intended) * 1_000_000))
                self.done += 1
                if now >= engine.until or self.done >= engine.loops:
                    engine.finished(self)
                    return
                order = engine.order
                req = order[self.i]
                self.i = self.i + 1 if self.i + 1 < len(order) else 0
                self.current = req
                if conn.closed or req.want:
                    self.send(req, 0.0)
                    return
                outbox = engine.outbox
                if not outbox:
                    asyncio.get_running_loop().call_soon(engine.flush)
                outbox.append(self)
                return
            if req.spec.follow_redirects and 300 <= status < 400 and headers is not None and headers.get("Location"):
                engine.spawn(self._follow(status, headers, body))
                return
            self._judge(req, status, headers, body, int((now - self.intended) * 1_000_000))
            self._after()
        except Exception as err:
            self.engine.fail(err)

    def failed(self, conn: Connection | None, kind: str, message: str, now: float, since: float = 0.0) -> None:
        try:
            engine, req = self.engine, self.current
            if kind == "timeout":
                latency = int((now - (since or self.intended)) * 1_000_000)
                engine.recorder.error(req.index, "timeout", f"no answer within {engine.spec.timeout_s:g}s", latency)
            else:
                engine.recorder.error(req.index, kind, message, None)
            self._after()
        except Exception as err:
            self.engine.fail(err)

    def _judge(self, req: Prepared, status: int, headers: CIMultiDict[str] | None, body: bytes, latency: int) -> None:
        recorder = self.engine.recorder
        if not req.want:
            if status_ok(req.spec, status):
                recorder.ok(req.index, latency)
            else:
                wanted = "/".join(map(str, req.spec.expect_status)) or "2xx/3xx"
                recorder.error(req.index, "status", f"HTTP {status}, expected {wanted}", latency)
            return
        verdict = judge(req.spec, status, headers if headers is not None else CIMultiDict(), body)
        if verdict is None:
            recorder.ok(req.index, latency)
        else:
            recorder.error(req.index, verdict[0], verdict[1], latency)

    def _after(self) -> None:
        self.done += 1
        engine = self.engine
        if engine.arrivals is not None:
            engine.arrivals.release(self)
        elif engine.spec.think_time_ms and not engine.stopping:
            think_s = engine.spec.think_time_ms / 1000
            if engine.deadline:
                # a user that would wake past the deadline only to finish finishes at the deadline: the run
                # ends when its duration is up (or its last answer is in), not a think time later
                think_s = min(think_s, max(0.0, engine.deadline - time.perf_counter()) + 0.001)
            asyncio.get_running_loop().call_later(think_s, self.next)
        else:
            self.next()

    async def _follow(self, status: int, headers: CIMultiDict[str], body: bytes) -> None:
        """A redirect chain (``follow_redirects: true``): each hop on a connection of its own, the whole
        chain timed as one request, the last answer judged (as the functional checks do)."""
        engine, req = self.engine, self.current
        url = f"{urlsplit(engine.base_url).scheme}://{engine.origin.host_header}{req.outgoing.target}"
        current: Any = req.outgoing
        try:
            for _ in range(MAX_REDIRECTS):
                hop = next_hop(url, current, status, headers.get("Location"))
                if hop is None:
                    break
                origin, parts = Origin.parse(hop.url), urlsplit(hop.url)
                target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
                raw = build_request(origin, Outgoing(hop.method, target, hop.headers, hop.body))
                conn = await connect(origin, engine.spec.timeout_s)
                try:
                    status, headers, body = await _ask(conn, raw, engine.spec.timeout_s, hop.method == "HEAD")
                finally:
                    conn.close()
                url, current = hop.url, hop
            else:
                if next_hop(url, current, status, headers.get("Location")) is not None:
                    engine.recorder.error(req.index, "status", f"more than {MAX_REDIRECTS} redirects",
                                          int((time.perf_counter() - self.intended) * 1_000_000))
                    self._after()
                    return
        except TransportError as err:
            self.failed(None, err.kind, str(err), time.perf_counter())
            return
        self._judge(req, status, headers, body, int((time.perf_counter() - self.intended) * 1_000_000))
        self._after()


async def _ask(conn: Connection, raw: bytes, timeout_s: float, head: bool) -> tuple[int, CIMultiDict[str], bytes]:
    future: asyncio.Future[tuple[int, CIMultiDict[str], bytes]] = asyncio.get_running_loop().create_future()
    conn.send(raw, Waiter(future), deadline=time.perf_counter() + timeout_s, want=True, head=head)
    try:
        return await asyncio.wait_for(future, timeout_s)
    except asyncio.TimeoutError as err:
        raise TransportError("timeout", "no answer in time") from err


class Arrivals:
    """The open model's schedule: slot ``g`` is due at ``start + g / rate``; this part owns every
    ``stride``-th slot from ``offset``, so parts together keep exactly the one-engine schedule."""

    def __init__(self, engine: LoadEngine, start: float, loop: asyncio.AbstractEventLoop) -> None:
        spec = engine.spec
        self.engine = engine
        self.start, self.rate = start, spec.rate_rps
        self.total = math.ceil(spec.duration_s * spec.rate_rps)
        self.slot = engine.part.offset
        self.idle: deque[User] = deque(engine.users)
        self.backlog: deque[tuple[Prepared, float]] = deque()
        self.scheduled_all = False
        self.ticker = Ticker(loop, self.fire)
        self.fire()

    def fire(self) -> None:
        engine = self.engine
        if engine.stopping:
            return
        now = time.perf_counter()
        order, stride = engine.order, engine.part.stride
        while self.slot < self.total:
            due = self.start + self.slot / self.rate
            if due > now:
                self.ticker.arm(due)
                return
            req = order[self.slot % len(order)]
            self.slot += stride
            if self.idle:
                self.idle.popleft().send(req, due)
            else:
                self.backlog.append((req, due))  # every connection is busy: it waits, and its latency shows it
        self.scheduled_all = True
        self._maybe_done()

    def release(self, user: User) -> None:
        if self.backlog and not self.engine.stopping:
            req, due = self.backlog.popleft()
            user.send(req, due)
            return
        self.idle.append(user)
        self._maybe_done()

    def _maybe_done(self) -> None:
        done = self.engine.done
        if self.scheduled_all and len(self.idle) == len(self.engine.users) and done is not None and not done.done():
            done.set_result(None)
