"""Workload files: the carts example, every bad-input case, and command-line overrides.

Aspects: the shipped carts workload parses to the use case's numbers (10 users x 500 loops of
POST /carts/1/items with carts_load.jmx's body); each malformed file raises BadInputError
naming the file and the field (table-driven); overrides replace loops/duration and reject
zero users and non-positive durations; the JSON-path subset finds members, indices and
lengths and rejects what it cannot parse.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pipeline_steps.errors import BadInputError, ExitCode
from pipeline_steps.load.jsonpath import JsonPathSyntaxError, parse_jsonpath
from pipeline_steps.load.workload import load_workload, parse_workload, with_overrides

CARTS = Path(__file__).resolve().parents[2] / "examples" / "carts" / "tests.yaml"
REQ = {"name": "r", "path": "/ok"}


def perf(**overrides: Any) -> dict[str, Any]:
    return {"performance": {"users": 2, "loops": 3, "requests": [REQ], **overrides}}


def test_carts_example_is_the_use_case_workload() -> None:
    workload = load_workload(CARTS)
    spec = workload.performance
    assert spec is not None
    assert (spec.model, spec.users, spec.loops, spec.ramp_up_s, spec.think_time_ms) == ("closed", 10, 500, 1, 250)
    (request,) = spec.requests
    assert (request.method, request.path, request.expect_status) == ("POST", "/carts/1/items", (201,))
    # The body of carts_load.jmx, with the item id as a variable.
    assert request.json == {"itemId": "${item}", "unitPrice": "99.99"}
    assert workload.variables["item"] == "03fef6ac-1896-4ce8-bd69-b798f85c6e0b"
    assert spec.limits.error_rate == 0.1
    assert [r.name for r in workload.functional] == ["add item to cart 1", "read cart 1 back"]
    assert set(workload.functional[0].extract) == {"added"}
    assert workload.health.path == "/health"
    assert parse_workload({}, "t").health.path == ""  # filled from service.yaml's health_path


BAD: list[tuple[str, Any, str, str]] = [
    ("not a mapping", ["x"], "", "must be a mapping"),
    ("unknown top key", {"functionl": []}, "functionl", "unknown key"),
    ("unknown assertion type", {"functional": [{**REQ, "assert": [{"type": "jsonpath", "path": "$.a"}]}]},
     "functional[0].assert[0].type", "unknown assertion type 'jsonpath'"),
    ("zero users", perf(users=0), "performance.users", "at least 1"),
    ("negative duration", perf(duration_s=-5), "performance.duration_s", "at least 0"),
    ("negative think time", perf(think_time_ms=-1), "performance.think_time_ms", "at least 0"),
    ("string users", perf(users="ten"), "performance.users", "must be an integer"),
    ("no loops nor duration", perf(loops=0), "performance.loops", "loops (per user) or duration_s"),
    ("open without rate", perf(model="open", duration_s=5), "performance.rate_rps", "rate_rps and duration_s"),
    ("unknown model", perf(model="poisson"), "performance.model", "unknown model"),
    ("no requests", perf(requests=[]), "performance.requests", "at least one request"),
    ("duplicate names", perf(requests=[REQ, REQ]), "performance.requests", "unique"),
    ("error rate above 1", perf(limits={"error_rate": 5}), "performance.limits.error_rate", "fraction"),
    ("bad method", {"functional": [{**REQ, "method": "FETCH"}]}, "functional[0].method", "unknown method"),
    ("relative path", {"functional": [{**REQ, "path": "ok"}]}, "functional[0].path", "starting with '/'"),
    ("bad status", {"functional": [{**REQ, "expect_status": 999}]}, "functional[0].expect_status", "HTTP status"),
    ("bad json path", {"functional": [{**REQ, "extract": {"x": "items[0]"}}]}, "functional[0].extract.x", "start with '$'"),
    ("undefined variable", {"functional": [{**REQ, "path": "/carts/${cart}"}]}, "functional[0].path", "${cart}"),
    ("variable used before extract", {"functional": [{**REQ, "path": "/a/${id}"}, {**REQ, "extract": {"id": "$.id"}}]},
     "functional[0].path", "${id}"),
    ("bad regex", {"functional": [{**REQ, "assert": [{"type": "text_regex", "pattern": "("}]}]},
     "functional[0].assert[0].pattern", "regular expression"),
    ("two assertion ops",
     {"functional": [{**REQ, "assert": [{"type": "json_path", "path": "$.a", "equals": 1, "exists": True}]}]},
     "functional[0].assert[0].exists", "one of equals"),
    ("extract in performance", perf(requests=[{**REQ, "extract": {"a": "$.a"}}]),
     "performance.requests[0].extract", "functional"),
    ("zero weight", perf(requests=[{**REQ, "weight": 0}]), "performance.requests[0].weight", "at least 1"),
    ("header with a newline", {"functional": [{**REQ, "headers": {"X-A": "1\r\nX-B: 2"}}]}, "functional[0].headers.X-A",
     "contains CR, LF or NUL"),
    ("health timeout zero", {"health": {"timeout_s": 0}}, "health.timeout_s", "positive"),
]


@pytest.mark.parametrize(("case", "data", "field", "text"), BAD, ids=[b[0] for b in BAD])
def test_bad_workloads_name_the_file_and_field(case: str, data: Any, field: str, text: str) -> None:
    with pytest.raises(BadInputError) as info:
        parse_workload(data, "tests.yaml")
    err = info.value
    assert err.exit_code == ExitCode.BAD_INPUT
    assert err.source == "tests.yaml"
    assert (err.field or "") == field
    assert text in err.message
    assert str(err).startswith(f"tests.yaml: {field}" if field else "tests.yaml:")


def test_malformed_yaml_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "tests.yaml"
    path.write_text("performance: {users: [1, 2\n", encoding="utf-8")
    with pytest.raises(BadInputError, match=r"tests.yaml: invalid YAML"):
        load_workload(path)
    with pytest.raises(BadInputError, match="cannot read"):
        load_workload(tmp_path / "missing.yaml")


def test_overrides_replace_loops_or_duration_and_reject_nonsense() -> None:
    spec = parse_workload(perf(duration_s=30), "t").performance
    assert spec is not None
    assert (spec.loops, spec.duration_s) == (3, 30)
    shorter = with_overrides(spec, duration_s=2.5)
    assert (shorter.loops, shorter.duration_s, shorter.users) == (0, 2.5, 2)
    fewer = with_overrides(spec, loops=1, users=7)
    assert (fewer.loops, fewer.duration_s, fewer.users) == (1, 0.0, 7)
    for kwargs, flag in (({"users": 0}, "--users"), ({"loops": 0}, "--loops"), ({"duration_s": -1.0}, "--duration")):
        with pytest.raises(BadInputError) as info:
            with_overrides(spec, **kwargs)
        assert info.value.field == flag


def test_jsonpath_subset() -> None:
    doc = {"items": [{"itemId": "a"}, {"itemId": "b"}], "odd key": {"x": 1}}
    assert parse_jsonpath("$.items[-1].itemId").find(doc) == "b"
    assert parse_jsonpath("$['odd key'].x").find(doc) == 1
    assert parse_jsonpath("$.items.length()").find(doc) == 2
    assert parse_jsonpath("$").find(doc) is doc
    with pytest.raises(LookupError, match="no index"):
        parse_jsonpath("$.items[5]").find(doc)
    with pytest.raises(LookupError, match="no member 'nope'"):
        parse_jsonpath("$.nope").find(doc)
    for bad in ("items", "$.a..b", "$.a.count()", "$.length().x"):
        with pytest.raises(JsonPathSyntaxError):
            parse_jsonpath(bad)
