"""One verdict per request spec: every spec below runs through the functional checks (aiohttp) and through
the load engine, and both must pass or fail alike, with the same reason.

Aspects (issue 18 items 4-6): redirects are judged as they are unless ``follow_redirects: true``
(``GET /old`` with ``expect_status: 302`` failed as "HTTP 200, expected 302" in the functional
section only); 301/302 turn POST into GET, 303 anything into GET, 307/308 keep the method;
a redirect loop ends after 10 hops; credentials stay behind on another origin; JSON values
compare by JSON type (``equals: 1`` passed on ``true``) with 1 == 1.0, deep in arrays and
objects; ``contains`` by the answer's JSON type, never a TypeError (``contains: 2048`` on a
string crashed the run); header assertions; statuses; non-ASCII paths.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import aiohttp
import pytest

from pipeline_steps.load.checks import run_functional
from pipeline_steps.load.engine import LoadEngine
from pipeline_steps.load.workload import parse_workload
from tests.load.servers import serve

DOCUMENTS = {"flag": {"b": True}, "one": {"n": 1}, "zero": {"n": 0}, "none": {"n": None}, "size": {"s": "size 2048 MB"},
             "mixed": {"l": [1, True, "x", {"k": 1.0}]}, "trues": {"l": [True]}, "obj": {"o": {"a": 1, "b": [1, 2]}},
             "float": {"f": 2.5}, "big": {"n": 10**20}}


def j(name: str, path: str, **op: Any) -> dict[str, Any]:
    return {"name": name, "path": f"/doc/{path.split('.')[0]}",
            "assert": [{"type": "json_path", "path": "$." + path.split(".", 1)[1], **op}]}


SPECS: list[tuple[dict[str, Any], bool, str]] = [
    # (request spec, passes, the reason both must give when it fails)
    ({"name": "302 judged as is", "path": "/redirect/302?to=/ok", "expect_status": 302}, True, ""),
    ({"name": "302 not followed, any 2xx/3xx", "path": "/redirect/302?to=/status/500"}, True, ""),
    ({"name": "302 followed", "path": "/redirect/302?to=/ok", "follow_redirects": True, "expect_status": 200}, True, ""),
    ({"name": "302 followed, expected 302", "path": "/redirect/302?to=/ok", "follow_redirects": True,
      "expect_status": 302}, False, "HTTP 200, expected 302"),
    ({"name": "302 followed to a 500", "path": "/redirect/302?to=/status/500", "follow_redirects": True}, False,
     "HTTP 500, expected 2xx/3xx"),
    ({"name": "not followed, body asserted", "path": "/redirect/302?to=/ok",
      "assert": [{"type": "json_path", "path": "$.ok", "equals": True}]}, False, "$.ok: response is not JSON"),
    ({"name": "303 after POST is a GET", "method": "POST", "path": "/redirect/303?to=/raw/after", "json": {"a": 1},
      "follow_redirects": True, "assert": [{"type": "json_path", "path": "$.method", "equals": "GET"}]}, True, ""),
    ({"name": "301 after POST is a GET", "method": "POST", "path": "/redirect/301?to=/raw/after", "json": {"a": 1},
      "follow_redirects": True, "assert": [{"type": "json_path", "path": "$.method", "equals": "GET"}]}, True, ""),
    ({"name": "302 after PUT stays PUT", "method": "PUT", "path": "/redirect/302?to=/raw/after", "json": {"a": 1},
      "follow_redirects": True, "assert": [{"type": "json_path", "path": "$.method", "equals": "PUT"}]}, True, ""),
    ({"name": "307 keeps POST", "method": "POST", "path": "/redirect/307?to=/raw/after", "json": {"a": 1},
      "follow_redirects": True, "assert": [{"type": "json_path", "path": "$.method", "equals": "POST"}]}, True, ""),
    ({"name": "308 keeps POST", "method": "POST", "path": "/redirect/308?to=/raw/after", "json": {"a": 1},
      "follow_redirects": True, "assert": [{"type": "json_path", "path": "$.method", "equals": "POST"}]}, True, ""),
    ({"name": "redirect loop", "path": "/loop", "follow_redirects": True}, False, "more than 10 redirects"),
    ({"name": "redirect loop not followed", "path": "/loop", "expect_status": 302}, True, ""),
    ({"name": "relative Location", "path": "/redirect/302?to=../raw/rel%C3%BC", "follow_redirects": True,
      "assert": [{"type": "json_path", "path": "$.raw", "equals": "/raw/rel%C3%BC"}]}, True, ""),
    ({"name": "non-ASCII Location", "path": "/redirect/302?to=/raw/M%C3%BCnchen", "follow_redirects": True,
      "assert": [{"type": "json_path", "path": "$.raw", "equals": "/raw/M%C3%BCnchen"}]}, True, ""),
    (j("true is not 1", "flag.b", equals=1), False, "$.b: true (boolean) != expected 1 (number)"),
    (j("true is true", "flag.b", equals=True), True, ""),
    (j("1 is not true", "one.n", equals=True), False, "$.n: 1 (number) != expected true (boolean)"),
    (j("1 is 1.0", "one.n", equals=1.0), True, ""),
    (j("0 is not false", "zero.n", equals=False), False, "$.n: 0 (number) != expected false (boolean)"),
    (j("null is not false", "none.n", equals=False), False, "$.n: null (null) != expected false (boolean)"),
    (j("null is null", "none.n", equals=None), True, ""),
    (j("1 is not '1'", "one.n", equals="1"), False, '$.n: 1 (number) != expected "1" (string)'),
    (j("2.5 is 2.5", "float.f", equals=2.5), True, ""),
    (j("big int", "big.n", equals=10**20), True, ""),
    (j("big int is not its float", "big.n", equals=1e20 + 2**20), False, "(number) != expected"),
    (j("objects deep, 1 == 1.0", "obj.o", equals={"a": 1.0, "b": [1.0, 2]}), True, ""),
    (j("objects deep, true != 1", "obj.o", equals={"a": True, "b": [1, 2]}), False, "(object) != expected"),
    (j("string contains a number", "size.s", contains=2048), False,
     "$.s: is a string; only a string operand can be in it, got a number"),
    (j("string contains its text", "size.s", contains="2048"), True, ""),
    (j("array contains true", "mixed.l", contains=True), True, ""),
    (j("array contains 1", "mixed.l", contains=1), True, ""),
    (j("array contains an object by value", "mixed.l", contains={"k": 1}), True, ""),
    (j("[true] does not contain 1", "trues.l", contains=1), False, "has no element equal to 1 (number)"),
    (j("object contains a key", "obj.o", contains="a"), True, ""),
    (j("object contains a number", "obj.o", contains=1), False, "contains looks for a key (a string), got a number"),
    (j("number contains", "one.n", contains=1), False, "only strings, arrays and objects contain anything"),
    (j("missing member", "one.x", equals=1), False, "$.x: missing"),
    (j("exists false", "one.x", exists=False), True, ""),
    ({"name": "header contains", "path": "/ok", "assert": [{"type": "header", "name": "content-type",
                                                            "contains": "json"}]}, True, ""),
    ({"name": "header equals", "path": "/ok", "assert": [{"type": "header", "name": "Content-Type",
                                                          "equals": "text/html"}]}, False, "header Content-Type:"),
    ({"name": "status 503", "path": "/status/503"}, False, "HTTP 503, expected 2xx/3xx"),
    ({"name": "non-ASCII path", "path": "/raw/München", "assert": [{"type": "json_path", "path": "$.raw",
                                                                    "equals": "/raw/M%C3%BCnchen"}]}, True, ""),
]


def verdicts(url: str, specs: list[dict[str, Any]]) -> tuple[list[tuple[bool, str]], list[tuple[bool, str]]]:
    work = parse_workload({"functional": specs, "performance": {"users": 1, "loops": 1, "requests": specs}}, "tests.yaml")
    assert work.performance is not None

    async def functional() -> list[tuple[bool, str]]:
        async with aiohttp.ClientSession() as session:
            return [(r.passed, r.message) for r in await run_functional(session, url, work.functional, {})]

    async def engine(i: int) -> tuple[bool, str]:
        assert work.performance is not None
        spec = replace(work.performance, requests=(work.performance.requests[i],))
        result = (await LoadEngine(url, spec, {}).run(asyncio.Event())).result
        return result.errors == 0, (result.first_errors or [""])[0]

    return asyncio.run(functional()), [asyncio.run(engine(i)) for i in range(len(specs))]


def test_every_request_spec_gets_one_verdict_in_both_sections() -> None:
    with serve() as server:
        server.state.documents.update(DOCUMENTS)
        functional, engine = verdicts(server.url, [s for s, _, _ in SPECS])
    for (spec, passes, reason), (f_ok, f_msg), (e_ok, e_msg) in zip(SPECS, functional, engine, strict=True):
        assert (f_ok, e_ok) == (passes, passes), (spec["name"], f_msg, e_msg)
        if not passes:
            assert reason in f_msg and reason in e_msg, (spec["name"], f_msg, e_msg)
            # the same words: the engine's "name: why" ends the functional "METHOD url: why"
            assert f_msg.endswith(e_msg.split(": ", 1)[1]), (spec["name"], f_msg, e_msg)


@pytest.mark.parametrize("code", [301, 302, 303, 307, 308])
def test_credentials_stay_behind_on_another_origin(code: int) -> None:
    with serve() as first, serve() as other:
        spec = {"name": "away", "path": f"/redirect/{code}?to={other.url}/raw/away", "follow_redirects": True,
                "headers": {"Authorization": "Bearer s3cret", "Cookie": "c=1", "X-Keep": "1"},
                "assert": [{"type": "json_path", "path": "$.raw", "equals": "/raw/away"}]}
        same = {**spec, "name": "same", "path": f"/redirect/{code}?to=/raw/here",
                "assert": [{"type": "json_path", "path": "$.raw", "equals": "/raw/here"}]}
        functional, engine = verdicts(first.url, [spec, same])
        away = list(other.state.headers)
        here = [h for h, p in zip(first.state.headers, first.state.paths, strict=True) if p == "/raw/here"]
    assert [ok for ok, _ in functional] == [ok for ok, _ in engine] == [True, True], (functional, engine)
    assert len(away) == 2 and all("Authorization" not in h and "Cookie" not in h and h["X-Keep"] == "1" for h in away)
    assert len(here) == 2 and all(h["Authorization"] == "Bearer s3cret" for h in here)
