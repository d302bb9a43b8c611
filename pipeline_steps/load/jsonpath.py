"""A small JSON-path subset for assertions and extracted values: ``$.items[0].itemId``.

Why not a library: functional checks need only member and index steps, and a path must be
parsed when the workload loads (so a typo is bad input, exit 2, before anything is sent).
Supported: ``$``, ``.name``, ``['name']``, ``[3]``, ``[-1]``, and ``.length()`` at the end
(the size of a list, object or string). The values found are compared as JSON values
(``json_equal``, ``json_contains``), not with Python's ``==``, in which ``True == 1``.
"""

from __future__ import annotations

import json
import math
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


# --- JSON values compared as JSON (RFC 8259 §3): a boolean is never a number, 1 and 1.0 are one number.

def json_kind(value: Any) -> str:
    """The JSON type of a decoded value: null, boolean, number, string, array, object (else ``python <type>``)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return f"python {type(value).__name__}"


def json_equal(a: Any, b: Any) -> bool:
    """Equality by JSON type: ``true`` != ``1`` (Python says equal), ``1`` == ``1.0``, deep for arrays/objects."""
    kind = json_kind(a)
    if kind != json_kind(b):
        return False
    if kind == "array":
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    if kind == "object":
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    return bool(a == b)


def json_contains(actual: Any, operand: Any) -> str:
    """Empty when ``actual`` contains ``operand``, else why not. A string contains a substring, an
    array an element equal by JSON type, an object a key; anything else contains nothing."""
    kind, wanted = json_kind(actual), json_kind(operand)
    if kind == "string":
        if wanted != "string":
            return f"is a string; only a string operand can be in it, got a {wanted}"
        return "" if operand in actual else f"{json.dumps(actual)} does not contain {json.dumps(operand)}"
    if kind == "array":
        return "" if any(json_equal(item, operand) for item in actual) else \
            f"{_short(actual)} has no element equal to {json.dumps(operand)} ({wanted})"
    if kind == "object":
        if wanted != "string":
            return f"is an object; contains looks for a key (a string), got a {wanted}"
        return "" if operand in actual else f"object has no key {json.dumps(operand)}"
    return f"is a {kind} ({json.dumps(actual)}); only strings, arrays and objects contain anything"


def json_problem(value: Any) -> str:
    """Empty when ``value`` is a JSON value (what YAML may give that JSON has not: dates, binary,
    sets, NaN, non-string keys), else what it is."""
    if isinstance(value, float) and not math.isfinite(value):
        return f"{value!r} is not a JSON number"
    if isinstance(value, list):
        return next((p for p in map(json_problem, value) if p), "")
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                return f"object key {key!r} is not a string"
            problem = json_problem(item)
            if problem:
                return problem
        return ""
    kind = json_kind(value)
    return f"a {kind[7:]} is not a JSON value (quote it to compare a string)" if kind.startswith("python ") else ""


def _short(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 80 else text[:77] + "..."
