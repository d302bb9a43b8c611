"""A loopback backend answering 200 with one fixed JSON body to every GET and POST: a Prometheus, a
Dynatrace tenant or a proxy before either, for the tests of answers in a shape the real API never gives."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.loopback import serving


@contextmanager
def answering(body: Any) -> Iterator[str]:
    """Serve ``body`` on 127.0.0.1 while the block runs; yields the base URL."""
    raw = json.dumps(body).encode()

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        do_GET = do_POST = _answer

        def log_message(self, *args: object) -> None:
            return None

    with serving(Handler) as url:
        yield url
