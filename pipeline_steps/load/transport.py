"""A lean HTTP/1.1 keep-alive client for the load engine: one asyncio Protocol per connection, llhttp framing.

Why not aiohttp here: measured on this 2-core machine, aiohttp's client spends 66-82 µs of CPU
per request, which caps one Python process near 10k req/s (bench/loadgen_vs_hey.py); a load
generator slower than the service it measures reports its own limits as the service's latency.

Why llhttp (through ``httptools``, the parser uvicorn uses): response heads are parsed by the
HTTP/1.1 grammar (RFC 9112) -- field names case-insensitive, optional whitespace, comma-separated
``Connection`` options, Content-Length, chunked with extensions and trailers, no body for
204/304, 1xx skipped, HTTP/1.0 keep-alive rules -- instead of searching bytes: a server answering
``Connection:close`` (no space) was not recognised before (issue 18). The parser is C; what
stays in Python per answer is a few callbacks (bench/loadgen_vs_hey.py measures the CPU).

Two things llhttp is not told by httptools, handled here: a HEAD answer has no body whatever its
Content-Length says (RFC 9110 §9.3.2), and a body without Content-Length or chunked coding ends
when the server closes (RFC 9112 §6.3 item 8).

The engine drives connections by callbacks (``Handler``), not by a coroutine and a future per
request: the answer is timed when its last byte is parsed, and the next request is written from
the same callback. ``Client`` wraps a connection in ``await send(...)`` for the rare paths
(redirect chains, tests). Timeouts: one ``Watchdog`` per engine instead of a timer per request.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

import httptools
from multidict import CIMultiDict

from pipeline_steps.load.framing import FRAMING, FRAMING_LENGTHS, HEAD_BYTES, HEAD_READS, HeadDone, framed, frames
from pipeline_steps.load.wire import Outgoing


class TransportError(Exception):
    """A request failed without an answer; ``kind`` is ``connect`` or ``timeout``."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class Origin:
    """Where requests go: scheme, host, port, and the Host header value."""

    host: str
    port: int
    tls: bool
    host_header: str

    @classmethod
    def parse(cls, url: str) -> Origin:
        parts = urlsplit(url)
        tls = parts.scheme == "https"
        port = parts.port or (443 if tls else 80)
        host = parts.hostname or ""
        default = (tls and port == 443) or (not tls and port == 80)
        shown = f"[{host}]" if ":" in host else host
        return cls(host, port, tls, shown if default else f"{shown}:{port}")


def build_request(origin: Origin, request: Outgoing) -> bytes:
    """The request bytes (``request.target`` is already percent-encoded and checked by ``wire.prepare``)."""
    lines = [f"{request.method} {request.target} HTTP/1.1", f"Host: {origin.host_header}"]
    names = {k.lower() for k in request.headers}
    if "user-agent" not in names:
        lines.append("User-Agent: pipeline-steps")
    if "accept" not in names:
        lines.append("Accept: */*")
    lines += [f"{k}: {v}" for k, v in request.headers.items() if k.lower() not in ("content-length", "host")]
    if request.body is not None or request.method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(request.body or b'')}")
    # header values are text; UTF-8 for what latin-1 cannot hold (RFC 9110 §5.5 allows obs-text bytes)
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + (request.body or b"")


class Handler(Protocol):
    """Who gets a connection's outcomes; ``now`` is ``time.perf_counter()`` when the answer was parsed."""

    def answered(self, conn: Connection, status: int, headers: CIMultiDict[str] | None, body: bytes, now: float) -> None: ...

    def failed(self, conn: Connection, kind: str, message: str, now: float) -> None: ...


_now = time.perf_counter
class _Lean:
    """The callbacks a status-only answer needs, for the connection's lean parser.

    httptools looks its callbacks up once, when a parser is made, and for ``on_header`` it builds
    a bytes object for every header name and value before calling Python: for a status-only
    answer (no assertions) that is work thrown away. The lean parser has no ``on_header`` and no
    ``on_body``; what ``on_header`` was for, the framing, comes from llhttp itself: an answer
    that keeps the connection alive is framed (``llhttp_should_keep_alive`` is false whenever
    ``llhttp_message_needs_eof`` is true), and the rare one that will close is probed from its
    head's bytes (``framing.framed``)."""

    __slots__ = ("on_headers_complete", "on_message_complete")

    def __init__(self, conn: Connection) -> None:
        self.on_headers_complete = conn.lean_headers_complete
        self.on_message_complete = conn.on_message_complete


class Connection(asyncio.Protocol):
    """One connection, one request at a time. ``send`` writes; the handler hears the outcome."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.full = httptools.HttpResponseParser(self)
        """The parser with every callback: headers and body are collected when judging needs them."""
        self.lean = httptools.HttpResponseParser(_Lean(self))
        """The parser for status-only answers (``_Lean``); ``send`` picks one per request."""
        self.parser = self.full
        self.head: list[bytes] = []  # the data of the answer until its final head is parsed (lean: _framed)
        self.handler: Handler | None = None
        self.busy = False
        self.closed = False
        self.deadline = 0.0
        self.want = False  # collect headers and body for judging
        self.head_request = False
        self._reset()

    def _reset(self) -> None:
        self.status = 0
        self.framed = False  # Content-Length or Transfer-Encoding seen: the body does not end at close
        self.headers: list[tuple[bytes, bytes]] = []  # only filled when judging needs them (want)
        self.body: list[bytes] = []

    def send(self, raw: bytes, handler: Handler, *, deadline: float, want: bool, head: bool = False) -> None:
        self.handler, self.deadline, self.want, self.head_request, self.busy = handler, deadline, want, head, True
        self.parser = self.full if want else self.lean  # between answers both parsers wait for a new one
        assert self.transport is not None
        self.transport.write(raw)

    # --- asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self.status < 200:
            if len(self.head) < HEAD_READS:
                self.head.append(data)
            else:
                self._keep(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserCallbackError as err:
            if not isinstance(err.__context__, HeadDone):
                raise  # a handler's own error (kept as __context__): not a malformed answer
            keep = self.parser.should_keep_alive()  # still valid: the head was parsed
            if self.parser is self.full:  # the old one stopped mid-message
                self.parser = self.full = httptools.HttpResponseParser(self)
            else:
                self.parser = self.lean = httptools.HttpResponseParser(_Lean(self))
            self._complete(keep)
        except httptools.HttpParserUpgrade:
            self._fail("connect", "malformed HTTP response: the server switched protocols")
        except httptools.HttpParserError as err:
            self._fail("connect", f"malformed HTTP response: {err}")

    def _keep(self, data: bytes) -> None:
        """A head in more than ``HEAD_READS`` reads (a server writing it a byte at a time): what was kept is
        joined into one, up to ``HEAD_BYTES``; past it the list marks the head as too long (see ``lean_headers_complete``)."""
        head = self.head
        if len(head) > HEAD_READS:
            return  # already too long
        kept = b"".join(head)
        if len(kept) + len(data) <= HEAD_BYTES:
            self.head = [kept, data]
        else:
            self.head = [b""] * (HEAD_READS + 1)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self.busy:
            return
        if self.status >= 200 and not self.framed:
            self._complete(False)  # the body was delimited by the close
        else:
            self._fail("connect", f"server closed the connection{': ' + str(exc) if exc else ''}")

    # --- httptools callbacks (names fixed by httptools)

    def on_header(self, name: bytes, value: bytes) -> None:
        if self.want:
            self.headers.append((name, value))
        if len(name) in FRAMING_LENGTHS and name.lower() in FRAMING:
            self.framed = frames(name, value)

    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()
        if self.status >= 200:
            self.head.clear()
            if self.head_request or self.status in (204, 304):
                self.framed = True
                if self.head_request:
                    raise HeadDone

    def lean_headers_complete(self) -> None:
        """``on_headers_complete`` of the lean parser: the framing without the headers (``_Lean``)."""
        parser = self.parser
        status = self.status = parser.get_status_code()
        if status >= 200:
            if self.head_request or status in (204, 304) or parser.should_keep_alive():
                self.framed = True
            else:  # a head longer than HEAD_BYTES: framed, so a close short of an answer is an error
                self.framed = len(self.head) > HEAD_READS or framed(b"".join(self.head))
            self.head.clear()
            if self.head_request:
                raise HeadDone

    def on_body(self, body: bytes) -> None:
        if self.want:
            self.body.append(body)

    def on_message_complete(self) -> None:
        status = self.status
        if status < 200:
            self._reset()  # 100 Continue and friends precede the real answer
            return
        if self.want or not self.busy:
            self._complete(self.parser.should_keep_alive())
            return
        # the hot path (status-only answer, no headers or body kept): no lists to build or reset
        now = _now()
        self.status, self.framed, self.busy = 0, False, False
        if not self.parser.should_keep_alive():
            self.close()
        self.handler.answered(self, status, None, b"", now)  # type: ignore[union-attr]

    # --- outcomes

    def _complete(self, keep: bool) -> None:
        now = _now()
        status, handler = self.status, self.handler
        headers = None
        if self.want:  # as aiohttp decodes them, so both clients judge the same text (a Location in UTF-8)
            headers = CIMultiDict((n.decode("utf-8", "surrogateescape"), v.decode("utf-8", "surrogateescape"))
                                  for n, v in self.headers)
        body = b"".join(self.body) if self.body else b""
        self._reset()
        if not self.busy or handler is None:
            self.close()  # an answer nobody asked for: the stream is out of sync
            return
        self.busy = False
        if not keep:
            self.close()
        handler.answered(self, status, headers, body, now)

    def _fail(self, kind: str, message: str) -> None:
        now = time.perf_counter()
        self.close()
        if self.busy and self.handler is not None:
            self.busy = False
            self._reset()
            self.handler.failed(self, kind, message, now)

    def expire(self) -> None:
        """The watchdog's verdict: no answer before the deadline."""
        self._fail("timeout", "no answer in time")

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


async def connect(origin: Origin, timeout_s: float, ssl_context: ssl.SSLContext | None = None) -> Connection:
    """A new connection to ``origin``; raises ``TransportError`` (connect, timeout)."""
    loop = asyncio.get_running_loop()
    if origin.tls and ssl_context is None:
        ssl_context = ssl.create_default_context()
    try:
        _, conn = await asyncio.wait_for(loop.create_connection(
            Connection, origin.host, origin.port, ssl=ssl_context,
            server_hostname=origin.host if ssl_context else None), timeout_s)
    except asyncio.TimeoutError as err:
        raise TransportError("timeout", f"no connection within {timeout_s:g}s") from err
    except OSError as err:
        raise TransportError("connect", f"cannot connect: {err.strerror or err}") from err
    return conn


class Waiter:
    """A ``Handler`` that resolves a future: the awaitable path for ``Client``."""

    def __init__(self, future: asyncio.Future[tuple[int, CIMultiDict[str], bytes]]) -> None:
        self.future = future

    def answered(self, conn: Connection, status: int, headers: CIMultiDict[str] | None, body: bytes, now: float) -> None:
        if not self.future.done():
            self.future.set_result((status, headers if headers is not None else CIMultiDict(), body))

    def failed(self, conn: Connection, kind: str, message: str, now: float) -> None:
        if not self.future.done():
            self.future.set_exception(TransportError(kind, message))


class Client:
    """One user's connection to ``origin`` with ``await send``: connects lazily, reconnects after a close."""

    def __init__(self, origin: Origin, timeout_s: float, watchdog: Watchdog) -> None:
        self.origin = origin
        self.timeout_s = timeout_s
        self.watchdog = watchdog
        self.conn: Connection | None = None
        self._ssl = ssl.create_default_context() if origin.tls else None

    async def send(self, data: bytes, head_request: bool = False, *,
                   want: bool = True) -> tuple[int, CIMultiDict[str], bytes]:
        """Status, headers and body of the answer (``want=False``: the status alone, empty headers and
        body, as the load engine reads a request without assertions); raises ``TransportError``."""
        conn = self.conn
        if conn is None or conn.closed:
            conn = self.conn = await connect(self.origin, self.timeout_s, self._ssl)
            self.watchdog.connections.append(conn)
        future: asyncio.Future[tuple[int, CIMultiDict[str], bytes]] = asyncio.get_running_loop().create_future()
        conn.send(data, Waiter(future), deadline=time.perf_counter() + self.timeout_s, want=want, head=head_request)
        return await future

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()


class Watchdog:
    """Fails requests past their deadline (and drops their connection): one timer for all connections."""

    def __init__(self, timeout_s: float) -> None:
        self.connections: list[Connection] = []
        self.every = min(0.1, timeout_s / 10)

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.every)
            self.check(time.perf_counter())

    def check(self, now: float) -> None:
        alive = []
        for conn in self.connections:
            if conn.busy and now > conn.deadline:
                conn.expire()
            if not conn.closed:
                alive.append(conn)
        self.connections = alive
