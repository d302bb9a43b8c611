"""Unknown fields, wrong types and missing required fields, judged against the real schemas.

What the API server does with a field its schema does not declare depends on ``fieldValidation``
(kubernetes/apiserver ``pkg/endpoints/handlers/rest.go`` ``fieldValidation``, ``create.go``,
``update.go``, ``patch.go``; API docs "Field validation",
https://kubernetes.io/docs/reference/using-api/api-concepts/#field-validation):

* ``Ignore``: the field is dropped silently;
* ``Warn`` (the default when the parameter is absent): dropped, and a ``Warning: 299 - "unknown
  field \\"spec.foo\\""`` header names it;
* ``Strict``: 400 BadRequest, ``<Kind> in version "<v>" cannot be handled as a <Kind>: strict
  decoding error: unknown field "spec.foo"`` (``transformDecodeError`` in ``rest.go``; custom
  resources report the paths their structural schema prunes the same way,
  kubernetes/apiextensions-apiserver ``pkg/apiserver/customresource_handler.go``
  ``schemaCoercingDecoder``).

Built-in kinds are judged by the OpenAPI schemas kubernetes-validate ships (the ``-strict``
variant closes every object), custom resources by the structural facts of their CRDs in
``crds/``. A value of the wrong type cannot be decoded into a built-in kind (400) and fails a CRD's
schema validation (422 ``must be of type``); a missing required field is 422 ``Required value``; a
custom resource's value outside its CRD's value validations (an enum, a bound, a length, a pattern
such as the Prometheus Operator's duration) is 422 (``value_problems``).
"""

from __future__ import annotations

import copy
import functools
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from standins.kubeapi.resources import ISTIO, MONITORING, Resource

K8S_SCHEMA_VERSION = "1.32.0"
"""The Kubernetes version the stand-in claims (``/version``) and whose schemas it validates with."""
CRD_FILES = {ISTIO: "istio-networking.json", MONITORING: "monitoring-coreos.json"}
Node = dict[str, Any]


@dataclass
class Findings:
    unknown: list[str] = field(default_factory=list)
    """Paths of fields the schema does not declare (``spec.http[0].foo``)."""
    wrong_type: list[tuple[str, str, Any]] = field(default_factory=list)
    """(path, expected type, value)."""
    missing: list[str] = field(default_factory=list)
    """Paths of required fields that are absent."""
    invalid: list[tuple[str, str, str]] = field(default_factory=list)
    """(path, cause type, message) of values a CRD's value validations refuse (enum, bounds, lengths,
    patterns), worded as apiextensions-apiserver's ``kubeOpenAPIResultToFieldErrors`` words them."""


def _schema_dir() -> Path:
    import kubernetes_validate

    return Path(os.path.dirname(kubernetes_validate.__file__)) / "kubernetes-json-schema" / \
        f"v{K8S_SCHEMA_VERSION}-local-strict"


@functools.lru_cache(maxsize=1)
def _definitions() -> dict[str, Node]:
    defs: dict[str, Node] = json.loads((_schema_dir() / "_definitions.json").read_text())["$defs"]
    return defs


@functools.cache
def _builtin(res: Resource, version: str) -> Node | None:
    group = res.group.split(".")[0]
    name = f"{res.kind.lower()}-{group}-{version}.json" if group else f"{res.kind.lower()}-{version}.json"
    path = _schema_dir() / name
    return json.loads(path.read_text()) if path.is_file() else None


@functools.cache
def _crd(group: str, kind: str) -> Node | None:
    path = Path(__file__).parent / "crds" / CRD_FILES[group]
    schemas: dict[str, Node] = json.loads(path.read_text())["schemas"]
    found = schemas.get(kind)
    if found is None:
        return None
    # Every CR has TypeMeta and ObjectMeta besides its schema (metadata is coerced to ObjectMeta).
    node = copy.deepcopy(found)
    node.setdefault("properties", {}).update({
        "apiVersion": {"type": "string"}, "kind": {"type": "string"},
        "metadata": {"$ref": "#/$defs/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}})
    return node


def schema_for(res: Resource, version: str) -> Node | None:
    return _crd(res.group, res.kind) if res.custom else _builtin(res, version)


def _resolve(node: Node) -> Node:
    while "$ref" in node:
        node = _definitions()[node["$ref"].rsplit("/", 1)[-1]]
    return node


def _types(node: Node) -> set[str]:
    declared = node.get("type")
    if declared is None:
        return set()
    return {t for t in ([declared] if isinstance(declared, str) else declared) if t != "null"}


def _type_ok(value: Any, node: Node) -> bool:
    if node.get("x-kubernetes-int-or-string"):
        return isinstance(value, (int, str)) and not isinstance(value, bool)
    if "oneOf" in node:  # IntOrString, Quantity in the built-in schemas
        return any(_type_ok(value, _resolve(option)) for option in node["oneOf"])
    wanted = _types(node)
    if not wanted or value is None:
        return True
    checks = {"string": lambda v: isinstance(v, str), "boolean": lambda v: isinstance(v, bool),
              "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
              "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
              "object": lambda v: isinstance(v, dict), "array": lambda v: isinstance(v, list)}
    return any(checks[t](value) for t in wanted if t in checks)


def _walk(value: Any, node: Node, path: str, custom: bool, found: Findings) -> Any:
    """``value`` with undeclared fields removed; problems recorded in ``found``."""
    node = _resolve(node)
    if not _type_ok(value, node):
        found.wrong_type.append((path, "/".join(sorted(_types(node))) or "int-or-string", value))
        return value
    if custom:
        found.invalid += value_problems(value, node, path)
    if node.get("x-kubernetes-preserve-unknown-fields"):
        return value
    if isinstance(value, dict):
        properties: dict[str, Node] = node.get("properties") or {}
        extra = node.get("additionalProperties")
        for name in node.get("required") or []:
            if name not in value:
                found.missing.append(_join(path, name))
        out = {}
        for key, item in value.items():
            if key in properties:
                out[key] = _walk(item, properties[key], _join(path, key), custom, found)
            elif isinstance(extra, dict):
                out[key] = _walk(item, extra, f"{path}[{key}]", custom, found)
            elif extra is True or (not properties and extra is None and not custom):
                out[key] = item  # an open map (no schema for its values)
            else:
                # Built-in strict schemas close objects (additionalProperties: false); a structural
                # CRD schema prunes whatever it does not specify.
                found.unknown.append(_join(path, key))
        return out
    if isinstance(value, list) and isinstance(node.get("items"), dict):
        return [_walk(item, node["items"], f"{path}[{index}]", custom, found) for index, item in enumerate(value)]
    return value


def _go_value(value: Any) -> str:
    return json.dumps(value) if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


def value_problems(value: Any, node: Node, path: str) -> list[tuple[str, str, str]]:
    """What a CRD's value validations say about ``value`` (kube-openapi ``validate``: enum,
    minimum/maximum, minLength/maxLength, pattern, minItems/maxItems; messages as
    kube-openapi ``errors/schema.go`` and apimachinery ``field.NotSupported``/``TooLong``/``TooMany``)."""
    found: list[tuple[str, str, str]] = []
    shown = _go_value(value)
    if "enum" in node and value not in node["enum"]:
        allowed = ", ".join(json.dumps(v) for v in node["enum"])
        found.append((path, "FieldValueNotSupported", f"Unsupported value: {shown}: supported values: {allowed}"))
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in node and value < node["minimum"]:
            found.append((path, "FieldValueInvalid", f"Invalid value: {shown}: {path} in body should be greater than "
                                                     f"or equal to {node['minimum']}"))
        if "maximum" in node and value > node["maximum"]:
            found.append((path, "FieldValueInvalid", f"Invalid value: {shown}: {path} in body should be less than or "
                                                     f"equal to {node['maximum']}"))
    if isinstance(value, str):
        if "maxLength" in node and len(value) > node["maxLength"]:
            found.append((path, "FieldValueTooLong", f"Too long: may not be more than {node['maxLength']} bytes"))
        if "minLength" in node and len(value) < node["minLength"]:
            found.append((path, "FieldValueInvalid", f"Invalid value: {shown}: {path} in body should be at least "
                                                     f"{node['minLength']} chars long"))
        if "pattern" in node and re.search(node["pattern"], value) is None:
            # Go's RE2 and Python's re agree on the patterns these CRDs use (anchored, no look-around).
            found.append((path, "FieldValueInvalid", f"Invalid value: {shown}: {path} in body should match "
                                                     f"'{node['pattern']}'"))
    if isinstance(value, list):
        if "maxItems" in node and len(value) > node["maxItems"]:
            found.append((path, "FieldValueTooMany", f"Too many: {len(value)}: must have at most {node['maxItems']} "
                                                     "items"))
        if "minItems" in node and len(value) < node["minItems"]:
            found.append((path, "FieldValueInvalid", f"Invalid value: {len(value)}: {path} in body should have at "
                                                     f"least {node['minItems']} items"))
    return found


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def inspect(res: Resource, version: str, obj: Any) -> tuple[Any, Findings]:
    """The object as the server would keep it (undeclared fields pruned) and what was wrong with it.

    ``status`` is not judged: the main resource ignores it and controllers own it."""
    found = Findings()
    schema = schema_for(res, version)
    if schema is None or not isinstance(obj, dict):
        return obj, found
    status = obj.get("status")
    pruned = _walk({k: v for k, v in obj.items() if k != "status"}, schema, "", res.custom, found)
    if status is not None and isinstance(pruned, dict):
        pruned["status"] = status
    found.missing = [m for m in found.missing if m not in ("apiVersion", "kind", "status")]
    return pruned, found
