"""Latency and error bookkeeping of a load test: one histogram per request name, mergeable exactly.

Why mergeable: the engine runs one event loop per core in worker processes and ``run-tests
--shard I/N`` runs on N machines; the numbers the gate judges must be those of one run over all
samples, so recorders add bucket by bucket (``histogram.py``) and percentiles are computed once,
on the sum, never averaged. Latencies are µs. Which errors carry a latency: an answer that
failed its status or assertion, and a timeout (at least the timeout elapsed, so leaving it out
would flatter a slow service); a refused connection has no meaningful latency.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pipeline_steps.documents.testrun import ERROR_KINDS, PerformanceResult, RequestStats
from pipeline_steps.load.histogram import Histogram
from pipeline_steps.load.workload import Limits

_FIRST_ERRORS = 5


@dataclass
class Snapshot:
    """What the progress display shows: totals and the mean latency since the last snapshot."""

    requests: int
    errors: int
    recent_mean_ms: float
    elapsed_s: float


class Recorder:
    """Counts per request name (by index, for a cheap hot path) and overall."""

    def __init__(self, names: list[str]) -> None:
        self.names = names
        self.hists = [Histogram() for _ in names]
        self.unlatencied = [0] * len(names)
        """Requests per name without a latency sample (a refused connection); ``counts`` adds the samples."""
        self.errors = [0] * len(names)
        self.kinds = dict.fromkeys(ERROR_KINDS, 0)
        self.first_errors: list[str] = []
        self.connect = Histogram()
        """Connection set-up times (µs), kept apart from request latencies as wrk does."""
        self.connect_errors = 0
        self._seen = (0, 0)  # samples and their sum at the last snapshot

    @property
    def counts(self) -> list[int]:
        """Requests per name: every latency sample is one, plus those without one."""
        return [hist.total + other for hist, other in zip(self.hists, self.unlatencied, strict=True)]

    def ok(self, index: int, latency_us: int) -> None:
        self.hists[index].pending.append(latency_us)

    def error(self, index: int, kind: str, message: str, latency_us: int | None) -> None:
        self.errors[index] += 1
        self.kinds[kind] += 1
        if latency_us is not None:
            self.hists[index].record(latency_us)
        else:
            self.unlatencied[index] += 1
        if len(self.first_errors) < _FIRST_ERRORS:
            text = f"{self.names[index]}: {message}"
            if text not in self.first_errors:
                self.first_errors.append(text)

    def snapshot(self, elapsed_s: float) -> Snapshot:
        samples, total = sum(h.total for h in self.hists), sum(h.sum for h in self.hists)
        n, us = samples - self._seen[0], total - self._seen[1]
        self._seen = (samples, total)
        return Snapshot(sum(self.counts), sum(self.errors), us / n / 1000 if n else 0.0, elapsed_s)

    def add(self, other: Recorder) -> None:
        """Add another recorder of the same request names (a worker process, a shard)."""
        if other.names != self.names:
            raise ValueError(f"request names differ: {other.names} vs {self.names}")
        for mine, theirs in zip(self.hists, other.hists, strict=True):
            mine.add(theirs)
        self.unlatencied = [a + b for a, b in zip(self.unlatencied, other.unlatencied, strict=True)]
        self.errors = [a + b for a, b in zip(self.errors, other.errors, strict=True)]
        for kind, count in other.kinds.items():
            self.kinds[kind] = self.kinds.get(kind, 0) + count
        for text in other.first_errors:
            if len(self.first_errors) < _FIRST_ERRORS and text not in self.first_errors:
                self.first_errors.append(text)
        self.connect.add(other.connect)
        self.connect_errors += other.connect_errors

    def state(self) -> dict[str, Any]:
        """Everything needed to rebuild this recorder (plain data: pickled between processes)."""
        return {"names": self.names, "hists": self.hists, "unlatencied": self.unlatencied, "errors": self.errors,
                "kinds": self.kinds, "first_errors": self.first_errors, "connect": self.connect,
                "connect_errors": self.connect_errors}

    @classmethod
    def from_result(cls, result: PerformanceResult) -> Recorder:
        """Rebuild a recorder from a testrun.json's performance section (``ValueError`` if it holds no histograms)."""
        names = list(result.by_request)
        if sorted(result.histograms) != sorted(names) or not result.connect_histogram:
            raise ValueError("has no latency histograms for its requests (written by an older run-tests?)")
        recorder = cls(names)
        recorder.hists = [Histogram.from_json(result.histograms[name]) for name in names]
        recorder.unlatencied = [result.by_request[name].requests - hist.total
                                for name, hist in zip(names, recorder.hists, strict=True)]
        if min(recorder.unlatencied, default=0) < 0:
            raise ValueError("counts fewer requests than its latency histograms hold")
        recorder.errors = [result.by_request[name].errors for name in names]
        recorder.kinds = {**dict.fromkeys(ERROR_KINDS, 0), **result.errors_by_kind}
        recorder.first_errors = list(result.first_errors)
        recorder.connect = Histogram.from_json(result.connect_histogram)
        recorder.connect_errors = int(result.connect_ms.get("errors", 0))
        return recorder

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Recorder:
        recorder = cls(list(state["names"]))
        for key in ("hists", "unlatencied", "errors", "kinds", "first_errors", "connect", "connect_errors"):
            setattr(recorder, key, state[key])
        return recorder

    def result(self, duration_s: float, limits: Limits, *, model: str, users: int,
               expected: int | None = None, extra_reasons: list[str] | None = None,
               shard: str = "") -> PerformanceResult:
        """Summarise and judge the acceptance limits (a run without answers never passes)."""
        total = Histogram()
        by_request = {}
        for name, hist, count, errors in zip(self.names, self.hists, self.counts, self.errors, strict=True):
            total.add(hist)
            by_request[name] = RequestStats(count, errors, round(errors / count, 6) if count else 0.0, hist.summary_ms())
        requests, errors = sum(self.counts), sum(self.errors)
        error_rate = errors / requests if requests else 0.0
        latency = total.summary_ms()
        reasons = list(extra_reasons or [])
        if requests == 0:
            reasons.append("no requests were completed")
        elif errors == requests:
            reasons.append("no request succeeded")
        if expected is not None and 0 < requests < expected:
            reasons.append(f"only {requests} of {expected} requests were sent")
        if error_rate > limits.error_rate:
            reasons.append(f"error rate {error_rate:.2%} > accepted {limits.error_rate:.2%}")
        if limits.avg_response_time_ms and latency["mean"] > limits.avg_response_time_ms:
            reasons.append(f"average response time {latency['mean']:.1f} ms > limit {limits.avg_response_time_ms:g} ms")
        if limits.p95_response_time_ms and latency["p95"] > limits.p95_response_time_ms:
            reasons.append(f"p95 response time {latency['p95']:.1f} ms > limit {limits.p95_response_time_ms:g} ms")
        connect = self.connect.summary_ms()
        return PerformanceResult(
            requests=requests, errors=errors, error_rate=round(error_rate, 6),
            throughput_rps=round(requests / duration_s, 3) if duration_s > 0 else 0.0,
            duration_s=round(duration_s, 3), latency_ms=latency, by_request=by_request,
            errors_by_kind=dict(self.kinds),
            limits={"error_rate": limits.error_rate, "avg_response_time_ms": limits.avg_response_time_ms,
                    "p95_response_time_ms": limits.p95_response_time_ms},
            limits_passed=not reasons, reason="; ".join(reasons), model=model, users=users,
            first_errors=list(self.first_errors),
            connect_ms={"connections": self.connect.total, "errors": self.connect_errors,
                        **{k: connect[k] for k in ("mean", "p50", "p99", "max")}},
            histograms={name: hist.to_json() for name, hist in zip(self.names, self.hists, strict=True)},
            shard=shard, connect_histogram=self.connect.to_json(), expected_requests=expected,
        )
