"""A loopback Dynatrace for tests: the endpoints the Dynatrace source calls, in their documented shapes.

No Dynatrace tenant exists here, so the Dynatrace source is tested against this. What it keeps
from the real API (docs.dynatrace.com, Environment API v2 reference pages):

* ``Authorization: Api-Token <token>`` is required: none or a wrong one answers 401 with the
  ``{"error": {"code", "message"}}`` body (every endpoint);
* ``GET /api/v2/metrics/query``: ``metricSelector`` is required (400 without); a metric key it does
  not know answers 404; ``from``/``to`` are epoch milliseconds and ``to`` must be after ``from`` (400);
  ``entitySelector`` understands ``type(T)``, ``entityId("A","B")`` and ``tag("k:v")`` (ANDed);
  transformations ``:avg :min :max :sum :count :median :percentile(N)`` and ``:merge(...)``;
  ``resolution=Inf`` returns one value per entity aggregated over the data points inside
  ``from``..``to``; an entity without points in the window gets ``null`` (as the real API does);
  the body: ``{totalCount, nextPageKey, resolution, result: [{metricId, dataPointCountRatio,
  dimensionCountRatio, data: [{dimensions, dimensionMap, timestamps, values}]}]}``; past
  ``tuple_limit`` tuples (100,000) the rest are ignored and ``dimensionCountRatio`` is 1;
* paging, as every paged v2 endpoint documents it: with ``page_size`` set (older Metrics API
  versions paged by series; the current one documents ``nextPageKey`` as always null, which is the
  default here) an answer holds ``page_size`` series and a ``nextPageKey``; a request carrying
  ``nextPageKey`` must carry no other parameter ("When the nextPageKey is set to obtain subsequent
  pages, you must omit all other query parameters"), else 400; an unknown key is 400;
* ``GET /api/v2/slo/{id}`` (SLO classic): ``from``/``to`` compute it for that timeframe; the body
  carries ``evaluatedPercentage`` and ``error`` (``"NONE"`` when it could be computed; otherwise
  the reason, still with HTTP 200); an unknown id is 404;
* ``GET /api/v2/problems`` and ``/api/v2/securityProblems``: ``problemSelector`` /
  ``securityProblemSelector`` with ``status("open"|"closed")``, ``entitySelector`` as above; the
  body's ``totalCount`` counts the matches;
* ``GET /api/v1/userSessionQueryLanguage/table``: ``query`` (required), ``startTimestamp``/
  ``endTimestamp``; the body ``{extrapolationLevel, columnNames, values}``; a query it does not
  know answers 400 (a USQL syntax error).

Every request is recorded in ``requests`` (path, params, headers) for tests to inspect.
"""

from __future__ import annotations

import json
import re
import statistics
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

_TRANSFORM = re.compile(r":(avg|min|max|sum|count|median|percentile\((\d+(?:\.\d+)?)\)|merge\([^)]*\))")
_TYPE = re.compile(r"type\(\"?([A-Z_]+)\"?\)")
_ENTITY_IDS = re.compile(r"entityId\(([^)]*)\)")
_TAG = re.compile(r'tag\("((?:[^"~]|~.)*)"\)|tag\(([^)"]*)\)')
_QUOTED = re.compile(r'"((?:[^"~]|~.)*)"')


def _unquote(text: str) -> str:
    return re.sub(r"~(.)", r"\1", text)


@dataclass
class Entity:
    id: str
    type: str = "SERVICE"
    tags: list[str] = field(default_factory=list)
    points: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    """metric key -> [(timestamp ms, value)]"""


class DynatraceStandIn:
    """Start with ``start()``; ``url`` is the tenant base URL; stop with ``stop()``."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.entities: dict[str, Entity] = {}
        self.requests: list[dict[str, Any]] = []
        self.tuple_limit = 100_000
        """Dimension tuples one metric query processes (tests lower it); the rest are ignored."""
        self.page_size: int | None = None
        """Series per metric answer page; None answers in one page (the current API)."""
        self.slos: dict[str, tuple[float | None, str]] = {}
        """SLO id -> (evaluatedPercentage, error); error ``"NONE"`` when it could be computed."""
        self.problems: list[dict[str, Any]] = []
        """``{"entityId", "status", "security": bool}`` each."""
        self.usql: dict[str, tuple[list[str], list[list[Any]]]] = {}
        """USQL query -> (columnNames, values)."""
        self._pages: dict[str, list[dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    def start(self) -> DynatraceStandIn:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def add_points(self, entity_id: str, metric: str, points: list[tuple[float, float]], *, entity_type: str = "SERVICE",
                   tags: list[str] | None = None) -> None:
        """Data points ``(unix seconds, value)`` of ``metric`` for an entity (created on first use)."""
        with self._lock:
            entity = self.entities.setdefault(entity_id, Entity(entity_id, entity_type, list(tags or [])))
            entity.points.setdefault(metric, []).extend((int(t * 1000), v) for t, v in points)

    # --- the API -------------------------------------------------------------------------------

    def _select(self, selector: str) -> list[Entity]:
        chosen = list(self.entities.values())
        type_match = _TYPE.search(selector)
        if type_match:
            chosen = [e for e in chosen if e.type == type_match.group(1)]
        ids_match = _ENTITY_IDS.search(selector)
        if ids_match:
            ids = {_unquote(m) for m in _QUOTED.findall(ids_match.group(1))}
            chosen = [e for e in chosen if e.id in ids]
        for quoted, bare in _TAG.findall(selector):
            tag = _unquote(quoted) if quoted else bare
            chosen = [e for e in chosen if tag in e.tags]
        return chosen

    def query(self, params: dict[str, str]) -> tuple[int, dict[str, Any]]:
        selector = params.get("metricSelector", "")
        if not selector:
            return 400, {"error": {"code": 400, "message": "metricSelector must not be empty"}}
        try:
            start, end = int(params.get("from", "0")), int(params.get("to", "0"))
        except ValueError:
            return 400, {"error": {"code": 400, "message": "from/to must be epoch milliseconds"}}
        if end <= start:
            return 400, {"error": {"code": 400, "message": "'to' must be after 'from'"}}
        key = selector.split(":", 2)
        metric = ":".join(key[:2]) if selector.startswith("builtin:") else key[0]
        transforms = _TRANSFORM.findall(selector[len(metric):])
        known = {m for e in self.entities.values() for m in e.points}
        if metric not in known:
            return 404, {"error": {"code": 404, "message": f"Metric selector {selector!r}: metric {metric!r} not found"}}
        scope = params.get("entitySelector", "")
        entities = self._select(scope) if scope else list(self.entities.values())
        entities = [e for e in entities if metric in e.points]
        merge = any(t[0].startswith("merge") for t in transforms)
        aggregation = next((t for t in transforms if not t[0].startswith("merge")), ("avg", ""))
        groups: dict[str, list[float]] = {}
        for entity in entities:
            inside = [v for t, v in entity.points[metric] if start <= t <= end]
            groups.setdefault("" if merge else entity.id, []).extend(inside)
        data = []
        for entity_id, values in groups.items():
            value = _aggregate(values, aggregation) if values else None
            dims = [entity_id] if entity_id else []
            dim_map = {f"dt.entity.{entities[0].type.lower()}": entity_id} if entity_id else {}
            data.append({"dimensions": dims, "dimensionMap": dim_map, "timestamps": [end], "values": [value]})
        # "The number of tuples is limited to 100,000. If exceeded, only the first 100,000 tuples are
        # processed and the rest are ignored"; dimensionCountRatio is queried tuples / that maximum.
        ratio = min(1.0, len(data) / self.tuple_limit)
        data = data[: self.tuple_limit]
        pages = [data[i:i + self.page_size] for i in range(0, len(data), self.page_size)] if self.page_size else [data]
        bodies = [{"totalCount": len(data), "nextPageKey": None, "resolution": params.get("resolution", "Inf"),
                   "result": [{"metricId": selector, "dataPointCountRatio": 0.0001, "dimensionCountRatio": ratio,
                               "data": page}]} for page in pages or [[]]]
        for n in range(len(bodies) - 1):
            key = f"page-{len(self._pages)}-{n + 1}"
            bodies[n]["nextPageKey"] = key
            self._pages[key] = bodies[n + 1:]
        return 200, bodies[0]

    def next_page(self, params: dict[str, str]) -> tuple[int, dict[str, Any]]:
        if set(params) != {"nextPageKey"}:
            return 400, {"error": {"code": 400, "message": "When the nextPageKey is set to obtain subsequent pages, "
                                                           "you must omit all other query parameters"}}
        rest = self._pages.pop(params["nextPageKey"], None)
        if rest is None:
            return 400, {"error": {"code": 400, "message": "Invalid nextPageKey"}}
        return 200, rest[0]

    def _window(self, params: dict[str, str], names: tuple[str, str] = ("from", "to")) -> tuple[int, int] | None:
        try:
            start, end = int(params[names[0]]), int(params[names[1]])
        except (KeyError, ValueError):
            return None
        return (start, end) if end > start else None

    def slo(self, slo_id: str, params: dict[str, str]) -> tuple[int, dict[str, Any]]:
        if self._window(params) is None:
            return 400, {"error": {"code": 400, "message": "from/to must be epoch milliseconds, to after from"}}
        if slo_id not in self.slos:
            return 404, {"error": {"code": 404, "message": f"SLO {slo_id} not found"}}
        value, error = self.slos[slo_id]
        return 200, {"id": slo_id, "name": slo_id, "enabled": True, "evaluatedPercentage": value, "error": error,
                     "status": "SUCCESS" if error == "NONE" else "FAILURE"}

    def count_problems(self, params: dict[str, str], *, security: bool) -> tuple[int, dict[str, Any]]:
        if self._window(params) is None:
            return 400, {"error": {"code": 400, "message": "from/to must be epoch milliseconds, to after from"}}
        selector = params.get("securityProblemSelector" if security else "problemSelector", "")
        status = re.search(r'status\("?(\w+)"?\)', selector)
        chosen = [p for p in self.problems if p.get("security", False) == security]
        if status:
            chosen = [p for p in chosen if p["status"].lower() == status.group(1).lower()]
        if params.get("entitySelector"):
            ids = {e.id for e in self._select(params["entitySelector"])}
            chosen = [p for p in chosen if p["entityId"] in ids]
        listed = "securityProblems" if security else "problems"
        return 200, {"totalCount": len(chosen), "pageSize": 50, "nextPageKey": None, listed: chosen[:50]}

    def usql_table(self, params: dict[str, str]) -> tuple[int, dict[str, Any]]:
        if self._window(params, ("startTimestamp", "endTimestamp")) is None or params.get("query") not in self.usql:
            return 400, {"error": {"code": 400, "message": "Invalid USQL query or timeframe"}}
        columns, values = self.usql[params["query"]]
        return 200, {"extrapolationLevel": 1, "columnNames": columns, "values": values}

    def route(self, path: str, params: dict[str, str]) -> tuple[int, dict[str, Any]]:
        if path == "/api/v2/metrics/query":
            return self.next_page(params) if "nextPageKey" in params else self.query(params)
        if path.startswith("/api/v2/slo/"):
            return self.slo(path[len("/api/v2/slo/"):], params)
        if path in ("/api/v2/problems", "/api/v2/securityProblems"):
            return self.count_problems(params, security=path.endswith("securityProblems"))
        if path == "/api/v1/userSessionQueryLanguage/table":
            return self.usql_table(params)
        return 404, {"error": {"code": 404, "message": "Not found"}}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                params = dict(parse_qsl(parts.query, keep_blank_values=True))
                with standin._lock:
                    standin.requests.append({"path": parts.path, "params": params, "headers": dict(self.headers)})
                    if self.headers.get("Authorization") != f"Api-Token {standin.token}":
                        status, body = 401, {"error": {"code": 401, "message": "Missing or invalid authorization"}}
                    else:
                        status, body = standin.route(parts.path, params)
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args: object) -> None:
                return None

        return Handler


def _aggregate(values: list[float], aggregation: tuple[str, str]) -> float:
    name, pct = aggregation
    if name.startswith("percentile"):
        ordered = sorted(values)
        index = max(0, min(len(ordered) - 1, round(float(pct) / 100 * (len(ordered) - 1))))
        return ordered[index]
    functions: dict[str, Callable[[list[float]], float]] = {
        "avg": statistics.fmean, "min": min, "max": max, "sum": sum, "count": lambda v: float(len(v)),
        "median": statistics.median}
    return functions[name](values)
