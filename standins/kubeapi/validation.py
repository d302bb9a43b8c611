"""422 Invalid and 400 BadRequest as the API server's validation gives them, for the kinds we use.

* Names: a Namespace's is a DNS-1123 label (63), others DNS-1123 subdomains (253); label values
  at most 63 characters of ``[-A-Za-z0-9_.]`` starting and ending alphanumeric
  (kubernetes/apimachinery ``pkg/util/validation/validation.go``, ``pkg/api/validation/objectmeta.go``).
* Deployment (kubernetes/kubernetes ``pkg/apis/apps/validation/validation.go``): the selector
  must match the template's labels, ``spec.selector`` is immutable in apps/v1
  (``ValidateDeploymentUpdate``: "field is immutable"), replicas not negative.
* Service (kubernetes/kubernetes ``pkg/registry/core/service/strategy.go``,
  ``pkg/apis/core/validation/validation.go``): the cluster IP is assigned on create; an update
  that leaves it empty keeps it (``patchAllocatedValues``); one that changes it is refused
  ("may not change once set").
* A Service's name is a DNS-1035 label (``ValidateServiceName``: a letter first), its port names
  DNS-1123 labels and a named ``targetPort`` an IANA service name; a Deployment's pod template:
  port names, quantities and resources (``podspec.py``).
* Lease (``pkg/apis/coordination/validation/validation.go``): ``leaseDurationSeconds`` and
  ``leaseTransitions`` must not be negative or zero where the API says so.
* Schema findings (``schema.py``): a missing required field is 422 ``Required value``; a value of
  the wrong type is 422 ``must be of type`` for custom resources (OpenAPI validation) and a
  400 decode error for built-in kinds (Go's JSON decoder cannot fill the struct field).
"""

from __future__ import annotations

import ipaddress
import json
import re
from typing import Any

from standins.kubeapi import errors, podspec
from standins.kubeapi.resources import Resource
from standins.kubeapi.schema import Findings

Obj = dict[str, Any]
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_SERVICE_CIDR = ipaddress.ip_network("10.96.0.0/12")
_DNS1035 = re.compile(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?")
_DNS1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
DNS1035_MESSAGE = ("a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
                   "alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', "
                   "regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')")


def _invalid(res: Resource, name: str, causes: list[tuple[str, str, str]]) -> errors.ApiError:
    return errors.invalid(res.group, res.kind, name, causes)


def check_names(res: Resource, name: str, obj: Obj) -> None:
    limit = 63 if res.kind == "Namespace" else 253
    if res.kind == "Service" and not _DNS1035.fullmatch(name):
        # ValidateServiceName is NameIsDNS1035Label: a Service's name becomes a DNS label.
        raise _invalid(res, name, [("metadata.name", "FieldValueInvalid", f'Invalid value: "{name}": {DNS1035_MESSAGE}')])
    if len(name) > limit or not _SUBDOMAIN.match(name) or (res.kind == "Namespace" and "." in name):
        raise _invalid(res, name, [("metadata.name", "FieldValueInvalid",
                                    f'Invalid value: "{name}": must be a lowercase RFC 1123 '
                                    f"{'label' if limit == 63 else 'subdomain'} of at most {limit} characters")])
    places = [("metadata.labels", (obj.get("metadata") or {}).get("labels"))]
    if res.kind == "Deployment":
        spec = obj.get("spec") or {}
        places += [("spec.selector.matchLabels", (spec.get("selector") or {}).get("matchLabels")),
                   ("spec.template.metadata.labels", ((spec.get("template") or {}).get("metadata") or {}).get("labels"))]
    for where, labels in places:
        for value in (labels or {}).values():
            if not isinstance(value, str) or len(value) > 63 or not _LABEL_VALUE.match(value):
                raise _invalid(res, name, [(where, "FieldValueInvalid", f'Invalid value: "{value}": a valid label '
                                            "must be an empty string or consist of at most 63 alphanumeric "
                                            "characters, '-', '_' or '.'")])


def check_schema(res: Resource, version: str, name: str, found: Findings) -> None:
    if found.wrong_type:
        path, wanted, value = found.wrong_type[0]
        if not res.custom:
            raise errors.bad_request(f'{res.kind} in version "{version}" cannot be handled as a {res.kind}: json: '
                                     f"cannot unmarshal {_json_type(value)} into Go struct field {path} of type "
                                     f"{wanted}")
        raise _invalid(res, name, [(p, "FieldValueTypeInvalid", f'Invalid value: "{_json_type(v)}": {p} in body '
                                    f'must be of type {w}: "{_json_type(v)}"') for p, w, v in found.wrong_type])
    if found.missing or found.invalid:
        raise _invalid(res, name, [(path, "FieldValueRequired", "Required value") for path in found.missing] +
                       found.invalid)


def _json_type(value: Any) -> str:
    return {bool: "boolean", int: "integer", float: "number", str: "string", list: "array",
            dict: "object"}.get(type(value), "null")


def _go(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def check_kind(res: Resource, name: str, new: Obj, old: Obj | None) -> None:
    """Kind-specific rules; ``old`` is the stored object on an update."""
    spec = new.get("spec") or {}
    if res.kind == "Deployment":
        selector = (spec.get("selector") or {}).get("matchLabels") or {}
        labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
        if not selector or any(labels.get(k) != v for k, v in selector.items()):
            raise _invalid(res, name, [("spec.template.metadata.labels", "FieldValueInvalid",
                                        f"Invalid value: {_go(labels)}: `selector` does not match template `labels`")])
        if int(spec.get("replicas", 1) or 0) < 0:
            raise _invalid(res, name, [("spec.replicas", "FieldValueInvalid",
                                        f"Invalid value: {spec.get('replicas')}: must be greater than or equal to 0")])
        if old is not None and (old.get("spec") or {}).get("selector") != spec.get("selector"):
            raise _invalid(res, name, [("spec.selector", "FieldValueInvalid",
                                        f"Invalid value: {_go(spec.get('selector'))}: field is immutable")])
        causes = podspec.pod_causes("spec.template.spec", (spec.get("template") or {}).get("spec"))
        if causes:
            raise _invalid(res, name, causes)
    if res.kind == "Service":
        causes = []
        for index, port in enumerate(p for p in spec.get("ports") or [] if isinstance(p, dict)):
            port_name, target = port.get("name"), port.get("targetPort")
            if port_name and not _DNS1123_LABEL.fullmatch(str(port_name)):
                causes.append((f"spec.ports[{index}].name", "FieldValueInvalid",
                               f'Invalid value: "{port_name}": a lowercase RFC 1123 label must consist of lower case '
                               "alphanumeric characters or '-', and must start and end with an alphanumeric "
                               "character (e.g. 'my-name',  or '123-abc', regex used for validation is "
                               "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')"))
            if isinstance(target, str):
                causes += [(f"spec.ports[{index}].targetPort", "FieldValueInvalid", f'Invalid value: "{target}": {why}')
                           for why in podspec.port_name_problems(target)]
        if causes:
            raise _invalid(res, name, causes)
    if res.kind == "Lease":
        for key in ("leaseDurationSeconds", "leaseTransitions"):
            value = spec.get(key)
            floor = 1 if key == "leaseDurationSeconds" else 0
            if isinstance(value, int) and value < floor:
                rule = "must be greater than 0" if floor else "must be greater than or equal to 0"
                raise _invalid(res, name, [(f"spec.{key}", "FieldValueInvalid", f"Invalid value: {value}: {rule}")])


def allocate_service_ip(res: Resource, name: str, new: Obj, old: Obj | None, taken: set[str]) -> None:
    """Give a ClusterIP Service its address on create; keep or guard it on update."""
    if res.kind != "Service":
        return
    spec = new.setdefault("spec", {})
    if spec.get("type", "ClusterIP") not in ("ClusterIP", "NodePort", "LoadBalancer"):
        return
    if old is not None:
        before = (old.get("spec") or {}).get("clusterIP")
        if not spec.get("clusterIP"):
            spec["clusterIP"], spec["clusterIPs"] = before, [before]
        elif spec["clusterIP"] != before:
            raise _invalid(res, name, [("spec.clusterIPs[0]", "FieldValueInvalid",
                                        f'Invalid value: ["{spec["clusterIP"]}"]: may not change once set')])
        spec.setdefault("clusterIPs", [spec["clusterIP"]])
        return
    if spec.get("clusterIP") in (None, ""):
        address = next(str(ip) for ip in _SERVICE_CIDR.hosts() if int(ip) > int(_SERVICE_CIDR[10])
                       and str(ip) not in taken)
        spec["clusterIP"], spec["clusterIPs"] = address, [address]
    spec.setdefault("ipFamilies", ["IPv4"])
    spec.setdefault("ipFamilyPolicy", "SingleStack")
