"""What the API server checks in a pod template beyond its schema: quantities and port names.

* Quantities (kubernetes/apimachinery ``pkg/api/resource/quantity.go``): a resource amount is
  ``<signed number><suffix>``, the suffix binary (``Ki``..``Ei``), decimal (``n u m k M G T P E``)
  or an exponent (``e3``); anything else cannot even be decoded, so the request is 400
  ``<Kind> in version "v1" cannot be handled as a <Kind>: quantities must match the regular
  expression ...`` before validation starts. A JSON number is a quantity too.
* Resources (kubernetes/kubernetes ``pkg/apis/core/validation/validation.go``
  ``ValidateResourceRequirements``): names are container resources (``cpu``, ``memory``,
  ``ephemeral-storage``, ``hugepages-<size>``) or domain-qualified extended resources; amounts are
  not negative; a request is at most its limit (the error names ``requests`` with the canonical
  amount, "must be less than or equal to cpu limit of 50m").
* Port names (apimachinery ``pkg/util/validation/validation.go`` ``IsValidPortName``): a
  container port's name and a Service's named ``targetPort`` are IANA service names — at most 15
  characters of ``[-a-z0-9]``, at least one letter, no ``--``, no hyphen at either end (Istio's
  ``<protocol>-<suffix>`` convention has to fit in that).
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from kubernetes.utils.quantity import parse_quantity

from standins.kubeapi import errors

Obj = dict[str, Any]
Cause = tuple[str, str, str]
_NUMBER = r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)"
QUANTITY = re.compile(rf"[+-]?{_NUMBER}(?:[KMGTPE]i|[numkMGTPE]|[eE][+-]?{_NUMBER})?")
"""The whole grammar (as CRDs' ``x-kubernetes-int-or-string`` quantities spell it)."""
SPLIT = r"^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$"
"""``splitREString``: what the parser's format error quotes."""
CONTAINER_RESOURCES = ("cpu", "memory", "ephemeral-storage")


def _containers(spec: Obj) -> list[tuple[str, Obj]]:
    found = []
    for key in ("initContainers", "containers"):
        for index, container in enumerate(spec.get(key) or []):
            if isinstance(container, dict):
                found.append((f"{key}[{index}]", container))
    return found


def decode_error(kind: str, version: str, pod_spec: Any) -> errors.ApiError | None:
    """The 400 for a resource amount that is no quantity, or None."""
    for _, container in _containers(pod_spec if isinstance(pod_spec, dict) else {}):
        for amounts in ((container.get("resources") or {}).get(k) for k in ("limits", "requests")):
            for amount in (amounts or {}).values() if isinstance(amounts, dict) else ():
                text = str(amount) if isinstance(amount, (int, float)) and not isinstance(amount, bool) else amount
                if isinstance(text, str) and QUANTITY.fullmatch(text):
                    continue
                why = (f"quantities must match the regular expression '{SPLIT}'"
                       if not (isinstance(text, str) and re.match(SPLIT, text)) else "unable to parse quantity's suffix")
                return errors.bad_request(f'{kind} in version "{version}" cannot be handled as a {kind}: {why}')
    return None


def _canonical(amount: Any) -> str:
    """The amount as sent (apiserver prints its canonical form: ``0.1`` as ``100m``)."""
    return str(amount)


def _resource_name_ok(name: str) -> bool:
    if "/" not in name:
        return name in CONTAINER_RESOURCES or name.startswith("hugepages-")
    prefix, _, rest = name.partition("/")
    return bool(re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)+", prefix) and
                re.fullmatch(r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?", rest)) and not prefix.endswith("kubernetes.io")


def port_name_problems(name: str) -> list[str]:
    """``IsValidPortName``'s messages for ``name``, in its order ([] if valid)."""
    problems = []
    if len(name) > 15:
        problems.append("must be no more than 15 characters")
    if not re.fullmatch(r"[-a-z0-9]+", name):
        problems.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if not re.search(r"[a-z]", name):
        problems.append("must contain at least one letter (a-z)")
    if "--" in name:
        problems.append("must not contain consecutive hyphens")
    if name.startswith("-") or name.endswith("-"):
        problems.append("must not begin or end with a hyphen")
    return problems


def pod_causes(path: str, pod_spec: Any) -> list[Cause]:
    """422 causes for the pod spec at ``path`` (``spec.template.spec``)."""
    causes: list[Cause] = []
    for where, container in _containers(pod_spec if isinstance(pod_spec, dict) else {}):
        base = f"{path}.{where}"
        for index, port in enumerate(container.get("ports") or []):
            name = port.get("name") if isinstance(port, dict) else None
            if name:
                causes += [(f"{base}.ports[{index}].name", "FieldValueInvalid", f'Invalid value: "{name}": {why}')
                           for why in port_name_problems(str(name))]
        resources = container.get("resources") or {}
        amounts: dict[str, dict[str, Decimal]] = {}
        for kind in ("limits", "requests"):
            for name, amount in (resources.get(kind) or {}).items():
                field = f"{base}.resources.{kind}[{name}]"
                if not _resource_name_ok(name):
                    causes.append((field, "FieldValueInvalid",
                                   f'Invalid value: "{name}": must be a standard resource for containers'))
                value = parse_quantity(amount)
                if value < 0:
                    causes.append((field, "FieldValueInvalid",
                                   f'Invalid value: "{_canonical(amount)}": must be greater than or equal to 0'))
                amounts.setdefault(kind, {})[name] = value
        for name, request in amounts.get("requests", {}).items():
            limit = amounts.get("limits", {}).get(name)
            if limit is not None and request > limit:
                causes.append((f"{base}.resources.requests", "FieldValueInvalid",
                               f'Invalid value: "{_canonical(resources["requests"][name])}": must be less than or equal '
                               f'to {name} limit of {_canonical(resources["limits"][name])}'))
    return causes
