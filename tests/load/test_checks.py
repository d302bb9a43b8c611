"""Health and functional checks against loopback servers.

Aspects: the health check waits for a service that becomes healthy late and fails with the
last answer when it never does (or cannot be reached); functional requests run in order,
extracted values reach later paths and assertions, and each failure says what was wrong
(status, assertion, missing variable); the judge handles every assertion type.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
from multidict import CIMultiDict

from pipeline_steps.documents.testrun import CheckResult
from pipeline_steps.load.checks import judge, run_functional, wait_healthy
from pipeline_steps.load.workload import HealthSpec, parse_workload
from pipeline_steps.platforms.local.procs import free_port
from tests.load.servers import serve


def health(url: str, spec: HealthSpec) -> CheckResult:
    async def main() -> CheckResult:
        async with aiohttp.ClientSession() as session:
            return await wait_healthy(session, url, spec)
    return asyncio.run(main())


def functional(url: str, requests: list[dict[str, Any]]) -> list[CheckResult]:
    workload = parse_workload({"variables": {"cart": "7"}, "functional": requests}, "t.yaml")

    async def main() -> list[CheckResult]:
        async with aiohttp.ClientSession() as session:
            return await run_functional(session, url, workload.functional, workload.variables)
    return asyncio.run(main())


def test_health_waits_for_a_slow_starter() -> None:
    with serve(healthy_after_s=0.6) as server:
        result = health(server.url, HealthSpec(path="/health", timeout_s=5, interval_s=0.1))
    assert result.passed, result.message
    assert result.duration_s >= 0.5
    assert server.state.requests >= 3  # it was asked several times, answered 503 before


def test_health_fails_with_the_last_answer() -> None:
    with serve(healthy_after_s=60) as server:
        result = health(server.url, HealthSpec(path="/health", timeout_s=0.5, interval_s=0.1))
    assert not result.passed
    assert "did not answer 200 within 0.5s (last: HTTP 503)" in result.message
    unreachable = health(f"http://127.0.0.1:{free_port()}", HealthSpec(path="/health", timeout_s=0.3, interval_s=0.1))
    assert not unreachable.passed and "cannot connect" in unreachable.message


def test_functional_chain_with_extracted_values() -> None:
    requests: list[dict[str, Any]] = [
        {"name": "add", "method": "POST", "path": "/carts/${cart}/items", "json": {"itemId": "abc"}, "expect_status": 201,
         "assert": [{"type": "json_path", "path": "$.itemId", "equals": "abc"}], "extract": {"new_id": "$.id"}},
        {"name": "read", "path": "/carts/${cart}/items", "expect_status": 200,
         "assert": [{"type": "json_path", "path": "$[-1].id", "equals": "${new_id}"},
                    {"type": "json_path", "path": "$.length()", "equals": 1},
                    {"type": "header", "name": "content-type", "contains": "json"}]},
    ]
    with serve() as server:
        results = functional(server.url, requests)
    assert [(r.name, r.passed, r.message) for r in results] == [("add", True, ""), ("read", True, "")]
    assert server.state.carts == {"7": [{"itemId": "abc", "id": "item-1"}]}


def test_functional_failures_say_why() -> None:
    requests: list[dict[str, Any]] = [
        {"name": "wrong status", "path": "/status/500", "expect_status": 200},
        {"name": "wrong value", "path": "/ok", "assert": [{"type": "json_path", "path": "$.name", "equals": "x"}]},
        {"name": "no id", "path": "/ok", "extract": {"id": "$.id"}},
        {"name": "uses id", "path": "/carts/${id}/items"},
    ]
    with serve() as server:
        results = functional(server.url, requests)
    messages = [r.message for r in results]
    assert not any(r.passed for r in results)
    assert messages[0].endswith("HTTP 500, expected 200")
    assert '$.name: "loopback" (string) != expected "x" (string)' in messages[1]
    assert "extract failed" in messages[2] and "no member 'id'" in messages[2]
    assert messages[3].startswith("not run: ${id} has no value")
    assert "/carts/" not in " ".join(server.state.paths)  # the dependent request was not sent


def test_judge_every_assertion_type() -> None:
    workload = parse_workload({"functional": [{"name": "r", "path": "/", "assert": [
        {"type": "text_contains", "value": "hello"},
        {"type": "text_regex", "pattern": "h[aeiou]llo"},
        {"type": "header", "name": "X-Version", "equals": "2"},
        {"type": "json_path", "path": "$.tags", "contains": "new"},
        {"type": "json_path", "path": "$.gone", "exists": False},
    ]}]}, "t.yaml")
    spec = workload.functional[0]
    body = b'{"greeting": "hello", "tags": ["new"]}'
    assert judge(spec, 200, CIMultiDict({"X-Version": "2"}), body) is None
    assert judge(spec, 200, CIMultiDict({"X-Version": "3"}), body) == ("assertion", "header X-Version: '3' != expected '2'")
    assert judge(spec, 404, CIMultiDict(), body) == ("status", "HTTP 404, expected 2xx/3xx")
    assert judge(spec, 200, CIMultiDict({"X-Version": "2"}), b"hallo")[1] == "body does not contain 'hello'"  # type: ignore[index]
    not_json = parse_workload({"functional": [{"name": "r", "path": "/", "assert": [
        {"type": "json_path", "path": "$.a"}]}]}, "t").functional[0]
    assert judge(not_json, 200, CIMultiDict(), b"<html>") == ("assertion", "$.a: response is not JSON")
