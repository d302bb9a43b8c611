"""HTTP for metric sources: one pooled session, timeouts, bounded retries, wrapped errors.

Why shared: Prometheus and Dynatrace need the same edge behaviour — retry what is transient
(connection refused/reset, timeouts, 429, 5xx) with exponential backoff until a total time
budget is spent, never retry what is not (401, 400), and never let a ``requests`` exception
or a secret escape. ``requests`` is imported here, so only commands that query import it.
"""

from __future__ import annotations

import time
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from pipeline_steps.secrets import Secret, redact_all

TRANSIENT_STATUS = frozenset({429, 500, 502, 503, 504})


class SourceHTTPError(Exception):
    """A request failed for good; ``str()`` is safe to show (secrets masked)."""


def session(pool_size: int = 32) -> requests.Session:
    """A session whose connection pool is large enough for concurrent indicator queries."""
    sess = requests.Session()
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool_size, max_retries=0)
    sess.mount("http://", adapter)
    sess.mount("https://", adapter)
    return sess


def request_json(sess: requests.Session, method: str, url: str, *, what: str, timeout_s: float, budget_s: float,
                 secrets: list[Secret | None] | None = None, ok_status: frozenset[int] = frozenset({200}),
                 **kwargs: Any) -> tuple[int, Any]:
    """Send until a non-transient answer or ``budget_s`` is spent; return ``(status, parsed JSON)``.

    Statuses outside ``ok_status`` that are not transient are returned to the caller (it knows
    what a 400 means for its API); transient failures past the budget raise ``SourceHTTPError``.
    """
    deadline = time.monotonic() + budget_s
    delay = 0.1
    attempt = 0
    while True:
        attempt += 1
        try:
            resp = sess.request(method, url, timeout=timeout_s, **kwargs)
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
        if time.monotonic() + delay >= deadline:
            raise SourceHTTPError(f"{what} unreachable after {attempt} attempt(s) in {budget_s:.0f}s: {last}")
        time.sleep(delay)
        delay = min(delay * 2, 2.0)
