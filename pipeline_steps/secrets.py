"""Secrets (tokens, passwords, credentials in URLs) that must never reach logs, JUnit, reports or events.

A ``Secret`` prints as ``***`` in every ``str``/``repr``/f-string, so a secret that slips into
an exception message or a log line stays hidden; ``reveal()`` is the one explicit way out,
used only where the value goes onto the wire (an HTTP header).

Masking covers every spelling a secret takes in a message, not just the raw text (issue 12.5:
a backend that quoted the rejected ``Authorization: Basic ...`` header put base64(user:password)
into evaluation.json): the raw value, percent-encoded (either hex case, ``+`` for space), JSON-
and Python-escaped, base64 of the secret, and — for a credential that has a user — base64 of
``user:secret`` as HTTP Basic sends it (RFC 7617), standard and URL-safe, with and without padding.

Every ``Secret`` made in a run is registered, so the CLI's edge (``cli.py``) masks every
error message with all of them, whichever backend the message came from.

Credentials in a URL (``https://user:p%40ss@host``) are split off by ``split_url`` before the URL
is validated, printed or sent, and the percent-encoded password is decoded (RFC 3986 3.2.1), so
``p%2Fw`` is sent as ``p/w``.
"""

from __future__ import annotations

import base64
import json
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus, unquote

from pipeline_steps.errors import BadInputError

MASK = "***"
_PERCENT = re.compile(r"%[0-9A-F]{2}")

_REGISTRY: list[Secret] = []
_REGISTRY_LOCK = threading.Lock()


class Secret:
    """A string that hides itself; compare and send it with ``reveal()``.

    ``user`` (optional) is the name it is sent with as HTTP Basic credentials, so base64 of
    ``user:secret`` is masked too; ``typed`` is the text as the user wrote it when that differs
    (a percent-encoded password in a URL), masked as well."""

    __slots__ = ("_forms", "_typed", "_user", "_value")

    def __init__(self, value: str, user: str = "", typed: str = "") -> None:
        self._value = value
        self._user = user
        self._typed = typed
        self._forms: tuple[str, ...] | None = None
        if value:
            with _REGISTRY_LOCK:
                _REGISTRY.append(self)

    def reveal(self) -> str:
        return self._value

    @property
    def user(self) -> str:
        return self._user

    def with_user(self, user: str) -> Secret:
        """The same secret sent as Basic credentials of ``user``."""
        return Secret(self._value, user, self._typed)

    def __bool__(self) -> bool:
        return bool(self._value)

    def __str__(self) -> str:
        return MASK

    def __repr__(self) -> str:
        return f"Secret({MASK})"

    def forms(self) -> tuple[str, ...]:
        """Every spelling of the secret a message may carry, longest first (see the module docstring)."""
        if self._forms is None:
            forms = {*spellings(self._value, self._user), self._typed} - {""} if self._value else set()
            self._forms = tuple(sorted(forms, key=len, reverse=True))
        return self._forms

    def longest(self) -> int:
        """The length of the longest spelling: how much of a stream to hold back before writing it."""
        return len(self.forms()[0]) if self.forms() else 0

    def redact(self, text: str) -> str:
        """``text`` with every spelling of the secret replaced by the mask."""
        for form in self.forms():
            if form in text:
                text = text.replace(form, MASK)
        return text


def spellings(value: str, user: str = "") -> tuple[str, ...]:
    """``value`` as it can appear in a message: raw, percent-encoded, escaped, base64 (module docstring)."""
    encoded = quote(value, safe="")
    found = {value, encoded, _PERCENT.sub(lambda m: m.group(0).lower(), encoded), quote(value),
             quote_plus(value, safe=""), json.dumps(value)[1:-1], repr(value)[1:-1]}
    for raw in ({value, f"{user}:{value}"} if user else {value}):
        data = raw.encode("utf-8")
        for coded in (base64.b64encode(data).decode(), base64.urlsafe_b64encode(data).decode()):
            found.update({coded, coded.rstrip("=")})
    return tuple(sorted((f for f in found if f), key=len, reverse=True))


def registered() -> list[Secret]:
    """Every secret made in this run so far (the CLI masks its messages with them)."""
    with _REGISTRY_LOCK:
        return list(_REGISTRY)


def new_run() -> None:
    """Forget the secrets of an earlier run in this process: a command run in-process (click's
    ``CliRunner``) masks only what it read itself, as it would in a process of its own."""
    with _REGISTRY_LOCK:
        _REGISTRY.clear()


_CONTROL = re.compile("[\x00-\x1f\x7f]")


def _checked(value: str, source: str, what: str, user: str = "") -> Secret | None:
    """``value`` stripped of surrounding white space as a ``Secret`` (None when empty). A secret goes
    into an HTTP header: a line break there made requests raise an exception that quoted the header,
    token and all, into every output; so one inside the value is bad input, never showing it."""
    value = value.strip()
    if _CONTROL.search(value):
        raise BadInputError(source, None, f"the {what} holds a line break or control character; give it on one line")
    if re.search("[\ud800-\udfff]", value):  # how the OS hands over bytes that are not UTF-8
        raise BadInputError(source, None, f"the {what} is not UTF-8 text")
    return Secret(value, user) if value else None


def read_secret(*, env: str | None = None, file: str | None = None, what: str = "token", user: str = "") -> Secret | None:
    """Read a secret from a file or an environment variable, stripped of surrounding white space (a
    mounted Kubernetes secret and ``echo token > file`` end in a line break); None when absent or empty.
    A line break or control character inside, or bytes that are not UTF-8, are ``BadInputError``
    naming the file or variable, never the value.

    Never from a flag value: flags land in shell history, Jenkins logs and ``ps``. ``user`` is the
    name it is sent with as Basic credentials (masked as base64 of ``user:secret`` too)."""
    if file:
        try:
            raw = Path(file).read_bytes()
        except OSError as err:
            raise BadInputError(file, None, f"cannot read {what} file: {err.strerror}") from err
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise BadInputError(file, None, f"the {what} is not UTF-8 text") from None
        return _checked(text, file, what, user)
    if env:
        return _checked(os.environ.get(env, ""), env, what, user)
    return None


def redact_all(text: str, secrets: list[Secret | None]) -> str:
    """``text`` with every spelling of every given secret masked (longest spellings first, so a
    base64 form is masked before a shorter secret inside it could break it up)."""
    forms = sorted({f for s in secrets if s for f in s.forms()}, key=len, reverse=True)
    for form in forms:
        if form in text:
            text = text.replace(form, MASK)
    return text


def longest(secrets: list[Secret | None]) -> int:
    """The longest spelling of any of ``secrets`` (0 for none)."""
    return max((s.longest() for s in secrets if s), default=0)


def redact_data(data: Any, secrets: list[Secret | None]) -> Any:
    """A copy of a JSON-shaped value (dicts, lists, strings, numbers) with every secret masked in
    every string, keys included: what a document writer passes to ``files.write_json``."""
    if isinstance(data, str):
        return redact_all(data, secrets)
    if isinstance(data, dict):
        return {redact_data(k, secrets): redact_data(v, secrets) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [redact_data(v, secrets) for v in data]
    return data


@dataclass(frozen=True)
class SecretURL:
    """A URL given by a user, with its credentials split off: ``url`` has no ``user:password@``."""

    url: str
    """The URL without userinfo: the only form that is validated, printed or sent."""
    user: str = ""
    """The user of the userinfo, percent-decoded."""
    password: Secret | None = None
    """The password of the userinfo, percent-decoded (sent decoded; masked in every spelling)."""
    shown: str = ""
    """The URL for a message: the user kept, the password as ``***`` (``postgresql://ci:***@db/h``)."""

    def __str__(self) -> str:
        return self.url

    @property
    def has_credentials(self) -> bool:
        return bool(self.user or self.password)

    def check_http(self, source: str, field: str | None) -> str:
        """``url`` if it is an absolute http(s) URL with a host; else ``BadInputError`` that shows the
        URL without its credentials (they were split off before this check could print them)."""
        from urllib.parse import urlsplit

        try:
            parts = urlsplit(self.url)
            ok = parts.scheme in ("http", "https") and bool(parts.hostname)
            parts.port  # noqa: B018 - raises ValueError for a port that is not a number 0..65535
        except ValueError:
            ok = False
        if not ok:
            raise BadInputError(source, field, f"{_masked_userinfo(self.url)!r} is not an http(s) URL")
        return self.url


def _masked_userinfo(url: str) -> str:
    """``url`` for the message of a URL we refuse: everything between ``//`` and its last ``@`` shown
    as ``***``. A URL that failed to parse may still hold a userinfo ``split_url`` could not tell apart
    (``http://u:a/b#c@host``); the refusal must not print it."""
    scheme, sep, rest = url.partition("//")
    at = rest.rfind("@")
    return f"{scheme}{sep}{MASK}@{rest[at + 1:]}" if sep and at >= 0 else url


def split_url(text: str) -> SecretURL:
    """``text`` with its userinfo split off, before anything looks at it (a bad scheme included).

    The authority runs from ``//`` to the first ``/``, ``?`` or ``#`` (RFC 3986 3.2); a userinfo
    is what precedes its last ``@``. A password holding an unencoded ``/`` (``user:p/w@host``) is
    still a userinfo here: the last ``@`` before any ``?`` or ``#`` ends it, so nothing of the
    password survives into the URL. A ``?`` or ``#`` in a password (``user:p#ss@host``, invalid
    unencoded but common in passwords) is found too: with no ``@`` before the first ``?`` or ``#``,
    a ``user:...`` head without ``/`` ends at the text's last ``@``. Without ``//`` (``user:pw@host:9090``) the same rule applies
    from the start of the text.
    """
    scheme, sep, rest = text.partition("://")
    if sep:
        prefix = scheme + sep
    else:
        prefix = "//" if text.startswith("//") else ""
        rest = text[len(prefix):]
    head_end = min((i for i in (rest.find("?"), rest.find("#")) if i >= 0), default=len(rest))
    at = rest.rfind("@", 0, head_end)
    if at < 0 and ":" in rest[:head_end] and "/" not in rest[:head_end]:
        # ``user:p#ss@host``: a "?" or "#" typed into a password ends the authority early for every
        # parser (RFC 3986 3.2, WHATWG), leaving the password's tail in a "fragment" to be printed.
        # A "user:..." head with no "/" before it, followed by an "@" later, is such a userinfo.
        at = rest.rfind("@")
    if at < 0:
        return SecretURL(text, shown=text)
    typed_user, colon, password = rest[:at].partition(":")
    user = unquote(typed_user)
    secret = Secret(unquote(password), user, typed=password) if colon and password else None
    shown = f"{prefix}{typed_user}{':' + MASK if secret else ''}@{rest[at + 1:]}"
    return SecretURL(prefix + rest[at + 1:], user, secret, shown)
