"""The one Protocol every metric source implements, what it returns, and the settings it is built from.

Why: fetching a number and judging it are separate (Argo Rollouts' providers, Flagger's
``RunQuery``). A source turns one query over one window into samples or an error; it never
grades. Its whole contract is here, so adding a source is one module, one line in ``SOURCES``
and the option group the module declares: its name, the query check run when a spec loads,
placeholder substitution with its own quoting, construction from its settings group, fetch,
describe, close, and the secrets it holds (masked in every output). Nothing outside
``sources/`` names a backend.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from pipeline_steps.documents.context import StageContext
from pipeline_steps.documents.evaluation import Sample, Window
from pipeline_steps.secrets import Secret, split_url

MAX_WORKERS = 16
"""Indicators queried at once, and the connections each source keeps for them. Below Prometheus'
default ``--query.max-concurrency`` of 20 (more would only queue there). Measured on 2 cores
(bench/gate_concurrency.py): with a 20 ms round trip 16 workers are 9-11x faster than one at a
time (32: 9.5-13x); on loopback, where every query is CPU in this process and in Prometheus, 16
do as well as 32 (1.5-1.7x)."""

Option = tuple[str, dict[str, Any]]
"""A flag a source declares for its settings group: ``("--prometheus-url", {"envvar": ..., "default": ...,
"help": ...})``; the keys are click's, plus ``"path": True`` for a file. ``commands/`` turns them into
click options, so sources never import click and commands never name a backend."""


@dataclass(frozen=True)
class Fetched:
    """What a source returned for one indicator: the usable samples, or the error that stopped it."""

    samples: list[Sample] = field(default_factory=list)
    dropped: int = 0
    """Series dropped because their value was NaN or missing (an idle instance: 0/0, the colour
    without traffic; a Dynatrace entity without points in the window). Infinities are values."""
    error: str | None = None
    """Set when the source was down or answered an error; the verdict becomes ERROR."""
    dropped_keys: list[str] = field(default_factory=list)
    """The keys of the dropped series (Prometheus labels, Dynatrace entities), reported with the indicator."""

    @property
    def values(self) -> list[float]:
        return [s.value for s in self.samples]

    def dropped_text(self) -> str:
        """``2 series dropped (NaN or no value): {"colour":"green"}, ...`` or "" when none were."""
        if not self.dropped:
            return ""
        keys = ", ".join(k or "(no labels)" for k in self.dropped_keys[:5])
        more = f" and {len(self.dropped_keys) - 5} more" if len(self.dropped_keys) > 5 else ""
        return f"{self.dropped} series dropped (NaN or no value)" + (f": {keys}{more}" if keys else "")


def samples_of(pairs: list[tuple[str, Any]]) -> Fetched:
    """Samples from ``(key, raw value)`` pairs. ``"+Inf"``/``"-Inf"`` (Prometheus' notation for a
    ratio over zero, a histogram's top bucket) are values and are graded; NaN, null and what is no
    number at all (``true``/``false`` included) are dropped, and their keys kept for the report
    (docs/gate.md "Values")."""
    kept: list[Sample] = []
    dropped: list[str] = []
    for key, raw in pairs:
        try:
            if isinstance(raw, bool):  # JSON true/false: float(False) is 0.0, which passed an upper threshold
                raise TypeError("a boolean is no number")
            value = float(raw)
        except (TypeError, ValueError, OverflowError):
            dropped.append(key)
            continue
        if math.isnan(value):
            dropped.append(key)
        else:
            kept.append(Sample(key, value))
    return Fetched(samples=kept, dropped=len(dropped), dropped_keys=dropped)


@dataclass(frozen=True)
class SourceSettings:
    """What every source shares, plus one settings group per source (``groups[name]``, built by that
    source's ``Settings.from_options``); each source checks the fields it uses when it is built."""

    context: StageContext
    timeout_s: float = 10.0
    """Per-request timeout."""
    retry_budget_s: float = 15.0
    """Total time one source may spend retrying transient errors (connection refused, 5xx, 429)."""
    settle_timeout_s: float = 0.0
    """Longest wait for a backend to hold a window that ended moments ago (``MetricSource.settle``); 0: none."""
    groups: Mapping[str, Any] = field(default_factory=dict)

    def group(self, name: str, default: Any) -> Any:
        """The settings group of source ``name`` (``default`` when none was given)."""
        return self.groups.get(name, default)

    def secrets(self) -> list[Secret | None]:
        """Every secret any group holds, built or not: what each written output is masked with."""
        found: list[Secret | None] = []
        for group in self.groups.values():
            found += group.secrets()
        return found


class MetricSource(Protocol):
    """Fetch one query over one window. Errors come back in ``Fetched.error``, never as exceptions.

    The class methods run before anything is built or sent: ``check_query`` when a spec loads
    (a problem is bad input naming the spec and field), ``substitute`` when the window is known.
    """

    name: ClassVar[str]
    """The key in ``SOURCES`` (lower case); perfspec ``source`` and ``--sli-provider`` values."""
    OPTIONS: ClassVar[tuple[Option, ...]]
    """This source's option group (see ``Option``)."""

    @classmethod
    def check_query(cls, query: Any) -> str | None:
        """Why ``query`` cannot run on this source, or None."""
        ...

    @classmethod
    def substitute(cls, query: Any, values: Mapping[str, str]) -> Any:
        """``query`` with ``$NAME`` placeholders filled, each value quoted by this source's rules;
        ``ValueError`` for a value that cannot stand where its placeholder is."""
        ...

    @classmethod
    def settings_from_options(cls, options: Mapping[str, Any]) -> Any:
        """This source's settings group from the values of its ``OPTIONS`` (secrets read here)."""
        ...

    @classmethod
    def from_settings(cls, settings: SourceSettings) -> MetricSource:
        """A ready source; ``BadInputError`` naming the missing flag."""
        ...

    def settle(self, window: Window) -> str:
        """Called once before the queries of ``window``: wait (bounded by the settings' settle timeout)
        until the backend has ingested past ``window.end`` when it ended moments ago; return a line for
        the evaluation's log ("" when there is nothing to say). Never raises; never makes data up: a
        value still missing afterwards fails the gate as before."""
        ...

    def fetch(self, query: Any, window: Window) -> Fetched: ...

    def describe(self, query: Any) -> str:
        """The query as a human reads it in JUnit, the summary and the history (after substitution)."""
        ...

    def secrets(self) -> list[Secret | None]:
        """The secrets this source holds (tokens, passwords): masked in everything written."""
        ...

    def close(self) -> None: ...


def placeholder_pattern(values: Mapping[str, str]) -> tuple[re.Pattern[str], dict[str, str]]:
    """``$NAME`` and ``$name`` for every name in ``values``, longest names first (so
    ``$DURATION_MINUTESm`` wins over ``$DURATION_MINUTES`` and that over ``$DURATION``), and the
    lookup from a matched name to its value."""
    names = sorted(values, key=len, reverse=True)
    alternatives = "|".join(re.escape(n) for n in names) + "|" + "|".join(re.escape(n.lower()) for n in names)
    lookup = {**{n.lower(): values[n] for n in names}, **dict(values)}
    return re.compile(r"\$(" + alternatives + ")"), lookup


def substitute_plain(query: Any, values: Mapping[str, str]) -> Any:
    """Placeholders filled as they are, in a string or in every string of a query object (a
    Dynatrace v1 query, a dotted path): for sources whose queries have no quoting of their own."""
    if isinstance(query, str):
        if not values:
            return query
        pattern, lookup = placeholder_pattern(values)
        return pattern.sub(lambda m: lookup[m.group(1)], query)
    if isinstance(query, dict):
        return {k: substitute_plain(v, values) for k, v in query.items()}
    if isinstance(query, list):
        return [substitute_plain(v, values) for v in query]
    return query


def split_userinfo(url: str) -> tuple[str, str, Secret | None]:
    """``(url without user:password@, user, password)``, both percent-decoded: credentials in a URL
    must not reach messages (``secrets.split_url``, which this names for the sources)."""
    parts = split_url(url)
    return parts.url, parts.user, parts.password
