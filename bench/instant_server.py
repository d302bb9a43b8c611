"""The bench's "instant" HTTP/1.1 server: a raw uvloop protocol, one process, canned answers.

Why not aiohttp: the load generators are what is measured, so the server must cost as little
CPU per request as a Python server can (aiohttp's server tops out near 25k req/s here, which
would cap every tool alike and hide the generators' differences). ``/slow`` answers after
10 ms (a timer, no thread), anything else at once. It counts request heads by their blank
line, which is all a GET without a body needs (every tool here sends exactly that).

    python3 bench/instant_server.py PORT
"""

from __future__ import annotations

import asyncio
import sys

ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok"
SLOW_S = 0.010


class _Server(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.loop = asyncio.get_running_loop()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        heads = data.count(b"\r\n\r\n")
        if not heads:
            return
        if data.startswith(b"GET /slow"):
            self.loop.call_later(SLOW_S, self._answer, heads)
        else:
            self._answer(heads)

    def _answer(self, heads: int) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(ANSWER * heads)


async def _main(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_Server, "127.0.0.1", port, backlog=16384)
    await server.serve_forever()


if __name__ == "__main__":
    try:
        import uvloop
        uvloop.run(_main(int(sys.argv[1])))
    except ImportError:
        asyncio.run(_main(int(sys.argv[1])))
