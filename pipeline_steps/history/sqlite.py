"""The evaluation history in one SQLite file: the default, nothing to install, one machine.

Why it is safe with many writers on one machine: WAL journal (readers never block the writer and
keep their snapshot), ``synchronous=FULL`` (a committed evaluation survives a power cut), and
every write a ``BEGIN IMMEDIATE`` transaction, which takes SQLite's one write lock before it reads
anything, so ids and ``created_at`` follow commit order. A waiting writer sleeps in SQLite's busy
handler for up to ``lock_timeout_s`` (default ``BUSY_TIMEOUT_S``); longer is an infrastructure
error (exit 4), never a lost row.
A process killed mid-write leaves a transaction that the next opener rolls back (the WAL frames
were never committed). SQLite >= 3.35 (``RETURNING``); Debian 12 has 3.40.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sqlite3
import tempfile
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from pipeline_steps.errors import BadInputError, InfrastructureError
from pipeline_steps.files import iso_utc
from pipeline_steps.history.sql import Cursor, SqlHistory

DEFAULT_PATH = ".pipeline-steps/history.sqlite"
BUSY_TIMEOUT_S = 30.0

_STEPS: dict[int, list[str]] = {
    1: [  # the layout before the schema had a version (pipeline-steps 0.1 wrote it without this table)
        "CREATE TABLE IF NOT EXISTS evaluations (id INTEGER PRIMARY KEY AUTOINCREMENT, project TEXT NOT NULL,"
        " stage TEXT NOT NULL, service TEXT NOT NULL, created_at TEXT NOT NULL, kind TEXT NOT NULL, verdict TEXT NOT NULL,"
        " result TEXT NOT NULL, score REAL NOT NULL, max_score REAL NOT NULL, context TEXT NOT NULL)",
        "CREATE INDEX IF NOT EXISTS evaluations_pss ON evaluations (project, stage, service, id)",
        "CREATE TABLE IF NOT EXISTS indicators (evaluation_id INTEGER NOT NULL REFERENCES evaluations(id),"
        " position INTEGER NOT NULL, indicator_id TEXT NOT NULL, value REAL, status TEXT NOT NULL, score REAL NOT NULL,"
        " max_score REAL NOT NULL, criteria TEXT NOT NULL, query TEXT NOT NULL, PRIMARY KEY (evaluation_id, position))",
    ],
    2: [
        "ALTER TABLE indicators ADD COLUMN source TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE indicators ADD COLUMN reason TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE indicators ADD COLUMN key_sli INTEGER NOT NULL DEFAULT 0",
        # The report's chart reads one indicator of every evaluation of a service: a covering
        # index turns 4+ row visits per evaluation into one index seek (50,000 evaluations: -25 % CPU).
        "CREATE INDEX indicators_by_id ON indicators (indicator_id, evaluation_id, value, status)",
        "CREATE TABLE pipeline_steps_schema (version INTEGER NOT NULL)",
    ],
}


class SqliteHistory(SqlHistory):
    """Evaluations of every project/stage/service in one SQLite file (created on the first write)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.location = str(self.path)
        self._conn: sqlite3.Connection | None = None
        self.lock_timeout_s = BUSY_TIMEOUT_S

    @classmethod
    def handles(cls, location: str) -> bool:
        return "://" not in location

    def _create(self) -> None:
        """Make the store appear at once, already in WAL mode and at the current schema.

        Why not just connect: first writers racing on a fresh file each switch its journal to WAL,
        which needs an exclusive lock; one holds SHARED waiting for EXCLUSIVE while another holds
        RESERVED waiting for that SHARED to go, and both sleep out the busy timeout (seen with 20
        agents). A finished file linked into place (``link`` fails if another got there first) has
        nothing left to switch."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
        os.close(fd)
        try:
            conn = sqlite3.connect(tmp, isolation_level=None)
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("BEGIN IMMEDIATE")
                self._upgrade(conn.cursor(), 0)
                conn.execute("COMMIT")
            finally:
                conn.close()
            with contextlib.suppress(FileExistsError):
                os.link(tmp, self.path)
        finally:
            for leftover in (tmp, f"{tmp}-wal", f"{tmp}-shm"):
                Path(leftover).unlink(missing_ok=True)

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            started = time.monotonic()
            try:
                if not self.path.exists():
                    self._create()
                conn = sqlite3.connect(self.path, timeout=self.lock_timeout_s, isolation_level=None)
                conn.execute(f"PRAGMA busy_timeout={int(self.lock_timeout_s * 1000)}")
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=FULL")
            except (OSError, sqlite3.Error) as err:
                raise self._error(err, started) from err
            self._conn = conn
        return self._conn

    def _error(self, err: Exception, started: float) -> Exception:
        text = str(err)
        if isinstance(err, sqlite3.OperationalError) and ("locked" in text or "busy" in text):
            return InfrastructureError("history", f"{self.path}: {text} (another writer; waited"
                                       f" {time.monotonic() - started:.1f} s of {self.lock_timeout_s:g} s)")
        if _disk_failed(err):
            return InfrastructureError("history", f"{self.path}: {text} (the disk refused the write; nothing was stored)")
        if isinstance(err, sqlite3.DatabaseError) and not isinstance(err, sqlite3.OperationalError):
            return BadInputError(str(self.path), None, f"not a usable history store: {text}")
        return BadInputError(str(self.path), None, f"cannot open history store: {text}")

    @contextmanager
    def _transaction(self, begin: str) -> Iterator[Cursor]:
        if begin == "BEGIN" and self._conn is None and not self.path.exists():
            # A read of a store nobody wrote yet answers nothing and must not create the file.
            conn = sqlite3.connect(":memory:", isolation_level=None)
        else:
            conn = self._connection()
        started = time.monotonic()
        try:
            conn.execute(begin)
        except sqlite3.Error as err:
            raise self._error(err, started) from err
        cur = conn.cursor()
        try:
            yield cur
            conn.execute("COMMIT")
        except sqlite3.Error as err:
            _roll_back(conn)
            raise self._error(err, started) from err
        except BaseException:
            _roll_back(conn)
            raise
        finally:
            cur.close()
            if conn is not self._conn:
                conn.close()

    def _read(self) -> AbstractContextManager[Cursor]:
        # A deferred transaction: its first SELECT fixes the WAL snapshot every later SELECT sees.
        return self._transaction("BEGIN")

    def _write(self) -> AbstractContextManager[Cursor]:
        return self._transaction("BEGIN IMMEDIATE")

    def _tables(self, cur: Cursor) -> set[str]:
        return {row[0] for row in cur.execute("SELECT name FROM sqlite_master WHERE type='table'").fetchall()}

    def _steps(self) -> dict[int, list[str]]:
        return _STEPS

    def _now(self, cur: Cursor) -> str:
        return iso_utc(micro=True)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


_DISK_ERRORS = (13, 10)
"""SQLITE_FULL and SQLITE_IOERR (sqlite.org/rescode.html; named in the sqlite3 module only from Python 3.11)."""
_DISK_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EFBIG, errno.EROFS)


def _disk_failed(err: Exception) -> bool:
    """A full or failing disk (SQLITE_FULL, SQLITE_IOERR and its extended codes, or the OS saying so):
    an infrastructure problem, not a wrong location."""
    if isinstance(err, OSError):
        return err.errno in _DISK_ERRNOS
    code = getattr(err, "sqlite_errorcode", None)  # Python 3.11+
    if code is not None:
        return (int(code) & 0xFF) in _DISK_ERRORS
    return isinstance(err, sqlite3.OperationalError) and ("disk I/O error" in str(err) or "is full" in str(err))


def _roll_back(conn: sqlite3.Connection) -> None:
    """End the transaction; SQLite has already rolled it back after SQLITE_FULL or an I/O error (sqlite.org
    rescode.html), and a ROLLBACK then fails, hiding the error that matters."""
    if conn.in_transaction:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")
