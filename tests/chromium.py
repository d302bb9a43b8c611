"""Headless Chromium (Debian package ``chromium``) driven over the DevTools protocol, for tests and benchmarks.

Why the protocol and not ``--screenshot``: a test must know where an element is drawn to check
the pixels there (a FAIL cell is red only if its stylesheet loaded), and whether the page logged
a Content-Security-Policy violation. The DOM domain answers both without running a script in the
page, so a page whose CSP forbids scripts (Jenkins' ``sandbox; default-src 'none'``) is measured
as Jenkins users see it. One browser per ``render``; its profile is a fresh temporary folder.
"""

from __future__ import annotations

import asyncio
import base64
import io
import itertools
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run", "--hide-scrollbars"]


@dataclass
class Rendered:
    """A loaded page: its screenshot (PNG), the boxes of the selectors asked for (x, y, width, height
    in CSS pixels of the viewport of the first match, its bounds when rotated; None when absent), what
    the page logged, and the load time."""

    png: bytes
    boxes: dict[str, tuple[float, float, float, float] | None]
    log: list[str] = field(default_factory=list)
    load_s: float = 0.0

    def rgb(self, x: float, y: float) -> tuple[int, int, int]:
        from PIL import Image

        image = Image.open(io.BytesIO(self.png)).convert("RGB")
        pixel: Any = image.getpixel((int(x), int(y)))
        return (int(pixel[0]), int(pixel[1]), int(pixel[2]))


def binary() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        raise RuntimeError("chromium is not installed (Debian package chromium; .ci/run installs it)")
    return found


def render(url: str, selectors: list[str], *, width: int = 1280, height: int = 800, timeout_s: float = 60.0) -> Rendered:
    """Load ``url`` in a fresh headless Chromium with a ``width`` x ``height`` viewport."""
    profile = tempfile.mkdtemp(prefix="chromium-")
    proc = subprocess.Popen([binary(), *FLAGS, f"--user-data-dir={profile}", "--remote-debugging-port=0",
                             f"--window-size={width},{height}", "about:blank"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        port_file = Path(profile) / "DevToolsActivePort"
        deadline = time.monotonic() + timeout_s
        while not port_file.exists() or not port_file.read_text().strip():
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("chromium did not open its DevTools port")
            time.sleep(0.05)
        port = int(port_file.read_text().split()[0])
        return asyncio.run(asyncio.wait_for(_drive(port, url, selectors, width, height), timeout_s))
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(profile, ignore_errors=True)


async def _drive(port: int, url: str, selectors: list[str], width: int, height: int) -> Rendered:
    import aiohttp

    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://127.0.0.1:{port}/json/list") as resp:
            pages = [t for t in await resp.json() if t.get("type") == "page"]
        async with http.ws_connect(pages[0]["webSocketDebuggerUrl"], max_msg_size=0) as ws:
            ids = itertools.count(1)
            log: list[str] = []
            events: list[dict[str, Any]] = []

            async def call(method: str, **params: Any) -> dict[str, Any]:
                ident = next(ids)
                await ws.send_json({"id": ident, "method": method, "params": params})
                while True:
                    message = await ws.receive_json()
                    if message.get("id") == ident:
                        if "error" in message:
                            raise RuntimeError(f"{method}: {message['error']}")
                        return dict(message.get("result", {}))
                    events.append(message)

            await call("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=False)
            for domain in ("Page", "Log", "Runtime"):
                await call(f"{domain}.enable")
            started = time.monotonic()
            await call("Page.navigate", url=url)
            while not any(e.get("method") == "Page.loadEventFired" for e in events):
                events.append(await ws.receive_json())
            shot = await call("Page.captureScreenshot", format="png")
            load_s = time.monotonic() - started
            root = (await call("DOM.getDocument"))["root"]["nodeId"]
            boxes: dict[str, tuple[float, float, float, float] | None] = {}
            for selector in selectors:
                node = (await call("DOM.querySelector", nodeId=root, selector=selector)).get("nodeId")
                if not node:
                    boxes[selector] = None
                    continue
                quad = (await call("DOM.getBoxModel", nodeId=node))["model"]["border"]
                xs, ys = quad[0::2], quad[1::2]  # a rotated element's quad is not axis-aligned: take its bounds
                boxes[selector] = (min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys))
            for event in events:
                if event.get("method") == "Log.entryAdded":
                    log.append(str(event["params"]["entry"].get("text", "")))
                elif event.get("method") == "Runtime.consoleAPICalled":
                    log.append(" ".join(str(a.get("value", "")) for a in event["params"].get("args", [])))
            return Rendered(base64.b64decode(shot["data"]), boxes, log, load_s)
