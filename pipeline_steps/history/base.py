"""The History Protocol every backend implements, and the values it hands out.

Why a Protocol: relative SLO criteria are only as good as the history they compare with, and a
history on one agent's disk is empty on the next agent. Teams need a shared store (PostgreSQL);
one machine needs nothing to install (SQLite). Both sit behind this one contract with the same
semantics, pinned by ``tests/history/test_contract.py``, which runs every behaviour on both:

- ids are positive integers handed out in commit order: a reader that sees an evaluation also sees
  every earlier one of its service (writers are serialised; ``created_at`` follows the same order);
- one evaluation and its indicators are written in one transaction: a crash leaves all or nothing;
- every read is one snapshot (a prune or a write running beside it is seen entirely or not at all);
- the schema is versioned (``SCHEMA_VERSION``); a store at an older version is refused with the
  ``pipeline-steps history migrate`` hint, a newer one with an upgrade hint, both as bad input;
- a store that cannot be reached (server down, refused, wrong password), a writer lock not had
  within ``lock_timeout_s`` or a statement the server never answers is ``InfrastructureError``
  (exit 4); a location that is not a history (a file that is not SQLite) is ``BadInputError``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from pipeline_steps.documents.evaluation import IndicatorReport
from pipeline_steps.documents.vocabulary import IndicatorStatus

SCHEMA_VERSION = 2
"""1: the first SQLite layout (no version table); 2: version table, indicators keep source, reason, key_sli,
and an index for the report's chart."""
EXPORT_SCHEMA = "pipeline-steps/history-export/v1"
"""The first line of ``history export``: ``{"schema": EXPORT_SCHEMA, "schema_version": N}``; one evaluation per line after it."""

SEVERITY: dict[IndicatorStatus, int] = {
    IndicatorStatus.INFO: 1, IndicatorStatus.PASS: 2, IndicatorStatus.WARNING: 3, IndicatorStatus.NO_DATA: 4,
    IndicatorStatus.FAIL: 5, IndicatorStatus.ERROR: 6,
}
"""How bad a status is, for the worst status of a chart bucket (every member has a rank)."""


@dataclass(frozen=True)
class HistoryIndicator:
    """One stored indicator; ``criteria`` is the human text of its thresholds or criteria."""

    id: str
    value: float | None
    status: IndicatorStatus
    score: float
    max_score: float
    criteria: str
    query: str
    source: str = ""
    reason: str = ""
    key_sli: bool = False


@dataclass(frozen=True)
class HistoryEntry:
    """One stored evaluation: ``created_at`` ISO-8601 UTC with microseconds, ``context`` the stage
    context (project, stage, service, tag, keptn_context, ...), ``kind`` perfspec|slo, ``verdict``
    PASS|WARNING|FAIL|ERROR, ``result`` the dialect's word (pass|warning|fail)."""

    id: int
    created_at: str
    context: dict[str, Any]
    kind: str
    verdict: str
    result: str
    score: float
    max_score: float
    indicators: list[HistoryIndicator] = field(default_factory=list)

    @property
    def tag(self) -> str:
        """The version's tag, or ``#id`` when it had none."""
        return str(self.context.get("tag", "")) or f"#{self.id}"

    def value_of(self, indicator_id: str) -> float | None:
        for ind in self.indicators:
            if ind.id == indicator_id:
                return ind.value
        return None


@dataclass(frozen=True)
class SeriesPoint:
    """One chart point: the key indicator over ``count`` consecutive evaluations (ids ``first_id``..
    ``last_id``), ``low``/``mean``/``high`` of their values (None when none had a value), the worst
    status among them and the tag of the last one."""

    first_id: int
    last_id: int
    count: int
    low: float | None
    mean: float | None
    high: float | None
    status: IndicatorStatus | None
    label: str


class History(Protocol):
    """An evaluation history. Methods raise ``BadInputError`` (not a history, schema too old or too
    new) or ``InfrastructureError`` (cannot be reached); ``location`` never carries a password."""

    location: str
    """Where the store is, as messages may show it (a path, or a URL without its password)."""
    lock_timeout_s: float
    """How long a write waits for the writer lock before it is an ``InfrastructureError`` (from the next connection on)."""

    def check(self) -> None:
        """Reach the store and check its schema; creates an empty store at the current version."""

    def exists(self) -> bool:
        """Whether the store holds a history at all (a file or the tables), without creating one."""

    def add(self, *, context: dict[str, Any], kind: str, verdict: str, result: str, score: float, max_score: float,
            indicators: Sequence[IndicatorReport]) -> int:
        """Store one evaluation atomically; returns its id (ids grow in commit order)."""

    def previous(self, project: str, stage: str, service: str, *, limit: int,
                 results: Sequence[str] | None = None) -> list[HistoryEntry]:
        """The newest ``limit`` evaluations of one service in one stage whose result is in ``results``
        (all when None), newest first, read in one snapshot."""

    def count(self, project: str, stage: str, service: str) -> int:
        """How many evaluations of one service in one stage are stored."""

    def series(self, project: str, stage: str, service: str, *, indicator: str, max_points: int) -> list[SeriesPoint]:
        """``indicator`` over every evaluation of the service in the stage, oldest first, in at most
        ``max_points`` buckets of consecutive evaluations (one evaluation each while they fit)."""

    def prune(self, keep: int, *, project: str = "", stage: str = "", service: str = "") -> int:
        """Delete all but the newest ``keep`` evaluations of every project/stage/service (only those
        matching the given names); returns how many were deleted."""

    def schema_version(self) -> int:
        """The store's schema version (0: empty)."""

    def migrate(self) -> tuple[int, int]:
        """Upgrade the schema in place to ``SCHEMA_VERSION`` in one transaction; ``(from, to)``."""

    def export(self) -> Iterator[dict[str, Any]]:
        """Every evaluation as an export record (``records.to_record``), oldest first, streamed."""

    def import_records(self, records: Iterable[dict[str, Any]]) -> tuple[int, int]:
        """Insert validated export records under their own ids in one transaction; a record whose id
        is already stored is skipped when equal and refused (``BadInputError``) when different.
        Returns ``(added, skipped)``."""

    def close(self) -> None:
        """Release the connection (the store may be used again afterwards)."""
