"""Benchmark: the evaluation history on SQLite vs PostgreSQL with 10,000 stored evaluations of one service.

Why: a PostgreSQL history (issue 16) lets every agent of a Jenkins compare with the same builds;
this measures what it costs against the SQLite file it replaces, side by side on the same
evaluations (4 indicators each, imported with the history's own bulk path):

* the history read of one relative-criteria evaluation, as the evaluate step does it: open the
  store, check its schema, read the comparison pool (the newest 3 passed evaluations with their
  indicators) - once with a new connection (what one `evaluate` process pays) and once more on
  the open connection;
* one stored evaluation (``add``: the writer lock, the insert, the commit);
* `pipeline-steps report` as the real CLI in its own process (wall time, median), and the
  report's reads alone in this process (previous 50, count, the 500-point chart series).

PostgreSQL is the machine's cluster (Debian ``postgresql``; started if it is down), reached over
its Unix socket and over TCP on 127.0.0.1 with a password (scram-sha-256), in a database created
for the run and dropped after it. Ratios are PostgreSQL / SQLite.
Run: python3 bench/history_backends.py [--evaluations 10000] [--repeat 20]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline_steps.documents.evaluation import IndicatorReport  # noqa: E402
from pipeline_steps.history import open_history  # noqa: E402
from pipeline_steps.report.chart import MAX_POINTS  # noqa: E402
from tests.history_data import fill  # noqa: E402
from tests.pg import ensure_server, fresh_database, password_role  # noqa: E402

PASSWORD = "bench-only-password"


def median_ms(action: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def pool_read(location: str) -> None:
    """What evaluate does before its queries: open, check the schema, read the comparison pool."""
    store = open_history(location)
    store.check()
    assert len(store.previous("sockshop", "staging", "carts", limit=3, results=("pass",))) == 3
    store.close()


def report_cli(location: str, folder: Path, env: dict[str, str]) -> None:
    argv = [sys.executable, "-m", "pipeline_steps", "report", "--history", location, "--project", "sockshop",
            "--service", "carts", "--stage", "staging", "--out", str(folder / "report.html")]
    subprocess.run(argv, check=True, capture_output=True, cwd=folder, env={**os.environ, "PYTHONPATH": str(ROOT), **env})


def report_reads(location: str) -> None:
    store = open_history(location)
    entries = store.previous("sockshop", "staging", "carts", limit=50)
    store.count("sockshop", "staging", "carts")
    store.series("sockshop", "staging", "carts", indicator=entries[0].indicators[0].id, max_points=MAX_POINTS)
    store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--evaluations", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    server = ensure_server()
    with tempfile.TemporaryDirectory(prefix="history-bench-") as tmp, fresh_database(server, "ps_bench") as pg_url:
        folder = Path(tmp)
        database = urllib.parse.urlsplit(pg_url).path.lstrip("/")
        with password_role(server, pg_url, PASSWORD) as role:
            # The role fills (and so owns) the tables; the socket user is a superuser and reads them too.
            tcp = server.tcp_url(database, role)
            backends = {"sqlite": (str(folder / "history.sqlite"), {}),
                        "postgresql (socket)": (pg_url, {}),
                        "postgresql (tcp, password)": (tcp, {"PGPASSWORD": PASSWORD})}
            fill_started = time.perf_counter()
            os.environ["PGPASSWORD"] = PASSWORD
            for location in (backends["sqlite"][0], tcp):
                store = open_history(location)
                fill(store, args.evaluations, failing=(-1, -5, -9))
                store.close()
            # A server that has held these rows a while has vacuumed them (visibility map: index-only scans).
            import psycopg

            with psycopg.connect(pg_url, autocommit=True) as conn:
                conn.execute("VACUUM ANALYZE")
            del os.environ["PGPASSWORD"]
            print(f"history: {args.evaluations} evaluations of one service (4 indicators each) in each store"
                  f" (filled in {time.perf_counter() - fill_started:.1f} s); {args.repeat} runs, median;"
                  f" machine: {os.cpu_count()} cores shared, load {os.getloadavg()[0]:.1f}")
            rows: dict[str, dict[str, float]] = {}
            for name, (location, env) in backends.items():
                saved = {k: os.environ.get(k) for k in env}
                os.environ.update(env)  # libpq reads PGPASSWORD from this process's environment
                try:
                    warm = open_history(location)
                    warm.check()
                    report = IndicatorReport("rt", "prometheus", "q", "pass", 1, 1, value=1.0)
                    rows[name] = {
                        "pool read, new connection ms": median_ms(lambda loc=location: pool_read(loc), args.repeat),
                        "pool read, open connection ms": median_ms(
                            lambda w=warm: w.previous("sockshop", "staging", "carts", limit=3, results=("pass",)),
                            args.repeat),
                        "add one evaluation ms": median_ms(
                            lambda w=warm, r=report: w.add(context={"project": "sockshop", "stage": "staging",
                                                                    "service": "carts"}, kind="slo", verdict="PASS",
                                                           result="pass", score=1, max_score=1, indicators=[r]),
                            args.repeat),
                        "report reads ms": median_ms(lambda loc=location: report_reads(loc), args.repeat),
                        "report CLI ms": median_ms(lambda loc=location, e=env: report_cli(loc, folder, e),
                                                   max(3, args.repeat // 4)),
                    }
                    warm.close()
                finally:
                    for key, value in saved.items():
                        if value is None:
                            os.environ.pop(key, None)
                        else:
                            os.environ[key] = value
    names = list(rows)
    print(f"{'':32} | " + " | ".join(f"{n:>26}" for n in names) + " | ratios to sqlite")
    for metric in rows["sqlite"]:
        values = [rows[n][metric] for n in names]
        ratios = ", ".join(f"{v / values[0]:.2f}x" for v in values[1:])
        print(f"{metric:32} | " + " | ".join(f"{v:26.2f}" for v in values) + f" | {ratios}")


if __name__ == "__main__":
    main()
