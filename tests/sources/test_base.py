"""What a source's raw values become (``sources.base.samples_of``), the one rule for every source.

Aspects: numbers and Prometheus' number strings are values, ``+Inf``/``-Inf`` included (they are
graded, issue 11); NaN, null and what is no number are dropped and their keys kept for the report.
A JSON ``true``/``false`` is no number: Python's ``float(False)`` is 0.0, so a backend answering
``false`` for an error ratio passed an ``upperSevere`` threshold.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from pipeline_steps.sources.base import samples_of


@pytest.mark.parametrize(("raw", "value"), [
    ("0.5", 0.5), (3, 3.0), (2.5, 2.5), ("+Inf", math.inf), ("-Inf", -math.inf), ("1e3", 1000.0), (-0.0, 0.0),
])
def test_numbers_are_values(raw: Any, value: float) -> None:
    got = samples_of([("k", raw)])
    assert got.values == [value] and got.dropped == 0


@pytest.mark.parametrize("raw", ["NaN", math.nan, None, False, True, "false", "", "abc", {}, [], [1]])
def test_what_is_no_number_is_dropped_and_named(raw: Any) -> None:
    got = samples_of([("good", "0.2"), ("odd", raw)])
    assert got.values == [0.2] and got.dropped == 1 and got.dropped_keys == ["odd"]
    assert "odd" in got.dropped_text()
