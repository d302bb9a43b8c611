"""``jenkins trigger`` prints the progressive console as one UTF-8 stream, whatever the pieces' byte boundaries.

Aspects (issue 18): Jenkins' ``logText/progressiveText?start=N`` counts bytes, so a piece can end
inside a multi-byte character; decoding each piece on its own printed ``��`` for it. Every cut
of 2-, 3- and 4-byte characters (and one character over three pieces) prints the text intact;
bytes that are not UTF-8 print one replacement character each, and only once the stream ends
can a truncated character be called invalid; the token masking still works across pieces.
"""

from __future__ import annotations

import pytest
import requests

from pipeline_steps.jenkins.client import JenkinsClient, JenkinsSettings
from pipeline_steps.secrets import Secret

TOKEN = "s3cr3t-token"


class ByteConsole:
    """A python-jenkins stand-in whose progressive console answers the given byte pieces, as Jenkins
    does (Content-Type text/plain;charset=UTF-8, X-Text-Size in bytes, X-More-Data until the last)."""

    def __init__(self, pieces: list[bytes]) -> None:
        self.pieces = pieces
        self.served = 0

    def _get_job_folder(self, name: str) -> tuple[str, str]:
        return "", name

    def _build_url(self, spec: str, variables: dict[str, str]) -> str:
        return "http://jenkins.invalid/" + spec % variables

    def jenkins_request(self, request: requests.Request) -> requests.Response:
        response = requests.Response()
        response.status_code = 200
        response.headers["Content-Type"] = "text/plain;charset=UTF-8"
        response.encoding = "UTF-8"  # what requests reads from that Content-Type
        response._content = self.pieces[self.served]
        self.served += 1
        response.headers["X-Text-Size"] = str(sum(len(p) for p in self.pieces[:self.served]))
        if self.served < len(self.pieces):
            response.headers["X-More-Data"] = "true"
        return response


def console(pieces: list[bytes]) -> str:
    client = JenkinsClient(JenkinsSettings(url="http://jenkins.invalid/", user="admin", token=Secret(TOKEN)),
                           server=ByteConsole(pieces))
    chunks: list[str] = []
    client.stream_console("deploy", 1, chunks.append, timeout_s=5, poll_s=0.0)
    return "".join(chunks)


TEXTS = ["Grüße ü\n", "cost: 5 €\n", "😀 done\n", "日本語のログ\n", "mixed ü€😀日\n"]


@pytest.mark.parametrize("text", TEXTS)
def test_every_cut_of_every_character_prints_intact(text: str) -> None:
    data = text.encode()
    for cut in range(1, len(data)):
        assert console([data[:cut], data[cut:]]) == text, cut


@pytest.mark.parametrize("char", ["ü", "€", "😀"])
def test_one_character_over_three_pieces(char: str) -> None:
    data = f"[{char}]\n".encode()
    for a in range(1, len(data) - 1):
        for b in range(a + 1, len(data)):
            assert console([data[:a], data[a:b], data[b:]]) == f"[{char}]\n", (a, b)


@pytest.mark.parametrize(("pieces", "shown"), [
    ([b"a\xff", b"b\n"], "a\ufffdb\n"),  # not UTF-8 at all: one replacement, at once
    ([b"a\xe2\x82", b""], "a\ufffd"),  # the stream ended inside a character
    ([b"a\xe2\x82", b"b\n"], "a\ufffdb\n"),  # a character that never completed
])
def test_invalid_bytes_are_replaced_once(pieces: list[bytes], shown: str) -> None:
    assert console(pieces) == shown


def test_a_cut_token_and_a_cut_character_together() -> None:
    data = f"tök={TOKEN} ü\n".encode()
    for cut in range(1, len(data)):
        assert console([data[:cut], data[cut:]]) == "tök=*** ü\n", cut


def test_pieces_shorter_than_the_token_are_masked_too() -> None:
    data = f"tok={TOKEN} end\n".encode()
    pieces = [data[i:i + 3] for i in range(0, len(data), 3)]
    assert console(pieces) == "tok=*** end\n"
