"""Loopback aiohttp servers for the run-tests and load-engine tests, each in its own thread.

Why a thread with its own event loop: the CLI under test calls ``asyncio.run`` itself, so the
server cannot share its loop; a thread keeps it in-process (fast start, shared counters).

Routes: ``/ok`` (instant JSON), ``/slow?ms=N``, ``/status/N``, ``/health`` (503 until
``healthy_after_s`` has passed since start), ``/stall`` (instant, except that requests arriving
between ``stall_at_s`` and ``stall_at_s + stall_s`` after the first ``/stall`` request are
held until the stall ends), ``/hang`` (never answers within a test), a small cart API
``/carts/{id}/items`` (POST appends and echoes with 201, GET lists), ``/raw/...`` (answers the
request target exactly as it arrived, undecoded, and the headers), ``/redirect/{code}?to=URL``
(that redirect status with ``Location: URL``), ``/loop`` (redirects to itself) and
``/doc/{name}`` (answers ``ServerState.documents[name]`` as JSON).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from pipeline_steps.platforms.local.procs import free_port


@dataclass
class ServerState:
    healthy_after_s: float = 0.0
    stall_at_s: float = 0.5
    stall_s: float = 1.0
    requests: int = 0
    paths: list[str] = field(default_factory=list)
    carts: dict[str, list[Any]] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)
    first_stall: float | None = None
    raw_targets: list[str] = field(default_factory=list)
    methods: list[str] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    documents: dict[str, Any] = field(default_factory=dict)


@dataclass
class TestServer:
    __test__ = False

    url: str
    state: ServerState


def _app(state: ServerState) -> web.Application:
    async def count(request: web.Request) -> None:
        state.requests += 1
        state.paths.append(request.path)
        state.raw_targets.append(request.raw_path)
        state.methods.append(request.method)
        state.headers.append(dict(request.headers))

    async def raw(request: web.Request) -> web.Response:
        await count(request)
        return web.json_response({"raw": request.raw_path, "method": request.method, "headers": dict(request.headers)})

    async def redirect(request: web.Request) -> web.Response:
        await count(request)
        return web.Response(status=int(request.match_info["code"]), headers={"Location": request.query.get("to", "/ok")})

    async def loop(request: web.Request) -> web.Response:
        await count(request)
        return web.Response(status=302, headers={"Location": "/loop"})

    async def doc(request: web.Request) -> web.Response:
        await count(request)
        return web.json_response(state.documents[request.match_info["name"]])

    async def ok(request: web.Request) -> web.Response:
        await count(request)
        return web.json_response({"ok": True, "name": "loopback"})

    async def slow(request: web.Request) -> web.Response:
        await count(request)
        await asyncio.sleep(int(request.query.get("ms", "10")) / 1000)
        return web.json_response({"ok": True})

    async def status(request: web.Request) -> web.Response:
        await count(request)
        return web.json_response({"status": int(request.match_info["code"])}, status=int(request.match_info["code"]))

    async def health(request: web.Request) -> web.Response:
        await count(request)
        up = time.monotonic() - state.started >= state.healthy_after_s
        return web.json_response({"status": "UP" if up else "STARTING"}, status=200 if up else 503)

    async def stall(request: web.Request) -> web.Response:
        await count(request)
        now = time.monotonic()
        if state.first_stall is None:
            state.first_stall = now
        begin = state.first_stall + state.stall_at_s
        end = begin + state.stall_s
        if begin <= now < end:
            await asyncio.sleep(end - now)
        return web.json_response({"ok": True})

    async def hang(request: web.Request) -> web.Response:
        await count(request)
        await asyncio.sleep(60)
        return web.json_response({})

    async def items(request: web.Request) -> web.Response:
        await count(request)
        cart = state.carts.setdefault(request.match_info["cart"], [])
        if request.method == "POST":
            item = await request.json()
            item["id"] = f"item-{len(cart) + 1}"
            cart.append(item)
            return web.json_response(item, status=201)
        return web.json_response(cart)

    app = web.Application()
    app.router.add_get("/ok", ok)
    app.router.add_post("/ok", ok)
    app.router.add_get("/slow", slow)
    app.router.add_get("/status/{code}", status)
    app.router.add_get("/health", health)
    app.router.add_get("/stall", stall)
    app.router.add_get("/hang", hang)
    app.router.add_route("*", "/carts/{cart}/items", items)
    app.router.add_route("*", "/raw/{tail:.*}", raw)
    app.router.add_route("*", "/redirect/{code}", redirect)
    app.router.add_get("/loop", loop)
    app.router.add_get("/doc/{name}", doc)
    return app


@contextmanager
def serve(**settings: Any) -> Iterator[TestServer]:
    """Run a server on 127.0.0.1 (free port) for the block; ``settings`` go to ``ServerState``."""
    state = ServerState(**settings)
    port = free_port()
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    runner = web.AppRunner(_app(state), access_log=None, shutdown_timeout=0.2)

    def main() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(runner.setup())
        loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", port).start())
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=main, daemon=True)
    thread.start()
    assert ready.wait(5), "test server did not start"
    state.started = time.monotonic()
    try:
        yield TestServer(f"http://127.0.0.1:{port}", state)
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()
