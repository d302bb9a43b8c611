"""The ``testrun`` source: numbers from the test run's own record (testrun.json) by dotted path.

Why: a gate should work where no monitoring exists, and the load test's own statistics
(error rate, p95 latency, throughput) are evidence too. The path is resolved greedily against
the keys that exist, so request names may contain dots or spaces:
``performance.by_request.add item.latency_ms.p95``. A missing path or a null is "no values".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from pipeline_steps.documents.evaluation import Window
from pipeline_steps.errors import BadInputError
from pipeline_steps.secrets import Secret
from pipeline_steps.sources.base import Fetched, Option, SourceSettings, samples_of, substitute_plain


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


@dataclass(frozen=True)
class TestrunSettings:
    """The test run's own document: ``evaluate --testrun FILE`` (the window's source too), parsed once."""

    __test__ = False  # not a pytest class

    document: dict[str, Any] | None = None
    path: str = ""

    def secrets(self) -> list[Secret | None]:
        return []


class TestrunSource:
    name: ClassVar[str] = "testrun"
    OPTIONS: ClassVar[tuple[Option, ...]] = ()
    """None of its own: ``--testrun`` belongs to ``evaluate`` (it is also the window), which hands the
    parsed document over as ``testrun_document``."""
    __test__ = False  # not a pytest class

    def __init__(self, doc: dict[str, Any], path: str = "testrun.json") -> None:
        self.doc = doc
        self.path = path

    @classmethod
    def settings_from_options(cls, options: Mapping[str, Any]) -> TestrunSettings:
        return TestrunSettings(document=options.get("testrun_document"), path=options.get("testrun_path") or "")

    @classmethod
    def from_settings(cls, settings: SourceSettings) -> TestrunSource:
        group: TestrunSettings = settings.group(cls.name, TestrunSettings())
        if group.document is None:
            raise BadInputError("command line", "--testrun", "required by indicators with source testrun")
        return cls(group.document, group.path or "testrun.json")

    @classmethod
    def check_query(cls, query: Any) -> str | None:
        return None if isinstance(query, str) and query.strip() else "must be a dotted path into testrun.json"

    @classmethod
    def substitute(cls, query: Any, values: Mapping[str, str]) -> Any:
        return substitute_plain(query, values)

    def secrets(self) -> list[Secret | None]:
        return []

    def describe(self, query: Any) -> str:
        return f"{self.path}: {query}"

    def settle(self, window: Window) -> str:
        """The load test's own numbers are complete when testrun.json is written."""
        return ""

    def fetch(self, query: Any, window: Window) -> Fetched:
        value = resolve(self.doc, str(query).strip())
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            # a missing path or null is no data; anything else (a string, an object) is no number
            return Fetched(dropped=0 if value is None else 1, dropped_keys=[] if value is None else [str(query)])
        return samples_of([(str(query), value)])  # a NaN is dropped as from any source

    def close(self) -> None:
        return None
