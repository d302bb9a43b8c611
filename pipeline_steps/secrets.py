"""Secrets (Dynatrace token, Jenkins API token) that must never reach logs, JUnit or reports.

A ``Secret`` prints as ``***`` in every ``str``/``repr``/f-string, so a secret that slips into
an exception message or a log line stays hidden; ``reveal()`` is the one explicit way out,
used only where the value goes onto the wire (an HTTP header).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from pipeline_steps.errors import BadInputError

MASK = "***"


class Secret:
    """A string that hides itself; compare and send it with ``reveal()``."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __str__(self) -> str:
        return MASK

    def __repr__(self) -> str:
        return f"Secret({MASK})"

    def redact(self, text: str) -> str:
        """``text`` with every occurrence of the secret replaced by the mask."""
        return text.replace(self._value, MASK) if self._value else text


_CONTROL = re.compile("[\x00-\x1f\x7f]")


def _checked(value: str, source: str, what: str) -> Secret | None:
    """``value`` stripped of surrounding white space as a ``Secret`` (None when empty). A secret goes
    into an HTTP header: a line break there made requests raise an exception that quoted the header,
    token and all, into every output; so one inside the value is bad input, never showing it."""
    value = value.strip()
    if _CONTROL.search(value):
        raise BadInputError(source, None, f"the {what} holds a line break or control character; give it on one line")
    if re.search("[\ud800-\udfff]", value):  # how the OS hands over bytes that are not UTF-8
        raise BadInputError(source, None, f"the {what} is not UTF-8 text")
    return Secret(value) if value else None


def read_secret(*, env: str | None = None, file: str | None = None, what: str = "token") -> Secret | None:
    """Read a secret from a file or an environment variable, stripped of surrounding white space (a
    mounted Kubernetes secret and ``echo token > file`` end in a line break); None when absent or empty.
    A line break or control character inside, or bytes that are not UTF-8, are ``BadInputError``
    naming the file or variable, never the value.

    Never from a flag value: flags land in shell history, Jenkins logs and ``ps``.
    """
    if file:
        try:
            raw = Path(file).read_bytes()
        except OSError as err:
            raise BadInputError(file, None, f"cannot read {what} file: {err.strerror}") from err
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise BadInputError(file, None, f"the {what} is not UTF-8 text") from None
        return _checked(text, file, what)
    if env:
        return _checked(os.environ.get(env, ""), env, what)
    return None


def redact_all(text: str, secrets: list[Secret | None]) -> str:
    """``text`` with every given secret masked."""
    for secret in secrets:
        if secret:
            text = secret.redact(text)
    return text


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
