"""The API resources the stand-in serves, and the discovery documents clients read to find them.

Only what pipeline-steps and ``kubectl get/patch`` need: core Namespaces, Pods, Services; apps/v1
Deployments (with a ``status`` subresource); coordination.k8s.io/v1 Leases; Istio's
networking.istio.io VirtualService, DestinationRule and Gateway in both served versions (v1 and
v1beta1 share one storage, as a CRD with several served versions does).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

VERBS = ["create", "delete", "get", "list", "patch", "update"]


@dataclass(frozen=True)
class Resource:
    group: str
    """API group; ``""`` for the core group."""
    versions: tuple[str, ...]
    plural: str
    kind: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    status_subresource: bool = False
    """If true, the main resource ignores ``status`` changes and ``/status`` ignores everything else."""
    unconditional_update: bool = True
    """False for custom resources: a PUT must carry ``metadata.resourceVersion`` (built-in kinds may omit it)."""

    @property
    def singular(self) -> str:
        return self.kind.lower()

    def api_version(self, version: str) -> str:
        return f"{self.group}/{version}" if self.group else version

    def descriptor(self) -> dict[str, Any]:
        return {"name": self.plural, "singularName": self.singular, "namespaced": self.namespaced,
                "kind": self.kind, "verbs": VERBS, "shortNames": list(self.short_names)}


ISTIO = "networking.istio.io"
RESOURCES: tuple[Resource, ...] = (
    Resource("", ("v1",), "namespaces", "Namespace", namespaced=False, short_names=("ns",), status_subresource=True),
    Resource("", ("v1",), "pods", "Pod", namespaced=True, short_names=("po",), status_subresource=True),
    Resource("", ("v1",), "services", "Service", namespaced=True, short_names=("svc",), status_subresource=True),
    Resource("apps", ("v1",), "deployments", "Deployment", namespaced=True, short_names=("deploy",),
             status_subresource=True),
    Resource("coordination.k8s.io", ("v1",), "leases", "Lease", namespaced=True),
    Resource(ISTIO, ("v1", "v1beta1"), "virtualservices", "VirtualService", namespaced=True, short_names=("vs",),
             status_subresource=True, unconditional_update=False),
    Resource(ISTIO, ("v1", "v1beta1"), "destinationrules", "DestinationRule", namespaced=True, short_names=("dr",),
             status_subresource=True, unconditional_update=False),
    Resource(ISTIO, ("v1", "v1beta1"), "gateways", "Gateway", namespaced=True, short_names=("gw",),
             status_subresource=True, unconditional_update=False),
)


def find(group: str, version: str, plural: str) -> Resource | None:
    for res in RESOURCES:
        if res.group == group and version in res.versions and res.plural == plural:
            return res
    return None


def by_kind(kind: str) -> Resource:
    return next(r for r in RESOURCES if r.kind == kind)


def groups() -> dict[str, list[str]]:
    """Group name -> served versions, preferred first (core group excluded)."""
    out: dict[str, list[str]] = {}
    for res in RESOURCES:
        if res.group:
            for version in res.versions:
                if version not in out.setdefault(res.group, []):
                    out[res.group].append(version)
    return out


def discovery(path: str, server_address: str) -> dict[str, Any] | None:
    """The document for a discovery path (``/api``, ``/apis``, ``/api/v1``, ``/apis/<g>/<v>``), else None."""
    if path == "/api":
        return {"kind": "APIVersions", "versions": ["v1"],
                "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}]}
    if path == "/apis":
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": [
            {"name": name, "versions": [{"groupVersion": f"{name}/{v}", "version": v} for v in versions],
             "preferredVersion": {"groupVersion": f"{name}/{versions[0]}", "version": versions[0]}}
            for name, versions in groups().items()]}
    parts = path.strip("/").split("/")
    if parts == ["api", "v1"]:
        group, version = "", "v1"
    elif len(parts) == 3 and parts[0] == "apis":
        group, version = parts[1], parts[2]
    else:
        return None
    served = [r for r in RESOURCES if r.group == group and version in r.versions]
    if not served:
        return None
    listed: list[dict[str, Any]] = []
    for res in served:
        listed.append(res.descriptor())
        if res.status_subresource:
            listed.append({"name": f"{res.plural}/status", "singularName": "", "namespaced": res.namespaced,
                           "kind": res.kind, "verbs": ["get", "patch", "update"]})
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": res.api_version(version),
            "resources": listed}
