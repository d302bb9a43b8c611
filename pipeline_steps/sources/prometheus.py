"""Prometheus source: instant queries at the window end through the HTTP API.

Why instant at ``time=end``: Pitometer posted to ``/api/v1/query`` without ``time``, so
Prometheus evaluated at "now" — whenever the evaluation happened to run. The window is
expressed inside the PromQL (``[$DURATION_MINUTESm]``) and anchored here at the test's end.
Series whose value is NaN (an idle colour: 0/0) are dropped; an empty vector is "no values".

Placeholders (``$ENVIRONMENT``, ``$DURATION_MINUTESm``, ... see gate/placeholders.py) are filled
by a complete PromQL tokenizer (``sources/promql.py``), so a value always stays inside the string,
comment or token it stands in, or the query is refused as bad input.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from pipeline_steps.documents.evaluation import Window
from pipeline_steps.errors import BadInputError
from pipeline_steps.secrets import Secret, SecretURL, read_secret, redact_all, split_url
from pipeline_steps.sources.base import Fetched, Option, SourceSettings, samples_of
from pipeline_steps.sources.promql import substitute_promql


@dataclass(frozen=True)
class PrometheusSettings:
    """``--prometheus-*``: where Prometheus is and how to authenticate (tokens from env/file, never a flag value)."""

    url: str = ""
    """Base URL of Prometheus (``http://host:9090``) without credentials; ``/api/v1/query`` is appended."""
    token: Secret | None = None
    """Bearer token."""
    user: str = ""
    """Basic-auth user (``--prometheus-user``, else the URL's); the password is ``password``."""
    password: Secret | None = None
    url_password: Secret | None = None
    """The password the URL carried (masked even when ``--prometheus-user`` replaces it)."""

    def secrets(self) -> list[Secret | None]:
        return [self.token, self.password, self.url_password]


class PrometheusSource:
    name: ClassVar[str] = "prometheus"
    OPTIONS: ClassVar[tuple[Option, ...]] = (
        ("--prometheus-url", {"envvar": "PROMETHEUS_URL", "default": "", "help": "Prometheus base URL [env PROMETHEUS_URL]."}),
        ("--prometheus-token-env", {"metavar": "NAME", "help": "Environment variable holding a Prometheus bearer token."}),
        ("--prometheus-token-file", {"path": True, "help": "File holding a Prometheus bearer token."}),
        ("--prometheus-user", {"default": "", "help": "Prometheus basic-auth user (password via --prometheus-password-env)."}),
        ("--prometheus-password-env", {"metavar": "NAME", "help": "Environment variable holding the basic-auth password."}),
    )

    def __init__(self, url: str, *, token: Secret | None = None, user: str = "", password: Secret | None = None,
                 timeout_s: float = 10.0, retry_budget_s: float = 15.0, settle_timeout_s: float = 0.0) -> None:
        from pipeline_steps.sources import http

        self._http = http
        # user:password@ in the URL becomes basic auth (percent-decoded) and leaves the URL, which appears in messages.
        clean, url_user, url_password = http.split_userinfo(url)
        self.url = clean.rstrip("/")
        self.token = token
        self.user = user or url_user
        self.password = (password if user else url_password)
        if self.password is not None and self.password.user != self.user:
            self.password = self.password.with_user(self.user)  # masked as base64(user:password) too
        self._url_password = url_password
        self.timeout_s = timeout_s
        self.retry_budget_s = retry_budget_s
        self.settle_timeout_s = settle_timeout_s
        self._budget = http.Budget(retry_budget_s)
        self._session = http.session(self.url)
        if token:
            self._session.headers["Authorization"] = f"Bearer {token.reveal()}"
            self._session.auth = None  # a netrc entry would overwrite the header
        elif self.user:
            self._session.auth = (self.user, self.password.reveal() if self.password else "")

    @classmethod
    def settings_from_options(cls, options: Mapping[str, Any]) -> PrometheusSettings:
        """The URL's credentials are split off here, before it is checked or shown anywhere."""
        given = split_url(options.get("prometheus_url") or "")
        flag_user = options.get("prometheus_user") or ""
        user = flag_user or given.user
        password = read_secret(env=options.get("prometheus_password_env"), what="Prometheus password",
                               user=user) if flag_user else given.password
        return PrometheusSettings(
            url=given.url,
            token=read_secret(env=options.get("prometheus_token_env"), file=options.get("prometheus_token_file"),
                              what="Prometheus token"),
            user=user, password=password, url_password=given.password)

    @classmethod
    def from_settings(cls, settings: SourceSettings) -> PrometheusSource:
        group: PrometheusSettings = settings.group(cls.name, PrometheusSettings())
        if not group.url:
            raise BadInputError("command line", "--prometheus-url", "required by indicators with source prometheus "
                                                                    "[env PROMETHEUS_URL]")
        url = SecretURL(group.url).check_http("command line", "--prometheus-url")
        return cls(url, token=group.token, user=group.user, password=group.password, timeout_s=settings.timeout_s,
                   retry_budget_s=settings.retry_budget_s, settle_timeout_s=settings.settle_timeout_s)

    @classmethod
    def check_query(cls, query: Any) -> str | None:
        return None if isinstance(query, str) and query.strip() else "must be a PromQL string"

    @classmethod
    def substitute(cls, query: Any, values: Mapping[str, str]) -> Any:
        return substitute_promql(query, values) if isinstance(query, str) else query

    def secrets(self) -> list[Secret | None]:
        return [self.token, self.password, self._url_password]

    def describe(self, query: Any) -> str:
        return str(query)

    def settle(self, window: Window) -> str:
        """Wait until Prometheus has scraped past ``window.end`` (``prometheus_settle``), at most
        ``settle_timeout_s``; the line for the log, or "". Its requests have their own budget, so the
        wait never spends the queries' retry time; a Prometheus found unreachable is marked so on the
        queries' budget (they fail at once, ERROR, instead of spending a second budget)."""
        from pipeline_steps.sources.prometheus_settle import settle

        # Each look gets a retry budget of its own: the budget clock bounds retrying, and the looks
        # of a wait span longer than one budget by design.
        budgets: list[Any] = []
        give_up = time.monotonic() + self.settle_timeout_s

        def get(path: str) -> tuple[int, Any]:
            # a look never outlasts the cap (a trickling answer would otherwise add a whole --timeout)
            left = max(0.5, min(self.timeout_s, give_up - time.monotonic()))
            budgets.append(self._http.Budget(min(self.retry_budget_s, max(self.settle_timeout_s, 1.0))))
            return self._http.request_json(self._session, "GET", f"{self.url}{path}", what=f"prometheus at {self.url}",
                                           timeout_s=left, budget=budgets[-1], secrets=self.secrets())

        try:
            return redact_all(settle(get, window.end, self.settle_timeout_s), self.secrets())
        except self._http.SourceHTTPError as err:
            if budgets and budgets[-1].unreachable is not None:
                self._budget.unreachable = budgets[-1].unreachable
            return redact_all(f"prometheus: not waited for the last scrape ({err})", self.secrets())

    def fetch(self, query: Any, window: Window) -> Fetched:
        try:
            status, body = self._http.request_json(
                self._session, "POST", f"{self.url}/api/v1/query", what=f"prometheus at {self.url}",
                timeout_s=self.timeout_s, budget=self._budget, secrets=self.secrets(),
                data={"query": str(query), "time": f"{window.end:.3f}"})
        except self._http.SourceHTTPError as err:
            return Fetched(error=str(err))
        if not isinstance(body, dict):
            return Fetched(error=f"prometheus answered HTTP {status} without a JSON body")
        if body.get("status") != "success":
            # a proxy in front of Prometheus may quote our Authorization header back
            return Fetched(error=redact_all(f"prometheus answered HTTP {status}: {body.get('errorType', '')}: "
                                            f"{body.get('error', '')}", self.secrets()))
        if body.get("warnings"):
            # Prometheus' API: warnings accompany data it could not read whole (a remote store that
            # failed, a Thanos/Cortex partial response); a gate never judges part of the data.
            return Fetched(error=redact_all("prometheus answered with warnings (the data may be partial): "
                                            + "; ".join(str(w) for w in body["warnings"])[:300], self.secrets()))
        data = body.get("data") or {}
        kind = data.get("resultType")
        result = data.get("result")
        if kind == "vector" and isinstance(result, list):
            # Prometheus' API: every element has ``metric`` and ``value: [time, "number"]``; one without its
            # sample is no answer (read as "no values", ignoreEmpty scored it full).
            if not all(isinstance(r, dict) and isinstance(r.get("value"), list) and len(r["value"]) == 2 for r in result):
                return Fetched(error="prometheus answered a vector element without its sample (value: [time, number])")
            return samples_of([(json.dumps(r.get("metric", {}), separators=(",", ":")), r["value"][1]) for r in result])
        if kind == "scalar" and isinstance(result, list) and len(result) == 2:
            return samples_of([("", result[1])])
        return Fetched(error=f"prometheus returned a {kind} result; the gate needs an instant vector or scalar")

    def close(self) -> None:
        """Close the connections; the retry budget starts afresh for the next evaluation."""
        self._session.close()
        self._budget = self._http.Budget(self.retry_budget_s)
