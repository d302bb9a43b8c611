"""Placeholders in PromQL, filled by a complete PromQL tokenizer so a value always stays where it stands.

Why a tokenizer: the placeholder scanner knew only quotes, so an apostrophe in a comment
(``# the handler's calls``) opened a "string" that was not one, and a filter value
``x"}) or vector(1) or absent(y{a="`` closed the real string and added PromQL of its own: the SLI
became 1 and the gate judged injected PromQL (issue 11). The lexical rules here are Prometheus'
own (``promql/parser/lex.go``): a ``#`` outside a string comments to the end of the line (a line
feed or a lone carriage return, its ``isEndOfLine``); strings
are ``"..."`` and ``'...'`` with backslash escapes (``\\a \\b \\f \\n \\r \\t \\v \\\\``, the string's
quote, octal ``\\ooo``, ``\\xhh``, ``\\uhhhh``, ``\\Uhhhhhhhh``) that may not span a line, and
```...``` raw strings with no escapes.

How each placeholder value is written depends on where the tokenizer finds it:

* inside ``"..."`` or ``'...'``: backslash and that string's quote escaped, every control character
  as ``\\xhh`` (PromQL rejects ``\\'`` inside ``"..."`` and ``\\"`` inside ``'...'``, so only that quote);
* inside a raw string: as is, and a value with a backtick is refused (nothing can escape it);
* in a comment: as is, and a value with a line break (LF or CR) is refused (it would end the comment);
* outside any string or comment: only a plain token (letters, digits, ``_:.+-,``: durations,
  names, numbers); anything else is refused.

When the quote context is unclear (a string that never closes, or breaks its line) a query with
placeholders is refused rather than guessed at. Refusals are ``ValueError`` (bad input naming the
query's field). Tested against the real Prometheus parser (tests/sources/test_promql.py).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from pipeline_steps.sources.base import placeholder_pattern

_PLAIN_TOKEN = re.compile(r"[A-Za-z0-9_:.+,-]*")
_CODE, _COMMENT, _RAW = "code", "#", "`"


def escape_promql(value: str, quote: str = '"') -> str:
    """``value`` safe inside a PromQL string opened by ``quote`` (``'`` or ``"``)."""
    out = []
    for ch in value:
        if ch == "\\" or ch == quote:
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    return "".join(out)


def _placed(value: str, state: str, placeholder: str) -> str:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"{placeholder} is not valid text (a lone surrogate)") from None
    if state in ('"', "'"):
        return escape_promql(value, state)
    if state == _RAW:
        if "`" in value:
            raise ValueError(f"{placeholder} is {value!r}: a `raw string` cannot hold a backtick")
        return value
    if state == _COMMENT:
        if "\n" in value or "\r" in value:
            raise ValueError(f"{placeholder} stands in a # comment and its value {value!r} has a line break, "
                             "which would end the comment")
        return value
    if not _PLAIN_TOKEN.fullmatch(value):
        raise ValueError(f"{placeholder} stands outside a quoted string and is {value!r}; "
                         "only letters, digits and _:.+-, can stand there")
    return value


def substitute_promql(text: str, values: Mapping[str, str]) -> str:
    """Replace ``$NAME`` and ``$name`` for every name in ``values`` (longest first), each value written
    for where the tokenizer finds it (module docstring); ``ValueError`` for a value that cannot stand
    there or a query whose quote context is unclear."""
    if not values:
        return text
    pattern, lookup = placeholder_pattern(values)
    out: list[str] = []
    state, opened_at, filled = _CODE, 0, False
    i = 0
    while i < len(text):
        ch = text[i]
        match = pattern.match(text, i) if ch == "$" else None
        if match:
            out.append(_placed(lookup[match.group(1)], state, match.group(0)))
            filled = True
            i = match.end()
            continue
        step = 1
        if state == _CODE:
            if ch == "#":
                state = _COMMENT
            elif ch in "\"'`":
                state, opened_at = ch, i
        elif state == _COMMENT:
            if ch in "\r\n":  # lex.go isEndOfLine: a lone carriage return ends a comment too
                state = _CODE
        elif state == _RAW:
            if ch == "`":
                state = _CODE
        elif ch == "\\":
            step = 2  # the escaped character never closes the string (its validity is Prometheus' to judge)
        elif ch == "\n":
            if pattern.search(text):
                raise ValueError(f"the string opened at offset {opened_at} breaks its line (PromQL strings may "
                                 "not), so where the placeholders stand is unclear")
            state = _CODE
        elif ch == state:
            state = _CODE
        out.append(text[i:i + step])
        i += step
    if state in ('"', "'", _RAW) and (filled or pattern.search(text)):
        raise ValueError(f"the string opened at offset {opened_at} is never closed, so where the placeholders "
                         "stand is unclear")
    return "".join(out)
