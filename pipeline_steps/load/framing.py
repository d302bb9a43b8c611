"""How an HTTP/1.1 answer's body is delimited, for the load engine's two llhttp parsers (``transport``).

Why apart: the connection's lean parser (no header callbacks) learns the framing of an answer
that will close from a probe of its head's bytes, and both parsers must agree on what frames a
body (RFC 9112 §6.3): Content-Length, or a Transfer-Encoding whose last coding is chunked; any
other answer's body ends when the server closes. ``tests/load/test_transport.py`` runs every
framing case through both parsers.
"""

from __future__ import annotations

import contextlib

import httptools

FRAMING = (b"content-length", b"transfer-encoding")
FRAMING_LENGTHS = (14, 17)
"""Their lengths: a cheap test before comparing names."""


HEAD_READS = 64
"""Reads of an answer kept as they came until its head is parsed (``Connection.head``); more are joined."""
HEAD_BYTES = 65536
"""Bytes of an answer kept until its head is parsed: a bound on memory. Past it the head is taken as
framed (a close is then an error). Four times Node's limit on a whole head (``--max-http-header-size``,
16 KiB), so no head a server that Node can read sends is cut off."""


def frames(name: bytes, value: bytes) -> bool:
    """Whether a Content-Length or Transfer-Encoding header (``name``) frames the body: a list of transfer
    codings does only when chunked is the last one, else the body ends at the close (RFC 9112 §6.3 item 4);
    of several Transfer-Encoding lines the last decides (a list split over lines, RFC 9110 §5.3)."""
    return len(name) == FRAMING_LENGTHS[0] or value.rsplit(b",", 1)[-1].strip().lower() == b"chunked"


class HeadDone(Exception):
    """Raised from the parser's callback to stop at the end of a HEAD answer's head."""


class _Probe:
    """Reads the framing headers of the last final (>= 200) answer head in some bytes."""

    def __init__(self) -> None:
        self.framed = False
        self.parser = httptools.HttpResponseParser(self)

    def on_message_begin(self) -> None:
        self.framed = False

    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() in FRAMING:
            self.framed = frames(name, value)

    def on_headers_complete(self) -> None:
        if self.parser.get_status_code() >= 200:
            raise HeadDone


def framed(head: bytes) -> bool:
    """Whether the answer whose head ``head`` holds has Content-Length or Transfer-Encoding."""
    probe = _Probe()
    # it stops at the head (HeadDone), or llhttp refuses the head: then the connection's parser says so
    with contextlib.suppress(httptools.HttpParserError):
        probe.parser.feed_data(head)
    return probe.framed
