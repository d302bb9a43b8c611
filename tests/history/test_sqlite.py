"""The SQLite history when the disk fails it: full, or refusing writes.

Aspects: a write that meets a full store (SQLite answers SQLITE_FULL, as for a full disk; SQLite has
already rolled the transaction back) is an infrastructure error naming the file, never the driver's own
exception (exit 4 "internal error" with a traceback), stores nothing and leaves the store usable; the
CLI under a file-size limit the kernel enforces (RLIMIT_FSIZE, so SQLite's writes fail with an I/O error)
exits 4 with one line, not 2 (the location is fine, the disk is not).
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline_steps.documents.evaluation import IndicatorReport
from pipeline_steps.errors import InfrastructureError
from pipeline_steps.history import open_history
from pipeline_steps.history.sqlite import SqliteHistory

ROOT = Path(__file__).resolve().parents[2]
CTX = {"project": "sockshop", "stage": "staging", "service": "carts"}


def _big(count: int) -> list[IndicatorReport]:
    return [IndicatorReport(f"i{k}", "prometheus", "q" * 5000, "pass", 1.0, 1.0, value=1.0, criteria_text="<1")
            for k in range(count)]


def test_a_full_store_is_an_infrastructure_error_and_stores_nothing(tmp_path: Path) -> None:
    store = open_history(str(tmp_path / "h.sqlite"))
    assert isinstance(store, SqliteHistory)
    store.add(context=CTX, kind="slo", verdict="PASS", result="pass", score=1, max_score=1, indicators=_big(1))
    conn = store._connection()  # SQLite's own page limit: the same SQLITE_FULL a full disk answers
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count={pages + 1}")
    with pytest.raises(InfrastructureError, match=r"h\.sqlite: .*full"):
        store.add(context=CTX, kind="slo", verdict="PASS", result="pass", score=1, max_score=1, indicators=_big(20))
    conn.execute("PRAGMA max_page_count=1073741823")
    assert store.count("sockshop", "staging", "carts") == 1
    store.add(context=CTX, kind="slo", verdict="PASS", result="pass", score=1, max_score=1, indicators=_big(2))
    assert store.count("sockshop", "staging", "carts") == 2
    store.close()


def _limited(size: int) -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write fails with EFBIG instead of killing the process
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))


def test_the_cli_on_a_disk_that_refuses_writes_exits_4(tmp_path: Path) -> None:
    (tmp_path / "testrun.json").write_text('{"start_unix": 1000, "end_unix": 1060, "performance": {"latency_ms": {"p95": 1}}}')
    (tmp_path / "slo.yaml").write_text("objectives:\n  - sli: rt\n    pass: [{criteria: ['<600']}]\ntotal_score: {pass: '90%'}\n")
    (tmp_path / "sli.yaml").write_text("indicators:\n  rt: performance.latency_ms.p95\n")
    argv = [sys.executable, "-m", "pipeline_steps", "evaluate", "--slo", str(tmp_path / "slo.yaml"), "--sli",
            str(tmp_path / "sli.yaml"), "--sli-provider", "testrun", "--testrun", str(tmp_path / "testrun.json"),
            "--project", "sockshop", "--stage", "staging", "--service", "carts", "--history", str(tmp_path / "h.sqlite"),
            "--out-dir", str(tmp_path / "out")]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120, preexec_fn=lambda: _limited(6000),
                          check=False)
    assert done.returncode == 4, done.stdout + done.stderr
    assert done.stderr.startswith("error: history: ") and "I/O error" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "out" / "evaluation.json").exists()
