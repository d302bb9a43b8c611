"""The testrun source: numbers from testrun.json by dotted path.

Aspects: plain paths; request names with spaces and dots (longest existing key wins); missing
paths, nulls, strings, booleans and NaN are no data, never a value.
"""

from __future__ import annotations

import pytest

from pipeline_steps.documents.evaluation import Window
from pipeline_steps.sources.testrun import TestrunSource, resolve

DOC = {"performance": {"error_rate": 0.01, "latency_ms": {"p95": 15.2}, "requests": 5000, "errors": None,
                       "by_request": {"add item": {"latency_ms": {"p95": 11.0}}, "v1.2 cart": {"latency_ms": {"p95": 9.0}},
                                      "v1": {"x": 1}},
                       "flag": True, "text": "12", "nan": float("nan")}}


@pytest.mark.parametrize(("path", "value"), [
    ("performance.error_rate", 0.01),
    ("performance.latency_ms.p95", 15.2),
    ("performance.requests", 5000.0),
    ("performance.by_request.add item.latency_ms.p95", 11.0),
    ("performance.by_request.v1.2 cart.latency_ms.p95", 9.0),
])
def test_paths_resolve_to_numbers(path: str, value: float) -> None:
    got = TestrunSource(DOC).fetch(path, Window(0, 1))
    assert got.error is None and got.values == [value]


@pytest.mark.parametrize("path", ["performance.missing", "performance.errors", "performance.flag", "performance.text",
                                  "performance.nan", "performance.latency_ms", "nope.deeper.still"])
def test_everything_else_is_no_data(path: str) -> None:
    got = TestrunSource(DOC).fetch(path, Window(0, 1))
    assert got.error is None and got.samples == []


def test_resolve_prefers_the_longest_existing_key() -> None:
    assert resolve({"a.b": {"c": 1}, "a": {"b": {"c": 2}}}, "a.b.c") == 1
