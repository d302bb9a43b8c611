"""Placeholder substitution in gate queries, as Keptn did it, with values escaped for PromQL.

Why its own module: three generations of Keptn used different placeholders (0.2 perfspec:
``$ENVIRONMENT``, ``$DURATION_MINUTES``; 0.5: ``$DURATION``; lighthouse SLI: ``$PROJECT``,
``$STAGE``, ``$SERVICE``, ``$DEPLOYMENT``, ``$DURATION_SECONDS`` and any SLO ``filter`` key), and
queries written for any of them must keep working. See docs/gate.md for the window rounding.

Escaping (PromQL): the query is scanned for the string each placeholder stands in. Inside
``'...'`` or ``"..."`` the value gets backslash, that quote and newlines escaped — only that quote:
PromQL rejects ``\'`` inside ``"..."`` and ``\"`` inside ``'...'`` as unknown escapes. Outside a
string a value may only be a plain token (letters, digits, ``_:.+-,``: durations, names, numbers),
so no value can close a string or add PromQL of its own; anything else is refused.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping

from pipeline_steps.documents.context import StageContext
from pipeline_steps.gate.model import Window

_PLAIN_TOKEN = re.compile(r"[A-Za-z0-9_:.+,-]*")


def escape_promql(value: str, quote: str = '"') -> str:
    """``value`` safe inside a PromQL string opened by ``quote`` (``'`` or ``"``)."""
    return (value.replace("\\", "\\\\").replace(quote, "\\" + quote)
            .replace("\n", "\\n").replace("\r", "\\r"))


def duration_values(window: Window, *, keptn_minutes: bool) -> dict[str, str]:
    """Window placeholders. ``$DURATION_MINUTES`` is whole minutes rounded up (Keptn 0.2; 3 when
    unknown or <= 0). Unless ``keptn_minutes``, the common ``$DURATION_MINUTESm`` range becomes the
    exact window in seconds, so samples from before the test (the previous version) stay out."""
    seconds = max(1, math.ceil(window.seconds))
    minutes = math.ceil(window.seconds / 60) if window.seconds > 0 else 3
    values = {"DURATION_MINUTES": str(minutes), "DURATION_SECONDS": f"{seconds}s", "DURATION": f"{seconds}s"}
    if not keptn_minutes:
        values["DURATION_MINUTESm"] = f"{seconds}s"
    return values


def context_values(context: StageContext, filters: Mapping[str, str] | None = None, *, deployment: str = "") -> dict[str, str]:
    """Context placeholders (Keptn 0.2.2's ``$ENVIRONMENT`` = ``<project>-<stage>``), overridden by SLO filters."""
    values = {
        "ENVIRONMENT": context.namespace,
        "PROJECT": context.project,
        "STAGE": context.stage,
        "SERVICE": context.service,
        "DEPLOYMENT": deployment,
    }
    for key, value in (filters or {}).items():
        values[key.upper()] = str(value)
        if key.lower() in ("project", "stage", "service"):
            values["ENVIRONMENT"] = f"{values['PROJECT']}-{values['STAGE']}"
    return values


def substitute(text: str, values: Mapping[str, str], escape: Callable[[str], str] | None = None) -> str:
    """Replace ``$NAME`` and ``$name`` for every name in ``values``; longest names first, so
    ``$DURATION_MINUTESm`` wins over ``$DURATION_MINUTES`` and that over ``$DURATION``.

    Without ``escape`` the text is PromQL (see the module docstring; ``ValueError`` for a value
    that cannot stand where its placeholder is); with one, every value goes through it.
    """
    names = sorted(values, key=len, reverse=True)
    alternatives = "|".join(re.escape(n) for n in names) + "|" + "|".join(re.escape(n.lower()) for n in names)
    pattern = re.compile(r"\$(" + alternatives + ")")
    lookup = {**{n.lower(): values[n] for n in names}, **dict(values)}
    if escape is not None:
        return pattern.sub(lambda m: escape(lookup[m.group(1)]), text)
    out: list[str] = []
    quote = ""  # the quote of the PromQL string we are in, "" outside
    i = 0
    while i < len(text):
        match = pattern.match(text, i) if text[i] == "$" else None
        if match:
            out.append(_promql_value(lookup[match.group(1)], quote, match.group(0)))
            i = match.end()
            continue
        ch = text[i]
        if not quote and ch in "'\"`":
            quote = ch
        elif quote in ("'", '"') and ch == "\\":
            out.append(text[i:i + 2])  # an escaped character never closes the string
            i += 2
            continue
        elif ch == quote:
            quote = ""
        out.append(ch)
        i += 1
    return "".join(out)


def _promql_value(value: str, quote: str, placeholder: str) -> str:
    if quote in ("'", '"'):
        return escape_promql(value, quote)
    if quote == "`":
        if "`" in value:
            raise ValueError(f"{placeholder} is {value!r}: a `raw string` cannot hold a backtick")
        return value
    if not _PLAIN_TOKEN.fullmatch(value):
        raise ValueError(f"{placeholder} stands outside a quoted string and is {value!r}; "
                         "only letters, digits and _:.+-, can stand there")
    return value
