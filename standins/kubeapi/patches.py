"""Patch formats and label selectors with the API server's semantics, for the stand-in.

* JSON merge patch (RFC 7386): maps merge, ``null`` deletes, lists are replaced whole.
* JSON patch (RFC 6902): add/remove/replace/move/copy/test; a failed ``test`` is an error.
* Strategic merge patch, the subset built-in kinds need: lists of maps that carry ``name``
  (containers, ports, env, volumes) merge by name, other lists are replaced. Custom resources
  (Istio) reject it with 415, as a real server does.
* Label selectors: ``a=b``, ``a==b``, ``a!=b``, ``a in (x,y)``, ``a notin (x,y)``, ``a``, ``!a``.
"""

from __future__ import annotations

import copy
import re
from typing import Any


class PatchError(ValueError):
    """The patch cannot be applied (bad path, failed test); the server answers 422."""


def merge_patch(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def strategic_merge_patch(target: Any, patch: Any) -> Any:
    if isinstance(patch, list) and isinstance(target, list) and all(
            isinstance(i, dict) and "name" in i for i in [*patch, *target]):
        merged = [copy.deepcopy(i) for i in target]
        for item in patch:
            index = next((n for n, old in enumerate(merged) if old["name"] == item["name"]), None)
            if index is None:
                merged.append(copy.deepcopy(item))
            else:
                merged[index] = strategic_merge_patch(merged[index], item)
        return merged
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if key.startswith("$"):
            continue
        if value is None:
            result.pop(key, None)
        else:
            result[key] = strategic_merge_patch(result.get(key), value)
    return result


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise PatchError(f"JSON pointer {path!r} must start with '/'")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _walk(doc: Any, parts: list[str], path: str) -> Any:
    for part in parts:
        if isinstance(doc, dict) and part in doc:
            doc = doc[part]
        elif isinstance(doc, list) and part.isdigit() and int(part) < len(doc):
            doc = doc[int(part)]
        else:
            raise PatchError(f"path {path!r} does not exist")
    return doc


def _put(doc: Any, path: str, value: Any, insert: bool) -> Any:
    parts = _pointer(path)
    if not parts:
        return value
    parent = _walk(doc, parts[:-1], path)
    last = parts[-1]
    if isinstance(parent, dict):
        if not insert and last not in parent:
            raise PatchError(f"path {path!r} does not exist")
        parent[last] = value
    elif isinstance(parent, list):
        if last == "-" and insert:
            parent.append(value)
        elif last.isdigit() and int(last) <= len(parent) - (0 if insert else 1):
            if insert:
                parent.insert(int(last), value)
            else:
                parent[int(last)] = value
        else:
            raise PatchError(f"path {path!r} is out of range")
    else:
        raise PatchError(f"path {path!r} has no container")
    return doc


def _remove(doc: Any, path: str) -> tuple[Any, Any]:
    parts = _pointer(path)
    parent = _walk(doc, parts[:-1], path)
    last = parts[-1]
    if isinstance(parent, dict) and last in parent:
        return doc, parent.pop(last)
    if isinstance(parent, list) and last.isdigit() and int(last) < len(parent):
        return doc, parent.pop(int(last))
    raise PatchError(f"path {path!r} does not exist")


def json_patch(target: Any, operations: Any) -> Any:
    if not isinstance(operations, list):
        raise PatchError("a JSON patch must be a list of operations")
    doc = copy.deepcopy(target)
    for op in operations:
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise PatchError(f"malformed operation {op!r}")
        kind, path = op["op"], op["path"]
        if kind == "add":
            doc = _put(doc, path, copy.deepcopy(op.get("value")), insert=True)
        elif kind == "replace":
            doc = _put(doc, path, copy.deepcopy(op.get("value")), insert=False)
        elif kind == "remove":
            doc, _ = _remove(doc, path)
        elif kind in ("move", "copy"):
            source = op.get("from", "")
            value = copy.deepcopy(_walk(doc, _pointer(source), source))
            if kind == "move":
                doc, _ = _remove(doc, source)
            doc = _put(doc, path, value, insert=True)
        elif kind == "test":
            if _walk(doc, _pointer(path), path) != op.get("value"):
                raise PatchError(f"test operation on {path!r} failed")
        else:
            raise PatchError(f"unknown operation {kind!r}")
    return doc


_TERM = re.compile(r"^\s*(!?)([A-Za-z0-9_./-]+)\s*(?:(==|=|!=)\s*([A-Za-z0-9_.-]*)|\s+(in|notin)\s*\(([^)]*)\))?\s*$")


def _split_terms(selector: str) -> list[str]:
    terms, depth, current = [], 0, ""
    for char in selector:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            terms.append(current)
            current = ""
        else:
            current += char
    if current.strip():
        terms.append(current)
    return terms


def parse_selector(selector: str) -> list[tuple[str, str, set[str]]]:
    """``[(key, operator, values)]``; raises ``ValueError`` on a malformed selector (the server answers 400)."""
    parsed = []
    for term in _split_terms(selector or ""):
        match = _TERM.match(term)
        if not match:
            raise ValueError(f"unable to parse requirement: {term.strip()!r}")
        bang, key, eq, value, set_op, values = match.groups()
        if bang and (eq or set_op):
            raise ValueError(f"unable to parse requirement: {term.strip()!r}")
        if eq:
            parsed.append((key, "!=" if eq == "!=" else "=", {value}))
        elif set_op:
            parsed.append((key, set_op, {v.strip() for v in values.split(",") if v.strip()}))
        else:
            parsed.append((key, "!exists" if bang else "exists", set()))
    return parsed


def selector_matches(requirements: list[tuple[str, str, set[str]]], labels: dict[str, str]) -> bool:
    for key, op, values in requirements:
        present = key in labels
        value = labels.get(key)
        ok = {
            "=": present and value in values,
            "!=": not present or value not in values,
            "in": present and value in values,
            "notin": not present or value not in values,
            "exists": present,
            "!exists": not present,
        }[op]
        if not ok:
            return False
    return True
