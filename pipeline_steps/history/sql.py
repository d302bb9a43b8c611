"""The History contract in SQL both backends speak, so SQLite and PostgreSQL cannot drift apart.

Why shared: "the same semantics" is easiest to keep when the statements are the same. Every
statement here is plain SQL both engines run (window functions, ``LIMIT``, sub-selects); they are
written with ``?`` placeholders and a backend rewrites them to its own style. What differs lives
in the backend: how to connect, how a transaction starts (SQLite ``BEGIN IMMEDIATE``; PostgreSQL
an advisory lock and ``REPEATABLE READ``), the DDL of each schema step, and error mapping.

Reads that return several rows per evaluation (entries and their indicators) are one statement
inside one read transaction, so they are one snapshot on both engines.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

from pipeline_steps.documents.evaluation import IndicatorReport
from pipeline_steps.documents.vocabulary import IndicatorStatus
from pipeline_steps.errors import BadInputError
from pipeline_steps.history.base import SCHEMA_VERSION, SEVERITY, HistoryEntry, HistoryIndicator, SeriesPoint
from pipeline_steps.history.records import entry_of, to_record

_EVALUATION_COLUMNS = "id, created_at, context, kind, verdict, result, score, max_score"
_INDICATOR_COLUMNS = "indicator_id, value, status, score, max_score, criteria, query, source, reason, key_sli"
_SERVICE = "project=? AND stage=? AND service=?"
_BY_SEVERITY = {rank: status for status, rank in SEVERITY.items()}
_RANK = "CASE i.status " + " ".join(f"WHEN '{s.value}' THEN {r}" for s, r in SEVERITY.items()) + " END"


class Cursor(Protocol):
    """The slice of a DB-API cursor the shared statements use (both drivers' cursors fit)."""

    @property
    def rowcount(self) -> int: ...

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any: ...
    def executemany(self, sql: str, params: Iterable[Sequence[Any]]) -> Any: ...
    def fetchone(self) -> Any: ...
    def fetchall(self) -> list[Any]: ...
    def __iter__(self) -> Iterator[Any]: ...


class SqlHistory:
    """The History Protocol over a backend's ``_read()``/``_write()`` transactions (``Cursor`` inside)."""

    location: str = ""

    # -- what a backend provides ------------------------------------------------------------------
    def _read(self) -> AbstractContextManager[Cursor]:
        """A read-only transaction that is one snapshot."""
        raise NotImplementedError

    def _write(self) -> AbstractContextManager[Cursor]:
        """A write transaction that holds the store's one writer lock until it commits."""
        raise NotImplementedError

    def _tables(self, cur: Cursor) -> set[str]:
        """Which of our table names exist."""
        raise NotImplementedError

    def _steps(self) -> dict[int, list[str]]:
        """The DDL that brings a schema from version N-1 to N, for N in 1..SCHEMA_VERSION."""
        raise NotImplementedError

    def _now(self, cur: Cursor) -> str:
        """The time to stamp an evaluation with, read while holding the writer lock (ISO UTC, microseconds)."""
        raise NotImplementedError

    def _after_import(self, cur: Cursor) -> None:
        """Move the id generator past explicitly inserted ids (PostgreSQL's identity sequence)."""

    def close(self) -> None:
        raise NotImplementedError

    # -- schema -----------------------------------------------------------------------------------
    def _version(self, cur: Cursor) -> int:
        tables = self._tables(cur)
        if "pipeline_steps_schema" in tables:
            row = cur.execute("SELECT MAX(version) FROM pipeline_steps_schema").fetchone()
            return int(row[0] or 0)
        return 1 if "evaluations" in tables else 0

    def _require_current(self, version: int) -> None:
        if version == SCHEMA_VERSION or version == 0:
            return
        if version < SCHEMA_VERSION:
            raise BadInputError(self.location, None, f"history schema version {version} is older than this pipeline-steps"
                                f" needs ({SCHEMA_VERSION}): run `pipeline-steps history migrate` once (it upgrades in place)")
        raise BadInputError(self.location, None, f"history schema version {version} is newer than this pipeline-steps"
                            f" ({SCHEMA_VERSION}): upgrade pipeline-steps on this machine")

    def _upgrade(self, cur: Cursor, version: int) -> None:
        for step in range(version + 1, SCHEMA_VERSION + 1):
            for statement in self._steps()[step]:
                cur.execute(statement)
        if version < SCHEMA_VERSION:
            cur.execute("DELETE FROM pipeline_steps_schema")
            cur.execute("INSERT INTO pipeline_steps_schema (version) VALUES (?)", (SCHEMA_VERSION,))

    def _ensure(self, cur: Cursor) -> None:
        """Inside a write transaction: create an empty store at the current version, refuse an old one."""
        version = self._version(cur)
        self._require_current(version)
        if version == 0:
            self._upgrade(cur, 0)

    def schema_version(self) -> int:
        with self._read() as cur:
            return self._version(cur)

    def check(self) -> None:
        with self._write() as cur:
            self._ensure(cur)

    def migrate(self) -> tuple[int, int]:
        with self._write() as cur:
            version = self._version(cur)
            if version > SCHEMA_VERSION:
                self._require_current(version)
            self._upgrade(cur, version)
        return version, SCHEMA_VERSION

    def _readable(self, cur: Cursor) -> bool:
        """Inside a read: False for an empty store (reads answer nothing); raises for a wrong version."""
        version = self._version(cur)
        self._require_current(version)
        return version != 0

    # -- writes -----------------------------------------------------------------------------------
    def add(self, *, context: dict[str, Any], kind: str, verdict: str, result: str, score: float, max_score: float,
            indicators: Sequence[IndicatorReport]) -> int:
        with self._write() as cur:
            self._ensure(cur)
            cur.execute(
                "INSERT INTO evaluations (project, stage, service, created_at, kind, verdict, result, score, max_score,"
                " context) VALUES (?,?,?,?,?,?,?,?,?,?) RETURNING id",
                (context["project"], context["stage"], context["service"], self._stamp(cur), kind, verdict, result,
                 float(score), float(max_score), json.dumps(context, sort_keys=True)))
            entry_id = int(cur.fetchone()[0])
            # SQLite turns a NaN REAL into NULL and PostgreSQL keeps it: store no value on both.
            rows = [(entry_id, n, ind.id, _no_nan(ind.value), ind.status.value, float(ind.score), float(ind.max_score),
                     ind.criteria_text, ind.query, ind.source, ind.reason, bool(ind.key_sli)) for n, ind in enumerate(indicators)]
            if rows:
                cur.executemany(f"INSERT INTO indicators (evaluation_id, position, {_INDICATOR_COLUMNS})"
                                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", rows)
        return entry_id

    def _stamp(self, cur: Cursor) -> str:
        """Now, but never before the newest stored evaluation (a clock stepped back by NTP, or another
        agent's clock), so ``created_at`` order stays id order."""
        now = self._now(cur)
        row = cur.execute("SELECT created_at FROM evaluations ORDER BY id DESC LIMIT 1").fetchone()
        return max(now, row[0]) if row else now

    def prune(self, keep: int, *, project: str = "", stage: str = "", service: str = "") -> int:
        where, params = [], []
        for name, value in (("project", project), ("stage", stage), ("service", service)):
            if value:
                where.append(f"{name}=?")
                params.append(value)
        doomed = ("SELECT id FROM (SELECT id, ROW_NUMBER() OVER (PARTITION BY project, stage, service ORDER BY id DESC) AS r"
                  f" FROM evaluations{' WHERE ' + ' AND '.join(where) if where else ''}) ranked WHERE r > ?")
        if not self.exists():
            return 0
        with self._write() as cur:
            if not self._readable(cur):
                return 0
            cur.execute(f"DELETE FROM indicators WHERE evaluation_id IN ({doomed})", (*params, int(keep)))
            cur.execute(f"DELETE FROM evaluations WHERE id IN ({doomed})", (*params, int(keep)))
            return max(0, int(cur.rowcount))

    def import_records(self, records: Iterable[dict[str, Any]]) -> tuple[int, int]:
        added = skipped = 0
        with self._write() as cur:
            self._ensure(cur)
            for record in records:
                entry = entry_of(record)
                existing = self._entries(cur, "WHERE id=?", (entry.id,))
                if existing:
                    if to_record(existing[0]) != to_record(entry):
                        raise BadInputError(self.location, None, f"id {entry.id} already holds a different evaluation"
                                            f" ({existing[0].created_at}); nothing was imported (import into an empty store)")
                    skipped += 1
                    continue
                self._insert(cur, entry)
                added += 1
            self._after_import(cur)
        return added, skipped

    def _insert(self, cur: Cursor, entry: HistoryEntry) -> None:
        ctx = entry.context
        cur.execute("INSERT INTO evaluations (id, project, stage, service, created_at, kind, verdict, result, score, max_score,"
                    " context) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                    (entry.id, ctx["project"], ctx["stage"], ctx["service"], entry.created_at, entry.kind, entry.verdict,
                     entry.result, entry.score, entry.max_score, json.dumps(ctx, sort_keys=True)))
        if entry.indicators:
            cur.executemany(f"INSERT INTO indicators (evaluation_id, position, {_INDICATOR_COLUMNS})"
                            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                            [(entry.id, n, i.id, i.value, i.status.value, i.score, i.max_score, i.criteria, i.query,
                              i.source, i.reason, i.key_sli) for n, i in enumerate(entry.indicators)])

    # -- reads ------------------------------------------------------------------------------------
    def exists(self) -> bool:
        with self._read() as cur:
            return bool(self._tables(cur) & {"evaluations", "pipeline_steps_schema"})

    def previous(self, project: str, stage: str, service: str, *, limit: int,
                 results: Sequence[str] | None = None) -> list[HistoryEntry]:
        where = f"WHERE {_SERVICE}"
        params: list[Any] = [project, stage, service]
        if results:
            where += f" AND result IN ({','.join('?' * len(results))})"
            params.extend(results)
        with self._read() as cur:
            if not self._readable(cur):
                return []
            return self._entries(cur, f"{where} ORDER BY id DESC LIMIT ?", (*params, int(limit)), newest_first=True)

    def count(self, project: str, stage: str, service: str) -> int:
        with self._read() as cur:
            if not self._readable(cur):
                return 0
            return self._count(cur, project, stage, service)

    def _count(self, cur: Cursor, project: str, stage: str, service: str) -> int:
        return int(cur.execute(f"SELECT COUNT(*) FROM evaluations WHERE {_SERVICE}", (project, stage, service)).fetchone()[0])

    def series(self, project: str, stage: str, service: str, *, indicator: str, max_points: int) -> list[SeriesPoint]:
        with self._read() as cur:
            if not self._readable(cur):
                return []
            total = self._count(cur, project, stage, service)
            if total == 0:
                return []
            # Bucket b holds the evaluations whose position n (0-based, oldest first) has n*points/total == b.
            points = max(1, min(int(max_points), total))
            rows = cur.execute(
                "SELECT e.n * CAST(? AS BIGINT) / CAST(? AS BIGINT) AS b, MIN(e.id), MAX(e.id), COUNT(*),"
                f" MIN(i.value), AVG(i.value), MAX(i.value), MAX({_RANK})"
                f" FROM (SELECT id, ROW_NUMBER() OVER (ORDER BY id) - 1 AS n FROM evaluations WHERE {_SERVICE}) e"
                " LEFT JOIN indicators i ON i.evaluation_id = e.id AND i.indicator_id = ? GROUP BY b ORDER BY b",
                (points, total, project, stage, service, indicator)).fetchall()
            last_ids = [int(r[2]) for r in rows]
            labels = self._labels(cur, last_ids)
        return [SeriesPoint(int(r[1]), int(r[2]), int(r[3]), _float(r[4]), _float(r[5]), _float(r[6]),
                            _BY_SEVERITY.get(int(r[7])) if r[7] is not None else None, labels.get(int(r[2]), f"#{r[2]}"))
                for r in rows]

    def _labels(self, cur: Cursor, ids: list[int]) -> dict[int, str]:
        labels: dict[int, str] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            for ident, context in cur.execute(f"SELECT id, context FROM evaluations WHERE id IN ({','.join('?' * len(chunk))})",
                                              chunk).fetchall():
                labels[int(ident)] = str(json.loads(context).get("tag", "")) or f"#{ident}"
        return labels

    def export(self, page: int = 1000) -> Iterator[dict[str, Any]]:
        # Pages by id inside one read transaction: one snapshot, and memory bounded by a page on
        # both drivers (psycopg's client-side cursor would otherwise hold every row at once).
        with self._read() as cur:
            if not self._readable(cur):
                return
            after = 0
            while True:
                entries = self._entries(cur, "WHERE id > ? ORDER BY id LIMIT ?", (after, page))
                yield from (to_record(e) for e in entries)
                if len(entries) < page:
                    return
                after = entries[-1].id

    def _entries(self, cur: Cursor, clause: str, params: Sequence[Any], *, newest_first: bool = False) -> list[HistoryEntry]:
        return list(self._stream(cur, clause, params, newest_first=newest_first))

    def _stream(self, cur: Cursor, clause: str, params: Sequence[Any], *, newest_first: bool = False) -> Iterator[HistoryEntry]:
        """Evaluations chosen by ``clause`` with their indicators: one statement, grouped as the rows come."""
        order = "DESC" if newest_first else "ASC"
        cur.execute(
            f"SELECT e.id, e.created_at, e.context, e.kind, e.verdict, e.result, e.score, e.max_score, {_prefixed()}"
            f" FROM (SELECT {_EVALUATION_COLUMNS} FROM evaluations {clause}) e"
            f" LEFT JOIN indicators i ON i.evaluation_id = e.id ORDER BY e.id {order}, i.position", tuple(params))
        current: HistoryEntry | None = None
        for row in cur:
            if current is None or current.id != int(row[0]):
                if current is not None:
                    yield current
                current = HistoryEntry(int(row[0]), row[1], json.loads(row[2]), row[3], row[4], row[5], float(row[6]),
                                       float(row[7]), [])
            if row[8] is not None:
                current.indicators.append(HistoryIndicator(
                    row[8], _float(row[9]), IndicatorStatus(row[10]), float(row[11]), float(row[12]), row[13], row[14],
                    row[15], row[16], bool(row[17])))
        if current is not None:
            yield current


def _prefixed() -> str:
    return ", ".join(f"i.{c.strip()}" for c in _INDICATOR_COLUMNS.split(","))


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def _no_nan(value: float | None) -> float | None:
    return None if value is not None and math.isnan(value) else value
