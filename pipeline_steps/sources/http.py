"""HTTP for metric sources: one pooled session, timeouts, bounded retries, wrapped errors.

Why shared: Prometheus and Dynatrace need the same edge behaviour — retry what is transient
(connection refused/reset, timeouts, 429, 5xx) with exponential backoff until a time budget is
spent, never retry what is not (401, 400), and never let a ``requests`` exception or a secret
escape. ``requests`` is imported here, so only commands that query import it.

The budget is one clock per source and evaluation (``Budget``), not one per query: with a
per-query budget, 100 indicators against a dead backend took ceil(100/workers) budgets in a row
(about a minute with the defaults); with a shared one the gate reports ERROR after about one.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from pipeline_steps.secrets import Secret, redact_all
from pipeline_steps.sources.base import MAX_WORKERS, split_userinfo

__all__ = ["Budget", "SourceHTTPError", "request_json", "session", "split_userinfo"]

TRANSIENT_STATUS = frozenset({429, 500, 502, 503, 504})


class SourceHTTPError(Exception):
    """A request failed for good; ``str()`` is safe to show (secrets masked)."""


class Budget:
    """Retry time shared by every request of one source until it is closed.

    The clock starts at the first request. A connection-level failure (refused, reset, timeout)
    that outlives the budget marks the backend unreachable: later queries fail at once instead
    of spending the budget again. Every query still gets at least one attempt before that.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.unreachable: str | None = None
        self._deadline: float | None = None
        self._lock = threading.Lock()

    def deadline(self) -> float:
        with self._lock:
            if self._deadline is None:
                self._deadline = time.monotonic() + self.seconds
            return self._deadline


def session(url: str, pool_size: int = MAX_WORKERS) -> requests.Session:
    """A session whose pool holds a connection per worker, with the environment read once.

    requests re-reads the proxy, CA-bundle and netrc settings from the environment on every call
    (about a sixth of its CPU per query on loopback); they cannot change during one evaluation,
    so they are resolved here for ``url`` and the per-request lookup is switched off.
    """
    sess = requests.Session()
    adapter = HTTPAdapter(pool_connections=1, pool_maxsize=pool_size, max_retries=0)
    sess.mount("http://", adapter)
    sess.mount("https://", adapter)
    sess.proxies.update(requests.utils.get_environ_proxies(url))
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    if bundle:
        sess.verify = bundle
    netrc = requests.utils.get_netrc_auth(url)
    if netrc:
        sess.auth = netrc
    sess.trust_env = False
    return sess


def request_json(sess: requests.Session, method: str, url: str, *, what: str, timeout_s: float, budget: Budget,
                 secrets: list[Secret | None] | None = None, ok_status: frozenset[int] = frozenset({200}),
                 **kwargs: Any) -> tuple[int, Any]:
    """Send until a non-transient answer or the budget is spent; return ``(status, parsed JSON)``.

    Statuses outside ``ok_status`` that are not transient are returned to the caller (it knows
    what a 400 means for its API); transient failures past the budget raise ``SourceHTTPError``.
    """
    deadline = budget.deadline()
    delay = 0.1
    attempt = 0
    while True:
        if budget.unreachable is not None:
            raise SourceHTTPError(f"{what} unreachable (not retried: the {budget.seconds:g}s retry budget was "
                                  f"spent on {budget.unreachable})")
        attempt += 1
        # A retry never waits past the budget; the first attempt gets the full timeout so a slow
        # but healthy backend still answers the queries of a large gate.
        timeout = timeout_s if attempt == 1 else max(0.1, min(timeout_s, deadline - time.monotonic()))
        broken = False
        try:
            resp = sess.request(method, url, timeout=timeout, **kwargs)
            if resp.status_code not in TRANSIENT_STATUS:
                try:
                    body = resp.json()
                except ValueError:
                    body = None
                    if resp.status_code in ok_status:
                        raise SourceHTTPError(f"{what} answered HTTP {resp.status_code} without JSON") from None
                return resp.status_code, body
            last = f"HTTP {resp.status_code}"
        except requests.RequestException as err:
            last = type(err).__name__ + ": " + redact_all(str(err), secrets or [])
            broken = True
        if time.monotonic() + delay >= deadline:
            if broken:
                budget.unreachable = last
            raise SourceHTTPError(f"{what} unreachable after {attempt} attempt(s) in {budget.seconds:g}s: {last}")
        time.sleep(delay)
        delay = min(delay * 2, 2.0)
