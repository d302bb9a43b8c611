"""Secrets (Dynatrace token, Jenkins API token) that must never reach logs, JUnit or reports.

A ``Secret`` prints as ``***`` in every ``str``/``repr``/f-string, so a secret that slips into
an exception message or a log line stays hidden; ``reveal()`` is the one explicit way out,
used only where the value goes onto the wire (an HTTP header).
"""

from __future__ import annotations

import os
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


def read_secret(*, env: str | None = None, file: str | None = None, what: str = "token") -> Secret | None:
    """Read a secret from a file (first line, stripped) or an environment variable.

    Never from a flag value: flags land in shell history, Jenkins logs and ``ps``.
    """
    if file:
        try:
            return Secret(Path(file).read_text(encoding="utf-8").strip())
        except OSError as err:
            raise BadInputError(file, None, f"cannot read {what} file: {err.strerror}") from err
    if env:
        value = os.environ.get(env, "")
        return Secret(value) if value else None
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
