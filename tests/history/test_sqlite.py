"""The SQLite evaluation history: the API the report reads, concurrency and crash safety.

Aspects: list() returns entries oldest first with context, verdict, totals and per-indicator
facts; previous() filters by overall result, newest first, limited; concurrent writers from
several processes all land; a process killed inside a write transaction loses only that write;
a file that is not SQLite is a one-line bad-input error.
"""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline_steps.documents.evaluation import IndicatorReport
from pipeline_steps.errors import BadInputError
from pipeline_steps.history.sqlite import HistoryStore

CTX = {"project": "sockshop", "stage": "staging", "service": "carts", "tag": "0.7.1", "keptn_context": "k-1"}


def _report(value: float | None, status: str = "pass") -> IndicatorReport:
    return IndicatorReport("rt", "prometheus", "q{}", status, 1.0, 1.0, value=value, criteria_text="pass: (<600)")


def _add(store: HistoryStore, result: str, value: float | None, tag: str = "0.7.1") -> int:
    return store.add(context={**CTX, "tag": tag}, kind="slo", verdict=result.upper(), result=result, score=1, max_score=1,
                     indicators=[_report(value)])


def test_list_and_previous(tmp_path: Path) -> None:
    store = HistoryStore(tmp_path / "h.sqlite")
    assert store.list("sockshop", "staging", "carts") == []
    ids = [_add(store, r, v, f"0.{i}") for i, (r, v) in enumerate([("pass", 100.0), ("fail", 900.0), ("warning", 500.0)])]
    store.add(context={**CTX, "stage": "dev"}, kind="perfspec", verdict="PASS", result="pass", score=1, max_score=1,
              indicators=[])
    entries = store.list("sockshop", "staging", "carts")
    assert [e.id for e in entries] == ids
    first = entries[0]
    assert first.context["tag"] == "0.0" and first.verdict == "PASS" and first.created_at.endswith("Z")
    assert (first.indicators[0].id, first.indicators[0].value, first.indicators[0].criteria) == ("rt", 100.0, "pass: (<600)")
    assert [e.id for e in store.previous("sockshop", "staging", "carts", limit=5)] == ids[::-1]
    passed_or_warned = store.previous("sockshop", "staging", "carts", limit=5, results=("pass", "warning"))
    assert [e.id for e in passed_or_warned] == [ids[2], ids[0]]
    assert [e.id for e in store.previous("sockshop", "staging", "carts", limit=1)] == [ids[2]]


def _writer(path: str, n: int) -> None:
    store = HistoryStore(path)
    for i in range(n):
        _add(store, "pass", float(i))


def test_concurrent_writers_all_land(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite"
    HistoryStore(path).count()
    procs = [multiprocessing.get_context("spawn").Process(target=_writer, args=(str(path), 15)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    assert HistoryStore(path).count() == 60
    assert all(len(e.indicators) == 1 for e in HistoryStore(path).list("sockshop", "staging", "carts"))


def test_a_crash_inside_a_write_keeps_earlier_results(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite"
    store = HistoryStore(path)
    _add(store, "pass", 1.0)
    _add(store, "pass", 2.0)
    # A writer that dies (no rollback, no close) after inserting the evaluation row but before its indicators.
    code = (
        "import os, sqlite3, sys\n"
        "conn = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
        "conn.execute('BEGIN IMMEDIATE')\n"
        "conn.execute(\"INSERT INTO evaluations (project, stage, service, created_at, kind, verdict, result, score,"
        " max_score, context) VALUES ('sockshop','staging','carts','x','slo','PASS','pass',1,1,'{}')\")\n"
        "os._exit(9)\n"
    )
    assert subprocess.run([sys.executable, "-c", code, str(path)]).returncode == 9
    entries = HistoryStore(path).list("sockshop", "staging", "carts")
    assert [e.indicators[0].value for e in entries] == [1.0, 2.0]
    _add(HistoryStore(path), "pass", 3.0)
    assert HistoryStore(path).count() == 3


def test_not_a_database_is_bad_input(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite"
    path.write_bytes(os.urandom(4096))
    with pytest.raises(BadInputError) as err:
        HistoryStore(path).list("a", "b", "c")
    assert str(path) in str(err.value)
    assert isinstance(err.value.__cause__, sqlite3.DatabaseError)
