"""The History contract under concurrency and crashes, on every backend (SQLite file, real PostgreSQL).

Aspects: 20 processes evaluating at once (the real evaluate step: comparison pool read, judged,
stored) into a store that does not exist yet lose no row, every evaluation keeps all its indicators, ids and created_at agree, and
every comparison pool is a gap-free "newest N" of the ids before it (a snapshot never shows an
evaluation without the ones committed before it); a process killed in the middle of a write
leaves no half-written evaluation and no lock behind; reads running beside a writer and a pruner
always see whole evaluations and a series whose buckets add up; a writer that cannot get the
writer lock within its lock timeout (another writer stuck inside its transaction) is an
infrastructure error, stores nothing, and the next write after the lock is free lands.
"""

from __future__ import annotations

import json
import multiprocessing
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from pipeline_steps.documents.context import StageContext
from pipeline_steps.documents.evaluation import IndicatorReport, Window
from pipeline_steps.errors import InfrastructureError
from pipeline_steps.gate.slo import load_slo
from pipeline_steps.history import History, backend_of, open_history
from pipeline_steps.sources.base import SourceSettings
from pipeline_steps.sources.testrun import TestrunSettings
from pipeline_steps.steps.evaluate import GateRun, evaluate

PROCESSES = 20
EACH = 3
POOL = 3
SLO = f"""comparison: {{compare_with: several_results, number_of_comparison_results: {POOL}, include_result_with_score: all}}
objectives:
  - sli: rt
    pass: [{{criteria: ['<=+100000%']}}]
  - sli: errors
    pass: [{{criteria: ['<1']}}]
total_score: {{pass: '90%'}}
"""
SLI = "indicators:\n  rt: performance.latency_ms.p95\n  errors: performance.error_rate\n"


def _evaluator(location: str, folder: str, worker: int, barrier: Any) -> None:
    """One pipeline agent: EACH evaluations of the same service, as fast as it can."""
    spec = load_slo(Path(folder) / "slo.yaml", Path(folder) / "sli.yaml", "testrun")
    history = open_history(location)
    barrier.wait(120)
    seen = []
    for n in range(EACH):
        ctx = StageContext("sockshop", "staging", "carts", tag=f"w{worker}-{n}")
        document = {"performance": {"latency_ms": {"p95": 100.0 + worker + n / 10}, "error_rate": 0.0}}
        run = GateRun(context=ctx, window=Window(1000, 1060), out_dir=Path(folder) / f"out-{worker}-{n}", history=history,
                      settings=SourceSettings(context=ctx, groups={"testrun": TestrunSettings(document)}))
        outcome = evaluate(spec, run)
        seen.append({"id": outcome.history_id, "pool": [int(i) for i in outcome.document["comparedEvents"]],
                     "verdict": outcome.verdict.value})
    history.close()
    (Path(folder) / f"seen-{worker}.json").write_text(json.dumps(seen))


def test_twenty_processes_evaluating_at_once_lose_nothing_and_agree_on_the_order(history_location: str,
                                                                                 tmp_path: Path) -> None:
    (tmp_path / "slo.yaml").write_text(SLO)
    (tmp_path / "sli.yaml").write_text(SLI)
    # No store yet: the first writers also race to create the schema.
    spawn = multiprocessing.get_context("spawn")
    barrier = spawn.Barrier(PROCESSES)
    procs = [spawn.Process(target=_evaluator, args=(history_location, str(tmp_path), w, barrier)) for w in range(PROCESSES)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(240)
    assert [p.exitcode for p in procs] == [0] * PROCESSES
    seen = [s for w in range(PROCESSES) for s in json.loads((tmp_path / f"seen-{w}.json").read_text())]
    assert all(s["verdict"] == "PASS" for s in seen)
    store = open_history(history_location)
    entries = store.previous("sockshop", "staging", "carts", limit=10 * PROCESSES * EACH)[::-1]
    ids = [e.id for e in entries]
    assert len(entries) == PROCESSES * EACH and sorted(s["id"] for s in seen) == ids
    assert all([i.id for i in e.indicators] == ["rt", "errors"] for e in entries)
    assert [e.created_at for e in entries] == sorted(e.created_at for e in entries)
    for s in seen:
        pool = s["pool"]
        assert pool == sorted(pool, reverse=True) and (not pool or pool[0] < s["id"])
        if pool:  # the newest POOL ids up to the newest one it saw: nothing committed earlier was missing
            at = ids.index(pool[0])
            assert pool == ids[max(0, at - POOL + 1):at + 1][::-1], (s, ids)
    store.close()


CRASHING_WRITER = """
import os, sys
from pipeline_steps.documents.evaluation import IndicatorReport
from pipeline_steps.history import open_history

class Dies:
    '''An indicator that kills the process while add() is between its two inserts.'''
    def __init__(self, real):
        self.real = real
    def __getattr__(self, name):
        if name == "criteria_text":
            os._exit(9)
        return getattr(self.real, name)

store = open_history(sys.argv[1])
real = IndicatorReport("rt", "prometheus", "q", "pass", 1, 1, value=3.0)
store.add(context={"project": "sockshop", "stage": "staging", "service": "carts"}, kind="slo", verdict="PASS",
          result="pass", score=1, max_score=1, indicators=[real, Dies(real)])
"""


def _add(location: str, value: float) -> int:
    store = open_history(location)
    try:
        return store.add(context={"project": "sockshop", "stage": "staging", "service": "carts"}, kind="slo",
                         verdict="PASS", result="pass", score=1, max_score=1,
                         indicators=[IndicatorReport("rt", "prometheus", "q", "pass", 1, 1, value=value)])
    finally:
        store.close()


def test_a_crash_inside_a_write_leaves_no_half_evaluation(history_location: str) -> None:
    first = _add(history_location, 1.0)
    crashed = subprocess.run([sys.executable, "-c", CRASHING_WRITER, history_location], capture_output=True, text=True,
                             timeout=60)
    assert crashed.returncode == 9, crashed.stderr
    started = time.monotonic()
    second = _add(history_location, 2.0)  # no lock is left behind
    assert time.monotonic() - started < 10
    store = open_history(history_location)
    entries = store.previous("sockshop", "staging", "carts", limit=10)
    assert [(e.id, [i.value for i in e.indicators]) for e in entries] == [(second, [2.0]), (first, [1.0])]
    assert store.count("sockshop", "staging", "carts") == 2
    store.close()


def _writer(location: str, stop_at: float) -> None:
    store = open_history(location)
    while time.monotonic() < stop_at:
        store.add(context={"project": "sockshop", "stage": "staging", "service": "carts"}, kind="slo", verdict="PASS",
                  result="pass", score=1, max_score=1,
                  indicators=[IndicatorReport(f"i{n}", "prometheus", "q", "pass", 1, 1, value=float(n)) for n in range(3)])
    store.close()


def _pruner(location: str, stop_at: float) -> None:
    store = open_history(location)
    while time.monotonic() < stop_at:
        store.prune(2)
    store.close()


def test_reads_beside_a_writer_and_a_pruner_see_whole_evaluations(history_location: str) -> None:
    store = open_history(history_location)
    _writer(history_location, 0)
    store.check()
    spawn = multiprocessing.get_context("spawn")
    stop_at = time.monotonic() + 6.0
    others = [spawn.Process(target=_writer, args=(history_location, stop_at)),
              spawn.Process(target=_pruner, args=(history_location, stop_at))]
    for p in others:
        p.start()
    reads = 0
    while time.monotonic() < stop_at:
        for e in store.previous("sockshop", "staging", "carts", limit=4):
            assert [i.value for i in e.indicators] == [0.0, 1.0, 2.0], e
        series = store.series("sockshop", "staging", "carts", indicator="i1", max_points=2)
        assert len(series) <= 2 and all(p.mean == 1.0 for p in series)
        reads += 1
    for p in others:
        p.join(60)
        assert p.exitcode == 0
    assert reads > 10
    store.close()


def test_a_writer_lock_held_too_long_is_an_infrastructure_error(history_location: str) -> None:
    store = open_history(history_location)
    store.check()
    if backend_of(history_location) == "sqlite":
        import sqlite3

        holder: Any = sqlite3.connect(history_location, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
    else:
        import psycopg

        from pipeline_steps.history.postgres import LOCK_KEY
        holder = psycopg.connect(history_location, autocommit=True)
        holder.execute("BEGIN")
        holder.execute("SELECT pg_advisory_xact_lock(%s, %s)", LOCK_KEY)
    store.lock_timeout_s = 1.0
    store.close()  # the timeout applies from the next connection on
    started = time.monotonic()
    with pytest.raises(InfrastructureError, match="history"):
        _add_with(store, 1.0)
    assert 0.9 < time.monotonic() - started < 15
    holder.execute("ROLLBACK")
    holder.close()
    assert _add_with(store, 2.0) > 0
    assert [e.indicators[0].value for e in store.previous("sockshop", "staging", "carts", limit=5)] == [2.0]
    store.close()


def _add_with(store: History, value: float) -> int:
    return store.add(context={"project": "sockshop", "stage": "staging", "service": "carts"}, kind="slo", verdict="PASS",
                     result="pass", score=1, max_score=1,
                     indicators=[IndicatorReport("rt", "prometheus", "q", "pass", 1, 1, value=value)])
