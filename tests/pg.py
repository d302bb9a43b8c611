"""A real PostgreSQL for tests: the machine's cluster, started if it is stopped, and a fresh database per test.

Why the machine's cluster: Debian's ``postgresql`` package (installed by .ci/run) runs one cluster
(``pg_lsclusters``); .ci/run starts it and creates a superuser role named after the test user.
A test that needs it does the same when it is missing (``ensure_server``), so ``python3 -m pytest``
works after .ci/run and on a developer's machine. Every test gets its own database
(``CREATE DATABASE``), dropped afterwards, so tests never see each other's rows.
Loaded as a pytest plugin (``pytest_plugins`` in tests/conftest.py): fixtures ``pg_url`` and ``pg_server``.
"""

from __future__ import annotations

import getpass
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest

SOCKET_DIR = "/var/run/postgresql"


@dataclass(frozen=True)
class Server:
    port: int
    user: str

    def url(self, database: str = "postgres") -> str:
        """A URL over the Unix socket (peer authentication: no password)."""
        return f"postgresql://{self.user}@/{database}?host={SOCKET_DIR}&port={self.port}"

    def tcp_url(self, database: str, user: str) -> str:
        """A URL over TCP on 127.0.0.1 (password authentication, scram-sha-256 in Debian's pg_hba.conf)."""
        return f"postgresql://{user}@127.0.0.1:{self.port}/{database}"


def _clusters() -> list[tuple[str, str, int, str]]:
    if shutil.which("pg_lsclusters") is None:
        raise RuntimeError("PostgreSQL is not installed (Debian package postgresql; .ci/run installs it)")
    out = subprocess.run(["pg_lsclusters", "--no-header"], capture_output=True, text=True, check=True).stdout
    rows = [line.split() for line in out.splitlines() if line.strip()]
    return [(r[0], r[1], int(r[2]), r[3]) for r in rows]


def _connect(server: Server, database: str = "postgres") -> Any:
    import psycopg

    return psycopg.connect(server.url(database), autocommit=True, connect_timeout=5)


def ensure_server() -> Server:
    """The first cluster, started if it is down, with a superuser role for this OS user."""
    clusters = _clusters()
    if not clusters:
        raise RuntimeError("no PostgreSQL cluster (pg_createcluster 15 main)")
    version, name, port, status = clusters[0]
    if status != "online":
        subprocess.run(["pg_ctlcluster", version, name, "start"], check=False, capture_output=True)
    server = Server(port, getpass.getuser())
    deadline = time.monotonic() + 30
    import psycopg

    while True:
        try:
            _connect(server).close()
            return server
        except psycopg.OperationalError as err:
            if "does not exist" in str(err) and os.geteuid() == 0:
                subprocess.run(["runuser", "-u", "postgres", "--", "createuser", "--superuser", server.user],
                               check=False, capture_output=True)
            elif time.monotonic() > deadline:
                raise
            time.sleep(0.3)


@contextmanager
def fresh_database(server: Server, prefix: str = "ps_test") -> Iterator[str]:
    """A new empty database; yields its URL (Unix socket, no password) and drops it afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    conn = _connect(server)
    try:
        conn.execute(f'CREATE DATABASE "{name}"')
        yield server.url(name)
    finally:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.close()


@contextmanager
def password_role(server: Server, database_url: str, password: str) -> Iterator[str]:
    """A login role with ``password`` that owns the public schema of the database; yields its name."""
    import psycopg

    role = f"ps_role_{uuid.uuid4().hex[:10]}"
    admin = _connect(server)
    admin.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'")
    try:
        with psycopg.connect(database_url, autocommit=True) as db:
            db.execute(f"GRANT ALL ON SCHEMA public TO {role}")
        yield role
    finally:
        with psycopg.connect(database_url, autocommit=True) as db:
            db.execute(f"REASSIGN OWNED BY {role} TO CURRENT_USER")
            db.execute(f"DROP OWNED BY {role}")
        admin.execute(f"DROP ROLE IF EXISTS {role}")
        admin.close()


@pytest.fixture(scope="session")
def pg_server() -> Server:
    return ensure_server()


@pytest.fixture
def pg_url(pg_server: Server) -> Iterator[str]:
    """The URL of a fresh database on the real server (dropped after the test)."""
    with fresh_database(pg_server) as url:
        yield url


@pytest.fixture(params=["postgresql", "sqlite"])
def history_location(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """Where a fresh, empty history lives for this test, once per backend of ``history.BACKENDS``:
    a SQLite path, or the URL of a fresh database on the real server."""
    from pipeline_steps.history import BACKENDS

    assert sorted(BACKENDS) == ["postgresql", "sqlite"], "a new history backend needs its case here"
    if request.param == "sqlite":
        return str(tmp_path_factory.mktemp("history") / "history.sqlite")
    return str(request.getfixturevalue("pg_url"))
