"""The ``testrun`` source: numbers from the test run's own record (testrun.json) by dotted path.

Why: a gate should work where no monitoring exists, and the load test's own statistics
(error rate, p95 latency, throughput) are evidence too. The path is resolved greedily against
the keys that exist, so request names may contain dots or spaces:
``performance.by_request.add item.latency_ms.p95``. A missing path or a null is "no values".
"""

from __future__ import annotations

import math
from typing import Any

from pipeline_steps.errors import BadInputError
from pipeline_steps.gate.model import Fetched, Sample, Window
from pipeline_steps.sources.base import SourceSettings


def resolve(doc: Any, path: str) -> Any:
    """The value at dotted ``path``; at each level the longest existing key prefix wins."""
    node = doc
    rest = path
    while rest:
        if not isinstance(node, dict):
            return None
        parts = rest.split(".")
        for n in range(len(parts), 0, -1):
            key = ".".join(parts[:n])
            if key in node:
                node = node[key]
                rest = ".".join(parts[n:])
                break
        else:
            return None
    return node


class TestrunSource:
    name = "testrun"
    __test__ = False  # not a pytest class

    def __init__(self, doc: dict[str, Any], path: str = "testrun.json") -> None:
        self.doc = doc
        self.path = path

    @classmethod
    def from_settings(cls, settings: SourceSettings) -> TestrunSource:
        if settings.testrun is None:
            raise BadInputError("command line", "--testrun", "required by indicators with source testrun")
        return cls(settings.testrun, settings.testrun_path or "testrun.json")

    @staticmethod
    def check_query(query: Any) -> str | None:
        return None if isinstance(query, str) and query.strip() else "must be a dotted path into testrun.json"

    def describe(self, query: Any) -> str:
        return f"{self.path}: {query}"

    def fetch(self, query: Any, window: Window) -> Fetched:
        value = resolve(self.doc, str(query).strip())
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return Fetched(dropped=0 if value is None else 1)
        if not math.isfinite(float(value)):
            return Fetched(dropped=1)
        return Fetched(samples=[Sample(str(query), float(value))])

    def close(self) -> None:
        return None
