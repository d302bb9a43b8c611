"""The test-run document (``testrun.json``): what run-tests measured, for the gate and for humans.

Why a document: the quality gate's window is the test run's recorded start and end (never a
guess), and its ``testrun`` source judges these numbers by dotted path
(``performance.latency_ms.p95``), so the keys below are a contract (docs/documents.md,
schema ``pipeline-steps/testrun/v1``). Fields may be added, never renamed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pipeline_steps.documents.context import StageContext, check_fields
from pipeline_steps.documents.evaluation import parse_time
from pipeline_steps.errors import BadInputError
from pipeline_steps.files import iso_utc, read_json, write_json
from pipeline_steps.finite import unix_seconds

SCHEMA = "pipeline-steps/testrun/v1"
ERROR_KINDS = ("connect", "timeout", "status", "assertion")
LATENCY_KEYS = ("mean", "p50", "p90", "p95", "p99", "max")


@dataclass(frozen=True)
class CheckResult:
    """One health or functional check (a JUnit case)."""

    name: str
    kind: str
    """``health`` or ``functional``."""
    passed: bool
    duration_s: float
    message: str = ""
    """Why it failed (empty when it passed)."""


@dataclass(frozen=True)
class RequestStats:
    """Counts and latencies of one request name (or of the whole run)."""

    requests: int
    errors: int
    error_rate: float
    latency_ms: dict[str, float]
    """``mean``, ``p50``, ``p90``, ``p95``, ``p99``, ``max`` in milliseconds."""


@dataclass(frozen=True)
class PerformanceResult:
    """The performance test's statistics and whether its acceptance limits held."""

    requests: int
    errors: int
    error_rate: float
    throughput_rps: float
    duration_s: float
    latency_ms: dict[str, float]
    by_request: dict[str, RequestStats]
    errors_by_kind: dict[str, int]
    limits: dict[str, float]
    limits_passed: bool
    reason: str = ""
    model: str = "closed"
    """``closed`` (N users) or ``open`` (constant arrival rate, latency from the intended send time)."""
    users: int = 0
    first_errors: list[str] = field(default_factory=list)
    """A few distinct error messages, so a failing run says why without a log dive."""
    connect_ms: dict[str, float] = field(default_factory=dict)
    """Connection set-up, apart from request latencies: ``connections``, ``errors``, ``mean``,
    ``p50``, ``p99``, ``max`` (ms). Connections open before the clock starts."""
    histograms: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Per request name: ``hdr`` (HdrHistogram V2 compressed, µs), ``sum_us``, ``min_us``, ``max_us``;
    what ``testrun merge`` adds up exactly."""
    shard: str = ""
    """``I/N`` when this run was shard I of N (``run-tests --shard``), else empty."""
    connect_histogram: dict[str, Any] = field(default_factory=dict)
    """Connection set-up times in the same encoding as ``histograms`` (merged by ``testrun merge``)."""
    expected_requests: int | None = None
    """What a complete run sends, when known in advance (loops, or the open model's rate x duration)."""


@dataclass(frozen=True)
class TestRun:
    """Everything ``testrun.json`` holds."""

    __test__ = False  # not a pytest class

    context: StageContext
    target: str
    start_unix: float
    end_unix: float
    result: str
    """``pass`` or ``fail`` (an aborted run is ``fail`` with ``aborted`` set)."""
    checks: list[CheckResult] = field(default_factory=list)
    performance: PerformanceResult | None = None
    aborted: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "context": self.context.to_dict(),
            "target": self.target,
            "start": iso_utc(self.start_unix),
            "start_unix": round(self.start_unix, 3),
            "end": iso_utc(self.end_unix),
            "end_unix": round(self.end_unix, 3),
            "result": self.result,
            "aborted": self.aborted,
            "checks": [asdict(c) for c in self.checks],
            "performance": asdict(self.performance) if self.performance else None,
        }

    def write(self, path: Path) -> Path:
        """Write atomically (a reader never sees half a document); return the path."""
        return write_json(path, self.to_dict())


def read_testrun_document(path: str | Path) -> dict[str, Any]:
    """``testrun.json`` as the JSON object it is: what the gate reads (window, context, numbers by
    dotted path), which also takes a hand-written or older document; not an object is bad input."""
    data = read_json(path)
    if not isinstance(data, dict):
        raise BadInputError(str(path), None, "must be a JSON object")
    return data


CONTEXT_FIELDS = ("project", "stage", "service", "image", "tag", "deployment_strategy", "test_strategy", "keptn_context")


def testrun_context(data: dict[str, Any], path: str) -> dict[str, str]:
    """The non-empty fields of a testrun.json ``context`` (the gate's context when flags leave them
    empty); a field that is not a string (``project: 123``) is bad input naming it."""
    raw = data.get("context")
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise BadInputError(path, "context", "must be an object")
    found: dict[str, str] = {}
    for key in CONTEXT_FIELDS:
        value = raw.get(key)
        if value in (None, ""):
            continue
        if not isinstance(value, str):
            raise BadInputError(path, f"context.{key}", f"must be a string, got {value!r:.40}")
        found[key] = value
    check_fields(found, path, "context.")  # checked here, so a bad flag is never blamed on this file
    return found


def testrun_times(data: dict[str, Any], path: str) -> tuple[float | None, float | None]:
    """``(start, end)`` in unix seconds from ``start_unix``/``end_unix`` (else the ISO ``start``/``end``),
    None where absent; a value that is not a time between 1970 and 9999 is bad input naming it."""
    times: list[float | None] = []
    for key in ("start", "end"):
        field = f"{key}_unix" if f"{key}_unix" in data else key
        raw = data.get(field)
        if raw is None:
            times.append(None)
        elif isinstance(raw, str):
            times.append(parse_time(raw, path, field))
        else:
            times.append(unix_seconds(raw, path, field))
    return times[0], times[1]


def read_testrun(path: Path) -> TestRun:
    """Parse ``testrun.json`` strictly (schema and fields, as run-tests writes it); errors name the file and the field."""
    source = str(path)
    data = read_testrun_document(path)
    if data.get("schema") != SCHEMA:
        raise BadInputError(source, "schema", f"expected {SCHEMA!r}, got {data.get('schema')!r}")
    for key in ("start_unix", "end_unix"):
        unix_seconds(data.get(key), source, key)
    if data["end_unix"] < data["start_unix"]:
        raise BadInputError(source, "end_unix", "is before start_unix")
    try:
        checks = [CheckResult(**c) for c in data.get("checks") or []]
        perf = data.get("performance")
        performance = None
        if perf is not None:
            perf = dict(perf)
            perf["by_request"] = {k: RequestStats(**v) for k, v in perf["by_request"].items()}
            performance = PerformanceResult(**perf)
    except (TypeError, KeyError, AttributeError) as err:
        raise BadInputError(source, "performance" if "perf" in locals() else "checks", f"malformed: {err}") from err
    return TestRun(
        context=StageContext.from_dict(data.get("context", {}), source),
        target=str(data.get("target", "")),
        start_unix=float(data["start_unix"]),
        end_unix=float(data["end_unix"]),
        result=str(data.get("result", "")),
        checks=checks,
        performance=performance,
        aborted=bool(data.get("aborted", False)),
    )
