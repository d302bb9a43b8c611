"""What both HTTP clients put on the wire: substituted, checked, percent-encoded requests and redirect hops.

Why one module: the functional checks (aiohttp) and the load engine (``transport.py``) must send
the same bytes for the same request spec and follow (or not follow) the same redirects, or a
request passes in one section and fails in the other (issue 18). Everything here is pure: no
I/O, no aiohttp, so the engine's start-up stays light.

- Substitution: ``${var}`` in path, header values and bodies (``substitute``).
- Safety (RFC 9112 §2.2, §5: a field value or request line never contains CR, LF or NUL): after
  substitution, method, path and every header name and value are checked; a bad one raises
  ``UnsafeRequest`` naming the field (issue 12 item 4: a variable ``"x\\r\\nX-Injected: yes"``
  must not add a header line).
- Encoding (RFC 3986 §2.1, §3.3, §3.4): path and query are percent-encoded as UTF-8; characters
  allowed there (unreserved, sub-delims, ``:@/`` and ``?`` in the query) and valid ``%XX``
  triplets stay as they are, so an encoded path is never encoded twice. A ``%`` that starts no
  triplet becomes ``%25``; ``#`` becomes ``%23`` (a request target has no fragment, RFC 9112 §3.2).
- Redirects (RFC 9110 §15.4): followed only when the request says ``follow_redirects: true``,
  at most ``MAX_REDIRECTS`` hops; 303 turns any method but HEAD into a body-less GET, 301/302
  turn POST into GET (what every user agent does, RFC 9110 §15.4.2-3 notes), 307/308 keep
  method and body. Credentials (``Authorization``, ``Cookie``) are not sent to another origin.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urljoin, urlsplit

from pipeline_steps.load.workload import VARIABLE, RequestSpec

MAX_REDIRECTS = 10
_KEEP = re.compile(r"%[0-9A-Fa-f]{2}|[A-Za-z0-9\-._~!$&'()*+,;=:@/]+")
_FORBIDDEN = ("\r", "\n", "\0")
_CREDENTIALS = ("authorization", "cookie", "proxy-authorization")


class MissingVariable(KeyError):
    """A ``${var}`` has no value because the request that extracts it failed."""


class UnsafeRequest(ValueError):
    """After substitution, ``field`` (``method``, ``path``, ``headers.<name>``) holds CR, LF or NUL."""

    def __init__(self, field: str, value: str) -> None:
        self.field = field
        super().__init__(f"{field}: {value!r} contains CR, LF or NUL after substitution (it would split the request)")


def substitute(value: Any, variables: dict[str, str]) -> Any:
    """Replace ``${var}`` in strings (recursively in lists and mappings); ``MissingVariable`` if unknown."""
    if isinstance(value, str):
        def repl(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in variables:
                raise MissingVariable(name)
            return variables[name]
        return VARIABLE.sub(repl, value)
    if isinstance(value, dict):
        return {k: substitute(v, variables) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, variables) for v in value]
    return value


def encode_target(target: str) -> str:
    """``target`` (path, optional ``?query``) percent-encoded per RFC 3986; idempotent."""
    path, mark, query = target.partition("?")
    return _encode(path, "") + mark + _encode(query, "?") if mark else _encode(path, "")


def _encode(part: str, extra: str) -> str:
    out, pos = [], 0
    for match in _KEEP.finditer(part):
        out.append(_quote(part[pos:match.start()], extra))
        out.append(match.group(0))
        pos = match.end()
    out.append(_quote(part[pos:], extra))
    return "".join(out)


def _quote(text: str, extra: str) -> str:
    if not text:
        return text
    # surrogateescape: a header byte that was not UTF-8 (decoded as aiohttp does) goes back out as that byte
    return "".join(ch if ch in extra else "".join(f"%{b:02X}" for b in ch.encode("utf-8", "surrogateescape"))
                   for ch in text)


@dataclass(frozen=True)
class Outgoing:
    """A request ready for either client: ``target`` is the encoded origin-form path and query."""

    method: str
    target: str
    headers: dict[str, str]
    body: bytes | None


def check_line(field: str, value: str) -> None:
    """Raise ``UnsafeRequest`` if ``value`` contains CR, LF or NUL."""
    if any(c in value for c in _FORBIDDEN):
        raise UnsafeRequest(field, value)


def prepare(spec: RequestSpec, variables: dict[str, str], prefix: str = "") -> Outgoing:
    """Substitute, check and encode ``spec``; ``prefix`` is the base URL's path (no trailing slash).

    Raises ``MissingVariable`` (a value to extract is missing) or ``UnsafeRequest``.
    """
    check_line("method", spec.method)
    path = substitute(spec.path, variables)
    check_line("path", path)
    headers = substitute(spec.headers, variables)
    for name, value in headers.items():
        check_line(f"headers.{name}", name)
        check_line(f"headers.{name}", value)
    body: bytes | None = None
    if spec.json is not None:
        if not any(k.lower() == "content-type" for k in headers):
            headers["Content-Type"] = "application/json"
        body = json.dumps(substitute(spec.json, variables)).encode()
    elif spec.body is not None:
        body = str(substitute(spec.body, variables)).encode()
    try:
        target = encode_target(prefix + path)
    except UnicodeEncodeError as err:  # a lone surrogate from a YAML escape: no UTF-8 for it
        raise UnsafeRequest("path", path) from err
    return Outgoing(spec.method, target, headers, body)


def with_values(spec: RequestSpec, variables: dict[str, str]) -> RequestSpec:
    """``spec`` with ``${var}`` filled into its string assertion operands (``MissingVariable`` if unknown)."""
    if not any(isinstance(a.expected, str) and "${" in a.expected for a in spec.assertions):
        return spec
    return replace(spec, assertions=tuple(replace(a, expected=substitute(a.expected, variables))
                                          if isinstance(a.expected, str) else a for a in spec.assertions))


@dataclass(frozen=True)
class Hop:
    """The next request of a redirect chain: absolute ``url`` (encoded), method, headers, body."""

    url: str
    method: str
    headers: dict[str, str]
    body: bytes | None


def next_hop(url: str, request: Outgoing | Hop, status: int, location: str | None) -> Hop | None:
    """Where a ``status`` answer with ``location`` sends ``request`` (made to ``url``); None: not a redirect.

    A Location that is no http(s) URL, or that holds CR/LF/NUL, ends the chain (None): the 3xx
    answer is then judged as it is.
    """
    if status not in (301, 302, 303, 307, 308) or not location:
        return None
    if any(c in location for c in _FORBIDDEN):
        return None
    try:
        target = urljoin(url, location.strip())
        parts = urlsplit(target)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return None
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError:
        return None
    method, body, headers = request.method, request.body, dict(request.headers)
    if (status == 303 and method != "HEAD") or (status in (301, 302) and method == "POST"):
        method, body = "GET", None
        headers = {k: v for k, v in headers.items() if k.lower() not in ("content-type", "content-length")}
    if _origin(target) != _origin(url):
        headers = {k: v for k, v in headers.items() if k.lower() not in _CREDENTIALS}
    path = parts.path or "/"
    encoded = f"{parts.scheme}://{parts.netloc}{encode_target(path + ('?' + parts.query if parts.query else ''))}"
    return Hop(encoded, method, headers, body)


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    default = 443 if parts.scheme == "https" else 80
    return parts.scheme, (parts.hostname or "").lower(), parts.port or default
