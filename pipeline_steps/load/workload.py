"""The workload file (``tests.yaml`` in the service's repo): health, functional and performance tests.

Why its own format: Keptn 0.2 kept these as JMeter plans (``basiccheck.jmx``, ``carts_load.jmx``)
whose thread counts and loops came from Jenkins properties. One small YAML says the same and is
validated completely before anything is sent: every error names the file and the field
(``tests.yaml: functional[1].assert[0].type: unknown assertion type 'jsonpath'; valid: ...``).

Shape::

    variables: {cart: "1"}
    health: {path: /health, timeout_s: 60, interval_s: 0.5, expect_status: 200}
    functional:
      - name: add item
        method: POST
        path: /carts/${cart}/items
        json: {itemId: "03fef6ac-...", unitPrice: "99.99"}
        expect_status: 201
        follow_redirects: false  # the default: a 3xx is the answer judged (both sections alike)
        assert: [{type: json_path, path: $.itemId, equals: "03fef6ac-..."}]
        extract: {item_id: $.id}
    performance:
      model: closed            # or open (constant arrival rate: rate_rps)
      users: 10
      loops: 500               # and/or duration_s
      ramp_up_s: 1
      think_time_ms: 250
      timeout_s: 10
      requests: [{name: add item, weight: 1, method: POST, path: /carts/1/items, json: {...}}]
      limits: {error_rate: 0.1, avg_response_time_ms: 0, p95_response_time_ms: 0}
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pipeline_steps.errors import BadInputError
from pipeline_steps.finite import DAY_S, LARGEST, number
from pipeline_steps.load.jsonpath import JsonPath, JsonPathSyntaxError, json_problem, parse_jsonpath

METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")
ASSERTION_TYPES = ("header", "json_path", "text_contains", "text_regex")
MODELS = ("closed", "open")
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True)
class Assertion:
    """One check of a response beyond its status."""

    type: str
    """``json_path`` (path + equals|contains|exists), ``text_contains`` (value), ``text_regex``
    (pattern), ``header`` (name + equals|contains|exists)."""
    path: JsonPath | None = None
    name: str = ""
    op: str = "exists"
    expected: Any = None


@dataclass(frozen=True)
class RequestSpec:
    """One HTTP request with what it must answer. Strings may use ``${var}``."""

    name: str
    method: str = "GET"
    path: str = "/"
    headers: dict[str, str] = field(default_factory=dict)
    json: Any = None
    body: str | None = None
    expect_status: tuple[int, ...] = ()
    """Accepted statuses; empty means any 2xx or 3xx."""
    assertions: tuple[Assertion, ...] = ()
    extract: dict[str, JsonPath] = field(default_factory=dict)
    weight: int = 1
    follow_redirects: bool = False
    """Follow 301/302/303/307/308 (``wire.next_hop``); off: the 3xx answer itself is judged."""


@dataclass(frozen=True)
class HealthSpec:
    """GET ``path`` until it answers ``expect_status`` or ``timeout_s`` passes."""

    path: str = ""
    """Empty: service.yaml's ``health_path`` (default ``/health``)."""
    timeout_s: float = 60.0
    interval_s: float = 0.5
    expect_status: int = 200


@dataclass(frozen=True)
class Limits:
    """Acceptance limits like Keptn's jmeter-service; 0 disables a latency limit."""

    error_rate: float = 0.0
    """Highest accepted fraction of failed requests (0.1 = 10 %)."""
    avg_response_time_ms: float = 0.0
    p95_response_time_ms: float = 0.0


@dataclass(frozen=True)
class PerformanceSpec:
    """A load test: closed (``users`` loop) or open (``rate_rps`` arrivals, ``users`` connections)."""

    requests: tuple[RequestSpec, ...]
    model: str = "closed"
    users: int = 1
    loops: int = 0
    """Iterations per user (one request each); 0 = until ``duration_s``."""
    duration_s: float = 0.0
    ramp_up_s: float = 0.0
    think_time_ms: float = 0.0
    rate_rps: float = 0.0
    timeout_s: float = 10.0
    limits: Limits = Limits()


@dataclass(frozen=True)
class Workload:
    source: str
    variables: dict[str, str] = field(default_factory=dict)
    health: HealthSpec = HealthSpec()
    functional: tuple[RequestSpec, ...] = ()
    performance: PerformanceSpec | None = None


def load_workload(path: str | Path) -> Workload:
    """Read and validate a workload file; raise ``BadInputError`` naming file and field."""
    from pipeline_steps.files import read_yaml

    return parse_workload(read_yaml(path), str(path))


def parse_workload(data: Any, source: str) -> Workload:
    r = _Reader(source)
    top = r.mapping(data, "", {"variables", "health", "functional", "performance"})
    variables = {str(k): str(v) for k, v in r.mapping(top.get("variables", {}), "variables").items()}
    r.values = variables
    known = set(variables)
    functional = []
    for i, item in enumerate(r.list(top.get("functional", []), "functional")):
        spec = r.request(item, f"functional[{i}]", known)
        known |= set(spec.extract)
        functional.append(spec)
    perf = top.get("performance")
    return Workload(
        source=source,
        variables=variables,
        health=r.health(top.get("health", {}), "health"),
        functional=tuple(functional),
        performance=None if perf is None else r.performance(perf, "performance", set(variables)),
    )


def with_overrides(spec: PerformanceSpec, *, users: int | None = None, loops: int | None = None,
                   duration_s: float | None = None, source: str = "command line") -> PerformanceSpec:
    """Apply ``--users/--loops/--duration`` (so a demo can shorten a test) and re-check them.
    ``--duration`` alone drops the file's loops, ``--loops`` alone drops its duration."""
    check_overrides(users=users, loops=loops, duration_s=duration_s, source=source)
    if users is not None:
        spec = replace(spec, users=users)
    if loops is not None or duration_s is not None:
        spec = replace(spec, loops=loops or 0, duration_s=duration_s or 0.0)
    if spec.model == "open" and spec.duration_s <= 0:
        raise BadInputError(source, "--duration", "the open model needs a duration")
    return spec


def check_overrides(*, users: int | None, loops: int | None, duration_s: float | None, source: str = "command line") -> None:
    """Reject zero users, zero loops and non-positive durations (also when no performance test runs)."""
    if users is not None and users < 1:
        raise BadInputError(source, "--users", f"must be at least 1, got {users}")
    if loops is not None and loops < 1:
        raise BadInputError(source, "--loops", f"must be at least 1, got {loops}")
    if duration_s is not None and not duration_s > 0:
        raise BadInputError(source, "--duration", f"must be positive, got {duration_s}")


class _Reader:
    """Typed getters that raise ``BadInputError`` with the dotted field path."""

    def __init__(self, source: str, values: dict[str, str] | None = None) -> None:
        self.source = source
        self.values = values or {}
        """The file's variables: substituted at load to check what reaches the request line and headers."""

    def fail(self, where: str, message: str) -> BadInputError:
        return BadInputError(self.source, where or None, message)

    def mapping(self, value: Any, where: str, allowed: set[str] | None = None) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(where, "must be a mapping")
        if allowed is not None:
            unknown = sorted(set(map(str, value)) - allowed)
            if unknown:
                prefix = f"{where}." if where else ""
                raise self.fail(f"{prefix}{unknown[0]}", f"unknown key; valid: {', '.join(sorted(allowed))}")
        return value

    def list(self, value: Any, where: str) -> list[Any]:
        if not isinstance(value, list):
            raise self.fail(where, "must be a list")
        return value

    def number(self, data: dict[str, Any], key: str, where: str, default: float, *, minimum: float = 0.0,
               positive: bool = False, integer: bool = False, maximum: float = LARGEST) -> Any:
        value = number(data.get(key, default), self.source, f"{where}.{key}", integer=integer, maximum=maximum)
        if positive and value <= 0:
            raise self.fail(f"{where}.{key}", f"must be positive, got {value}")
        if value < minimum:
            raise self.fail(f"{where}.{key}", f"must be at least {minimum:g}, got {value}")
        return value

    def path(self, value: Any, where: str) -> JsonPath:
        try:
            return parse_jsonpath(value)
        except JsonPathSyntaxError as err:
            raise self.fail(where, str(err)) from err

    def health(self, value: Any, where: str) -> HealthSpec:
        data = self.mapping(value, where, {"path", "timeout_s", "interval_s", "expect_status"})
        path = data.get("path", "")
        if not isinstance(path, str) or (path and not path.startswith("/")):
            raise self.fail(f"{where}.path", "must be a string starting with '/'")
        return HealthSpec(
            path=path,
            timeout_s=float(self.number(data, "timeout_s", where, 60.0, positive=True, maximum=DAY_S)),
            interval_s=float(self.number(data, "interval_s", where, 0.5, positive=True, maximum=DAY_S)),
            expect_status=self.number(data, "expect_status", where, 200, minimum=100, integer=True),
        )

    def uses(self, value: Any, where: str, known: set[str]) -> None:
        """Every ``${var}`` must be a variable or extracted by an earlier request."""
        if isinstance(value, str):
            for name in VARIABLE.findall(value):
                if name not in known:
                    raise self.fail(where, f"uses ${{{name}}} which no variable or earlier extract defines")
        elif isinstance(value, dict):
            for k, v in value.items():
                self.uses(v, f"{where}.{k}", known)
        elif isinstance(value, list):
            for i, v in enumerate(value):
                self.uses(v, f"{where}[{i}]", known)

    def request(self, value: Any, where: str, known: set[str], *, perf: bool = False) -> RequestSpec:
        allowed = {"name", "method", "path", "headers", "json", "body", "expect_status", "assert", "extract",
                   "follow_redirects"}
        data = self.mapping(value, where, allowed | ({"weight"} if perf else set()))
        name = data.get("name")
        if not isinstance(name, str) or not name:
            raise self.fail(f"{where}.name", "is required (a non-empty string)")
        method = str(data.get("method", "GET")).upper()
        if method not in METHODS:
            raise self.fail(f"{where}.method", f"unknown method {method!r}; valid: {', '.join(METHODS)}")
        path = data.get("path", "/")
        if not isinstance(path, str) or not path.startswith("/"):
            raise self.fail(f"{where}.path", "must be a string starting with '/'")
        headers = self.mapping(data.get("headers", {}), f"{where}.headers")
        for key, val in headers.items():
            if not _TOKEN.fullmatch(str(key)) or not isinstance(val, (str, int, float)) \
                    or isinstance(val, bool):
                raise self.fail(f"{where}.headers.{key}", f"request {name!r}: not a valid header (the name must be an "
                                "HTTP token, the value a string or number)")
        if "json" in data and "body" in data:
            raise self.fail(f"{where}.body", "give either json or body, not both")
        body = data.get("body")
        if body is not None and not isinstance(body, str):
            raise self.fail(f"{where}.body", "must be a string (use json: for structured bodies)")
        if "json" in data and json_problem(data["json"]):
            raise self.fail(f"{where}.json", f"request {name!r}: {json_problem(data['json'])}")
        status = data.get("expect_status", [])
        statuses = status if isinstance(status, list) else [status]
        if not all(isinstance(s, int) and not isinstance(s, bool) and 100 <= s <= 599 for s in statuses):
            raise self.fail(f"{where}.expect_status", "must be an HTTP status (100..599) or a list of them")
        for key in ("path", "headers", "json", "body"):
            self.uses(data.get(key), f"{where}.{key}", known)
        self.one_line(name, where, method, path, headers)
        follow = data.get("follow_redirects", False)
        if not isinstance(follow, bool):
            raise self.fail(f"{where}.follow_redirects", f"request {name!r}: must be true or false, got {follow!r}")
        extract = {str(k): self.path(v, f"{where}.extract.{k}") for k, v in self.mapping(data.get("extract", {}),
                                                                                       f"{where}.extract").items()}
        if perf and extract:
            raise self.fail(f"{where}.extract", "is only supported in functional requests")
        assertions = tuple(self.assertion(a, f"{where}.assert[{i}]", known, name)
                           for i, a in enumerate(self.list(data.get("assert", []), f"{where}.assert")))
        return RequestSpec(
            name=name, method=method, path=path, headers={str(k): str(v) for k, v in headers.items()},
            json=data.get("json"), body=body, expect_status=tuple(statuses), assertions=assertions, extract=extract,
            weight=self.number(data, "weight", where, 1, minimum=1, integer=True) if perf else 1, follow_redirects=follow,
        )

    def one_line(self, name: str, where: str, method: str, path: str, headers: dict[str, Any]) -> None:
        """Method, path and header values after substituting the file's variables hold no CR, LF or NUL
        (RFC 9112 §2.2): such a value would end the request line or add a header line of its own.
        Values extracted at run time are checked again when they are substituted (``wire.prepare``)."""
        for field_name, value in [("method", method), ("path", path), *((f"headers.{k}", str(v)) for k, v in headers.items())]:
            filled = VARIABLE.sub(lambda m: self.values.get(m.group(1), m.group(0)), value)
            if any(c in filled for c in "\r\n\0"):
                raise self.fail(f"{where}.{field_name}", f"request {name!r}: {filled!r} contains CR, LF or NUL after "
                                "substitution (it would split the request)")

    def assertion(self, value: Any, where: str, known: set[str], request: str = "") -> Assertion:
        """One assertion, its operand's type checked against what it is compared with (issue 18):
        a header value is text, so its operand must be a string; a JSON operand must be a JSON
        value (YAML's dates, binary and NaN are not); ``exists`` takes true or false."""
        data = self.mapping(value, where)
        for op in ("equals", "contains", "value"):
            self.uses(data.get(op), f"{where}.{op}", known)
        kind = data.get("type")
        label = f"request {request!r}: " if request else ""
        if kind not in ASSERTION_TYPES:
            raise self.fail(f"{where}.type", f"unknown assertion type {kind!r}; valid: {', '.join(ASSERTION_TYPES)}")
        if kind == "text_contains":
            self.mapping(data, where, {"type", "value"})
            if not isinstance(data.get("value"), str):
                raise self.fail(f"{where}.value", f"{label}must be a string, got {_kind(data.get('value'))}")
            return Assertion(type=kind, op="contains", expected=data["value"])
        if kind == "text_regex":
            self.mapping(data, where, {"type", "pattern"})
            if not isinstance(data.get("pattern"), str):
                raise self.fail(f"{where}.pattern", f"{label}must be a string, got {_kind(data.get('pattern'))}")
            try:
                pattern = re.compile(data["pattern"])
            except re.error as err:
                raise self.fail(f"{where}.pattern", f"invalid regular expression: {err}") from err
            return Assertion(type=kind, op="matches", expected=pattern)
        key = "path" if kind == "json_path" else "name"
        self.mapping(data, where, {"type", key, "equals", "contains", "exists"})
        ops = [op for op in ("equals", "contains", "exists") if op in data]
        if len(ops) > 1:
            raise self.fail(f"{where}.{ops[1]}", f"give one of equals, contains, exists (got {', '.join(ops)})")
        op = ops[0] if ops else "exists"
        if op == "exists" and not isinstance(data.get("exists", True), bool):
            raise self.fail(f"{where}.exists", f"{label}must be true or false, got {_kind(data.get('exists'))}")
        expected = data.get(op, True)
        if kind == "header" and op != "exists" and not isinstance(expected, str):
            raise self.fail(f"{where}.{op}", f"{label}a header value is text: the operand must be a string, got "
                            f"{_kind(expected)} (quote it)")
        if kind == "json_path" and json_problem(expected):
            raise self.fail(f"{where}.{op}", f"{label}{json_problem(expected)}")
        if kind == "json_path":
            return Assertion(type=kind, path=self.path(data.get("path"), f"{where}.path"), op=op, expected=expected)
        if not isinstance(data.get("name"), str) or not data["name"]:
            raise self.fail(f"{where}.name", "is required (a header name)")
        return Assertion(type=kind, name=data["name"], op=op, expected=expected)

    def performance(self, value: Any, where: str, known: set[str]) -> PerformanceSpec:
        allowed = {"model", "users", "loops", "duration_s", "ramp_up_s", "think_time_ms", "rate_rps", "timeout_s",
                   "requests", "limits"}
        data = self.mapping(value, where, allowed)
        model = data.get("model", "closed")
        if model not in MODELS:
            raise self.fail(f"{where}.model", f"unknown model {model!r}; valid: {', '.join(MODELS)}")
        requests = self.list(data.get("requests", []), f"{where}.requests")
        if not requests:
            raise self.fail(f"{where}.requests", "needs at least one request")
        specs = tuple(self.request(item, f"{where}.requests[{i}]", known, perf=True) for i, item in enumerate(requests))
        names = [s.name for s in specs]
        if len(set(names)) != len(names):
            raise self.fail(f"{where}.requests", "request names must be unique (they key the statistics)")
        limits = self.mapping(data.get("limits", {}), f"{where}.limits",
                              {"error_rate", "avg_response_time_ms", "p95_response_time_ms"})
        error_rate = self.number(limits, "error_rate", f"{where}.limits", 0.0)
        if error_rate > 1:
            raise self.fail(f"{where}.limits.error_rate", f"is a fraction 0..1, got {error_rate}")
        spec = PerformanceSpec(
            requests=specs,
            model=model,
            users=self.number(data, "users", where, 1, minimum=1, integer=True),
            loops=self.number(data, "loops", where, 0, integer=True),
            duration_s=float(self.number(data, "duration_s", where, 0.0, maximum=DAY_S)),
            ramp_up_s=float(self.number(data, "ramp_up_s", where, 0.0, maximum=DAY_S)),
            think_time_ms=float(self.number(data, "think_time_ms", where, 0.0, maximum=DAY_S * 1000)),
            rate_rps=float(self.number(data, "rate_rps", where, 0.0)),
            timeout_s=float(self.number(data, "timeout_s", where, 10.0, positive=True, maximum=DAY_S)),
            limits=Limits(
                error_rate=float(error_rate),
                avg_response_time_ms=float(self.number(limits, "avg_response_time_ms", f"{where}.limits", 0.0)),
                p95_response_time_ms=float(self.number(limits, "p95_response_time_ms", f"{where}.limits", 0.0)),
            ),
        )
        if model == "closed" and not spec.loops and not spec.duration_s:
            raise self.fail(f"{where}.loops", "give loops (per user) or duration_s, or both")
        if model == "open" and (spec.rate_rps <= 0 or spec.duration_s <= 0):
            raise self.fail(f"{where}.rate_rps" if spec.rate_rps <= 0 else f"{where}.duration_s",
                            "the open model needs rate_rps and duration_s (both positive)")
        return spec


def _kind(value: Any) -> str:
    """How a YAML value reads in a message: ``a number (2048)``, ``a boolean (true)``, ``nothing``."""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, (int, float)):
        return f"a number ({value})"
    if isinstance(value, (list, dict)):
        return "a list" if isinstance(value, list) else "a mapping"
    return f"a {type(value).__name__} ({value!r})"
