"""Dynatrace source: Metrics API v2 and the other endpoints Keptn's Dynatrace SLI provider queried.

Why v2 with Keptn 0.2's v1 queries: the Timeseries API v1 that Pitometer called is retired, but
perfspecs in the wild still carry v1 query objects (``timeseriesId``, ``aggregation``,
``entityIds``, ``tags``). They are mapped onto a v2 metric selector and entity selector, queried
with ``resolution=Inf`` (one aggregate per entity over ``from``..``to``, what v1 ``queryMode:
TOTAL`` returned). sli.yaml strings in every form the Dynatrace SLI provider documents (metric
queries, ``MV2``, ``SLO``, ``PV2``, ``SECPV2``, ``USQL``) are parsed by ``dynatrace_queries`` when
the spec loads; what is not understood is bad input then, never a 404 later.

A source that cannot return everything it was asked for fails: a metric answer that still has a
``nextPageKey`` after ``MAX_PAGES`` pages is an ERROR naming the limit (the breaching entity may be
on the next page), never a partial pass.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from pipeline_steps.documents.context import StageContext
from pipeline_steps.documents.evaluation import Window
from pipeline_steps.errors import BadInputError
from pipeline_steps.secrets import Secret, SecretURL, read_secret, redact_all, split_url
from pipeline_steps.sources import dynatrace_queries as queries
from pipeline_steps.sources.base import (
    Fetched,
    Option,
    SourceSettings,
    placeholder_pattern,
    samples_of,
    substitute_plain,
)

MAX_PAGES = 20
"""Most answer pages one metric query may take. The current Metrics API answers in one page
(its ``nextPageKey`` is documented as always null); older ones paged by series. Twenty pages are
far more series than a gate judges; more is an ERROR, not a judgement of the pages we have."""


def check_query(query: Any) -> str | None:
    """Why ``query`` is no Dynatrace query we can run (``dynatrace_queries``), or None."""
    try:
        queries.parse(query, StageContext("p", "s", "svc"))
    except ValueError as err:
        return str(err)
    return None


def to_v2(query: Any, context: StageContext) -> dict[str, str]:
    """The Metrics API v2 parameters of a metric query (``metricSelector``, ``entitySelector``, ...)."""
    return dict(queries.parse(query, context).params)


@dataclass(frozen=True)
class DynatraceSettings:
    """``--dynatrace-*``: the tenant and its API token (from env/file, never a flag value)."""

    url: str = ""
    """Tenant base URL (``https://abc123.live.dynatrace.com``) without credentials."""
    token: Secret | None = None
    url_password: Secret | None = None
    """A password the URL carried: never sent (the token is the credential), masked everywhere."""

    def secrets(self) -> list[Secret | None]:
        return [self.token, self.url_password]


class DynatraceSource:
    name: ClassVar[str] = "dynatrace"
    OPTIONS: ClassVar[tuple[Option, ...]] = (
        ("--dynatrace-url", {"envvar": "DT_TENANT_URL", "default": "", "help": "Dynatrace tenant URL [env DT_TENANT_URL]."}),
        ("--dynatrace-token-env", {"metavar": "NAME", "default": "DT_API_TOKEN", "show_default": True,
                                   "help": "Environment variable holding the Dynatrace API token."}),
        ("--dynatrace-token-file", {"path": True, "help": "File holding the Dynatrace API token."}),
    )

    def __init__(self, url: str, token: Secret, context: StageContext, *, timeout_s: float = 10.0,
                 retry_budget_s: float = 15.0) -> None:
        from pipeline_steps.sources import http

        self._http = http
        given = split_url(url)  # the token is the credential; a URL never carries one
        self.url = given.url.rstrip("/")
        self._url_password = given.password
        self.token = token
        self.context = context
        self.timeout_s = timeout_s
        self.retry_budget_s = retry_budget_s
        self._budget = http.Budget(retry_budget_s)
        self._session = http.session(self.url)
        self._session.headers["Authorization"] = f"Api-Token {token.reveal()}"
        self._session.auth = None  # a netrc entry would overwrite the header

    @classmethod
    def settings_from_options(cls, options: Mapping[str, Any]) -> DynatraceSettings:
        given = split_url(options.get("dynatrace_url") or "")  # before the URL is checked or shown
        return DynatraceSettings(url=given.url, url_password=given.password,
                                 token=read_secret(env=options.get("dynatrace_token_env"),
                                                   file=options.get("dynatrace_token_file"), what="Dynatrace token"))

    @classmethod
    def from_settings(cls, settings: SourceSettings) -> DynatraceSource:
        group: DynatraceSettings = settings.group(cls.name, DynatraceSettings())
        if not group.url:
            raise BadInputError("command line", "--dynatrace-url",
                                "required by indicators with source dynatrace [env DT_TENANT_URL]")
        url = SecretURL(group.url).check_http("command line", "--dynatrace-url")
        if not group.token:
            raise BadInputError("command line", "--dynatrace-token-env",
                                "no Dynatrace API token (set the named variable, default DT_API_TOKEN, "
                                "or give --dynatrace-token-file)")
        return cls(url, group.token, settings.context, timeout_s=settings.timeout_s,
                   retry_budget_s=settings.retry_budget_s)

    @classmethod
    def check_query(cls, query: Any) -> str | None:
        return check_query(query)

    @classmethod
    def substitute(cls, query: Any, values: Mapping[str, str]) -> Any:
        """Values go in as they are (selectors quote entity values themselves); in a query string a
        value may not bring ``&``, ``;``, ``?``, ``=``, ``%`` or ``#`` (it would add parameters)."""
        if not isinstance(query, str) or not values:
            return substitute_plain(query, values)
        pattern, lookup = placeholder_pattern(values)

        def filled(match: Any) -> str:
            value = lookup[match.group(1)]
            queries.check_value(value, match.group(0))
            return value

        return pattern.sub(filled, query)

    def secrets(self) -> list[Secret | None]:
        return [self.token, self._url_password]

    def describe(self, query: Any) -> str:
        return queries.parse(query, self.context).describe()

    def settle(self, window: Window) -> str:
        """Dynatrace has no per-target scrape state to read; its own query forms
        resolve what is ingested (not waited for here)."""
        return ""

    def fetch(self, query: Any, window: Window) -> Fetched:
        request = queries.parse(query, self.context)
        start_ms, end_ms = str(int(window.start * 1000)), str(int(window.end * 1000))
        try:
            if request.api == "metrics":
                return self._metrics(request, {**request.params, "resolution": "Inf", "from": start_ms, "to": end_ms})
            if request.api == "usql":
                body = self._get(request.path, {**request.params, "explain": "false", "addDeepLinkFields": "false",
                                                "startTimestamp": start_ms, "endTimestamp": end_ms})
                _holding(body, "values", list)
                return _usql_value(request, body)
            body = self._get(request.path, {**request.params, "from": start_ms, "to": end_ms})
            if request.api == "slo":
                if body.get("error", "NONE") != "NONE":  # Dynatrace: HTTP 200 with the reason in "error"
                    raise _Failed(redact_all(f"dynatrace SLO {request.path.rsplit('/', 1)[-1]}: {body['error']}",
                                                  self.secrets()))
                return samples_of([(request.path.rsplit("/", 1)[-1], _holding(body, "evaluatedPercentage", object))])
            return samples_of([("", _holding(body, "totalCount", object))])
        except _Failed as failed:
            return Fetched(error=str(failed))

    def _get(self, path: str, params: dict[str, str]) -> dict[str, Any]:
        try:
            status, body = self._http.request_json(
                self._session, "GET", f"{self.url}{path}", params=params, what=f"dynatrace at {self.url}",
                timeout_s=self.timeout_s, budget=self._budget, secrets=self.secrets())
        except self._http.SourceHTTPError as err:
            raise _Failed(str(err)) from None
        if status != 200 or not isinstance(body, dict):
            error = body.get("error") if isinstance(body, dict) else None
            message = error.get("message", "") if isinstance(error, dict) else ""
            raise _Failed(redact_all(f"dynatrace answered HTTP {status}: {message}".strip(), self.secrets()))
        return body

    def _metrics(self, request: queries.DtRequest, params: dict[str, str]) -> Fetched:
        pairs: list[tuple[str, Any]] = []
        for _ in range(MAX_PAGES):
            body = self._get(request.path, params)
            for collection in _holding(body, "result", list):
                if not isinstance(collection, dict) or not isinstance(collection.get("data"), list):
                    raise _Failed("dynatrace answered a metric result without its 'data' list; no answer to judge")
                # Dynatrace processes at most 100,000 tuples and 20,000,000 data points per query and
                # ignores the rest; a ratio of 1 means the limit was reached and the answer is partial.
                if any(_number(collection.get(k)) >= 1 for k in ("dimensionCountRatio", "dataPointCountRatio")):
                    raise _Failed("dynatrace reached its query limit (dimensionCountRatio or dataPointCountRatio 1): "
                                  "the answer is partial; narrow the entitySelector")
                for series in collection["data"]:
                    key = ",".join(str(d) for d in series.get("dimensions") or [])
                    values = series.get("values") or [None]
                    raw = values[-1]
                    pairs.append((key, raw / request.divisor if isinstance(raw, (int, float)) and not isinstance(
                        raw, bool) else raw))
            if not body.get("nextPageKey"):
                return samples_of(pairs)
            # Dynatrace: "When the nextPageKey is set to obtain subsequent pages, you must omit all
            # other query parameters" (every paged v2 endpoint's documentation).
            params = {"nextPageKey": str(body["nextPageKey"])}
        return Fetched(error=f"dynatrace answered more than {MAX_PAGES} pages (nextPageKey after page {MAX_PAGES}); "
                             "the gate judges all series or none: narrow the entitySelector")

    def close(self) -> None:
        """Close the connections; the retry budget starts afresh for the next evaluation."""
        self._session.close()
        self._budget = self._http.Budget(self.retry_budget_s)


def _number(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0.0


class _Failed(Exception):
    """One request failed for good; ``str()`` is safe to show."""


def _holding(body: dict[str, Any], key: str, kind: type) -> Any:
    """``body[key]``, which the API always returns; an answer without it (a proxy's ``{}``) is no
    answer, never "no values", which an indicator with ``ignoreEmpty`` scores full."""
    if key not in body or not isinstance(body[key], kind):
        raise _Failed(f"dynatrace answered without {key!r} ({'a list' if kind is list else 'a value'}); no answer to judge")
    return body[key]


def _usql_value(request: queries.DtRequest, body: dict[str, Any]) -> Fetched:
    """The tile's value from a USQL table, as the SLI provider picked it (``dynatrace_queries`` docstring)."""
    rows = [row for row in body.get("values") or [] if isinstance(row, list) and row]
    if request.tile == "SINGLE_VALUE":
        return samples_of([("", rows[0][0])]) if rows else Fetched()
    for row in rows:
        if len(row) >= 2 and str(row[0]) == request.dimension:
            return samples_of([(request.dimension, row[1] if request.tile != "TABLE" else row[-1])])
    return Fetched()
