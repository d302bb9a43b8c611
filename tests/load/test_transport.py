"""The lean HTTP/1.1 client of the load engine, against a scripted raw TCP server.

Aspects: request bytes (Host, Content-Length, user headers); response framing by
Content-Length split across packets, chunked with extensions and trailers, read-until-close,
no body for HEAD/204, informational 1xx skipped; keep-alive reuses one connection and
``Connection: close`` reconnects; refused connections, early closes and malformed answers are
``connect`` errors; https verifies the server certificate (an untrusted one is a ``connect``
error); the watchdog turns a silent server into a ``timeout`` and drops the connection.
"""

from __future__ import annotations

import asyncio
import ssl
import subprocess
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from multidict import CIMultiDict

from pipeline_steps.load.framing import HEAD_BYTES, HEAD_READS
from pipeline_steps.load.transport import (
    Client,
    Connection,
    Origin,
    TransportError,
    Watchdog,
    build_request,
)
from pipeline_steps.load.wire import Outgoing
from pipeline_steps.platforms.local.procs import free_port

Script = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def _read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    return head + (await reader.readexactly(length) if length else b"")


Answer = tuple[int, CIMultiDict[str], bytes]


def exchange(answers: list[list[bytes]], requests: int, *, head: bool = False,
             timeout_s: float = 2.0, want: bool = True) -> tuple[list[Answer | str], list[bytes], int]:
    """Serve ``answers`` (each a list of packets, b"" = close) to ``requests`` sends of one client;
    return the results (or error kind: message), the raw requests seen and the connection count."""
    seen: list[bytes] = []
    connections = 0

    async def main() -> list[Answer | str]:
        queue = list(answers)

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            nonlocal connections
            connections += 1
            try:
                while queue:
                    seen.append(await _read_request(reader))
                    for packet in queue.pop(0):
                        if packet == b"":
                            writer.close()
                            return
                        writer.write(packet)
                        await writer.drain()
                        await asyncio.sleep(0.01)  # separate packets
            except (asyncio.IncompleteReadError, ConnectionError):
                pass

        port = free_port()
        server = await asyncio.start_server(handle, "127.0.0.1", port)
        watchdog = Watchdog(timeout_s)
        dog = asyncio.create_task(watchdog.run())
        client = Client(Origin.parse(f"http://127.0.0.1:{port}"), timeout_s, watchdog)
        raw = build_request(client.origin, Outgoing("HEAD" if head else "POST", "/carts/1/items", {"X-Test": "1"},
                                                    None if head else b'{"a": 1}'))
        results: list[Answer | str] = []
        for _ in range(requests):
            try:
                results.append(await client.send(raw, head, want=want))
            except TransportError as err:
                results.append(f"{err.kind}: {err}")
        client.close()
        dog.cancel()
        server.close()
        return results

    return asyncio.run(main()), seen, connections


OK = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello"


def test_request_bytes() -> None:
    origin = Origin.parse("http://example.test:8080/base")
    raw = build_request(origin, Outgoing("POST", "/base/x", {"Content-Type": "application/json"}, b"{}"))
    assert raw.startswith(b"POST /base/x HTTP/1.1\r\nHost: example.test:8080\r\n")
    assert b"\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}" in raw
    assert Origin.parse("https://example.test").host_header == "example.test"
    assert Origin.parse("https://example.test").port == 443


def test_keep_alive_and_split_content_length() -> None:
    split = [b"HTTP/1.1 201 Created\r\nContent-Le", b"ngth: 11\r\n\r\nhello", b" world"]
    results, seen, connections = exchange([[OK], split, [OK]], 3)
    assert [(r[0], r[2]) for r in results] == [(200, b"hello"), (201, b"hello world"), (200, b"hello")]
    assert results[1][1] == CIMultiDict({"Content-Length": "11"})
    assert connections == 1
    assert seen[0].endswith(b'Content-Length: 8\r\n\r\n{"a": 1}') and b"X-Test: 1" in seen[0]


def test_chunked_with_extensions_and_trailers() -> None:
    chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    answers = [[chunked, b"5;ext=1\r\nhello\r\n", b"6\r\n world\r\n0\r\n\r\n"],
               [chunked + b"3\r\nabc\r\n0\r\nX-Trailer: t\r\n\r\n"], [OK]]
    results, _, connections = exchange(answers, 3)
    assert [r[2] for r in results] == [b"hello world", b"abc", b"hello"]
    assert connections == 1  # the connection stayed in sync after each chunked body


def test_no_body_answers_and_informational() -> None:
    results, _, _ = exchange([[b"HTTP/1.1 204 No Content\r\n\r\n"],
                              [b"HTTP/1.1 100 Continue\r\n\r\n", OK]], 2)
    assert [(r[0], r[2]) for r in results] == [(204, b""), (200, b"hello")]
    head, _, _ = exchange([[b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"], [OK[:-5]]], 2, head=True)
    assert [(r[0], r[2]) for r in head] == [(200, b""), (200, b"")]


def test_connection_close_and_read_until_close_reconnect() -> None:
    close_after = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok"
    until_close = b"HTTP/1.0 200 OK\r\n\r\nall of it"
    results, _, connections = exchange([[close_after], [until_close, b""], [OK]], 3)
    assert [r[2] for r in results] == [b"ok", b"all of it", b"hello"]
    assert connections == 3


def test_errors_are_classified() -> None:
    results, _, _ = exchange([[b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\nshort", b""],
                              [b"SMTP ready\r\n\r\n"], [OK]], 3)
    assert str(results[0]).startswith("connect: server closed the connection")
    assert str(results[1]).startswith("connect: malformed HTTP response")
    assert results[2][0] == 200

    async def refused() -> str:
        client = Client(Origin.parse(f"http://127.0.0.1:{free_port()}"), 1.0, Watchdog(1.0))
        with pytest.raises(TransportError) as info:
            await client.send(b"GET / HTTP/1.1\r\n\r\n")
        return f"{info.value.kind}: {info.value}"
    assert asyncio.run(refused()).startswith("connect: cannot connect")


def test_watchdog_times_out_a_silent_server_and_drops_the_connection() -> None:
    results, _, connections = exchange([[b"HTTP/1.1 200 OK\r\n"], [OK]], 2, timeout_s=0.3)
    assert results[0] == "timeout: no answer in time"
    assert results[1][0] == 200
    assert connections == 2


def test_headers_are_case_insensitive_and_repeatable() -> None:
    results, _, _ = exchange([[b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-A: 1\r\nx-a:2\r\n"
                               b"Content-Length: 0\r\n\r\n"]], 1)
    headers = results[0][1]
    assert headers["content-type"] == "application/json" and headers.getall("X-A") == ["1", "2"]


def test_https_verifies_the_server_certificate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)

    async def main() -> list[str]:
        server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        server_ctx.load_cert_chain(cert, key)

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                while True:
                    await _read_request(reader)
                    writer.write(OK)
                    await writer.drain()
            except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
                writer.close()

        port = free_port()
        server = await asyncio.start_server(handle, "127.0.0.1", port, ssl=server_ctx)
        origin = Origin.parse(f"https://127.0.0.1:{port}")
        raw = build_request(origin, Outgoing("GET", "/", {}, None))
        outcomes = []
        for trusted in (False, True):
            if trusted:  # OpenSSL's default verify paths honour SSL_CERT_FILE
                monkeypatch.setenv("SSL_CERT_FILE", str(cert))
            client = Client(origin, 2.0, Watchdog(2.0))
            try:
                status, _, body = await client.send(raw)
                outcomes.append(f"{status} {body.decode()}")
            except TransportError as err:
                outcomes.append(f"{err.kind}: {err}")
            client.close()
        server.close()
        return outcomes

    untrusted, trusted = asyncio.run(main())
    assert untrusted.startswith("connect: cannot connect") and "CERTIFICATE_VERIFY_FAILED" in untrusted, untrusted
    assert trusted == "200 hello"


CLOSING = ["Connection: close", "Connection:close", "connection: close", "CONNECTION: CLOSE", "Connection:   close  ",
           "Connection:\tclose", "Connection: te, close", "Connection: close,te", "Connection: keep-alive, close"]


@pytest.mark.parametrize("header", CLOSING)
def test_every_spelling_of_connection_close_is_honoured(header: str) -> None:
    """RFC 9112 §9.6 / RFC 9110 §7.6.1: field names are case-insensitive, whitespace around the value is
    optional, and ``close`` is one token of a comma-separated list. The server closes after each answer."""
    answer = f"HTTP/1.1 200 OK\r\n{header}\r\nContent-Length: 2\r\n\r\nok".encode()
    results, _, connections = exchange([[answer, b""] for _ in range(4)], 4)
    assert [r if isinstance(r, str) else r[0] for r in results] == [200] * 4
    assert connections == 4


@pytest.mark.parametrize("answer", [
    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
    b"HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok",
    b"HTTP/1.1 200 OK\r\nX-Connection: close\r\nContent-Length: 2\r\n\r\nok",
    b"HTTP/1.1 200 OK\r\nConnection: closed\r\nContent-Length: 2\r\n\r\nok",  # not the close token
    b"HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 2\r\n\r\nok",
    b"HTTP/1.1 200 OK\r\ncontent-length:2\r\n\r\nok",
    b"HTTP/1.1 200 OK\r\nCONTENT-LENGTH:  2 \r\n\r\nok",
])
def test_keep_alive_answers_reuse_one_connection(answer: bytes) -> None:
    results, _, connections = exchange([[answer] for _ in range(3)], 3)
    assert [r if isinstance(r, str) else (r[0], r[2]) for r in results] == [(200, b"ok")] * 3
    assert connections == 1


def test_http_1_0_without_keep_alive_closes() -> None:
    answer = b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok"
    results, _, connections = exchange([[answer, b""] for _ in range(3)], 3)
    assert [r if isinstance(r, str) else r[0] for r in results] == [200] * 3
    assert connections == 3


@pytest.mark.parametrize("bad", [
    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok",  # conflicting lengths (RFC 9112 §6.3)
    b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\nok",
    b"HTTP/1.1 2000 OK\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nBad Header: x\r\nContent-Length: 2\r\n\r\nok",  # space in a field name
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
])
def test_answers_outside_the_grammar_are_malformed(bad: bytes) -> None:
    results, _, _ = exchange([[bad, b""], [OK]], 2)
    assert str(results[0]).startswith("connect: malformed HTTP response"), results[0]
    assert results[1][0] == 200


SCENARIOS = {
    "keep-alive, length split": [[OK], [b"HTTP/1.1 201 Created\r\nContent-Le", b"ngth: 11\r\n\r\nhello", b" world"], [OK]],
    "chunked": [[b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", b"5;e=1\r\nhello\r\n0\r\nT: t\r\n\r\n"], [OK]],
    "204 and 100 Continue": [[b"HTTP/1.1 204 No Content\r\n\r\n"], [b"HTTP/1.1 100 Continue\r\n\r\n", OK]],
    "close after a length": [[b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok", b""], [OK]],
    "read until close": [[b"HTTP/1.0 200 OK\r\n\r\nall of it", b""], [OK]],
    "read until close, head in 3 packets": [[b"HTTP/1.1 200 OK\r\nConne", b"ction: close\r\nX-A: 1\r\n", b"\r\nall", b""],
                                            [OK]],
    "read until close after 100 Continue": [[b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nConnection: close\r\n\r\nbody",
                                             b""], [OK]],
    "closed short of its length": [[b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 50\r\n\r\nshort", b""], [OK]],
    "closed short of its length, head split": [[b"HTTP/1.1 200 OK\r\nContent-", b"Length: 50\r\nConnection: close\r\n\r\nsh",
                                                b""], [OK]],
    "closed short of its length, keep-alive": [[b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\nshort", b""], [OK]],
    "closed in a chunked body": [[b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhel", b""],
                                 [OK]],
    "closed in the head": [[b"HTTP/1.1 200 OK\r\nContent-Len", b""], [OK]],
    "malformed": [[b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok", b""], [OK]],
    "silent": [[b"HTTP/1.1 200 OK\r\n"], [OK]],
}


def _outcome(result: Answer | str) -> int | str:
    return result if isinstance(result, str) else result[0]


@pytest.mark.parametrize("name", list(SCENARIOS))
@pytest.mark.parametrize("head", [False, True])
def test_the_lean_parser_frames_every_answer_as_the_full_one(name: str, head: bool) -> None:
    """A request without assertions is parsed without header callbacks (``transport._Lean``): its
    framing comes from llhttp's keep-alive verdict, or from a probe of the head when the server will
    close. Whatever the answer, it must end the same way as with the full parser: the same status or
    error, on the same number of connections (a body read to the close is an answer, a body cut
    short of its length is an error)."""
    answers = SCENARIOS[name]
    full, _, full_connections = exchange(answers, len(answers), head=head, timeout_s=0.5)
    lean, _, lean_connections = exchange(answers, len(answers), head=head, timeout_s=0.5, want=False)
    assert [_outcome(r) for r in lean] == [_outcome(r) for r in full]
    assert lean_connections == full_connections
    assert all(r[1] == CIMultiDict() and r[2] == b"" for r in lean if not isinstance(r, str))


def test_the_lean_parser_reads_to_the_close_after_a_head_trickled_in_many_reads() -> None:
    """A server that writes its head a byte at a time (more reads than ``framing.HEAD_READS``) and
    ends the body by closing: the full parser counts the answer, so must the lean one; a head this
    small is no memory risk, only one past ``HEAD_BYTES`` is taken as framed."""
    head = b"HTTP/1.1 200 OK\r\nConnection: close\r\nX-Pad: " + b"a" * 30 + b"\r\n\r\n"
    answers = [[head[i:i + 1] for i in range(len(head))] + [b"body", b""], [OK]]
    full, _, _ = exchange(answers, 2, timeout_s=5)
    lean, _, _ = exchange(answers, 2, timeout_s=5, want=False)
    assert [_outcome(r) for r in full] == [200, 200]
    assert [_outcome(r) for r in lean] == [200, 200]


class _Heard:
    """A handler that notes each outcome."""

    def __init__(self) -> None:
        self.outcomes: list[int | str] = []

    def answered(self, conn: Connection, status: int, headers: CIMultiDict[str] | None, body: bytes, now: float) -> None:
        self.outcomes.append(status)

    def failed(self, conn: Connection, kind: str, message: str, now: float) -> None:
        self.outcomes.append(f"{kind}: {message}")


class _Wire(asyncio.Transport):
    def write(self, data: bytes | bytearray | memoryview) -> None:
        pass

    def close(self) -> None:
        pass


def test_a_head_past_the_kept_bytes_is_framed_and_memory_stays_bounded() -> None:
    """A hostile server trickles a head far past ``HEAD_BYTES`` in many reads: what the lean parser
    keeps stays bounded (``HEAD_BYTES`` joined, plus fewer than ``HEAD_READS`` reads), and a close
    short of the Content-Length is an error, as with the full parser."""
    line = b"X-Pad: " + b"a" * 1000 + b"\r\n"
    reads = [b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\nConnection: close\r\n", *[line] * 200, b"\r\nshort"]
    outcomes = []
    for want in (True, False):
        conn, heard = Connection(), _Heard()
        conn.connection_made(_Wire())
        conn.send(b"GET / HTTP/1.1\r\n\r\n", heard, deadline=1e9, want=want)
        for data in reads:
            conn.data_received(data)
            assert sum(map(len, conn.head)) <= HEAD_BYTES + HEAD_READS * max(map(len, reads))
        conn.connection_lost(None)
        outcomes.append(heard.outcomes)
    assert outcomes[0] == outcomes[1] == ["connect: server closed the connection"]


@pytest.mark.parametrize("coding", [b"gzip", b"chunked, gzip", b"gzip\r\nTransfer-Encoding: identity"])
def test_a_transfer_coding_that_does_not_end_in_chunked_is_read_until_the_close(coding: bytes) -> None:
    """RFC 9112 §6.3 item 4: in a response, a Transfer-Encoding whose final coding is not chunked
    leaves the body's end to the close; that close is the answer's end, not a cut (both parsers)."""
    answers = [[b"HTTP/1.1 200 OK\r\nTransfer-Encoding: " + coding + b"\r\n\r\nzipped", b""], [OK]]
    for want in (True, False):
        results, _, connections = exchange(answers, 2, want=want)
        assert [_outcome(r) for r in results] == [200, 200]
        assert connections == 2
        if want:
            assert results[0][2] == b"zipped"  # type: ignore[index]
