"""The load engine against loopback servers.

Aspects: the closed model sends exactly users x loops and records per request name; weights
split requests exactly; errors are classified (status, assertion, connect, timeout) and judged
against the acceptance limits (error rate, average and p95 latency); a run without answers
never passes; the open model keeps its arrival rate and measures latency from the intended
send time, so a server stall shows up in the percentiles where the closed model hides it
(coordinated omission); a stop event ends the run early with what was measured; ramp-up and
think time slow the closed model as configured.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from pipeline_steps.load import engine
from pipeline_steps.load.engine import LoadEngine, LoadOutcome, weighted_order
from pipeline_steps.load.histogram import Histogram
from pipeline_steps.load.workload import PerformanceSpec, parse_workload
from pipeline_steps.platforms.local.procs import free_port
from tests.load.servers import serve


def spec(**performance: Any) -> PerformanceSpec:
    data = {"users": 2, "loops": 5, "requests": [{"name": "ok", "path": "/ok"}], **performance}
    result = parse_workload({"performance": data}, "test.yaml").performance
    assert result is not None
    return result


def run(url: str, perf: PerformanceSpec, stop_after_s: float | None = None) -> LoadOutcome:
    async def main() -> LoadOutcome:
        stop = asyncio.Event()
        if stop_after_s is not None:
            asyncio.get_running_loop().call_later(stop_after_s, stop.set)
        return await LoadEngine(url, perf, {}).run(stop)
    return asyncio.run(main())


def test_closed_model_sends_users_times_loops() -> None:
    with serve() as server:
        out = run(server.url, spec(users=4, loops=25))
    result = out.result
    assert (result.requests, result.errors, server.state.requests) == (100, 0, 100)
    assert result.by_request["ok"].requests == 100
    assert result.limits_passed and not out.aborted
    assert 0 < result.latency_ms["p50"] <= result.latency_ms["p99"] <= result.latency_ms["max"]
    assert out.end_unix > out.start_unix
    assert result.throughput_rps > 0


def test_weights_split_requests_exactly() -> None:
    assert weighted_order([3, 1]).count(0) == 3
    assert weighted_order([2, 2]) == [0, 1]
    requests = [{"name": "a", "path": "/ok", "weight": 3}, {"name": "b", "path": "/slow?ms=1", "weight": 1}]
    with serve() as server:
        result = run(server.url, spec(users=2, loops=20, requests=requests)).result
    assert (result.by_request["a"].requests, result.by_request["b"].requests) == (30, 10)
    assert server.state.paths.count("/slow") == 10


def test_status_and_assertion_errors_are_classified_and_limit_the_run() -> None:
    requests = [
        {"name": "fails", "path": "/status/503"},
        {"name": "wrong body", "path": "/ok", "assert": [{"type": "json_path", "path": "$.name", "equals": "other"}]},
        {"name": "fine", "path": "/ok", "expect_status": 200, "assert": [{"type": "text_contains", "value": "loopback"},
                                                                          {"type": "header", "name": "content-type",
                                                                           "contains": "application/json"}]},
    ]
    with serve() as server:
        result = run(server.url, spec(users=3, loops=3, requests=requests, limits={"error_rate": 0.5})).result
    assert result.errors_by_kind == {"connect": 0, "timeout": 0, "status": 3, "assertion": 3}
    assert result.by_request["fine"].errors == 0
    assert result.error_rate == round(6 / 9, 6)
    assert not result.limits_passed
    assert "error rate 66.67% > accepted 50.00%" in result.reason
    assert any("HTTP 503" in e for e in result.first_errors)
    assert any('"loopback" (string) != expected "other" (string)' in e for e in result.first_errors)


def test_connect_errors_are_classified_and_no_answers_never_pass() -> None:
    result = run(f"http://127.0.0.1:{free_port()}", spec(users=1, loops=3, limits={"error_rate": 1.0})).result
    assert result.errors_by_kind["connect"] == 3
    assert result.latency_ms["max"] == 0.0  # a refused connection has no latency to report
    # an accepted error rate of 100 % still does not make refused connections a working service
    assert not result.limits_passed
    assert result.reason == "no request succeeded"
    assert any("cannot connect" in e for e in result.first_errors)


def test_timeouts_are_errors_with_their_latency() -> None:
    with serve() as server:
        result = run(server.url, spec(users=2, loops=1, timeout_s=0.3, requests=[{"name": "h", "path": "/hang"}])).result
    assert result.errors_by_kind["timeout"] == 2
    assert result.latency_ms["max"] >= 290  # the wait is recorded, not dropped
    assert not result.limits_passed


def test_latency_limits() -> None:
    with serve() as server:
        slow = spec(users=2, loops=5, requests=[{"name": "s", "path": "/slow?ms=40"}],
                    limits={"avg_response_time_ms": 20, "p95_response_time_ms": 30})
        result = run(server.url, slow).result
        relaxed = run(server.url, spec(users=2, loops=5, requests=[{"name": "s", "path": "/slow?ms=40"}],
                                       limits={"avg_response_time_ms": 1000})).result
    assert result.latency_ms["mean"] >= 40
    assert "average response time" in result.reason and "p95 response time" in result.reason
    assert relaxed.limits_passed, relaxed.reason


def test_open_model_keeps_its_rate() -> None:
    with serve() as server:
        out = run(server.url, spec(model="open", rate_rps=100, duration_s=1.0, users=4, loops=0))
    assert out.result.requests == 100 == server.state.requests
    assert 0.95 <= out.result.duration_s < 1.6
    assert out.result.model == "open"


def test_open_model_sees_the_stall_that_the_closed_model_hides() -> None:
    """Coordinated omission: the server holds every request arriving between 0.5 s and 1.5 s.

    Open model, 100 req/s for 2 s: about half of the 200 scheduled requests fall into the stall,
    and each waits from its intended send time until the stall ends (0..1 s), so the median is
    high. Closed model, 2 users: each user is stuck in one request for the stall and then carries
    on, so only 2 of ~hundreds of samples show it and the percentiles look healthy.
    """
    stall = [{"name": "stall", "path": "/stall"}]
    with serve(stall_at_s=0.5, stall_s=1.0) as server:
        open_run = run(server.url, spec(model="open", rate_rps=100, duration_s=2.0, users=2, loops=0, requests=stall)).result
    with serve(stall_at_s=0.5, stall_s=1.0) as server:
        closed = run(server.url, spec(users=2, loops=0, duration_s=2.0, requests=stall)).result
    assert open_run.requests == 200
    assert open_run.latency_ms["max"] >= 900
    # half the samples wait 0..1 s: mean about 250 ms, p90 about 800 ms
    assert open_run.latency_ms["mean"] >= 150, open_run.latency_ms
    assert open_run.latency_ms["p90"] >= 500, open_run.latency_ms
    assert closed.latency_ms["max"] >= 900  # the closed model saw the stall once per user ...
    assert closed.requests > 100
    assert closed.latency_ms["p90"] < 100, closed.latency_ms  # ... and its percentiles hide it
    assert closed.latency_ms["mean"] < open_run.latency_ms["mean"] / 3


def test_stop_ends_the_run_early_with_what_was_measured() -> None:
    with serve() as server:
        out = run(server.url, spec(users=2, loops=0, duration_s=30, requests=[{"name": "s", "path": "/slow?ms=5"}]),
                  stop_after_s=0.5)
    assert out.aborted
    assert 20 < out.result.requests <= server.state.requests
    assert out.result.duration_s < 2


def test_ramp_up_and_think_time_pace_the_closed_model() -> None:
    with serve() as server:
        out = run(server.url, spec(users=4, loops=3, ramp_up_s=0.6, think_time_ms=100))
    # the last user starts at 0.45 s and then needs 3 x 100 ms of think time
    assert out.result.duration_s >= 0.7
    assert out.result.requests == 12


def test_a_duration_bound_run_ends_at_its_deadline_not_a_think_time_later() -> None:
    """Users thinking when the duration is up would only wake to finish: the run (and so the gate's
    window) ends at the deadline; each user still sent what it sent before it."""
    with serve() as server:
        out = run(server.url, spec(users=2, duration_s=1.0, think_time_ms=3000))
    assert out.result.requests == 2  # one each: the next one would be 3 s later, past the deadline
    assert 1.0 <= out.result.duration_s < 2.0  # not the 3 s of think time


def test_a_crashed_user_task_is_raised_not_reported_as_a_short_run(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(self: object, *args: object) -> None:
        raise RuntimeError("bug in the engine")

    monkeypatch.setattr(Histogram, "record", broken)  # called back from the parser, outside any task
    with serve() as server, pytest.raises(RuntimeError, match="bug in the engine"):
        run(server.url, spec(users=2, loops=5))


def test_connections_open_before_the_clock_and_are_reported_apart(monkeypatch: pytest.MonkeyPatch) -> None:
    """A connect that takes 300 ms (a slow TLS handshake, a SYN retry) must not land in the first
    requests' latencies nor in the run's duration: wrk opens connections first and so do we."""
    real = engine.connect

    async def slow_connect(*args: Any, **kwargs: Any) -> Any:
        await asyncio.sleep(0.3)
        return await real(*args, **kwargs)

    monkeypatch.setattr(engine, "connect", slow_connect)
    with serve() as server:
        result = run(server.url, spec(users=3, loops=5)).result
    assert result.requests == 15 and result.errors == 0
    assert result.connect_ms["connections"] == 3 and result.connect_ms["errors"] == 0
    assert result.connect_ms["p50"] >= 300
    assert result.latency_ms["max"] < 200, result.latency_ms
    assert result.duration_s < 0.3


def test_the_connect_phase_is_bounded_by_the_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    """Connects that never complete (a target dropping SYNs) hold the start for one timeout, not one per
    batch of connects; the users then connect on their first request."""
    async def never(*args: Any, **kwargs: Any) -> Any:
        await asyncio.sleep(3600)

    monkeypatch.setattr(engine, "connect", never)
    began = time.monotonic()
    with serve() as server:
        result = run(server.url, spec(users=300, loops=1, timeout_s=0.5)).result
    assert time.monotonic() - began < 10
    assert (result.requests, result.errors) == (300, 0)
    assert result.connect_ms["connections"] == 300  # set up by the first requests instead
