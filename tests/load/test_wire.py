"""What both clients put on the wire: UTF-8 percent-encoded targets, and no CR/LF/NUL anywhere in a request head.

Aspects: paths and queries are percent-encoded as UTF-8 per RFC 3986, what is already encoded
stays (issue 18 item 2: ``/cities/München`` went out as a raw Latin-1 byte and ``/€`` crashed),
checked as a table and then on the wire: the functional client (aiohttp) and the load engine
send byte-identical request targets to a loopback server, and the answers pass. CR, LF and NUL
in a header name or value, the method or the path after substitution are bad input naming the
file, the field and the request (issue 12 item 4: a variable ``"x\\r\\nX-Injected: yes"`` in a
header added a header line), in the functional and the performance section; a value extracted
from an answer at run time fails that check unsent; encoding is idempotent for any string.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import aiohttp
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline_steps.errors import BadInputError
from pipeline_steps.load.checks import run_functional
from pipeline_steps.load.engine import LoadEngine
from pipeline_steps.load.wire import UnsafeRequest, encode_target
from pipeline_steps.load.workload import parse_workload
from tests.load.servers import serve

TARGETS = [
    ("/cities/München", "/cities/M%C3%BCnchen"),
    ("/€", "/%E2%82%AC"),
    ("/日本/東京", "/%E6%97%A5%E6%9C%AC/%E6%9D%B1%E4%BA%AC"),
    ("/emoji/😀", "/emoji/%F0%9F%98%80"),
    ("/a b", "/a%20b"),
    ("/search?q=Zürich&lang=de", "/search?q=Z%C3%BCrich&lang=de"),
    ("/search?q=a b&x=ü", "/search?q=a%20b&x=%C3%BC"),
    ("/q?next=/a/b?c", "/q?next=/a/b?c"),  # '/' and '?' are allowed in a query
    ("/cities/M%C3%BCnchen", "/cities/M%C3%BCnchen"),  # already encoded: stays
    ("/%e2%82%ac", "/%e2%82%ac"),  # lower-case triplets are valid too
    ("/100%", "/100%25"),  # a '%' that starts no triplet
    ("/a%zz", "/a%25zz"),
    ("/a#b", "/a%23b"),  # a request target has no fragment
    ("/x?q=a+b;c=d&e=$f", "/x?q=a+b;c=d&e=$f"),  # sub-delims stay
    ("/[v1]/{id}", "/%5Bv1%5D/%7Bid%7D"),
    ("/a\"b<c>", "/a%22b%3Cc%3E"),
    ("/~user/file.tar.gz", "/~user/file.tar.gz"),
    ("/ü/%C3%BC", "/%C3%BC/%C3%BC"),  # mixed: the raw one is encoded, the encoded one stays
]


@pytest.mark.parametrize(("raw", "encoded"), TARGETS)
def test_targets_are_percent_encoded_as_utf8(raw: str, encoded: str) -> None:
    assert encode_target(raw) == encoded
    assert encode_target(encoded) == encoded


@given(st.text())
def test_encoding_is_idempotent_and_ascii(text: str) -> None:
    try:
        once = encode_target("/" + text)
    except UnicodeEncodeError:
        return  # a lone surrogate has no UTF-8: prepare() refuses it as UnsafeRequest
    assert once.isascii() and encode_target(once) == once
    assert not any(c in once for c in " \r\n\0#")


def both_clients(url: str, requests: list[dict[str, Any]], variables: dict[str, str] | None = None) -> list[list[str]]:
    """Send each request once with the functional client and once with the engine; what the server saw."""
    work = parse_workload({"variables": variables or {}, "functional": requests,
                           "performance": {"users": 1, "loops": 1, "requests": requests}}, "tests.yaml")
    assert work.performance is not None

    async def functional() -> list[bool]:
        async with aiohttp.ClientSession() as session:
            results = await run_functional(session, url, work.functional, work.variables)
        return [r.passed for r in results]

    async def engine(i: int) -> bool:
        assert work.performance is not None
        spec = replace(work.performance, requests=(work.performance.requests[i],))
        outcome = await LoadEngine(url, spec, work.variables).run(asyncio.Event())
        return outcome.result.errors == 0

    passed_f = asyncio.run(functional())
    passed_e = [asyncio.run(engine(i)) for i in range(len(requests))]
    return [passed_f, passed_e]


def test_both_clients_send_the_same_encoded_targets() -> None:
    requests = [{"name": f"r{i}", "path": "/raw" + raw} for i, (raw, _) in enumerate(TARGETS)]
    with serve() as server:
        passed = both_clients(server.url, requests)
        seen = list(server.state.raw_targets)
    n = len(TARGETS)
    assert passed == [[True] * n, [True] * n]
    functional, engine = seen[:n], seen[n:]
    assert functional == engine == ["/raw" + encoded for _, encoded in TARGETS]


def test_base_url_path_and_variables_are_encoded_too() -> None:
    with serve() as server:
        passed = both_clients(server.url + "/raw/Köln", [{"name": "r", "path": "/${city}?q=${q}"}],
                              {"city": "Düsseldorf", "q": "a b"})
        seen = list(server.state.raw_targets)
    assert passed == [[True], [True]]
    assert seen == ["/raw/K%C3%B6ln/D%C3%BCsseldorf?q=a%20b"] * 2


INJECTIONS = [
    ("crlf in a header", {"headers": {"X-A": "${v}"}}, "x\r\nX-Injected: yes", "headers.X-A"),
    ("lf in a header", {"headers": {"X-A": "${v}"}}, "x\nX-Injected: yes", "headers.X-A"),
    ("cr in a header", {"headers": {"X-A": "pre-${v}"}}, "x\rX", "headers.X-A"),
    ("nul in a header", {"headers": {"X-A": "${v}"}}, "x\0y", "headers.X-A"),
    ("literal crlf in a header", {"headers": {"X-A": "a\r\nb"}}, "", "headers.X-A"),
    ("crlf in the path", {"path": "/ok/${v}"}, "x HTTP/1.1\r\nX-Injected: yes\r\n\r\nGET /", "path"),
    ("lf in the path", {"path": "/ok?q=${v}"}, "\n", "path"),
    ("nul in the path", {"path": "/${v}"}, "a\0", "path"),
    ("trailing newline in a header name", {"headers": {"X-A\n": "1"}}, "", "headers.X-A\n"),
    ("crlf in a header name", {"headers": {"X-A\r\nX-B": "1"}}, "", "headers.X-A\r\nX-B"),
    ("newline in the method", {"method": "GET\n"}, "", "method"),
]


@pytest.mark.parametrize("section", ["functional", "performance"])
@pytest.mark.parametrize(("case", "request_part", "value", "field"), INJECTIONS, ids=[i[0] for i in INJECTIONS])
def test_cr_lf_nul_after_substitution_are_bad_input(section: str, case: str, request_part: dict[str, Any], value: str,
                                                    field: str) -> None:
    request = {"name": "add item", "path": "/ok", **request_part}
    data: dict[str, Any] = {"variables": {"v": value}}
    if section == "functional":
        data["functional"] = [request]
        where = "functional[0]"
    else:
        data["performance"] = {"users": 1, "loops": 1, "requests": [request]}
        where = "performance.requests[0]"
    with pytest.raises(BadInputError) as info:
        parse_workload(data, "tests.yaml")
    assert info.value.source == "tests.yaml"
    assert info.value.field == f"{where}.{field}"
    assert field == "method" or "add item" in info.value.message


def test_an_extracted_value_with_crlf_is_never_sent() -> None:
    requests = [{"name": "get id", "path": "/doc/evil", "extract": {"id": "$.id"}},
                {"name": "use id", "path": "/raw/x", "headers": {"X-A": "${id}"}},
                {"name": "use id in path", "path": "/raw/${id}"}]
    work = parse_workload({"functional": requests}, "tests.yaml")

    async def main(url: str) -> list[Any]:
        async with aiohttp.ClientSession() as session:
            return await run_functional(session, url, work.functional, {})

    with serve() as server:
        server.state.documents["evil"] = {"id": "x\r\nX-Injected: yes"}
        results = asyncio.run(main(server.url))
        seen = list(server.state.headers)
    assert [r.passed for r in results] == [True, False, False]
    assert results[1].message.startswith("not sent: headers.X-A:") and "CR, LF or NUL" in results[1].message
    assert results[2].message.startswith("not sent: path:")
    assert len(seen) == 1 and not any("X-Injected" in h for h in seen)


def test_the_engine_refuses_an_unsafe_request_even_without_the_loader() -> None:
    spec = parse_workload({"performance": {"users": 1, "loops": 1, "requests": [{"name": "r", "path": "/${v}"}]},
                           "variables": {"v": "ok"}}, "t").performance
    assert spec is not None
    with pytest.raises(UnsafeRequest):
        LoadEngine("http://127.0.0.1:1", spec, {"v": "a\r\nb"})
