"""``pipeline-steps history migrate|export|import|prune`` through the CLI, on both backends.

Aspects: a store written by pipeline-steps 0.1 (schema 1) makes evaluate and report exit 2 with
the migrate hint and changes nothing; ``history migrate`` upgrades it in place (again: "already
at"); ``history export`` (file or standard output) and ``history import`` (file or standard
input) move a history from SQLite into PostgreSQL and back with identical exports; a malformed
export is exit 2 naming the file, line and field, and nothing is imported; ``history prune
--keep N`` keeps the newest N of each project/stage/service and refuses N < 1.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from click.testing import CliRunner

from pipeline_steps.cli import cli
from pipeline_steps.history import open_history
from pipeline_steps.history.base import SCHEMA_VERSION
from tests.history.test_contract import V1_ROWS, V1_SQLITE
from tests.history_data import fill


def run(*argv: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(argv), input=stdin)
    return result.exit_code, result.stdout, result.stderr


def test_an_old_sqlite_history_is_refused_until_migrated(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite"
    with sqlite3.connect(path) as conn:
        conn.executescript(V1_SQLITE + ";".join(V1_ROWS) + ";")
    (tmp_path / "slo.yaml").write_text("objectives:\n  - sli: rt\n    pass: [{criteria: ['<=+10%']}]\n"
                                       "total_score: {pass: '90%'}\n")
    (tmp_path / "sli.yaml").write_text("indicators:\n  rt: performance.latency_ms.p95\n")
    testrun = {"start_unix": 1, "end_unix": 61, "performance": {"latency_ms": {"p95": 1}}}
    (tmp_path / "testrun.json").write_text(json.dumps(testrun))
    evaluate = ["evaluate", "--slo", str(tmp_path / "slo.yaml"), "--sli", str(tmp_path / "sli.yaml"), "--sli-provider",
                "testrun", "--testrun", str(tmp_path / "testrun.json"), "--project", "sockshop", "--stage", "staging",
                "--service", "carts", "--history", str(path), "--out-dir", str(tmp_path / "out")]
    report = ["report", "--history", str(path), "--project", "sockshop", "--service", "carts", "--stage", "staging",
              "--out", str(tmp_path / "report.html")]
    for argv in (evaluate, report):
        code, _, err = run(*argv)
        assert code == 2 and err.startswith(f"error: {path}: history schema version 1 is older"), err
        assert "run `pipeline-steps history migrate` once" in err
    assert not (tmp_path / "out").exists() and not (tmp_path / "report.html").exists()
    assert open_history(str(path)).schema_version() == 1
    assert run("history", "migrate", "--history", str(path)) == (
        0, f"history: {path}: upgraded from schema 1 to schema {SCHEMA_VERSION}\n", "")
    assert run("history", "migrate", "--history", str(path))[1] == f"history: {path}: already at schema {SCHEMA_VERSION}\n"
    assert run(*evaluate)[0] == 0 and run(*report)[0] == 0
    assert json.loads((tmp_path / "out" / "evaluation.json").read_text())["comparedEvents"] == ["1"]  # the old evaluation
    assert [e.tag for e in open_history(str(path)).previous("sockshop", "staging", "carts", limit=5)] == ["#2", "old"]


def test_export_import_between_backends(tmp_path: Path, pg_url: str) -> None:
    sqlite_path = str(tmp_path / "agent.sqlite")
    fill(open_history(sqlite_path), 120, failing=(-1, 3))
    fill(open_history(sqlite_path), 5, stage="dev", first_id=1000)
    code, _, err = run("history", "export", "--history", sqlite_path, "--out", str(tmp_path / "h.jsonl"))
    assert code == 0 and err == f"history: exported 125 evaluation(s) from {sqlite_path}\n"
    assert run("history", "import", "--history", pg_url, str(tmp_path / "h.jsonl"))[1] == (
        f"history: imported 125 evaluation(s) into {pg_url}; 0 already there\n")
    code, exported, _ = run("history", "export", "--history", pg_url)
    assert code == 0 and exported == (tmp_path / "h.jsonl").read_text()
    back = str(tmp_path / "back.sqlite")
    assert run("history", "import", "--history", back, "-", stdin=exported)[0] == 0
    assert run("history", "export", "--history", back)[1] == exported
    assert run("history", "import", "--history", back, "-", stdin=exported)[1].endswith("; 125 already there\n")


def test_a_malformed_export_imports_nothing(history_location: str, tmp_path: Path) -> None:
    source = str(tmp_path / "source.sqlite")
    fill(open_history(source), 3)
    lines = run("history", "export", "--history", source)[1].splitlines()
    record = json.loads(lines[3])
    record["indicators"][1]["status"] = "great"
    (tmp_path / "bad.jsonl").write_text("\n".join([*lines[:3], json.dumps(record)]) + "\n")
    code, _, err = run("history", "import", "--history", history_location, str(tmp_path / "bad.jsonl"))
    assert code == 2 and err.startswith(f"error: {tmp_path / 'bad.jsonl'}: line 4: indicators[1].status: 'great' is not one of")
    assert open_history(history_location).count("sockshop", "staging", "carts") == 0
    code, _, err = run("history", "import", "--history", history_location, str(tmp_path / "missing.jsonl"))
    assert code == 2 and "missing.jsonl: cannot read" in err


def test_prune_keeps_the_newest_per_service(history_location: str) -> None:
    store = open_history(history_location)
    fill(store, 30)
    fill(store, 4, service="orders", first_id=100)
    code, out, _ = run("history", "prune", "--history", history_location, "--keep", "10")
    assert code == 0 and out.startswith(f"history: pruned 20 evaluation(s) from {history_location}; kept the newest 10")
    assert store.count("sockshop", "staging", "carts") == 10 and store.count("sockshop", "staging", "orders") == 4
    assert [e.tag for e in store.previous("sockshop", "staging", "carts", limit=1)] == ["1.0.29"]
    assert run("history", "prune", "--history", history_location, "--keep", "0")[0] == 2
    store.close()
