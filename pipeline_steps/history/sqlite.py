"""Evaluation history in SQLite: relative SLO criteria compare against it; the HTML report reads it.

Why SQLite: one file next to the Jenkins workspace, no server, and transactions in WAL mode, so
two pipelines writing at once both land, and a process killed mid-write leaves the earlier
results intact (the half-written transaction is rolled back on the next open). Bad input and
ERROR verdicts are never written (nothing was measured).

Public API (stable; the report builds on it)::

    store = HistoryStore(path)                    # creates the file and schema on first use
    entry_id = store.add(document, indicators)    # one evaluation; returns its id
    store.list(project, stage, service)           # -> list[HistoryEntry], oldest first
    store.previous(project, stage, service, limit=3, results=("pass",))   # newest first

``HistoryEntry``: ``id``, ``created_at`` (ISO UTC), ``context`` (dict: tag, keptn_context, ...),
``kind`` (perfspec|slo), ``verdict`` (PASS|WARNING|FAIL), ``result`` (pass|warning|fail),
``score`` and ``max_score`` (total), ``indicators``: list of ``HistoryIndicator`` with ``id``,
``value`` (float or None), ``status`` (pass|warning|fail|no_data|info), ``score``, ``max_score``,
``criteria`` (human text of thresholds/criteria) and ``query``.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline_steps.documents.evaluation import IndicatorReport
from pipeline_steps.documents.vocabulary import IndicatorStatus
from pipeline_steps.errors import BadInputError
from pipeline_steps.files import iso_utc, parse_json

DEFAULT_PATH = ".pipeline-steps/history.sqlite"
Entries = list["HistoryEntry"]  # the method named ``list`` shadows the builtin inside the class

_SCHEMA = """
CREATE TABLE IF NOT EXISTS evaluations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    project TEXT NOT NULL, stage TEXT NOT NULL, service TEXT NOT NULL,
    created_at TEXT NOT NULL, kind TEXT NOT NULL, verdict TEXT NOT NULL, result TEXT NOT NULL,
    score REAL NOT NULL, max_score REAL NOT NULL, context TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS evaluations_pss ON evaluations (project, stage, service, id);
CREATE TABLE IF NOT EXISTS indicators (
    evaluation_id INTEGER NOT NULL REFERENCES evaluations(id),
    position INTEGER NOT NULL, indicator_id TEXT NOT NULL, value REAL, status TEXT NOT NULL,
    score REAL NOT NULL, max_score REAL NOT NULL, criteria TEXT NOT NULL, query TEXT NOT NULL,
    PRIMARY KEY (evaluation_id, position)
);
"""


@dataclass(frozen=True)
class HistoryIndicator:
    id: str
    value: float | None
    status: IndicatorStatus
    score: float
    max_score: float
    criteria: str
    query: str


@dataclass(frozen=True)
class HistoryEntry:
    id: int
    created_at: str
    context: dict[str, Any]
    kind: str
    verdict: str
    result: str
    score: float
    max_score: float
    indicators: list[HistoryIndicator] = field(default_factory=list)

    def value_of(self, indicator_id: str) -> float | None:
        for ind in self.indicators:
            if ind.id == indicator_id:
                return ind.value
        return None


def _indicator(row: Sequence[Any]) -> HistoryIndicator:
    ident, value, status, score, max_score, criteria, query = row
    return HistoryIndicator(ident, value, IndicatorStatus(status), score, max_score, criteria, query)


class HistoryStore:
    """Evaluations of every project/stage/service in one SQLite file."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
        except (OSError, sqlite3.Error) as err:
            raise BadInputError(str(self.path), None, f"cannot open history store: {err}") from err
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA busy_timeout=30000")
            conn.executescript(_SCHEMA)
            yield conn
        except sqlite3.DatabaseError as err:
            raise BadInputError(str(self.path), None, f"not a usable history store: {err}") from err
        finally:
            conn.close()

    def add(self, *, context: dict[str, Any], kind: str, verdict: str, result: str, score: float, max_score: float,
            indicators: Sequence[IndicatorReport], created_at: str | None = None) -> int:
        """Store one evaluation atomically; returns its id."""
        created = created_at or iso_utc(micro=True)
        with self._connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                cur = conn.execute(
                    "INSERT INTO evaluations (project, stage, service, created_at, kind, verdict, result, score, max_score,"
                    " context) VALUES (?,?,?,?,?,?,?,?,?,?)",
                    (context["project"], context["stage"], context["service"], created, kind, verdict, result,
                     float(score), float(max_score), json.dumps(context, sort_keys=True)))
                entry_id = int(cur.lastrowid or 0)
                conn.executemany(
                    "INSERT INTO indicators VALUES (?,?,?,?,?,?,?,?,?)",
                    [(entry_id, i, ind.id, ind.value, str(ind.status), float(ind.score), float(ind.max_score),
                      ind.criteria_text, ind.query) for i, ind in enumerate(indicators)])
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        return entry_id

    def list(self, project: str, stage: str, service: str) -> Entries:
        """Every evaluation of one service in one stage, oldest first."""
        return self._query("WHERE project=? AND stage=? AND service=? ORDER BY id ASC", (project, stage, service))

    def previous(self, project: str, stage: str, service: str, *, limit: int,
                 results: Sequence[str] | None = None, kind: str | None = None) -> Entries:
        """The newest ``limit`` evaluations whose overall result is in ``results`` (all when None)."""
        where = "WHERE project=? AND stage=? AND service=?"
        params: list[Any] = [project, stage, service]
        if results:
            where += f" AND result IN ({','.join('?' * len(results))})"
            params.extend(results)
        if kind:
            where += " AND kind=?"
            params.append(kind)
        return self._query(where + " ORDER BY id DESC LIMIT ?", (*params, int(limit)))

    def count(self) -> int:
        if not self.path.exists():
            return 0
        with self._connect() as conn:
            return int(conn.execute("SELECT COUNT(*) FROM evaluations").fetchone()[0])

    def _query(self, clause: str, params: Sequence[Any]) -> Entries:
        if not self.path.exists():
            return []
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT id, created_at, context, kind, verdict, result, score, max_score FROM evaluations " + clause,
                tuple(params)).fetchall()
            entries = []
            for row in rows:
                inds = conn.execute(
                    "SELECT indicator_id, value, status, score, max_score, criteria, query FROM indicators"
                    " WHERE evaluation_id=? ORDER BY position", (row[0],)).fetchall()
                entries.append(HistoryEntry(int(row[0]), row[1], parse_json(row[2], str(self.path)), row[3], row[4], row[5],
                                            float(row[6]), float(row[7]), [_indicator(i) for i in inds]))
        return entries
