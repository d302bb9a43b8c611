"""Judging an answer: its status, then each assertion -- the same code for functional checks and the load engine.

Why its own module: the engine imports it in every worker process, so it must not pull in
aiohttp; and one judge means one verdict for a request spec whichever section runs it.
JSON values are compared by JSON type (``jsonpath.json_equal``: ``true`` is not ``1``, ``1`` is
``1.0``); header values as text. Operand types were checked when the workload loaded.
"""

from __future__ import annotations

import json
from typing import Any

from pipeline_steps.load.jsonpath import json_contains, json_equal, json_kind
from pipeline_steps.load.workload import Assertion, RequestSpec


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
    if assertion.type == "header":  # text against text (operands are checked to be strings when loaded)
        if assertion.op == "equals":
            return "" if actual == assertion.expected else f"{where}: {actual!r} != expected {assertion.expected!r}"
        return "" if assertion.expected in actual else f"{where}: {actual!r} does not contain {assertion.expected!r}"
    if assertion.op == "equals":  # JSON against JSON, by JSON type: true is not 1, 1 is 1.0
        if json_equal(actual, assertion.expected):
            return ""
        return (f"{where}: {json.dumps(actual)} ({json_kind(actual)}) != expected {json.dumps(assertion.expected)} "
                f"({json_kind(assertion.expected)})")
    why = json_contains(actual, assertion.expected)
    return f"{where}: {why}" if why else ""
