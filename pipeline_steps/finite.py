"""The one number check: a value read from a file, a flag or an event is a finite number inside its range.

Why one: a gate compares numbers, and every comparison with NaN is false, so ``"upperSevere": NaN``
never breached and ``--retry-budget nan`` never ran out (issue 11). Each loader used to test
``isinstance(value, (int, float))`` and each flag ``type=float``; both let NaN, infinities,
``1e400`` (which parses as infinity) and ``10**30`` (which overflows SQLite's 64-bit integer)
through. Every spec field, document field and numeric flag now goes through ``number`` (or
``unix_seconds``), which returns a plain float or int or raises ``BadInputError`` naming the file
(or flag) and the field. The strict readers in ``files.py`` already refuse non-finite literals;
this check holds for values that arrive another way (a flag, ``"-inf%"`` in an SLO, a
hand-built dict) and adds each field's range.
"""

from __future__ import annotations

import math
from typing import Any

from pipeline_steps.errors import BadInputError

LARGEST = float(2**53)
"""Default bound on the magnitude of any number we accept: the largest integer a double (and a
JavaScript or Go JSON reader, as Pitometer and Keptn used) holds exactly. Nothing a gate, a
workload or a document measures comes near it; past it, 10**30 reached SQLite as an overflow."""

LAST_UNIX_SECOND = 253402300799.0
"""9999-12-31T23:59:59Z: the last second an ISO-8601 date (and Python's ``datetime``) can name;
``start_unix: 1e300`` overflowed the time formatter."""

DAY_S = 86400.0
"""The longest timeout, duration or budget we accept anywhere: a gate or a test that needs more
than a day is a typo (``--duration 1e9``), and ``inf`` would never end."""


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def number(value: Any, source: str, field: str | None, *, minimum: float = -LARGEST, maximum: float = LARGEST,
           integer: bool = False, above: float | None = None) -> Any:
    """``value`` if it is a finite number (an int when ``integer``) with ``minimum <= value <= maximum``
    (and ``value > above`` when given); else ``BadInputError(source, field, why)``.

    Booleans are not numbers (``true`` is not 1 here). Returns the value unchanged (int or float),
    so integers stay integers for SQLite and JSON.
    """
    kind = "an integer" if integer else "a number"
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and not isinstance(value, int)):
        raise BadInputError(source, field, f"must be {kind}, got {_describe(value)}")
    try:
        as_float = float(value)
    except OverflowError:  # an int beyond a double's range
        as_float = math.inf if value > 0 else -math.inf
    if not math.isfinite(as_float):
        raise BadInputError(source, field, f"must be a finite number, got {_describe(value)}")
    if above is not None and not as_float > above:
        raise BadInputError(source, field, f"must be greater than {above:g}, got {_describe(value)}")
    if not minimum <= as_float <= maximum:
        raise BadInputError(source, field, f"must be between {minimum:g} and {maximum:g}, got {_describe(value)}")
    return value


def parse_number(text: str, source: str, field: str | None, **limits: Any) -> float:
    """A number from text (a flag, an environment variable, ``"90%"`` without its sign): ``float()``
    accepts ``nan``, ``inf`` and ``1e400``; they are refused here, with ``number``'s limits."""
    try:
        value = float(text.strip())
    except (ValueError, AttributeError):
        raise BadInputError(source, field, f"{_describe(text)} is not a number") from None
    return float(number(value, source, field, **limits))


def unix_seconds(value: Any, source: str, field: str | None) -> float:
    """Unix seconds between 1970 and the end of year 9999, as a float."""
    return float(number(value, source, field, minimum=0.0, maximum=LAST_UNIX_SECOND))
