"""HTTP for metric sources: one pooled session, timeouts, bounded retries, wrapped errors.

Why shared: Prometheus and Dynatrace need the same edge behaviour — retry what is transient
(connection refused/reset, timeouts, 429, 5xx) with exponential backoff until a time budget is
spent, never retry what is not (401, 400), and never let a ``requests`` exception or a secret
escape. ``requests`` is imported here, so only commands that query import it.

The budget is one clock per source and evaluation (``Budget``), not one per query: with a
per-query budget, 100 indicators against a dead backend took ceil(100/workers) budgets in a row
(about a minute with the defaults); with a shared one the gate reports ERROR after about one.
No request starts once the budget is spent, so all of a source's work ends within the budget
plus one timeout.

Time bounds (this module's part of issue 11): ``requests``' ``timeout`` bounds each socket read,
not the answer, so a server sending a valid body at 2 bytes/s held a gate for a minute and then
passed it. Each request runs under a ``_Deadline``: our connection classes hand their socket to it,
and when ``timeout_s`` has passed it shuts the socket down, so the whole answer (connect, headers,
body) is bounded whatever the server does, and the request ends as a timeout.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from typing import Any

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from pipeline_steps.errors import BadInputError
from pipeline_steps.files import parse_json
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


_current = threading.local()


class _Deadline:
    """The whole-answer bound of one request, in the thread that sends it: at ``seconds`` every
    socket the request used is shut down (a blocked read returns at once), and ``expired`` says why."""

    def __init__(self, seconds: float) -> None:
        self.expired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def watch(self, sock: socket.socket | None) -> None:
        if sock is None:
            return
        with self._lock:
            self._sockets.append(sock)
            if self.expired:
                _shut(sock)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            for sock in self._sockets:
                _shut(sock)

    def __enter__(self) -> _Deadline:
        _current.deadline = self
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()
        _current.deadline = None


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already closed
        sock.shutdown(socket.SHUT_RDWR)


def _watch(sock: Any) -> None:
    deadline: _Deadline | None = getattr(_current, "deadline", None)
    if deadline is not None and isinstance(sock, socket.socket):
        deadline.watch(sock)


class _Watched:
    """Mixed into urllib3's connections: hands the socket to the sending thread's ``_Deadline`` when
    it connects and for each answer it reads (a pooled connection is reused by later requests)."""

    sock: Any

    def connect(self) -> None:
        super().connect()  # type: ignore[misc]
        _watch(self.sock)

    def getresponse(self) -> Any:
        _watch(self.sock)
        return super().getresponse()  # type: ignore[misc]


class _WatchedHTTPConnection(_Watched, HTTPConnection):
    pass


class _WatchedHTTPSConnection(_Watched, HTTPSConnection):
    pass


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


_POOLS = {"http": _HTTPPool, "https": _HTTPSPool}


class _DeadlineAdapter(HTTPAdapter):
    """requests' adapter with our connection classes, also behind an HTTP(S) proxy."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = dict(_POOLS)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if isinstance(manager, urllib3.ProxyManager):
            manager.pool_classes_by_scheme = dict(_POOLS)
        return manager


def session(url: str, pool_size: int = MAX_WORKERS) -> requests.Session:
    """A session whose pool holds a connection per worker, with the environment read once.

    requests re-reads the proxy, CA-bundle and netrc settings from the environment on every call
    (about a sixth of its CPU per query on loopback); they cannot change during one evaluation,
    so they are resolved here for ``url`` and the per-request lookup is switched off.
    """
    sess = requests.Session()
    adapter = _DeadlineAdapter(pool_connections=1, pool_maxsize=pool_size, max_retries=0)
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


def _body(resp: requests.Response, what: str, ok_status: frozenset[int]) -> Any:
    """The answer as strict JSON (``files.parse_json``: a NaN, a repeated key or 100,000 nested arrays
    from a backend is no answer either); None for an error status without a JSON body."""
    try:
        return parse_json(resp.content.decode("utf-8"), what)
    except (BadInputError, UnicodeDecodeError) as err:
        if resp.status_code in ok_status:
            why = err.message if isinstance(err, BadInputError) else "not UTF-8"
            raise SourceHTTPError(f"{what} answered HTTP {resp.status_code} without valid JSON: {why}") from None
        return None


def request_json(sess: requests.Session, method: str, url: str, *, what: str, timeout_s: float, budget: Budget,
                 secrets: list[Secret | None] | None = None, ok_status: frozenset[int] = frozenset({200}),
                 **kwargs: Any) -> tuple[int, Any]:
    """Send until a non-transient answer or the budget is spent; return ``(status, parsed JSON)``.

    Each attempt's whole answer is bounded by ``timeout_s`` (module docstring); no attempt starts
    once the source's budget is spent. Statuses outside ``ok_status`` that are not transient are
    returned to the caller (it knows what a 400 means for its API); transient failures past the
    budget raise ``SourceHTTPError``.
    """
    deadline = budget.deadline()
    delay = 0.1
    attempt = 0
    while True:
        if budget.unreachable is not None:
            raise SourceHTTPError(f"{what} unreachable (not retried: the {budget.seconds:g}s retry budget was "
                                  f"spent on {budget.unreachable})")
        if attempt == 0 and time.monotonic() > deadline:
            raise SourceHTTPError(f"{what}: not sent, the source's {budget.seconds:g}s budget (--retry-budget) was "
                                  "spent before this query's turn")
        attempt += 1
        # A retry never waits past the budget; the first attempt gets the full timeout so a slow
        # but healthy backend still answers the queries of a large gate.
        timeout = timeout_s if attempt == 1 else max(0.1, min(timeout_s, deadline - time.monotonic()))
        broken = False
        with _Deadline(timeout) as whole:
            try:
                resp = sess.request(method, url, timeout=timeout, **kwargs)
                if whole.expired:  # a close-delimited body cut at the deadline can look complete
                    resp.close()
                    raise requests.Timeout("cut at the deadline")
            except requests.RequestException as err:
                last = type(err).__name__ + ": " + redact_all(str(err), secrets or [])
                if whole.expired:
                    last = f"Timeout: no complete answer within {timeout:.3g}s (--timeout bounds the whole answer)"
                broken = True
        if not broken:
            if resp.status_code not in TRANSIENT_STATUS:
                return resp.status_code, _body(resp, what, ok_status)
            last = f"HTTP {resp.status_code}"
        if time.monotonic() + delay >= deadline:
            if broken:
                budget.unreachable = last
            raise SourceHTTPError(f"{what} unreachable after {attempt} attempt(s) in {budget.seconds:g}s: {last}")
        time.sleep(delay)
        delay = min(delay * 2, 2.0)
