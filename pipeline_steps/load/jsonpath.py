"""A small JSON-path subset for assertions and extracted values: ``$.items[0].itemId``.

Why not a library: functional checks need only member and index steps, and a path must be
parsed when the workload loads (so a typo is bad input, exit 2, before anything is sent).
Supported: ``$``, ``.name``, ``['name']``, ``[3]``, ``[-1]``, and ``.length()`` at the end
(the size of a list, object or string).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

_STEP = re.compile(r"\.([A-Za-z_][A-Za-z0-9_\-]*)(\(\))?|\[(-?\d+)\]|\['([^']*)'\]|\[\"([^\"]*)\"\]")

_MISSING = object()


class JsonPathSyntaxError(ValueError):
    """The path is not in the supported subset."""


@dataclass(frozen=True)
class JsonPath:
    """A parsed path; ``find`` returns the value or raises ``LookupError`` naming the missing step."""

    text: str
    steps: tuple[str | int, ...]
    length: bool = False

    def find(self, document: Any) -> Any:
        value = document
        for step in self.steps:
            if isinstance(step, int):
                if not isinstance(value, list) or not -len(value) <= step < len(value):
                    raise LookupError(f"{self.text}: no index [{step}]")
                value = value[step]
            else:
                if not isinstance(value, dict) or step not in value:
                    raise LookupError(f"{self.text}: no member {step!r}")
                value = value[step]
        if self.length:
            if not isinstance(value, (list, dict, str)):
                raise LookupError(f"{self.text}: length() of a {type(value).__name__}")
            return len(value)
        return value


def parse_jsonpath(text: str) -> JsonPath:
    """Parse ``text``; raise ``JsonPathSyntaxError`` saying where it stops making sense."""
    if not isinstance(text, str) or not text.startswith("$"):
        raise JsonPathSyntaxError(f"{text!r} must start with '$'")
    pos, steps, length = 1, [], False
    while pos < len(text):
        match = _STEP.match(text, pos)
        if match is None or length:
            raise JsonPathSyntaxError(f"{text!r}: cannot parse from position {pos} ({text[pos:]!r})")
        name, call, index, quoted1, quoted2 = match.groups()
        if call:
            if name != "length":
                raise JsonPathSyntaxError(f"{text!r}: unknown function {name}() (only length())")
            length = True
        elif name is not None:
            steps.append(name)
        elif index is not None:
            steps.append(int(index))
        else:
            steps.append(quoted1 if quoted1 is not None else quoted2)
        pos = match.end()
    return JsonPath(text=text, steps=tuple(steps), length=length)
