"""Latency histograms with HdrHistogram's buckets and HdrHistogram's percentile definition.

Why our own recorder in front of ``hdrh``: the Python port computes a percentile's target count
as ``int(p/100 * N + 0.5)`` (rounded to nearest), so with 12 samples, 11 at 5 ms and one at
300 ms, its p95 is a 5 ms bucket and a p95 limit of 100 ms passes (issue 18). HdrHistogram
itself (Java, C: ``getValueAtPercentile``) defines the value at percentile ``p`` as the value of
the first bucket whose cumulative count reaches ``ceil(p/100 * N)`` (at least 1), reported as
that bucket's highest equivalent value. This module computes exactly that, with exact integer
arithmetic for the target count. It also records a sample in well under a microsecond (``hdrh``'s
``record_value`` costs several), which the engine's hot path needs.

Buckets are HdrHistogram's for ``lowest=1``, 3 significant figures: values below 2048 are kept
exactly; above, the low ``bit_length - 11`` bits are dropped, so a bucket is at most 1/1024 of
its value wide. Counts are kept per bucket (by its lowest value) in a dict, so memory is bounded
by the number of buckets ever hit (at most about 23k for one hour in µs), not by the samples.

Exact on top of that: the sum (for the mean), the minimum and the maximum. A reported percentile
is never above the largest sample (the bucket's top is capped at it). Histograms add exactly
(bucket by bucket), which is how shards and worker processes are merged; on disk they travel in
HdrHistogram's own V2 compressed encoding (``HISTFAA...``, readable by every HdrHistogram port).
"""

from __future__ import annotations

import math
from array import array
from collections import Counter
from collections.abc import Iterable
from fractions import Fraction
from typing import Any

_SUB_BUCKET_BITS = 11  # 2 * 10**3 significant values -> 2048 sub-buckets (HdrHistogram, 3 figures)
_HIGHEST_US = 3_600_000_000  # one hour in µs: the encoding's trackable range
REPORTED = (50, 90, 95, 99)


def bucket_of(value: int) -> int:
    """The lowest value of ``value``'s bucket (HdrHistogram's lowest equivalent value)."""
    shift = value.bit_length() - _SUB_BUCKET_BITS
    return value >> shift << shift if shift > 0 else value


def bucket_top(value: int) -> int:
    """The highest value of ``value``'s bucket (HdrHistogram's highest equivalent value)."""
    shift = value.bit_length() - _SUB_BUCKET_BITS
    return (value >> shift << shift) + (1 << shift) - 1 if shift > 0 else value


def target_count(percentile: float, total: int) -> int:
    """``ceil(p/100 * N)``, at least 1, computed exactly (``0.95 * 20`` must be 19, not 19.000000000000004)."""
    if not 0 <= percentile <= 100:
        raise ValueError(f"percentile {percentile} is outside 0..100")
    return max(1, math.ceil(Fraction(str(percentile)) * total / 100))


class Histogram:
    """Counts per HdrHistogram bucket plus exact count, sum, min and max (values are µs, >= 0).

    Two ways in: ``record`` files one sample at once; the load engine's hot path appends raw µs
    to ``pending`` (an ``array('q')``: one C call, ~0.05 µs, against ~1.3 µs for ``record``
    measured here) and ``fold`` files them in a batch: ``Counter`` counts equal values in C, and
    only distinct values are bucketed in Python. Every reader (``counts``, ``total``, ``sum``,
    ``min``, ``max``, ``add``, percentiles, encoding) folds first, so a pending sample is never
    missed; the engine folds every 0.1 s, which bounds ``pending`` (at 100k req/s: 80 kB)."""

    __slots__ = ("_counts", "_max", "_min", "_sum", "_total", "pending")

    def __init__(self) -> None:
        self._counts: dict[int, int] = {}
        self._total = 0
        self._sum = 0
        self._min = 0
        self._max = 0
        self.pending = array("q")

    def record(self, value: int, count: int = 1) -> None:
        if value < 0:
            value = 0  # a clock cannot run backwards between send and answer; never drop a sample
        shift = value.bit_length() - _SUB_BUCKET_BITS
        key = value >> shift << shift if shift > 0 else value
        counts = self._counts
        counts[key] = counts.get(key, 0) + count
        if not self._total or value < self._min:
            self._min = value
        if value > self._max:
            self._max = value
        self._total += count
        self._sum += value * count

    def fold(self) -> None:
        """File the ``pending`` samples (exactly as ``record`` would, one by one)."""
        pending = self.pending
        if not pending:
            return
        self.pending = array("q")
        record = self.record
        for value, count in Counter(pending).items():
            record(value, count)

    @property
    def counts(self) -> dict[int, int]:
        """Samples per bucket, keyed by the bucket's lowest value."""
        self.fold()
        return self._counts

    @property
    def total(self) -> int:
        self.fold()
        return self._total

    @property
    def sum(self) -> int:
        self.fold()
        return self._sum

    @property
    def min(self) -> int:
        self.fold()
        return self._min

    @property
    def max(self) -> int:
        self.fold()
        return self._max

    def add(self, other: Histogram) -> None:
        """Add ``other``'s samples: the result is what one histogram over both sample sets holds."""
        self.fold()
        if not other.total:
            return
        counts = self._counts
        for key, count in other.counts.items():
            counts[key] = counts.get(key, 0) + count
        self._min = other.min if not self._total else min(self._min, other.min)
        self._max = max(self._max, other.max)
        self._total += other.total
        self._sum += other.sum

    @property
    def mean(self) -> float:
        return self.sum / self.total if self.total else 0.0

    def percentiles(self, wanted: Iterable[float]) -> dict[float, int]:
        """Value at each percentile (HdrHistogram's definition, see the module doc; p0 is the exact
        minimum); 0 when empty. Raises ``ValueError`` for a percentile outside 0..100."""
        order = sorted(set(wanted))
        if order and not 0 <= order[0] <= order[-1] <= 100:
            raise ValueError(f"percentiles must be within 0..100, got {order}")
        if not self.total:
            return dict.fromkeys(order, 0)
        targets = [(p, target_count(p, self.total)) for p in order if p > 0]
        found: dict[float, int] = {0: self.min} if order[0] == 0 else {}
        seen, i = 0, 0
        for key in sorted(self.counts):
            seen += self.counts[key]
            while i < len(targets) and seen >= targets[i][1]:
                found[targets[i][0]] = min(bucket_top(key), self.max)
                i += 1
            if i == len(targets):
                break
        return found

    def summary_ms(self) -> dict[str, float]:
        """``mean``, ``p50``, ``p90``, ``p95``, ``p99``, ``max`` in ms (testrun.json's ``latency_ms``)."""
        values = self.percentiles(REPORTED)
        return {"mean": round(self.mean / 1000, 3), **{f"p{p}": round(values[p] / 1000, 3) for p in REPORTED},
                "max": round(self.max / 1000, 3)}

    def to_json(self) -> dict[str, Any]:
        """``{"hdr": <HdrHistogram V2 compressed, base64>, "sum_us", "min_us", "max_us"}`` (exact extras)."""
        from hdrh.histogram import HdrHistogram

        hdr = HdrHistogram(1, _HIGHEST_US, 3)
        for key, count in self.counts.items():
            hdr.record_value(min(key, _HIGHEST_US), count)
        encoded = hdr.encode()
        return {"hdr": encoded.decode() if isinstance(encoded, bytes) else encoded,
                "sum_us": self.sum, "min_us": self.min, "max_us": self.max}

    @classmethod
    def from_json(cls, data: Any) -> Histogram:
        """Inverse of ``to_json``; raises ``ValueError`` on anything else."""
        from hdrh.histogram import HdrHistogram

        if not isinstance(data, dict) or not isinstance(data.get("hdr"), str):
            raise ValueError("a histogram must be an object with an 'hdr' string")
        extras: list[Any] = [data.get(k) for k in ("sum_us", "min_us", "max_us")]
        if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in extras):
            raise ValueError("sum_us, min_us and max_us must be non-negative integers")
        try:
            hdr = HdrHistogram.decode(data["hdr"])
        except Exception as err:  # hdrh raises zlib, base64 and its own cookie errors
            raise ValueError(f"not an HdrHistogram V2 encoding: {err}") from err
        hist = cls()
        for item in hdr.get_recorded_iterator():
            hist._counts[bucket_of(item.value_iterated_to)] = item.count_at_value_iterated_to
        hist._total = sum(hist._counts.values())
        hist._sum, hist._min, hist._max = extras
        return hist
