"""The History contract (pipeline_steps/history/base.py), run on every backend: SQLite and a real PostgreSQL.

Aspects: an empty store answers nothing and reading it creates nothing; add/previous/count keep
every field (value None or infinite, source, reason, key_sli), newest first, filtered by result, per service;
ids and created_at follow commit order; series buckets every evaluation into at most max_points
with low/mean/high and the worst status, one evaluation per point while they fit; prune keeps
the newest N of each project/stage/service (or of the named ones); the schema: a fresh store is
at SCHEMA_VERSION, a version-1 store (the layout pipeline-steps 0.1 wrote) is refused with the
migrate hint and left unchanged, ``migrate`` upgrades it in place keeping every row, a newer
version is refused; export/import move a history between backends without losing a field
(byte-identical export after SQLite -> PostgreSQL -> SQLite), skip what is already there, refuse a
different evaluation under a known id and a malformed line with nothing imported.
"""

from __future__ import annotations

import io
import json
import math
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from pipeline_steps.documents.evaluation import IndicatorReport
from pipeline_steps.documents.vocabulary import IndicatorStatus
from pipeline_steps.errors import BadInputError
from pipeline_steps.history import History, backend_of, open_history
from pipeline_steps.history.base import SCHEMA_VERSION
from pipeline_steps.history.records import read_export, write_export

CTX = {"project": "sockshop", "stage": "staging", "service": "carts", "keptn_context": "k-1"}


def report(value: float | None, status: str = "pass", ident: str = "rt", **extra: Any) -> IndicatorReport:
    return IndicatorReport(ident, "prometheus", f"q_{ident}{{}}", status, 1.0, 2.0, value=value, criteria_text="pass: (<600)",
                           **extra)


def add(store: History, result: str, value: float | None, tag: str = "v", **context: str) -> int:
    return store.add(context={**CTX, "tag": tag, **context}, kind="slo", verdict=result.upper(), result=result,
                     score=1.5, max_score=2, indicators=[report(value, result if result != "warning" else "warning")])


def test_an_empty_store_answers_nothing_and_reading_creates_nothing(history_location: str) -> None:
    store = open_history(history_location)
    assert (store.exists(), store.previous("p", "s", "x", limit=3), store.count("p", "s", "x")) == (False, [], 0)
    assert store.series("p", "s", "x", indicator="rt", max_points=10) == [] and list(store.export()) == []
    assert store.schema_version() == 0 and store.prune(1) == 0
    assert store.exists() is False
    if backend_of(history_location) == "sqlite":
        assert not Path(history_location).exists()
    store.check()  # a store about to be written is created at the current version
    assert store.exists() and store.schema_version() == SCHEMA_VERSION
    store.close()


def test_add_previous_count_keep_every_field(history_location: str) -> None:
    store = open_history(history_location)
    ids = [add(store, r, v, f"0.{i}") for i, (r, v) in enumerate([("pass", 100.0), ("fail", 900.0), ("warning", 500.0)])]
    store.add(context={**CTX, "stage": "dev"}, kind="perfspec", verdict="PASS", result="pass", score=1, max_score=1,
              indicators=[])
    rich = store.add(context={**CTX, "tag": "0.9", "image": "reg/carts"}, kind="slo", verdict="ERROR", result="pass",
                     score=0.5, max_score=2, indicators=[
                         report(None, "no_data", "a", reason="no value received"),
                         report(1e-300, "error", "b", reason="no previous results: relative criterion not applied", key_sli=True),
                         report(-0.1, "info", "c"), report(math.inf, "fail", "d")])
    ids.append(rich)
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    newest = store.previous("sockshop", "staging", "carts", limit=10)
    assert [e.id for e in newest] == ids[::-1]
    entry = newest[0]
    assert (entry.context["image"], entry.kind, entry.verdict, entry.result, entry.score, entry.max_score, entry.tag) == (
        "reg/carts", "slo", "ERROR", "pass", 0.5, 2.0, "0.9")
    assert [(i.id, i.value, i.status, i.source, i.reason, i.key_sli, i.criteria, i.query) for i in entry.indicators] == [
        ("a", None, IndicatorStatus.NO_DATA, "prometheus", "no value received", False, "pass: (<600)", "q_a{}"),
        ("b", 1e-300, IndicatorStatus.ERROR, "prometheus", "no previous results: relative criterion not applied", True,
         "pass: (<600)", "q_b{}"),
        ("c", -0.1, IndicatorStatus.INFO, "prometheus", "", False, "pass: (<600)", "q_c{}"),
        ("d", math.inf, IndicatorStatus.FAIL, "prometheus", "", False, "pass: (<600)", "q_d{}")]
    assert [e.id for e in store.previous("sockshop", "staging", "carts", limit=5, results=("pass", "warning"))] == [
        rich, ids[2], ids[0]]
    assert [e.id for e in store.previous("sockshop", "staging", "carts", limit=1)] == [rich]
    assert store.count("sockshop", "staging", "carts") == 4 and store.count("sockshop", "dev", "carts") == 1
    assert store.count("sockshop", "prod", "carts") == 0
    created = [e.created_at for e in store.previous("sockshop", "staging", "carts", limit=10)][::-1]
    assert created == sorted(created) and all(c.endswith("Z") and "." in c for c in created)
    store.close()


def test_a_nan_is_no_value_on_every_backend(history_location: str) -> None:
    """SQLite stores a NaN REAL as NULL and PostgreSQL keeps NaN, so a value must not depend on the
    backend: ``add`` stores a NaN as no value on both, and an export line carrying "NaN" (which no
    store writes) is bad input naming the field."""
    store = open_history(history_location)
    add(store, "pass", math.nan)
    assert [i.value for i in store.previous("sockshop", "staging", "carts", limit=1)[0].indicators] == [None]
    assert '"value": null' in _export(store).splitlines()[1]
    record = json.loads(_export(store).splitlines()[1])
    record["id"] += 1
    record["indicators"][0]["value"] = "NaN"
    header = _export(store).splitlines()[0]
    with pytest.raises(BadInputError, match=r"x.jsonl: line 2: indicators\[0\].value: must be a finite number, \+Inf,"
                                            " -Inf or null"):
        store.import_records(read_export(io.StringIO(f"{header}\n{json.dumps(record)}\n"), "x.jsonl"))
    assert store.count("sockshop", "staging", "carts") == 1
    store.close()


def test_series_buckets_the_whole_history(history_location: str) -> None:
    store = open_history(history_location)
    statuses = ["pass"] * 9 + ["fail"]
    for n in range(10):
        store.add(context={**CTX, "tag": f"v{n}"}, kind="slo", verdict="PASS", result="pass", score=1, max_score=1,
                  indicators=[report(None if n == 4 else float(n), statuses[n]), report(100.0 - n, "pass", "other")])
    whole = store.series("sockshop", "staging", "carts", indicator="rt", max_points=500)
    assert [(p.count, p.mean, p.label) for p in whole] == [(1, None if n == 4 else float(n), f"v{n}") for n in range(10)]
    three = store.series("sockshop", "staging", "carts", indicator="rt", max_points=3)
    assert [(p.count, p.low, p.mean, p.high, p.status, p.label) for p in three] == [
        (4, 0.0, 1.5, 3.0, IndicatorStatus.PASS, "v3"),           # n*3//10 == 0 for n = 0..3
        (3, 5.0, 5.5, 6.0, IndicatorStatus.PASS, "v6"),           # 4..6; v4 had no value
        (3, 7.0, 8.0, 9.0, IndicatorStatus.FAIL, "v9")]           # the worst status of the bucket
    assert [p.first_id for p in three][1:] == [p.last_id + 1 for p in three][:-1]
    unknown = store.series("sockshop", "staging", "carts", indicator="nope", max_points=4)
    assert sum(p.count for p in unknown) == 10 and all(p.mean is None and p.status is None for p in unknown)
    store.close()


def test_prune_keeps_the_newest_of_each_service(history_location: str) -> None:
    store = open_history(history_location)
    for stage in ("dev", "staging"):
        for service in ("carts", "orders"):
            for n in range(5):
                add(store, "pass", float(n), f"{stage}-{service}-{n}", stage=stage, service=service)
    assert store.prune(4, stage="dev", service="orders") == 1
    assert store.count("sockshop", "dev", "orders") == 4 and store.count("sockshop", "dev", "carts") == 5
    assert store.prune(2) == 2 + 3 * 3
    for stage in ("dev", "staging"):
        for service in ("carts", "orders"):
            kept = store.previous("sockshop", stage, service, limit=10)
            assert [e.tag for e in kept] == [f"{stage}-{service}-4", f"{stage}-{service}-3"]
            assert all(len(e.indicators) == 1 for e in kept)
    assert store.prune(2) == 0
    store.close()


# The layout pipeline-steps 0.1 wrote (schema version 1, no version table), verbatim.
V1_SQLITE = """
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
V1_ROWS = [
    "INSERT INTO evaluations (project, stage, service, created_at, kind, verdict, result, score, max_score, context)"
    " VALUES ('sockshop', 'staging', 'carts', '2026-01-02T03:04:05.000006Z', 'slo', 'PASS', 'pass', 1, 1,"
    " '{\"project\": \"sockshop\", \"service\": \"carts\", \"stage\": \"staging\", \"tag\": \"old\"}')",
    "INSERT INTO indicators VALUES (1, 0, 'rt', 123.5, 'pass', 1, 1, 'pass: (<600)', 'q')",
]


def _make_v1(history_location: str) -> None:
    if backend_of(history_location) == "sqlite":
        conn = sqlite3.connect(history_location)
        conn.executescript(V1_SQLITE + ";".join(V1_ROWS) + ";")
        conn.commit()
        conn.close()
        return
    import psycopg

    from pipeline_steps.history.postgres import _STEPS
    with psycopg.connect(history_location, autocommit=True) as conn:
        for statement in [*_STEPS[1], *V1_ROWS]:
            conn.execute(statement)


def test_an_old_schema_is_refused_until_migrate_upgrades_it_in_place(history_location: str) -> None:
    _make_v1(history_location)
    store = open_history(history_location)
    assert store.schema_version() == 1
    for attempt in (lambda: add(store, "pass", 1.0), lambda: store.previous("sockshop", "staging", "carts", limit=3),
                    store.check):
        with pytest.raises(BadInputError, match=r"schema version 1 is older.*pipeline-steps history migrate"):
            attempt()
    assert store.schema_version() == 1
    assert store.migrate() == (1, SCHEMA_VERSION)
    assert store.migrate() == (SCHEMA_VERSION, SCHEMA_VERSION)
    [old] = store.previous("sockshop", "staging", "carts", limit=3)
    assert (old.id, old.tag, old.created_at, old.indicators[0].value, old.indicators[0].source, old.indicators[0].key_sli) == (
        1, "old", "2026-01-02T03:04:05.000006Z", 123.5, "", False)
    new = add(store, "pass", 2.0)
    assert new > 1 and store.previous("sockshop", "staging", "carts", limit=1)[0].indicators[0].source == "prometheus"
    store.close()


def test_a_newer_schema_is_refused(history_location: str) -> None:
    store = open_history(history_location)
    add(store, "pass", 1.0)
    store.close()
    if backend_of(history_location) == "sqlite":
        with sqlite3.connect(history_location) as conn:
            conn.execute("UPDATE pipeline_steps_schema SET version = 99")
    else:
        import psycopg

        with psycopg.connect(history_location, autocommit=True) as conn:
            conn.execute("UPDATE pipeline_steps_schema SET version = 99")
    for attempt in (lambda: open_history(history_location).previous("sockshop", "staging", "carts", limit=1),
                    lambda: open_history(history_location).migrate()):
        with pytest.raises(BadInputError, match=r"schema version 99 is newer.*upgrade pipeline-steps"):
            attempt()


def _export(store: History) -> str:
    out = io.StringIO()
    write_export(store.export(), out)
    return out.getvalue()


def _fill(store: History) -> None:
    for n in range(7):
        store.add(context={**CTX, "tag": f"v{n}", "stage": ("dev", "staging")[n % 2]}, kind="slo", verdict="PASS",
                  result="pass", score=n / 3, max_score=2,
                  indicators=[report({3: math.inf, 4: -math.inf}.get(n, n / 7), "pass", key_sli=bool(n % 2), reason=f"r{n}"),
                              report(None, "no_data", "b")])


def test_export_import_moves_every_field_sqlite_to_postgresql_and_back(pg_url: str, tmp_path: Path) -> None:
    source = open_history(str(tmp_path / "agent.sqlite"))
    _fill(source)
    source.prune(3)  # ids with gaps must survive the move
    text = _export(source)
    lines = text.splitlines()
    assert json.loads(lines[0])["schema_version"] == SCHEMA_VERSION and len(lines) == 1 + 6
    assert ['"value": "+Inf"' in lines[1 + 2], '"value": "-Inf"' in lines[1 + 3]] == [True, True]  # ids 4, 5: graded infinities
    target = open_history(pg_url)
    assert target.import_records(read_export(io.StringIO(text), "export.jsonl")) == (6, 0)
    assert _export(target) == text
    assert target.import_records(read_export(io.StringIO(text), "export.jsonl")) == (0, 6)  # again: nothing new
    after = target.add(context={**CTX, "tag": "next"}, kind="slo", verdict="PASS", result="pass", score=1, max_score=1,
                       indicators=[])
    assert after > max(json.loads(line)["id"] for line in lines[1:])  # the id generator moved past the imported ids
    back = open_history(str(tmp_path / "back.sqlite"))
    assert back.import_records(target.export()) == (7, 0)
    assert _export(back) == _export(target) and _export(back).startswith(text)
    for store in (source, target, back):
        store.close()


def test_import_is_all_or_nothing(history_location: str) -> None:
    store = open_history(history_location)
    _fill(store)
    text = _export(store)
    records = [json.loads(line) for line in text.splitlines()]
    changed = [records[0], *records[1:3], {**records[3], "verdict": "FAIL"}]
    fresh = [{**r, "id": r["id"] + 100} for r in records[1:]]
    mixed = "\n".join(json.dumps(r) for r in [changed[0], *fresh, *changed[1:]]) + "\n"
    with pytest.raises(BadInputError, match=f"id {records[3]['id']} already holds a different evaluation"):
        store.import_records(read_export(io.StringIO(mixed), "x.jsonl"))
    broken = "\n".join([lines for lines in text.splitlines()[:3]] + [json.dumps({**fresh[0], "indicators": [
        {**fresh[0]["indicators"][0], "value": "fast"}]})]) + "\n"
    with pytest.raises(BadInputError, match=r"x.jsonl: line 4: indicators\[0\].value: must be a finite number"):
        store.import_records(read_export(io.StringIO(broken), "x.jsonl"))
    with pytest.raises(BadInputError, match="line 1: schema"):
        store.import_records(read_export(io.StringIO("{}\n"), "x.jsonl"))
    assert _export(store) == text
    store.close()


def _mutated(record: dict[str, Any], change: str) -> dict[str, Any]:
    record = json.loads(json.dumps(record))
    ind = record["indicators"]
    if change == "id past BIGINT":
        record["id"] = 2**63
    elif change == "created_at not a time":
        record["created_at"] = "yesterday <b>"
    elif change == "created_at not UTC":
        record["created_at"] = "2026-11-26T10:00:00+02:00"
    elif change == "verdict not a verdict":
        record["verdict"] = "<script>"
    elif change == "kind not a gate":
        record["kind"] = "pitometer2"
    elif change == "result not a result":
        record["result"] = "passed-ish"
    elif change == "indicator id twice":
        ind.append(dict(ind[0]))
    elif change == "indicator value past a double":
        ind[0]["value"] = 10**400
    elif change == "service with a newline":  # issue 12.3: 'carts\n' made a series of its own
        record["service"] = record["context"]["service"] = record["service"] + "\n"
    elif change == "project not a label":
        record["project"] = record["context"]["project"] = "../Sock Shop"
    return record


IMPOSSIBLE = {
    "id past BIGINT": "id: must be a positive integer up to 9223372036854775807",
    "created_at not a time": "created_at: must be an ISO-8601 UTC time",
    "created_at not UTC": "created_at: must be an ISO-8601 UTC time",
    "verdict not a verdict": "verdict: '<script>' is not one of PASS, WARNING, FAIL, ERROR",
    "kind not a gate": "kind: 'pitometer2' is not one of perfspec, slo",
    "result not a result": "result: 'passed-ish' is not one of pass, warning, fail, error",
    "indicator id twice": r"indicators\[2\].id: 'rt' is already indicators\[0\]",
    "indicator value past a double": r"indicators\[0\].value: must be a finite number",
    "service with a newline": r"service: '\w+\\n' is not a DNS-1123 label",
    "project not a label": r"project: '\.\./Sock Shop' is not a DNS-1123 label",
}


@pytest.mark.parametrize("change", IMPOSSIBLE)
def test_import_refuses_a_record_no_store_could_have_written(history_location: str, change: str) -> None:
    """A record is checked against what ``add`` can store (SQLite INTEGER and PostgreSQL BIGINT ids, the
    verdict vocabulary, one UTC clock, one row per indicator id): bad input naming line and field, nothing
    imported, never the database's overflow as an internal or infrastructure error."""
    store = open_history(history_location)
    _fill(store)
    text = _export(store)
    records = [json.loads(line) for line in text.splitlines()]
    fresh = {**records[1], "id": records[-1]["id"] + 10}
    lines = [text.splitlines()[0], json.dumps({**fresh, "id": fresh["id"] + 1}), json.dumps(_mutated(fresh, change))]
    with pytest.raises(BadInputError, match=f"x.jsonl: line 3: {IMPOSSIBLE[change]}"):
        store.import_records(read_export(io.StringIO("\n".join(lines) + "\n"), "x.jsonl"))
    assert _export(store) == text
    store.close()


def test_not_a_history_is_bad_input(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite"
    path.write_bytes(b"\x00garbage" * 512)
    with pytest.raises(BadInputError) as err:
        open_history(str(path)).previous("a", "b", "c", limit=1)
    assert str(path) in str(err.value) and isinstance(err.value.__cause__, sqlite3.DatabaseError)
    with pytest.raises(BadInputError, match="mysql:// is not a history backend"):
        open_history("mysql://u@h/db")
