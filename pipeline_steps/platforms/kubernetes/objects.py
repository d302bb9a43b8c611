"""Create, read and replace the few kinds we manage, by kind, through the typed client APIs.

Why create/replace with ``resourceVersion`` and not server-side apply: (1) with SSA we would
co-own the VirtualService's route weights, and every re-apply of the chart would reset the
weights that ``switch`` set and verified; here the VirtualService (like the DestinationRule
and Gateway) is only ever *created* by apply, and its weights change on exactly one path (``routes.py``, read/write/read-back);
(2) a replace carrying the live ``resourceVersion`` fails with 409 if anyone changed the object
since we read it, which is the same optimistic concurrency the flip uses, so there is one model
to reason about; (3) it behaves the same on every API server version and on the test stand-in.
The cost (a replace overwrites fields others set) is contained: we keep the fields the API
server or other controllers own (clusterIP, foreign annotations, others' labels on Services).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from pipeline_steps.errors import ConflictError
from pipeline_steps.platforms.kubernetes.client import BACKEND, Kube, KubeApiError

Obj = dict[str, Any]
ISTIO = ("networking.istio.io", "v1")
ISTIO_PLURALS = {"VirtualService": "virtualservices", "DestinationRule": "destinationrules", "Gateway": "gateways"}


class Objects:
    """Kind-dispatched get/create/replace for Namespaces, Deployments, Services, Istio objects."""

    def __init__(self, kube: Kube) -> None:
        self.kube = kube

    def _ops(self, kind: str, namespace: str, name: str) -> tuple[Callable[[], Any], Callable[[Obj], Any],
                                                                     Callable[[Obj], Any]]:
        k = self.kube
        if kind == "Deployment":
            return (lambda: k.call(f"read Deployment {name}", k.apps.read_namespaced_deployment, name, namespace),
                    lambda b: k.call(f"create Deployment {name}", k.apps.create_namespaced_deployment, namespace, b),
                    lambda b: k.call(f"replace Deployment {name}", k.apps.replace_namespaced_deployment, name,
                                     namespace, b))
        if kind == "Service":
            return (lambda: k.call(f"read Service {name}", k.core.read_namespaced_service, name, namespace),
                    lambda b: k.call(f"create Service {name}", k.core.create_namespaced_service, namespace, b),
                    lambda b: k.call(f"replace Service {name}", k.core.replace_namespaced_service, name, namespace, b))
        if kind in ISTIO_PLURALS:
            group, version = ISTIO
            plural = ISTIO_PLURALS[kind]
            return (lambda: k.call(f"read {kind} {name}", k.custom.get_namespaced_custom_object, group, version,
                                   namespace, plural, name),
                    lambda b: k.call(f"create {kind} {name}", k.custom.create_namespaced_custom_object, group, version,
                                     namespace, plural, b),
                    lambda b: k.call(f"replace {kind} {name}", k.custom.replace_namespaced_custom_object, group,
                                     version, namespace, plural, name, b))
        raise ValueError(f"unsupported kind {kind}")  # pragma: no cover - the chart only renders the kinds above

    def get(self, kind: str, namespace: str, name: str) -> Obj | None:
        read, _, _ = self._ops(kind, namespace, name)
        try:
            return dict(read())
        except KubeApiError as err:
            if err.status == 404:
                return None
            raise

    def create_if_absent(self, obj: Obj) -> bool:
        """Create ``obj``; True if created, False if it already existed (left as it is)."""
        _, create, _ = self._ops(obj["kind"], obj["metadata"]["namespace"], obj["metadata"]["name"])
        try:
            create(obj)
            return True
        except KubeApiError as err:
            if err.status == 409:
                return False
            raise

    def create_or_replace(self, obj: Obj, attempts: int = 3) -> None:
        """Create ``obj`` or replace the live one (guarded by its resourceVersion; 409 -> re-read)."""
        kind, meta = obj["kind"], obj["metadata"]
        _, _, replace = self._ops(kind, meta["namespace"], meta["name"])
        if self.create_if_absent(obj):
            return
        for _ in range(attempts):
            live = self.get(kind, meta["namespace"], meta["name"])
            if live is None:
                if self.create_if_absent(obj):
                    return
                continue
            try:
                replace(_carry_over(obj, live))
                return
            except KubeApiError as err:
                if err.status != 409:
                    raise
        raise ConflictError(BACKEND, f"{kind} {meta['name']} in {meta['namespace']} kept changing while we "
                                     f"replaced it ({attempts} attempts)")

    def ensure_namespace(self, name: str, labels: dict[str, str]) -> None:
        k = self.kube
        try:
            k.call(f"read Namespace {name}", k.core.read_namespace, name)
            return
        except KubeApiError as err:
            if err.status != 404:
                raise
        try:
            k.call(f"create Namespace {name}", k.core.create_namespace, {
                "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}})
        except KubeApiError as err:
            if err.status != 409:  # created by a parallel pipeline: fine
                raise


def _carry_over(desired: Obj, live: Obj) -> Obj:
    """``desired`` as a replace of ``live``: its resourceVersion, foreign annotations, and the
    fields the API server assigned (a Service's cluster IPs are immutable)."""
    new = copy.deepcopy(desired)
    meta = new["metadata"]
    live_meta = live.get("metadata") or {}
    meta["resourceVersion"] = live_meta.get("resourceVersion")
    annotations = dict(live_meta.get("annotations") or {})
    annotations.update(meta.get("annotations") or {})
    if annotations:
        meta["annotations"] = annotations
    if desired["kind"] == "Service":
        live_spec = live.get("spec") or {}
        for key in ("clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"):
            if key in live_spec:
                new.setdefault("spec", {})[key] = live_spec[key]
    return new
