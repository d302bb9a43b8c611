"""The evaluation history: what the gate compares relative SLO criteria with and the HTML report draws.

A family at the level of sources and platforms, so the gate and the report both read it: one
Protocol (``base.History``), the SQL both backends share (``sql.py``), ``sqlite.py`` (the default:
one file, nothing to install) and ``postgres.py`` (psycopg 3: one store for many agents), the
export format (``records.py``), and ``BACKENDS``, the one registry. ``open_history`` picks the
backend from the location: ``postgresql://`` (or ``postgres://``) is PostgreSQL, anything without
a scheme a SQLite path. May import: documents, files, secrets, errors.
"""

from __future__ import annotations

import importlib
from typing import Any

from pipeline_steps.errors import BadInputError
from pipeline_steps.history.base import History, HistoryEntry, HistoryIndicator, SeriesPoint
from pipeline_steps.secrets import Secret

BACKENDS: dict[str, str] = {
    "postgresql": "pipeline_steps.history.postgres:PostgresHistory",
    "sqlite": "pipeline_steps.history.sqlite:SqliteHistory",
}
"""Backend name -> class, named lazily so a SQLite history never imports psycopg. Each class says
which locations it ``handles``; the first that does wins (PostgreSQL before the SQLite catch-all)."""

DEFAULT_LOCATION = ".pipeline-steps/history.sqlite"


def backend_class(name: str) -> Any:
    module_name, attr = BACKENDS[name].split(":")
    return getattr(importlib.import_module(module_name), attr)


def backend_of(location: str) -> str:
    """The name of the backend for ``location``; another URL scheme is bad input."""
    for name in BACKENDS:
        if backend_class(name).handles(location):
            return name
    scheme = location.split("://", 1)[0]
    raise BadInputError("--history", None, f"{scheme}:// is not a history backend; give a file path (SQLite) or a"
                        " postgresql://user@host:port/database URL")


def open_history(location: str, *, password: Secret | None = None, source: str = "--history") -> History:
    """The store at ``location`` (nothing is connected or created yet). ``password`` (from
    ``--history-password-file``) is only for PostgreSQL; ``source`` names the flag in errors."""
    if not location:
        raise BadInputError(source, None, "is empty; give a file path or a postgresql:// URL")
    name = backend_of(location)
    if name == "postgresql":
        store: History = backend_class(name)(location, password, source=source)
    else:
        store = backend_class(name)(location)
    return store


__all__ = ["BACKENDS", "DEFAULT_LOCATION", "History", "HistoryEntry", "HistoryIndicator", "SeriesPoint", "backend_class",
           "backend_of", "open_history"]
