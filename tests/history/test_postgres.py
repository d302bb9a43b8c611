"""A PostgreSQL history through the real CLI: where the password comes from, and what a down server does.

Aspects: the password comes from libpq's own sources (PGPASSWORD, PGPASSFILE, ~/.pgpass) or
``--history-password-file``, each checked against a real role with scram-sha-256 over TCP;
without one, or with a wrong one, the command exits 4 and prints no password; a URL carrying a
password (``user:pw@`` or ``?password=``, as a flag or in PIPELINE_STEPS_HISTORY) is refused as bad
input before connecting, masked in the message, which says where the password goes; a server
that is down or refuses is exit 4 before any query of the gate runs (a counting stand-in
Prometheus sees no request) and nothing is written; the password never reaches evaluation.json,
JUnit, the summary, the event or the console.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
from click.testing import CliRunner

from pipeline_steps.cli import cli as cli_group
from pipeline_steps.platforms.local.procs import free_port
from tests.pg import Server, password_role

PASSWORD = "Tr0ub4dor-x9-history"
ROOT = Path(__file__).resolve().parents[2]


def cli(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The real CLI in its own process (libpq reads the environment of the process it runs in)."""
    full = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    return subprocess.run([sys.executable, "-m", "pipeline_steps", *argv], capture_output=True, text=True, timeout=120,
                          env={**full, "PYTHONPATH": str(ROOT), **(env or {})}, check=False)


@pytest.fixture
def role(pg_server: Server, pg_url: str) -> Iterator[tuple[str, str]]:
    """(TCP URL without password, role) of a role that logs in with PASSWORD."""
    database = urllib.parse.urlsplit(pg_url).path.lstrip("/")
    with password_role(pg_server, pg_url, PASSWORD) as name:
        yield pg_server.tcp_url(database, name), name


def test_the_password_comes_from_libpq_sources_or_a_file(role: tuple[str, str], tmp_path: Path) -> None:
    url, name = role
    host_port_db = url.split("@")[1]
    host, rest = host_port_db.split(":")
    port, database = rest.split("/")
    passfile = tmp_path / "pgpass"
    passfile.write_text(f"{host}:{port}:{database}:{name}:{PASSWORD}\n")
    passfile.chmod(0o600)
    home = tmp_path / "home"
    home.mkdir()
    (home / ".pgpass").write_text(passfile.read_text())
    (home / ".pgpass").chmod(0o600)
    secret_file = tmp_path / "history-password"
    secret_file.write_text(PASSWORD + "\n")
    ways = {
        "PGPASSWORD": (["--history", url], {"PGPASSWORD": PASSWORD}),
        "PGPASSFILE": (["--history", url], {"PGPASSFILE": str(passfile)}),
        "~/.pgpass": (["--history", url], {"HOME": str(home)}),
        "--history-password-file": (["--history", url, "--history-password-file", str(secret_file)], {}),
        "env for both": ([], {"PIPELINE_STEPS_HISTORY": url, "PIPELINE_STEPS_HISTORY_PASSWORD_FILE": str(secret_file)}),
    }
    for way, (flags, env) in ways.items():
        done = cli("history", "migrate", *flags, env=env)
        assert done.returncode == 0, (way, done.stderr)
        assert f"history: {url}: " in done.stdout and PASSWORD not in done.stdout + done.stderr
    for way, env in {"no password": {}, "wrong password": {"PGPASSWORD": PASSWORD + "-wrong"}}.items():
        refused = cli("history", "migrate", "--history", url, env=env)
        assert refused.returncode == 4, (way, refused.stdout, refused.stderr)
        assert refused.stderr.startswith(f"error: history: {url}: cannot connect:"), refused.stderr
        assert PASSWORD not in refused.stdout + refused.stderr and "Traceback" not in refused.stderr


@pytest.mark.parametrize("url", ["postgresql://ci:{pw}@127.0.0.1:5432/history", "postgres://ci:{pw}@db/history?sslmode=require",
                                 "postgresql://ci@127.0.0.1/history?password={pw}&sslmode=disable"])
def test_a_url_with_a_password_is_refused_masked(url: str, tmp_path: Path) -> None:
    url = url.format(pw=PASSWORD)
    ways = ((["--history", url], {}, "--history"), ([], {"PIPELINE_STEPS_HISTORY": url}, "PIPELINE_STEPS_HISTORY"))
    for argv, env, named in ways:
        for command in (["history", "migrate"], ["report", "--project", "p", "--service", "s", "--stage", "dev",
                                                 "--out", str(tmp_path / "r.html")]):
            done = cli(*command, *argv, env=env)
            assert done.returncode == 2, done.stderr
            assert done.stderr.startswith(f"error: {named}: the history URL ") and "carries a password" in done.stderr
            assert "***" in done.stderr and "PGPASSWORD, a .pgpass file (PGPASSFILE) or --history-password-file" in done.stderr
            assert PASSWORD not in done.stdout + done.stderr
    assert not (tmp_path / "r.html").exists()


# A generated password: pieces of five characters between the characters a URL reserves, so any piece
# that reaches an output is a leak, whichever way a parser cut the URL.
RESERVED_PASSWORD = "Zq7Kf/Wm3Rt#Hx9Pd?Lc4Vn@Bj6Ys:Gu2Ne%Qa5Ow"
PIECES = ("Zq7Kf", "Wm3Rt", "Hx9Pd", "Lc4Vn", "Bj6Ys", "Gu2Ne", "Qa5Ow")


@pytest.mark.parametrize("url", [
    *(f"postgresql://ci:{pw}@127.0.0.1:5432/history" for pw in
      ("Zq7Kf/Wm3Rt", "Zq7Kf#Wm3Rt", "Zq7Kf?Wm3Rt", "Zq7Kf@Wm3Rt", RESERVED_PASSWORD)),
    f"postgres://ci:{RESERVED_PASSWORD}@db/history?sslmode=require",
    "postgresql://ci@127.0.0.1/history?sslpassword=Zq7Kf",        # the client key's passphrase (libpq)
    "postgresql://ci@127.0.0.1/history?pass%77ord=Zq7Kf",         # keys are percent-decoded (libpq)
    "postgresql://ci@127.0.0.1/history?password%3DZq7Kf",         # no '=': libpq's parse error quotes it
    "postgresql://ci@127.0.0.1/history?sslmode=require&Zq7Kf",
])
def test_a_password_with_reserved_characters_reaches_no_output(url: str, tmp_path: Path) -> None:
    """Generated passwords hold '/', '#', '?', '@' and ':'. Unencoded, Python's and libpq's URL parsers
    cut them apart differently (libpq's user part ends at the first '@' unless a '/' comes first), so
    neither may decide alone: any reading that finds a password, or an '@' that is not the user's,
    refuses the URL (exit 2) before connecting, and no piece of it reaches the console."""
    for argv, env in ((["--history", url], {}), ([], {"PIPELINE_STEPS_HISTORY": url})):
        for command in (["history", "migrate"], ["report", "--project", "p", "--service", "s", "--stage", "dev",
                                                 "--out", str(tmp_path / "r.html")]):
            done = CliRunner().invoke(cli_group, [*command, *argv], env=env)
            assert done.exit_code == 2, (url, done.output)
            assert done.output.startswith("error: ") and done.output.count("\n") == 1, done.output
            assert not [piece for piece in PIECES if piece in done.output], done.output
    assert not (tmp_path / "r.html").exists()


class _Counting(BaseHTTPRequestHandler):
    requests: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        _Counting.requests.append(self.path)
        self.send_response(500)
        self.end_headers()

    do_POST = do_GET

    def log_message(self, *args: object) -> None:
        pass


def _gate_files(tmp_path: Path) -> list[str]:
    (tmp_path / "slo.yaml").write_text("comparison: {compare_with: single_result}\nobjectives:\n  - sli: rt\n"
                                       "    pass: [{criteria: ['<=+10%', '<600']}]\ntotal_score: {pass: '90%'}\n")
    (tmp_path / "sli.yaml").write_text("indicators:\n  rt: histogram_quantile(0.95, rate(x[$DURATION_SECONDS]))\n")
    grading = {"type": "Threshold", "thresholds": {"upperSevere": 5}, "metricScore": 1}
    (tmp_path / "perfspec.json").write_text(json.dumps({"indicators": [{"id": "rt", "source": "Prometheus", "query": "up",
                                                                        "grading": grading}],
                                                        "objectives": {"pass": 1, "warning": 1}}))
    return ["--project", "sockshop", "--stage", "staging", "--service", "carts", "--start", "1000", "--end", "1060"]


def test_a_history_that_is_down_is_exit_4_before_any_query(tmp_path: Path, role: tuple[str, str]) -> None:
    prometheus = ThreadingHTTPServer(("127.0.0.1", 0), _Counting)
    threading.Thread(target=prometheus.serve_forever, daemon=True).start()
    context = _gate_files(tmp_path)
    down = f"postgresql://ci@127.0.0.1:{free_port()}/history"
    wrong = role[0]
    try:
        for history, env in ((down, {}), (wrong, {"PGPASSWORD": "not-it"})):
            for spec in (["--slo", str(tmp_path / "slo.yaml"), "--sli", str(tmp_path / "sli.yaml")],
                         ["--spec", str(tmp_path / "perfspec.json")]):
                out = tmp_path / "out"
                done = cli("evaluate", *spec, *context, "--history", history, "--out-dir", str(out),
                           "--prometheus-url", f"http://127.0.0.1:{prometheus.server_port}", env=env)
                assert done.returncode == 4, done.stdout + done.stderr
                assert done.stderr.startswith(f"error: history: {history}: cannot connect"), done.stderr
                assert _Counting.requests == [] and not out.exists()
        report = cli("report", "--history", down, "--project", "sockshop", "--service", "carts", "--stage", "staging",
                     "--out", str(tmp_path / "report.html"))
        assert report.returncode == 4 and not (tmp_path / "report.html").exists()
    finally:
        prometheus.shutdown()


def test_the_password_reaches_no_output(role: tuple[str, str], tmp_path: Path) -> None:
    url, _ = role
    secret_file = tmp_path / "pw"
    secret_file.write_text(PASSWORD)
    (tmp_path / "testrun.json").write_text(json.dumps({"start_unix": 1000, "end_unix": 1060,
                                                       "performance": {"latency_ms": {"p95": 120.0}}}))
    (tmp_path / "slo.yaml").write_text("objectives:\n  - sli: rt\n    pass: [{criteria: ['<=+10%']}]\n"
                                       "total_score: {pass: '90%'}\n")
    (tmp_path / "sli.yaml").write_text("indicators:\n  rt: performance.latency_ms.p95\n")
    out = tmp_path / "out"
    outputs = ""
    for _ in range(2):
        done = cli("evaluate", "--slo", str(tmp_path / "slo.yaml"), "--sli", str(tmp_path / "sli.yaml"), "--sli-provider",
                   "testrun", "--testrun", str(tmp_path / "testrun.json"), "--project", "sockshop", "--stage", "staging",
                   "--service", "carts", "--history", url, "--history-password-file", str(secret_file), "--out-dir", str(out))
        assert done.returncode == 0, done.stdout + done.stderr
        outputs += done.stdout + done.stderr
    report = cli("report", "--history", url, "--history-password-file", str(secret_file), "--project", "sockshop",
                 "--service", "carts", "--stage", "staging", "--out", str(out / "report.html"))
    assert report.returncode == 0, report.stderr
    outputs += report.stdout + report.stderr
    written = [p for p in out.rglob("*") if p.is_file()]
    assert {p.name for p in written} >= {"evaluation.json", "junit-evaluation.xml", "evaluation-summary.txt", "report.html",
                                         "report.css"}
    assert json.loads((out / "evaluation.json").read_text())["comparedEvents"] == ["1"]
    assert all(PASSWORD not in p.read_text() for p in written) and PASSWORD not in outputs
