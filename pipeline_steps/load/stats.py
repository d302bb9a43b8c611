"""Latency and error bookkeeping of a load test: HDR histograms per request name.

Why HDR histograms: percentiles of millions of samples in fixed memory with 3 significant
digits, and recording costs under a microsecond (measured here), so the engine's hot path
stays cheap. Latencies are recorded in microseconds. Which errors carry a latency: an answer
that failed its status or assertion, and a timeout (at least the timeout elapsed, so leaving
it out would flatter a slow service); a refused connection has no meaningful latency.
"""

from __future__ import annotations

from dataclasses import dataclass

from hdrh.histogram import HdrHistogram

from pipeline_steps.documents.testrun import ERROR_KINDS, PerformanceResult, RequestStats
from pipeline_steps.load.workload import Limits

_HIGHEST_US = 3_600_000_000  # one hour: nothing we measure is longer, and it costs nothing extra
_FIRST_ERRORS = 5


def _latency(hist: HdrHistogram) -> dict[str, float]:
    if hist.get_total_count() == 0:
        return {"mean": 0.0, "p50": 0.0, "p90": 0.0, "p95": 0.0, "p99": 0.0, "max": 0.0}
    values = {f"p{p}": hist.get_value_at_percentile(p) / 1000 for p in (50, 90, 95, 99)}
    return {"mean": round(hist.get_mean_value() / 1000, 3), **{k: round(v, 3) for k, v in values.items()},
            "max": round(hist.get_max_value() / 1000, 3)}


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
        self.hists = [HdrHistogram(1, _HIGHEST_US, 3) for _ in names]
        self.counts = [0] * len(names)
        self.errors = [0] * len(names)
        self.kinds = dict.fromkeys(ERROR_KINDS, 0)
        self.first_errors: list[str] = []
        self._recent_sum_us = 0
        self._recent_n = 0

    def ok(self, index: int, latency_us: int) -> None:
        self.counts[index] += 1
        self.hists[index].record_value(latency_us if latency_us > 0 else 1)
        self._recent_sum_us += latency_us
        self._recent_n += 1

    def error(self, index: int, kind: str, message: str, latency_us: int | None) -> None:
        self.counts[index] += 1
        self.errors[index] += 1
        self.kinds[kind] += 1
        if latency_us is not None:
            self.hists[index].record_value(latency_us if latency_us > 0 else 1)
            self._recent_sum_us += latency_us
            self._recent_n += 1
        if len(self.first_errors) < _FIRST_ERRORS:
            text = f"{self.names[index]}: {message}"
            if text not in self.first_errors:
                self.first_errors.append(text)

    def snapshot(self, elapsed_s: float) -> Snapshot:
        recent = self._recent_sum_us / self._recent_n / 1000 if self._recent_n else 0.0
        self._recent_sum_us = self._recent_n = 0
        return Snapshot(sum(self.counts), sum(self.errors), recent, elapsed_s)

    def result(self, duration_s: float, limits: Limits, *, model: str, users: int,
               expected: int | None = None) -> PerformanceResult:
        """Summarise and judge the acceptance limits (a run without answers never passes)."""
        total = HdrHistogram(1, _HIGHEST_US, 3)
        by_request = {}
        for name, hist, count, errors in zip(self.names, self.hists, self.counts, self.errors, strict=True):
            total.add(hist)
            by_request[name] = RequestStats(count, errors, round(errors / count, 6) if count else 0.0, _latency(hist))
        requests, errors = sum(self.counts), sum(self.errors)
        error_rate = errors / requests if requests else 0.0
        latency = _latency(total)
        reasons = []
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
        return PerformanceResult(
            requests=requests, errors=errors, error_rate=round(error_rate, 6),
            throughput_rps=round(requests / duration_s, 3) if duration_s > 0 else 0.0,
            duration_s=round(duration_s, 3), latency_ms=latency, by_request=by_request,
            errors_by_kind=dict(self.kinds),
            limits={"error_rate": limits.error_rate, "avg_response_time_ms": limits.avg_response_time_ms,
                    "p95_response_time_ms": limits.p95_response_time_ms},
            limits_passed=not reasons, reason="; ".join(reasons), model=model, users=users,
            first_errors=list(self.first_errors),
        )
