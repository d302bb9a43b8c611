"""The one Protocol every metric source implements, and the settings sources are built from.

Why: fetching a number and judging it are separate (Argo Rollouts' providers, Flagger's
``RunQuery``). A source turns one query over one window into samples or an error; it never
grades. Sources are built in one place (``sources.build``) from ``SourceSettings``, so the
step and the tests pass real clients or stand-ins the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

from pipeline_steps.documents.context import StageContext
from pipeline_steps.gate.model import Fetched, Window
from pipeline_steps.secrets import Secret

MAX_WORKERS = 16
"""Indicators queried at once, and the connections each source keeps for them. Below Prometheus'
default ``--query.max-concurrency`` of 20 (more would only queue there). Measured on 2 cores
(bench/gate_concurrency.py): with a 20 ms round trip 16 workers are 9-11x faster than one at a
time (32: 9.5-13x); on loopback, where every query is CPU in this process and in Prometheus, 16
do as well as 32 (1.5-1.7x)."""


@dataclass(frozen=True)
class SourceSettings:
    """Everything a source may need; each source checks the fields it uses when it is built."""

    context: StageContext
    prometheus_url: str = ""
    """Base URL of Prometheus (``http://host:9090``); ``/api/v1/query`` is appended."""
    prometheus_token: Secret | None = None
    """Bearer token for Prometheus (from env/file, never a flag value)."""
    prometheus_user: str = ""
    """Basic-auth user; the password is ``prometheus_password``."""
    prometheus_password: Secret | None = None
    dynatrace_url: str = ""
    """Tenant base URL (``https://abc123.live.dynatrace.com``)."""
    dynatrace_token: Secret | None = None
    testrun: dict[str, Any] | None = None
    """The parsed testrun.json, for the ``testrun`` source."""
    testrun_path: str = ""
    timeout_s: float = 10.0
    """Per-request timeout."""
    retry_budget_s: float = 15.0
    """Total time one query may spend retrying transient errors (connection refused, 5xx, 429)."""
    extra: dict[str, Any] = field(default_factory=dict)


class MetricSource(Protocol):
    """Fetch one query over one window. Errors come back in ``Fetched.error``, never as exceptions."""

    name: str

    def fetch(self, query: Any, window: Window) -> Fetched: ...

    def describe(self, query: Any) -> str:
        """The query as a human reads it in JUnit, the summary and the history (after substitution)."""
        ...

    def close(self) -> None: ...


def split_userinfo(url: str) -> tuple[str, str, Secret | None]:
    """``(url without user:password@, user, password)``: credentials in a URL must not reach messages."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url, "", None
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user, _, password = userinfo.partition(":")
    return urlunsplit(parts._replace(netloc=hostport)), user, Secret(password) if password else None
