"""Dynatrace source: Metrics API v2 (``/api/v2/metrics/query``), one value per entity over the window.

Why v2 with Keptn 0.2's v1 queries: the Timeseries API v1 that Pitometer called is retired, but
perfspecs in the wild still carry v1 query objects (``timeseriesId``, ``aggregation``,
``entityIds``, ``tags``). They are mapped onto a v2 metric selector and entity selector here
(table in docs/gate.md), queried with ``resolution=Inf`` (one aggregate per entity over
``from``..``to``, what v1 ``queryMode: TOTAL`` returned). Native v2 queries work too: an object
with ``metricSelector`` (+ ``entitySelector``) or an SLI string ``<selector>?scope=<entity filter>``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import urlparse

from pipeline_steps.documents.context import StageContext
from pipeline_steps.documents.evaluation import Window
from pipeline_steps.errors import BadInputError
from pipeline_steps.secrets import Secret, read_secret
from pipeline_steps.sources.base import Fetched, Option, SourceSettings, finite_samples, split_userinfo, substitute_plain

V1_TO_V2 = {
    "com.dynatrace.builtin:service.responsetime": "builtin:service.response.time",
    "com.dynatrace.builtin:service.failurerate": "builtin:service.errors.total.rate",
    "com.dynatrace.builtin:service.requestspermin": "builtin:service.requestCount.total",
    "com.dynatrace.builtin:service.server_side_requests": "builtin:service.requestCount.server",
}
"""v1 timeseries ids with a known v2 metric key; any other ``com.dynatrace.builtin:x`` becomes ``builtin:x``."""

ENTITY_TYPES = {"service": "SERVICE", "pgi": "PROCESS_GROUP_INSTANCE", "appmethod": "APPLICATION_METHOD", "host": "HOST"}
AGGREGATIONS = ("avg", "min", "max", "sum", "count", "median")
_PERCENTILE = re.compile(r"^p(\d{1,2}(?:\.\d+)?)$", re.IGNORECASE)


def _quote(value: str) -> str:
    """A value inside an entity selector's quotes (``~`` escapes ``"`` and ``~``)."""
    return '"' + value.replace("~", "~~").replace('"', '~"') + '"'


def check_query(query: Any) -> str | None:
    """Why ``query`` is no Dynatrace query (a v1 query object, a v2 object or a selector string), or None."""
    if isinstance(query, str):
        return None if query.strip() else "must be a metric selector"
    if not isinstance(query, dict):
        return "must be a Dynatrace query object or a metric selector string"
    if "smartscape" in query:
        return "smartscape (topology) queries have no Metrics API v2 equivalent; use a metric with an entitySelector"
    if "metricSelector" in query:
        return None if isinstance(query["metricSelector"], str) and query["metricSelector"] else "metricSelector must be a string"
    if not isinstance(query.get("timeseriesId"), str) or not query["timeseriesId"]:
        return "needs timeseriesId (v1) or metricSelector (v2)"
    aggregation = str(query.get("aggregation", "avg"))
    if aggregation.lower() not in AGGREGATIONS and not _PERCENTILE.match(aggregation):
        return f"aggregation {aggregation!r} is not one of {', '.join(AGGREGATIONS)} or pNN"
    for key in ("entityIds", "tags"):
        if key in query and not (isinstance(query[key], list) and all(isinstance(v, str) for v in query[key])):
            return f"{key} must be a list of strings"
    return None


def to_v2(query: Any, context: StageContext) -> dict[str, str]:
    """``{"metricSelector": ..., "entitySelector": ...}`` (entitySelector omitted when unscoped)."""
    if isinstance(query, str):
        selector, _, scope = query.partition("?scope=")
        params = {"metricSelector": selector.strip()}
        if scope:
            params["entitySelector"] = scope if "type(" in scope or "entityId(" in scope else f"type(SERVICE),{scope}"
        return params
    if "metricSelector" in query:
        params = {"metricSelector": str(query["metricSelector"])}
        if query.get("entitySelector"):
            params["entitySelector"] = str(query["entitySelector"])
        return params
    ts_id = str(query["timeseriesId"])
    key = V1_TO_V2.get(ts_id) or ts_id.replace("com.dynatrace.builtin:", "builtin:", 1)
    aggregation = str(query.get("aggregation", "avg"))
    pct = _PERCENTILE.match(aggregation)
    transform = f"percentile({pct.group(1)})" if pct else aggregation.lower()
    params = {"metricSelector": f"{key}:{transform}"}
    family = ts_id.split(":", 1)[-1].split(".", 1)[0]
    entity_type = ENTITY_TYPES.get(family)
    if query.get("entityIds"):
        params["entitySelector"] = "entityId(" + ",".join(_quote(e) for e in query["entityIds"]) + ")"
    elif query.get("tags") and entity_type:
        params["entitySelector"] = f"type({entity_type})," + ",".join(f"tag({_quote(t)})" for t in query["tags"])
    elif entity_type == "SERVICE":
        # Keptn 0.2's pitometer-service scoped every Dynatrace indicator to the service entity tagged
        # service:<service> and environment:<project>-<stage>; the selector does the same in one request.
        params["entitySelector"] = (f"type(SERVICE),tag({_quote('service:' + context.service)}),"
                                    f"tag({_quote('environment:' + context.namespace)})")
    return params


@dataclass(frozen=True)
class DynatraceSettings:
    """``--dynatrace-*``: the tenant and its API token (from env/file, never a flag value)."""

    url: str = ""
    """Tenant base URL (``https://abc123.live.dynatrace.com``)."""
    token: Secret | None = None

    def secrets(self) -> list[Secret | None]:
        return [self.token, split_userinfo(self.url)[2]]


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
        self.url = http.split_userinfo(url)[0].rstrip("/")  # the token is the credential; a URL never carries one
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
        return DynatraceSettings(url=options.get("dynatrace_url") or "",
                                 token=read_secret(env=options.get("dynatrace_token_env"),
                                                   file=options.get("dynatrace_token_file"), what="Dynatrace token"))

    @classmethod
    def from_settings(cls, settings: SourceSettings) -> DynatraceSource:
        group: DynatraceSettings = settings.group(cls.name, DynatraceSettings())
        url = group.url
        if not url:
            raise BadInputError("command line", "--dynatrace-url",
                                "required by indicators with source dynatrace [env DT_TENANT_URL]")
        parsed = urlparse(url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise BadInputError("command line", "--dynatrace-url", f"{url!r} is not an http(s) URL")
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
        """Values go in as they are: selectors quote entity values themselves (``_quote``)."""
        return substitute_plain(query, values)

    def secrets(self) -> list[Secret | None]:
        return [self.token]

    def describe(self, query: Any) -> str:
        params = to_v2(query, self.context)
        return " ".join(f"{k}={v}" for k, v in params.items())

    def fetch(self, query: Any, window: Window) -> Fetched:
        params: dict[str, str] = {**to_v2(query, self.context), "resolution": "Inf",
                                  "from": str(int(window.start * 1000)), "to": str(int(window.end * 1000))}
        pairs: list[tuple[str, Any]] = []
        for _ in range(20):  # pages; a gate never needs more
            try:
                status, body = self._http.request_json(
                    self._session, "GET", f"{self.url}/api/v2/metrics/query", params=params, what=f"dynatrace at {self.url}",
                    timeout_s=self.timeout_s, budget=self._budget, secrets=[self.token])
            except self._http.SourceHTTPError as err:
                return Fetched(error=str(err))
            if status != 200 or not isinstance(body, dict):
                message = body.get("error", {}).get("message", "") if isinstance(body, dict) else ""
                return Fetched(error=self.token.redact(f"dynatrace answered HTTP {status}: {message}".strip()))
            for collection in body.get("result") or []:
                for series in collection.get("data") or []:
                    key = ",".join(str(d) for d in series.get("dimensions") or [])
                    values = series.get("values") or [None]
                    pairs.append((key, values[-1]))
            if not body.get("nextPageKey"):
                break
            params = {"nextPageKey": str(body["nextPageKey"])}
        return finite_samples(pairs)

    def close(self) -> None:
        """Close the connections; the retry budget starts afresh for the next evaluation."""
        self._session.close()
        self._budget = self._http.Budget(self.retry_budget_s)
