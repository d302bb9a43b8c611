"""Before the gate queries a window that ended moments ago, wait (bounded) until Prometheus has it.

Why: the gate runs right after the load test and queries at ``time=end``. A scrape that started
before the end commits its samples only when it completes (up to the scrape timeout later), and a
scrape that slips under load does the same, so a query sent at once can miss the window's last
samples: ``rate()`` over fewer samples, or none (no value, FAIL). Fail-closed is right; judging
before the data is in is the defect. Analysis tools wait for the same reason (Argo Rollouts'
``initialDelay`` on an analysis, Kayenta's delay before a canary analysis; grpc/test-infra#331
documents a query delay of a scrape interval after a benchmark for this race).

The rule (Prometheus HTTP API, https://prometheus.io/docs/prometheus/latest/querying/api/#targets):
``GET /api/v1/targets?state=active`` lists every active target with ``lastScrape`` (RFC 3339, the
start of its last scrape, which is also its samples' timestamp), ``scrapeInterval`` (a Prometheus
duration, since 2.30) and ``health`` (``up``/``down``/``unknown``: never scraped yet). A target's
scrapes run one after another, so once its ``lastScrape`` is at or after the window end, every sample
it took up to the end is committed. We wait until that holds for every target scraped at least once,
giving a target up to two of its intervals plus ``MARGIN_S`` after the end (a target that stopped
being scraped must not hold the gate), and never longer than the cap (``--settle-timeout``).

Where the targets API is refused (a proxy answering 403, a Prometheus-compatible store without it),
the scrape interval from ``GET /api/v1/status/config`` (``data.yaml``: the loaded configuration)
gives a weaker rule: wait until ``end + largest interval``. Where neither answers, the gate proceeds
at once and says so; a missing value still fails closed. A window that ended more than the cap ago
needs no wait and costs no request.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from pipeline_steps.errors import BadInputError
from pipeline_steps.files import parse_yaml

MARGIN_S = 1.0
"""Slack past two intervals for a target whose scrape slipped (a loaded machine, a slow exporter)."""
POLL_S = (0.1, 1.0)
"""Bounds of the pause between two looks at the targets: a quarter of the shortest interval within."""

Get = Callable[[str], tuple[int, Any]]
"""``get(path)`` -> ``(HTTP status, parsed JSON)``; raises the source's HTTP error when Prometheus is unreachable."""

_DURATION = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0, "y": 31536000.0}
_RFC3339 = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)")
_NEVER = "0001-01-01T00:00:00Z"
"""Go's zero time: what ``lastScrape`` reads before a target's first scrape."""


def duration_s(text: Any) -> float | None:
    """A Prometheus duration (``"15s"``, ``"1m30s"``, ``"500ms"``) in seconds; None if it is none."""
    if not isinstance(text, str) or not text or _DURATION.sub("", text):
        return None
    seconds = sum(int(n) * _UNIT_S[unit] for n, unit in _DURATION.findall(text))
    return seconds if seconds > 0 else None


def unix_time(text: Any) -> float | None:
    """An RFC 3339 time with any number of fractional digits (Go prints nanoseconds) in unix seconds."""
    found = _RFC3339.fullmatch(text) if isinstance(text, str) else None
    if not found:
        return None
    base, fraction, zone = found.groups()
    try:
        whole = datetime.fromisoformat(base + ("+00:00" if zone == "Z" else zone)).timestamp()
    except ValueError:
        return None
    return whole + (float(fraction) if fraction else 0.0)


@dataclass(frozen=True)
class Target:
    url: str
    last_scrape: float | None
    """None: never scraped yet (nothing of it can be in the window)."""
    interval_s: float


def active_targets(status: int, body: Any) -> list[Target] | None:
    """The targets of a ``/api/v1/targets?state=active`` answer; None when it is not that API's shape."""
    if status != 200 or not isinstance(body, dict) or body.get("status") != "success":
        return None
    listed = (body.get("data") or {}).get("activeTargets") if isinstance(body.get("data"), dict) else None
    if not isinstance(listed, list):
        return None
    targets = []
    for item in listed:
        if not isinstance(item, dict):
            return None
        interval = duration_s(item.get("scrapeInterval"))
        raw = item.get("lastScrape")
        never = raw == _NEVER or item.get("health") == "unknown"
        last = None if never else unix_time(raw)
        if interval is None or (last is None and not never):
            return None  # older than 2.30 (no scrapeInterval) or not Prometheus' shape: the weaker rule
        targets.append(Target(_shown_url(item.get("scrapeUrl")), last, interval))
    return targets


def _shown_url(raw: Any) -> str:
    """A target's scrape URL as it may be logged: scheme, host, port and path only. Prometheus puts a
    job's ``params`` (an exporter's API key) into ``scrapeUrl``'s query, and a userinfo may be there."""
    if not isinstance(raw, str):
        return "?"
    try:
        parts = urlsplit(raw)
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "?"
    return f"{parts.scheme}://{parts.hostname or '?'}{port}{parts.path}"


def configured_interval(status: int, body: Any) -> float | None:
    """The largest scrape interval of ``/api/v1/status/config`` (global and per job; 1m, Prometheus'
    default, when the global one is not set); None when the answer is not readable."""
    if status != 200 or not isinstance(body, dict) or body.get("status") != "success":
        return None
    text = (body.get("data") or {}).get("yaml") if isinstance(body.get("data"), dict) else None
    try:
        config = parse_yaml(text, "prometheus /api/v1/status/config") if isinstance(text, str) else None
    except BadInputError:
        return None
    if not isinstance(config, dict):
        return None
    found = [duration_s(((config.get("global") or {}) if isinstance(config.get("global"), dict) else {})
                        .get("scrape_interval", "1m"))]
    jobs = config.get("scrape_configs")
    found += [duration_s(job.get("scrape_interval")) for job in (jobs if isinstance(jobs, list) else [])
              if isinstance(job, dict) and job.get("scrape_interval")]
    known = [f for f in found if f is not None]
    return max(known) if known else None


def settle(get: Get, end: float, cap_s: float, *, clock: Callable[[], float] = time.time,
           sleep: Callable[[float], None] = time.sleep) -> str:
    """Wait until Prometheus has ingested past ``end`` (unix s), at most ``cap_s`` s; return a line for
    the evaluation's log ("" when nothing was waited for and nothing needs saying). Raises what ``get``
    raises (Prometheus unreachable): the caller's queries then report it."""
    started = clock()
    if cap_s <= 0 or started - end > cap_s:
        return ""
    give_up = started + cap_s
    status, body = get("/api/v1/targets?state=active")
    targets = active_targets(status, body)
    if targets is None:
        return _by_interval(get, end, give_up, f"HTTP {status}", clock=clock, sleep=sleep)
    while True:
        now = clock()
        pending = [t for t in targets if t.last_scrape is not None and t.last_scrape < end
                   and now < min(end + 2 * t.interval_s + MARGIN_S, give_up)]
        if not pending:
            late = [t for t in targets if t.last_scrape is not None and t.last_scrape < end]
            waited = now - started
            if late:
                names = ", ".join(t.url for t in late[:3]) + (f" and {len(late) - 3} more" if len(late) > 3 else "")
                return (f"prometheus: after {waited:.1f}s, not scraped since the window end: {names}; "
                        "judging what it has (a missing value fails)")
            return f"prometheus: waited {waited:.1f}s until every target was scraped past the window end" if (
                waited >= 0.05) else ""
        sleep(max(POLL_S[0], min(POLL_S[1], min(t.interval_s for t in pending) / 4, give_up - now)))
        status, body = get("/api/v1/targets?state=active")
        targets = active_targets(status, body) or targets


def _by_interval(get: Get, end: float, give_up: float, why: str, *, clock: Callable[[], float],
                 sleep: Callable[[float], None]) -> str:
    started = clock()
    interval = configured_interval(*get("/api/v1/status/config"))
    if interval is None:
        return (f"prometheus: targets API not usable ({why}) and no scrape interval readable: judging at once "
                "without waiting for the last scrape (a missing value fails)")
    until = min(end + interval + MARGIN_S, give_up)
    if until > started:
        sleep(until - started)
    return (f"prometheus: targets API not usable ({why}); waited {max(0.0, until - started):.1f}s for one scrape "
            f"interval ({interval:g}s) past the window end")
