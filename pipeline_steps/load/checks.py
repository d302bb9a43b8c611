"""Health and functional checks: requests whose answers are judged, one JUnit case each.

Why separate from the engine: checks run once, in order, feed extracted values into later
requests and explain each failure in words; the engine runs the same judging code
(``judge``) thousands of times and only counts. aiohttp is imported here, and this module is
only imported by the run-tests step, so ``pipeline-steps --help`` never loads it.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from dataclasses import replace
from typing import Any

import aiohttp

from pipeline_steps.documents.testrun import CheckResult
from pipeline_steps.load.workload import VARIABLE, Assertion, HealthSpec, RequestSpec


class MissingVariable(KeyError):
    """A ``${var}`` has no value because the request that extracts it failed."""


def substitute(value: Any, variables: dict[str, str]) -> Any:
    """Replace ``${var}`` in strings (recursively in lists and mappings)."""
    if isinstance(value, str):
        def repl(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in variables:
                raise MissingVariable(name)
            return variables[name]
        return VARIABLE.sub(repl, value)
    if isinstance(value, dict):
        return {k: substitute(v, variables) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, variables) for v in value]
    return value


def encode_body(spec: RequestSpec, variables: dict[str, str]) -> tuple[bytes | None, dict[str, str]]:
    """The request body and headers with variables filled in (JSON bodies get a content type)."""
    headers = substitute(spec.headers, variables)
    if spec.json is not None:
        if not any(k.lower() == "content-type" for k in headers):
            headers["Content-Type"] = "application/json"
        return json.dumps(substitute(spec.json, variables)).encode(), headers
    if spec.body is not None:
        return str(substitute(spec.body, variables)).encode(), headers
    return None, headers


def status_ok(spec: RequestSpec, status: int) -> bool:
    return status in spec.expect_status if spec.expect_status else 200 <= status < 400


def judge(spec: RequestSpec, status: int, headers: Any, body: bytes) -> tuple[str, str] | None:
    """``None`` when the answer is acceptable, else ``(kind, message)`` with kind status|assertion."""
    if not status_ok(spec, status):
        wanted = "/".join(map(str, spec.expect_status)) or "2xx/3xx"
        return "status", f"HTTP {status}, expected {wanted}"
    document: Any = None
    for assertion in spec.assertions:
        if assertion.type == "json_path" and document is None:
            try:
                document = json.loads(body)
            except ValueError:
                return "assertion", f"{assertion.path.text if assertion.path else '$'}: response is not JSON"
        message = _check(assertion, headers, body, document)
        if message:
            return "assertion", message
    return None


def _check(assertion: Assertion, headers: Any, body: bytes, document: Any) -> str:
    """An empty string when ``assertion`` holds, else why not."""
    if assertion.type == "text_contains":
        return "" if assertion.expected.encode() in body else f"body does not contain {assertion.expected!r}"
    if assertion.type == "text_regex":
        text = body.decode("utf-8", errors="replace")
        return "" if assertion.expected.search(text) else f"body does not match /{assertion.expected.pattern}/"
    if assertion.type == "header":
        where, present, actual = f"header {assertion.name}", assertion.name in headers, headers.get(assertion.name)
    else:
        assert assertion.path is not None
        where = assertion.path.text
        try:
            actual, present = assertion.path.find(document), True
        except LookupError:
            actual, present = None, False
    if assertion.op == "exists":
        return "" if present == assertion.expected else f"{where}: {'missing' if assertion.expected else 'present'}"
    if not present:
        return f"{where}: missing"
    if assertion.op == "equals":
        return "" if actual == assertion.expected else f"{where}: {actual!r} != expected {assertion.expected!r}"
    contained = assertion.expected in actual if isinstance(actual, (str, list, dict)) else False
    return "" if contained else f"{where}: {actual!r} does not contain {assertion.expected!r}"


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
    url = base_url.rstrip("/") + spec.path
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

    try:
        url = base_url.rstrip("/") + substitute(spec.path, values)
        data, headers = encode_body(spec, values)
        spec = replace(spec, assertions=tuple(replace(a, expected=substitute(a.expected, values)) if isinstance(a.expected, str)
                                              else a for a in spec.assertions))
    except MissingVariable as err:
        return done(f"not run: ${{{err.args[0]}}} has no value (the request extracting it failed)")
    try:
        async with session.request(spec.method, url, data=data, headers=headers,
                                   timeout=aiohttp.ClientTimeout(total=timeout_s)) as resp:
            body = await resp.read()
            verdict = judge(spec, resp.status, resp.headers, body)
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
