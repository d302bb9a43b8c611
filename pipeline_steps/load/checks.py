"""Health and functional checks: requests whose answers are judged, one JUnit case each.

Why separate from the engine: checks run once, in order, feed extracted values into later
requests and explain each failure in words; the engine runs the same judging code
(``verdict.judge``) thousands of times and only counts. Both build requests with
``wire.prepare`` and follow redirects with ``wire.next_hop``, so a request spec gets one
verdict whichever section runs it. aiohttp is imported here, and this module is
only imported by the run-tests step, so ``pipeline-steps --help`` never loads it.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from yarl import URL

from pipeline_steps.documents.testrun import CheckResult
from pipeline_steps.load.verdict import judge
from pipeline_steps.load.wire import MAX_REDIRECTS, MissingVariable, UnsafeRequest, encode_target, next_hop, prepare, with_values
from pipeline_steps.load.workload import HealthSpec, RequestSpec


def classify(err: BaseException) -> tuple[str, str]:
    """Map a client exception to an error kind (connect|timeout) and a short message."""
    if isinstance(err, (asyncio.TimeoutError, aiohttp.ServerTimeoutError)):
        return "timeout", "timed out"
    if isinstance(err, aiohttp.ClientConnectorError):
        return "connect", f"cannot connect: {err.os_error.strerror or err.os_error}"
    if isinstance(err, aiohttp.InvalidURL):
        return "connect", f"invalid URL {err}"
    return "connect", f"{type(err).__name__}: {err}".rstrip(": ")


async def wait_healthy(session: aiohttp.ClientSession, base_url: str, spec: HealthSpec) -> CheckResult:
    """GET the health path until it answers ``expect_status``; a failed check says what it last saw."""
    url = base_url.rstrip("/") + encode_target(spec.path)
    started = time.monotonic()
    deadline = started + spec.timeout_s
    last = "no answer"
    while True:
        remaining = deadline - time.monotonic()
        try:
            timeout = aiohttp.ClientTimeout(total=max(0.1, min(5.0, remaining)))
            async with session.get(url, timeout=timeout) as resp:
                await resp.read()
                if resp.status == spec.expect_status:
                    return CheckResult("health", "health", True, round(time.monotonic() - started, 3))
                last = f"HTTP {resp.status}"
        except (aiohttp.ClientError, asyncio.TimeoutError) as err:
            last = classify(err)[1]
        if time.monotonic() + spec.interval_s > deadline:
            message = f"GET {url} did not answer {spec.expect_status} within {spec.timeout_s:g}s (last: {last})"
            return CheckResult("health", "health", False, round(time.monotonic() - started, 3), message)
        await asyncio.sleep(spec.interval_s)


async def run_functional(session: aiohttp.ClientSession, base_url: str, requests: tuple[RequestSpec, ...],
                         variables: dict[str, str], *, timeout_s: float = 10.0,
                         results: list[CheckResult] | None = None) -> list[CheckResult]:
    """Run each request once, in order; extracted values feed the requests after it. Results are appended
    to ``results`` as they come, so a run cancelled midway (Ctrl-C) still has the checks that finished."""
    values = dict(variables)
    results = [] if results is None else results
    for spec in requests:
        started = time.monotonic()
        results.append(await _one(session, base_url, spec, values, timeout_s=timeout_s, started=started))
    return results


async def _one(session: aiohttp.ClientSession, base_url: str, spec: RequestSpec, values: dict[str, str], *,
               timeout_s: float, started: float) -> CheckResult:
    def done(message: str = "") -> CheckResult:
        return CheckResult(spec.name, "functional", not message, round(time.monotonic() - started, 3), message)

    base = urlsplit(base_url)
    try:
        request = prepare(spec, values, base.path.rstrip("/"))
        spec = with_values(spec, values)
    except MissingVariable as err:
        return done(f"not run: ${{{err.args[0]}}} has no value (the request extracting it failed)")
    except UnsafeRequest as err:  # a value extracted from an answer: the workload's own values fail at load
        return done(f"not sent: {err}")
    url = f"{base.scheme}://{base.netloc}{request.target}"
    hop: Any = request
    try:
        for _ in range(MAX_REDIRECTS + 1):
            # encoded=True: wire.prepare already encoded the target, and yarl must not re-encode it
            async with session.request(hop.method, URL(url, encoded=True), data=hop.body, headers=hop.headers,
                                       allow_redirects=False, timeout=aiohttp.ClientTimeout(total=timeout_s)) as resp:
                body = await resp.read()
                status, headers = resp.status, resp.headers
            following = next_hop(url, hop, status, headers.get("Location")) if spec.follow_redirects else None
            if following is None:
                break
            url, hop = following.url, following
        else:
            return done(f"{spec.method} {url}: more than {MAX_REDIRECTS} redirects")
        verdict = judge(spec, status, headers, body)
    except (aiohttp.ClientError, asyncio.TimeoutError) as err:
        return done(f"{spec.method} {url}: {classify(err)[1]}")
    if verdict:
        return done(f"{spec.method} {url}: {verdict[1]}")
    if spec.extract:
        try:
            document = json.loads(body)
            for name, path in spec.extract.items():
                found = path.find(document)
                values[name] = found if isinstance(found, str) else json.dumps(found)
        except (ValueError, LookupError) as err:
            return done(f"{spec.method} {url}: extract failed: {err}")
    return done()
