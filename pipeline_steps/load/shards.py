"""``testrun merge``: the testrun.json files of ``run-tests --shard I/N`` runs become one, as if one machine ran it all.

Why exact: the gate judges p95 and the mean of the whole load; averaging the shards'
percentiles is wrong whenever shards differ (one slow agent), so each shard's testrun.json
carries its latency histograms (HdrHistogram V2 encoding, ``histogram.py``) and they are added
bucket by bucket; counts, errors by kind and connection set-ups add up; the window spans the
earliest start to the latest end, and throughput is over that window. The limits are judged
again on the merged numbers, and a shard's own failure (a failed health check, an abort, fewer
requests than planned) fails the merged run too.

Bad input (exit 2, naming the file): a testrun.json without a performance section or without
histograms, a count that is not a whole number >= 0 or more errors than requests, shards of
different runs (context, requests, limits, model, shard count), a shard missing or given twice, or
(``expected``) shards of another count than the caller ran: Jenkins passes the N it started, so a
merge never takes part of a test for the whole even when every file it was handed agrees on a
smaller N.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from pipeline_steps.documents.testrun import CheckResult, PerformanceResult, TestRun, read_testrun
from pipeline_steps.errors import BadInputError
from pipeline_steps.load.stats import Recorder
from pipeline_steps.load.workload import Limits

SHARD_GAP_S = 60.0
"""How long after another shard ended a shard may begin (or its own duration, if longer): agents start late."""


def shard_numbers(text: str) -> tuple[int, int] | None:
    """``I/N`` as ``(I, N)`` when 1 <= I <= N <= 9999 (decimal digits only), else None."""
    index, _, total = text.partition("/")
    if not (0 < len(index) <= 4 and 0 < len(total) <= 4 and index.isdigit() and total.isdigit()):
        return None  # str.isdigit also takes other scripts' digits; int() then reads them, so bound the length first
    if not (index.isascii() and total.isascii() and 1 <= int(index) <= int(total)):
        return None
    return int(index), int(total)


def merge_testruns(paths: list[Path], expected: int | None = None) -> TestRun:
    """One TestRun from the shards' testrun.json files (any order); ``expected``: the shard count N the
    caller ran (None: the files' own N). Raises BadInputError for a set that is not every shard once."""
    if not paths:
        raise BadInputError("command line", "TESTRUN", "give the testrun.json of every shard")
    if expected is not None and len(paths) != expected:
        raise BadInputError("command line", "TESTRUN", f"{len(paths)} testrun.json given for {expected} shards: "
                                                       "a merge needs every shard once")
    runs = [(str(p), read_testrun(p)) for p in paths]
    seen: dict[int, str] = {}
    first_source, first = runs[0]
    count = 0
    for source, run in runs:
        perf = run.performance
        if perf is None:
            raise BadInputError(source, "performance", "has no performance test to merge")
        numbers = shard_numbers(perf.shard)
        if numbers is None:
            raise BadInputError(source, "performance.shard", f"is not a shard (I/N with 1 <= I <= N), got {perf.shard[:20]!r}")
        index, total = (str(n) for n in numbers)
        count = count or int(total)
        if expected is not None and int(total) != expected:
            raise BadInputError(source, "performance.shard", f"{perf.shard} is not one of the {expected} shards run")
        if int(total) != count:
            raise BadInputError(source, "performance.shard", f"{perf.shard} is not one of {count} shards like {first_source}")
        if int(index) in seen:
            raise BadInputError(source, "performance.shard", f"shard {perf.shard} was given twice (also {seen[int(index)]})")
        seen[int(index)] = source
        for field, mine, theirs in [("context", run.context, first.context),
                                    ("performance.by_request", list(perf.by_request), list(first.performance.by_request)),  # type: ignore[union-attr]
                                    ("performance.limits", perf.limits, first.performance.limits),  # type: ignore[union-attr]
                                    ("performance.model", perf.model, first.performance.model),  # type: ignore[union-attr]
                                    ("performance.users", perf.users, first.performance.users),  # type: ignore[union-attr]
                                    ("target", run.target, first.target)]:
            if mine != theirs:
                raise BadInputError(source, field, f"differs from {first_source}: not a shard of the same run")
    # Shards run at once (their load adds up only while they overlap). One that began long after another
    # ended is another run: merged, the gate's window would stretch over the gap (a day: a day of metrics).
    latest_start, earliest_end = max(r.start_unix for _, r in runs), min(r.end_unix for _, r in runs)
    slack = max(SHARD_GAP_S, max(r.end_unix - r.start_unix for _, r in runs))
    if latest_start > earliest_end + slack:
        late = next(src for src, r in runs if r.start_unix == latest_start)
        raise BadInputError(late, "start", f"begins {latest_start - earliest_end:.0f}s after another shard ended: not a "
                                           "shard of the same run (shards run at the same time)")
    missing = sorted(set(range(1, count + 1)) - set(seen))
    if missing:
        raise BadInputError("command line", "TESTRUN", f"shard {missing[0]}/{count} is missing (got {len(seen)} of {count})")
    return _merged(runs, count)


def _count(source: str, field: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise BadInputError(source, field, f"must be a whole number >= 0, got {value!r:.40}")
    return value


def _check_counts(source: str, perf: PerformanceResult) -> None:
    """The counts a merge adds up are whole numbers >= 0, and no request name has more errors than
    requests: a negative count would cancel another shard's errors and pass the merged run (fail closed)."""
    for name, stats in perf.by_request.items():
        requests = _count(source, f"performance.by_request.{name}.requests", stats.requests)
        errors = _count(source, f"performance.by_request.{name}.errors", stats.errors)
        if errors > requests:
            raise BadInputError(source, f"performance.by_request.{name}.errors", f"{errors} is more than its {requests} requests")
    if not isinstance(perf.errors_by_kind, dict):
        raise BadInputError(source, "performance.errors_by_kind", "must be an object of counts")
    for kind, value in perf.errors_by_kind.items():
        _count(source, f"performance.errors_by_kind.{kind}", value)
    if not isinstance(perf.connect_ms, dict):
        raise BadInputError(source, "performance.connect_ms", "must be an object")
    _count(source, "performance.connect_ms.errors", perf.connect_ms.get("errors", 0))


def _merged(runs: list[tuple[str, TestRun]], count: int) -> TestRun:
    first = runs[0][1]
    assert first.performance is not None
    recorder: Recorder | None = None
    reasons: list[str] = []
    checks: list[CheckResult] = []
    expected: int | None = 0
    for source, run in runs:
        perf = run.performance
        assert perf is not None
        _check_counts(source, perf)
        try:
            shard = Recorder.from_result(perf)
        except ValueError as err:
            raise BadInputError(source, "performance.histograms", str(err)) from err
        if recorder is None:
            recorder = shard
        else:
            recorder.add(shard)
        if perf.expected_requests is None or expected is None:
            expected = None
        else:
            expected += perf.expected_requests
        failed = [c for c in run.checks if not c.passed]
        if failed or run.aborted:
            reasons.append(f"shard {perf.shard}: " + ("aborted" if run.aborted else failed[0].message or "a check failed"))
        checks += [replace(c, name=f"{c.name} (shard {perf.shard})") if c.kind == "health" else c for c in run.checks]
    assert recorder is not None
    start = min(run.start_unix for _, run in runs)
    end = max(run.end_unix for _, run in runs)
    limits = first.performance.limits
    result = recorder.result(end - start, Limits(error_rate=limits["error_rate"],
                                                 avg_response_time_ms=limits["avg_response_time_ms"],
                                                 p95_response_time_ms=limits["p95_response_time_ms"]),
                             model=first.performance.model, users=first.performance.users, expected=expected or None,
                             extra_reasons=reasons)
    aborted = any(run.aborted for _, run in runs)
    passed = result.limits_passed and not aborted
    return TestRun(first.context, first.target, start, end, "pass" if passed else "fail",
                   checks, result, aborted)
