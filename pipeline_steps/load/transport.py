"""A lean HTTP/1.1 keep-alive client for the load engine's hot path (asyncio Protocol, one connection per user).

Why not aiohttp here: measured on this 2-core machine, aiohttp's client spends 66-82 µs of CPU
per request (uvloop / stdlib loop), which caps one Python process near 10k req/s, while ``hey``
reaches 11-28k against the same server (bench/loadgen_vs_hey.py). A load generator that is slower than the service it
measures reports its own limits as the service's latency. This client sends pre-built request
bytes and parses only what framing needs (status, Content-Length, chunked, Connection: close),
about 15 µs of CPU per request. Health and functional checks keep aiohttp (run once, need its
generality). Timeouts are enforced by one watchdog per engine instead of a timer per request.

Framing handled: Content-Length, chunked (extensions and trailers), read-until-close, no body for
HEAD/204/304, informational 1xx skipped, ``Connection: close`` and HTTP/1.0 close after the answer.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from multidict import CIMultiDict


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


def build_request(origin: Origin, method: str, target: str, headers: dict[str, str], body: bytes | None) -> bytes:
    """The request bytes, built once and sent many times."""
    lines = [f"{method} {target} HTTP/1.1", f"Host: {origin.host_header}"]
    names = {k.lower() for k in headers}
    if "user-agent" not in names:
        lines.append("User-Agent: pipeline-steps")
    if "accept" not in names:
        lines.append("Accept: */*")
    lines += [f"{k}: {v}" for k, v in headers.items() if k.lower() not in ("content-length", "host")]
    if body is not None or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(body or b'')}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")


def parse_headers(head: bytes) -> CIMultiDict[str]:
    """Headers of a response head (status line first) for header assertions."""
    headers: CIMultiDict[str] = CIMultiDict()
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        headers.add(name.decode("latin-1").strip(), value.decode("latin-1").strip())
    return headers


class _Connection(asyncio.Protocol):
    """One connection, one request at a time; ``waiter`` gets ``(status, head, body)``."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.waiter: asyncio.Future[tuple[int, bytes, bytes]] | None = None
        self.deadline = 0.0
        self.closed = False
        self.head_request = False
        self._reset()

    def _reset(self) -> None:
        self.status = 0
        self.head = b""
        self.length = -1  # body bytes still expected; -1: chunked or until close
        self.chunked = False
        self.keep = True
        self.body = bytearray()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        waiter = self.waiter
        if waiter is None or waiter.done():
            return
        if self.status and not self.chunked and self.length < 0:
            waiter.set_result((self.status, self.head, bytes(self.body)))  # body delimited by close
        else:
            reason = f": {exc}" if exc else ""
            waiter.set_exception(TransportError("connect", f"server closed the connection{reason}"))

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if self.waiter is not None and not self.waiter.done():
            try:
                self._parse()
            except (ValueError, IndexError) as err:
                self.waiter.set_exception(TransportError("connect", f"malformed HTTP response: {err}"))
                self.close()

    def _parse(self) -> None:
        buf = self.buf
        while True:
            if not self.status:
                end = buf.find(b"\r\n\r\n")
                if end < 0:
                    return
                head = bytes(buf[:end])
                del buf[: end + 4]
                if not head.startswith(b"HTTP/1."):
                    raise ValueError(f"status line {head[:40]!r}")
                status = int(head[9:12])
                if status < 200:
                    continue  # 100 Continue and friends precede the real answer
                self.status, self.head = status, head
                lower = head.lower()
                self.keep = b"\r\nconnection: close" not in lower and (head[5:8] == b"1.1" or b"keep-alive" in lower)
                if self.head_request or status in (204, 304):
                    self.length = 0
                elif b"\r\ntransfer-encoding:" in lower and b"chunked" in lower:
                    self.chunked = True
                else:
                    at = lower.find(b"\r\ncontent-length:")
                    if at >= 0:
                        stop = lower.find(b"\r\n", at + 2)
                        self.length = int(lower[at + 17: stop if stop > 0 else None])
            if self.chunked:
                while True:
                    line_end = buf.find(b"\r\n")
                    if line_end < 0:
                        return
                    size = int(bytes(buf[:line_end]).split(b";", 1)[0], 16)
                    if size == 0:
                        trailer_end = buf.find(b"\r\n\r\n", line_end)  # after optional trailers
                        if trailer_end < 0:
                            return
                        del buf[: trailer_end + 4]
                        return self._finish()
                    if len(buf) < line_end + 2 + size + 2:
                        return
                    self.body += buf[line_end + 2: line_end + 2 + size]
                    del buf[: line_end + 2 + size + 2]
            if self.length >= 0:
                if len(buf) < self.length:
                    return
                self.body += buf[: self.length]
                del buf[: self.length]
                return self._finish()
            self.body += buf  # until close
            buf.clear()
            return

    def _finish(self) -> None:
        result = (self.status, self.head, bytes(self.body))
        keep = self.keep
        self._reset()
        assert self.waiter is not None
        self.waiter.set_result(result)
        if not keep:
            self.close()

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class Client:
    """One user's connection to ``origin``: connects lazily, reconnects after a close."""

    def __init__(self, origin: Origin, timeout_s: float, watchdog: Watchdog) -> None:
        self.origin = origin
        self.timeout_s = timeout_s
        self.watchdog = watchdog
        self.conn: _Connection | None = None
        self._ssl = ssl.create_default_context() if origin.tls else None

    async def send(self, data: bytes, head_request: bool = False) -> tuple[int, bytes, bytes]:
        conn = self.conn
        if conn is None or conn.closed:
            conn = self.conn = await self._connect()
        loop = asyncio.get_running_loop()
        waiter = conn.waiter = loop.create_future()
        conn.head_request = head_request
        conn.deadline = time.perf_counter() + self.timeout_s
        assert conn.transport is not None
        conn.transport.write(data)
        try:
            return await waiter
        finally:
            conn.waiter = None

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        origin = self.origin
        try:
            _, conn = await asyncio.wait_for(loop.create_connection(
                _Connection, origin.host, origin.port, ssl=self._ssl,
                server_hostname=origin.host if self._ssl else None), self.timeout_s)
        except asyncio.TimeoutError as err:
            raise TransportError("timeout", f"no connection within {self.timeout_s:g}s") from err
        except OSError as err:
            raise TransportError("connect", f"cannot connect: {err.strerror or err}") from err
        self.watchdog.connections.append(conn)
        return conn

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()


class Watchdog:
    """Fails requests past their deadline (and drops their connection): one timer for all users."""

    def __init__(self, timeout_s: float) -> None:
        self.connections: list[_Connection] = []
        self.every = min(0.1, timeout_s / 10)

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.every)
            now = time.perf_counter()
            alive = []
            for conn in self.connections:
                waiter = conn.waiter
                if waiter is not None and not waiter.done() and now > conn.deadline:
                    waiter.set_exception(TransportError("timeout", "no answer in time"))
                    conn.close()
                if not conn.closed:
                    alive.append(conn)
            self.connections = alive
