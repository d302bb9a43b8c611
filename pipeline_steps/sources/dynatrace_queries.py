"""Every Dynatrace query form we accept, parsed into the one API request it stands for (``DtRequest``).

Why its own module: a query that is not understood must be bad input when the spec loads, not a
404 at evaluation time (the provider's own form ``metricSelector=...&entitySelector=...`` was sent
whole as a metric selector). Three families of forms:

* **Keptn's Dynatrace SLI provider strings** (sli.yaml), as keptn-contrib/dynatrace-sli-service
  documents them (README "Advanced SLI Queries", docs/CustomQueryFormatMigration.md; its
  ``pkg/lib/dynatrace/dynatrace.go`` ``GetSLIValue`` and ``BuildDynatraceMetricsQuery``):

  - ``metricSelector=<sel>&entitySelector=<sel>`` (also ``mzSelector``; ``;`` separates like
    ``&``, as Go's ``url.ParseQuery`` did when the provider was written; a leading ``?`` is dropped)
    -> ``GET /api/v2/metrics/query``;
  - the March-2020 form ``<metric selector>?scope=<entity filters>`` -> the same, ``scope`` becoming
    the ``entitySelector`` (with ``type(SERVICE)`` unless a type or entity id is given);
  - ``MV2;<unit>;<metric query>``: the value converted as the provider did, ``MicroSecond`` to
    milliseconds, ``Byte`` to kilobytes; without it ``builtin:service.response.time`` is converted
    from microseconds to milliseconds too (the provider's ``scaleData``);
  - ``SLO;<slo id>`` -> ``GET /api/v2/slo/<id>`` over the window, the value ``evaluatedPercentage``;
  - ``PV2;problemSelector=...&entitySelector=...`` -> ``GET /api/v2/problems``, the value ``totalCount``;
  - ``SECPV2;securityProblemSelector=...`` -> ``GET /api/v2/securityProblems``, ``totalCount``
    (keptn-contrib/dynatrace-service documentation/slis-via-files.md);
  - ``USQL;<tile type>;<dimension>;<query>`` -> ``GET /api/v1/userSessionQueryLanguage/table``,
    the value picked from the table by tile type (SINGLE_VALUE: first column of the first row;
    PIE_CHART, COLUMN_CHART: second column of the first row whose first column is the dimension;
    TABLE: its last column).

* **Pitometer v1 query objects** (perfspec): ``timeseriesId``, ``aggregation``, ``entityIds``,
  ``tags``, mapped onto Metrics API v2 (table in docs/gate.md); values as v1 returned them (µs).
* **Native v2 objects**: ``{"metricSelector": ..., "entitySelector": ...}``, values as the API returns them.

Anything else is bad input naming the query's field; so is a parameter a form does not take.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from pipeline_steps.documents.context import StageContext

V1_TO_V2 = {
    "com.dynatrace.builtin:service.responsetime": "builtin:service.response.time",
    "com.dynatrace.builtin:service.failurerate": "builtin:service.errors.total.rate",
    "com.dynatrace.builtin:service.requestspermin": "builtin:service.requestCount.total",
    "com.dynatrace.builtin:service.server_side_requests": "builtin:service.requestCount.server",
}
"""v1 timeseries ids with a known v2 metric key; any other ``com.dynatrace.builtin:x`` becomes ``builtin:x``."""

ENTITY_TYPES = {"service": "SERVICE", "pgi": "PROCESS_GROUP_INSTANCE", "appmethod": "APPLICATION_METHOD", "host": "HOST"}
AGGREGATIONS = ("avg", "min", "max", "sum", "count", "median")
_PERCENTILE = re.compile(r"p(\d{1,2}(?:\.\d+)?)", re.IGNORECASE)
UNITS = {"MicroSecond": 1000.0, "Byte": 1024.0}
"""``MV2`` units and what the provider divided by (to milliseconds, to kilobytes)."""
TILES = ("SINGLE_VALUE", "PIE_CHART", "COLUMN_CHART", "TABLE")
_SLO_ID = re.compile(r"[A-Za-z0-9-]{1,100}")
_FORMS = "metricSelector=...&entitySelector=..., <selector>?scope=..., MV2;<unit>;..., SLO;<id>, PV2;..., SECPV2;..., USQL;..."
_PARAMS = {"metrics": ("metricSelector", "entitySelector", "mzSelector"), "problems": ("problemSelector", "entitySelector"),
           "securityProblems": ("securityProblemSelector",)}
_STRUCTURE = set("&;?=%#")
"""Characters a placeholder value may not bring into a query string: they would change its parameters."""


@dataclass(frozen=True)
class DtRequest:
    """One Dynatrace API request (without the window's time parameters) and how its value is read."""

    api: str
    """``metrics`` | ``slo`` | ``problems`` | ``securityProblems`` | ``usql``."""
    path: str
    params: dict[str, str] = field(default_factory=dict)
    divisor: float = 1.0
    """The value is divided by this (MV2 units, response time in ms)."""
    tile: str = ""
    dimension: str = ""

    def describe(self) -> str:
        shown = " ".join(f"{k}={v}" for k, v in self.params.items())
        if self.api == "metrics":
            return shown + (f" (value / {self.divisor:g})" if self.divisor != 1 else "")
        extra = f" tile={self.tile} dimension={self.dimension}" if self.api == "usql" else ""
        return f"GET {self.path}" + (f" {shown}" if shown else "") + extra


def _quote(value: str) -> str:
    """A value inside an entity selector's quotes (``~`` escapes ``"`` and ``~``)."""
    return '"' + value.replace("~", "~~").replace('"', '~"') + '"'


def _params(text: str, api: str, what: str) -> dict[str, str]:
    pairs = parse_qsl(text.replace(";", "&"), keep_blank_values=True)
    found: dict[str, str] = {}
    for key, value in pairs:
        if key not in _PARAMS[api]:
            raise ValueError(f"{what}: unknown parameter {key!r}; valid: {', '.join(_PARAMS[api])}")
        if key in found:
            raise ValueError(f"{what}: {key} is given twice")
        if not value.strip():
            raise ValueError(f"{what}: {key} is empty")
        found[key] = value
    return found


def _metric_query(text: str, unit: str) -> DtRequest:
    text = text.strip()
    text = text[1:] if text.startswith("?metricSelector=") else text
    if "?" in text:  # the March-2020 form: <selector>?scope=<filters>
        selector, _, rest = text.partition("?")
        params = _params(rest.replace("scope=", "entitySelector=", 1) if rest.startswith("scope=") else rest, "metrics",
                         "the part after ?")
        if "entitySelector" in params and "type(" not in params["entitySelector"] and "entityId(" not in params[
                "entitySelector"] and rest.startswith("scope="):
            params["entitySelector"] = "type(SERVICE)," + params["entitySelector"]
        params = {"metricSelector": selector.strip(), **params}
    elif "=" in text:
        params = _params(text, "metrics", "metric query")
    else:
        raise ValueError(f"{text[:60]!r} is no query form of Keptn's Dynatrace SLI provider ({_FORMS})")
    if not params.get("metricSelector", "").strip():
        raise ValueError("metricSelector is required")
    divisor = UNITS[unit] if unit == "Byte" else 1000.0 if (
        unit == "MicroSecond" or "builtin:service.response.time" in params["metricSelector"]) else 1.0
    return DtRequest("metrics", "/api/v2/metrics/query", params, divisor)


def parse_string(query: str) -> DtRequest:
    """A Keptn Dynatrace SLI provider string (module docstring); ``ValueError`` saying why not."""
    prefix, _, rest = query.partition(";")
    if prefix == "USQL":
        parts = rest.split(";", 2)
        if len(parts) != 3:
            raise ValueError("USQL needs USQL;<tile type>;<dimension>;<query>")
        tile, dimension, usql = parts
        if tile not in TILES:
            raise ValueError(f"USQL tile type {tile!r} is not one of {', '.join(TILES)}")
        if tile == "SINGLE_VALUE" and dimension:
            raise ValueError("USQL SINGLE_VALUE takes no dimension (USQL;SINGLE_VALUE;;<query>)")
        if tile != "SINGLE_VALUE" and not dimension:
            raise ValueError(f"USQL {tile} needs the dimension whose row holds the value")
        if not usql.strip():
            raise ValueError("USQL needs a query")
        return DtRequest("usql", "/api/v1/userSessionQueryLanguage/table", {"query": usql}, tile=tile, dimension=dimension)
    if prefix == "SLO":
        if not _SLO_ID.fullmatch(rest):
            raise ValueError(f"SLO needs SLO;<slo id> (letters, digits, '-'), got {query[:60]!r}")
        return DtRequest("slo", f"/api/v2/slo/{rest}")
    if prefix in ("PV2", "SECPV2"):
        api = "problems" if prefix == "PV2" else "securityProblems"
        params = _params(rest, api, prefix)
        if not params:
            raise ValueError(f"{prefix} needs {' and/or '.join(_PARAMS[api])}")
        return DtRequest(api, f"/api/v2/{api}", params)
    if prefix == "MV2":
        unit, sep, metric = rest.partition(";")
        if not sep or unit not in UNITS:
            raise ValueError(f"MV2 needs MV2;<unit>;<metric query> with unit {' or '.join(UNITS)}, got {unit!r}")
        return _metric_query(metric, unit)
    return _metric_query(query, "")


def parse_object(query: dict[str, Any], context: StageContext) -> DtRequest:
    """A Pitometer v1 query object or a native v2 one; ``ValueError`` saying why not."""
    if "smartscape" in query:
        raise ValueError("smartscape (topology) queries have no Metrics API v2 equivalent; use a metric with an "
                         "entitySelector")
    if "metricSelector" in query:
        unknown = sorted(set(query) - {"metricSelector", "entitySelector", "mzSelector"})
        if unknown:
            raise ValueError(f"unknown key {unknown[0]!r} next to metricSelector; valid: metricSelector, entitySelector, "
                             "mzSelector")
        if not all(isinstance(v, str) and v.strip() for v in query.values()):
            raise ValueError("metricSelector, entitySelector and mzSelector must be non-empty strings")
        return DtRequest("metrics", "/api/v2/metrics/query", dict(query))
    if not isinstance(query.get("timeseriesId"), str) or not query["timeseriesId"]:
        raise ValueError("needs timeseriesId (v1) or metricSelector (v2)")
    aggregation = str(query.get("aggregation", "avg"))
    pct = _PERCENTILE.fullmatch(aggregation)
    if aggregation.lower() not in AGGREGATIONS and not pct:
        raise ValueError(f"aggregation {aggregation!r} is not one of {', '.join(AGGREGATIONS)} or pNN")
    for key in ("entityIds", "tags"):
        if key in query and not (isinstance(query[key], list) and all(isinstance(v, str) for v in query[key])):
            raise ValueError(f"{key} must be a list of strings")
    ts_id = query["timeseriesId"]
    key = V1_TO_V2.get(ts_id) or ts_id.replace("com.dynatrace.builtin:", "builtin:", 1)
    params = {"metricSelector": f"{key}:{f'percentile({pct.group(1)})' if pct else aggregation.lower()}"}
    entity_type = ENTITY_TYPES.get(ts_id.split(":", 1)[-1].split(".", 1)[0])
    if query.get("entityIds"):
        params["entitySelector"] = "entityId(" + ",".join(_quote(e) for e in query["entityIds"]) + ")"
    elif query.get("tags") and entity_type:
        params["entitySelector"] = f"type({entity_type})," + ",".join(f"tag({_quote(t)})" for t in query["tags"])
    elif entity_type == "SERVICE":
        # Keptn 0.2's pitometer-service scoped every Dynatrace indicator to the service entity tagged
        # service:<service> and environment:<project>-<stage>; the selector does the same in one request.
        params["entitySelector"] = (f"type(SERVICE),tag({_quote('service:' + context.service)}),"
                                    f"tag({_quote('environment:' + context.namespace)})")
    return DtRequest("metrics", "/api/v2/metrics/query", params)


def parse(query: Any, context: StageContext) -> DtRequest:
    """Any accepted form (module docstring) -> its request; ``ValueError`` with a one-line reason."""
    if isinstance(query, str):
        if not query.strip():
            raise ValueError(f"must be a Dynatrace query ({_FORMS})")
        return parse_string(query.strip())
    if isinstance(query, dict):
        return parse_object(query, context)
    raise ValueError("must be a Dynatrace query object or an SLI query string")


def check_value(value: str, placeholder: str) -> None:
    """A placeholder value inside a query string must not add or end parameters (``&``, ``;``, ...)."""
    bad = sorted(_STRUCTURE & set(value))
    if bad:
        raise ValueError(f"{placeholder} is {value!r}: {' '.join(bad)} would change the Dynatrace query's parameters")
