"""The API resources the stand-in knows, which of them a given "cluster" serves, and discovery.

Built-in groups are always served. Custom resources (Istio's networking.istio.io, the Prometheus
Operator's monitoring.coreos.com) are served only at the versions a test installs, as a CRD's
``spec.versions[].served`` decides on a real cluster: Istio 1.22 and later serve v1, v1beta1 and
v1alpha3; 1.21 and older v1beta1 and v1alpha3 only (Istio 1.22 release notes, "v1 APIs"). All
served versions of one resource share one storage, as a CRD with several served versions does.
A path at a version that is not served is answered like any unknown path (``errors.page_not_found``).

Discovery follows the documents clients read (kubernetes/apimachinery
``pkg/apis/meta/v1/types.go``: APIVersions, APIGroupList, APIGroup, APIResourceList); the
preferred version of a group is the first in Kubernetes' version priority (GA before beta
before alpha, higher numbers first; kubernetes/apimachinery ``pkg/version/helpers.go``
``CompareKubeAwareVersionStrings``), which is also how a CRD's preferred version is chosen.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
ISTIO = "networking.istio.io"
MONITORING = "monitoring.coreos.com"
ISTIO_VERSIONS = ("v1", "v1beta1", "v1alpha3")
"""What a current Istio serves; ``KubeApiStandIn(served={ISTIO: ("v1beta1", "v1alpha3")})`` is Istio 1.21."""


@dataclass(frozen=True)
class Resource:
    group: str
    """API group; ``""`` for the core group."""
    versions: tuple[str, ...]
    """Every version the resource exists at; a catalogue may serve fewer (custom resources)."""
    plural: str
    kind: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    status_subresource: bool = False
    """If true, the main resource ignores ``status`` changes and ``/status`` ignores everything else."""
    unconditional_update: bool = True
    """False for custom resources: a PUT must carry ``metadata.resourceVersion`` (built-in kinds may omit it)."""
    custom: bool = False
    """A custom resource (served only when installed; validated against its CRD schema)."""
    verbs: tuple[str, ...] = tuple(VERBS)
    stored: bool = True
    """False for review kinds (SelfSubjectAccessReview): created, answered, never kept."""

    @property
    def singular(self) -> str:
        return self.kind.lower()

    def api_version(self, version: str) -> str:
        return f"{self.group}/{version}" if self.group else version

    def descriptor(self) -> dict[str, Any]:
        return {"name": self.plural, "singularName": self.singular, "namespaced": self.namespaced,
                "kind": self.kind, "verbs": list(self.verbs), "shortNames": list(self.short_names)}


def _custom(group: str, versions: tuple[str, ...], plural: str, kind: str, short: tuple[str, ...] = ()) -> Resource:
    return Resource(group, versions, plural, kind, namespaced=True, short_names=short, status_subresource=True,
                    unconditional_update=False, custom=True)


RESOURCES: tuple[Resource, ...] = (
    Resource("", ("v1",), "namespaces", "Namespace", namespaced=False, short_names=("ns",), status_subresource=True),
    Resource("", ("v1",), "pods", "Pod", namespaced=True, short_names=("po",), status_subresource=True),
    Resource("", ("v1",), "services", "Service", namespaced=True, short_names=("svc",), status_subresource=True),
    Resource("", ("v1",), "serviceaccounts", "ServiceAccount", namespaced=True, short_names=("sa",)),
    Resource("apps", ("v1",), "deployments", "Deployment", namespaced=True, short_names=("deploy",),
             status_subresource=True),
    Resource("autoscaling", ("v2",), "horizontalpodautoscalers", "HorizontalPodAutoscaler", namespaced=True,
             short_names=("hpa",), status_subresource=True),
    Resource("coordination.k8s.io", ("v1",), "leases", "Lease", namespaced=True),
    Resource("rbac.authorization.k8s.io", ("v1",), "roles", "Role", namespaced=True),
    Resource("rbac.authorization.k8s.io", ("v1",), "rolebindings", "RoleBinding", namespaced=True),
    Resource("rbac.authorization.k8s.io", ("v1",), "clusterroles", "ClusterRole", namespaced=False),
    Resource("rbac.authorization.k8s.io", ("v1",), "clusterrolebindings", "ClusterRoleBinding", namespaced=False),
    Resource("authorization.k8s.io", ("v1",), "selfsubjectaccessreviews", "SelfSubjectAccessReview",
             namespaced=False, verbs=("create",), stored=False),
    _custom(ISTIO, ISTIO_VERSIONS, "virtualservices", "VirtualService", ("vs",)),
    _custom(ISTIO, ISTIO_VERSIONS, "destinationrules", "DestinationRule", ("dr",)),
    _custom(ISTIO, ISTIO_VERSIONS, "gateways", "Gateway", ("gw",)),
    _custom(MONITORING, ("v1",), "servicemonitors", "ServiceMonitor", ("smon",)),
    _custom(MONITORING, ("v1",), "podmonitors", "PodMonitor", ("pmon",)),
)
CUSTOM_GROUPS = {r.group for r in RESOURCES if r.custom}
DEFAULT_SERVED: dict[str, tuple[str, ...]] = {ISTIO: ISTIO_VERSIONS}


def find(group: str, version: str, plural: str) -> Resource | None:
    """Any known resource at ``version`` (served or not): for tests that write to the store directly."""
    for res in RESOURCES:
        if res.group == group and version in res.versions and res.plural == plural:
            return res
    return None


def by_kind(kind: str) -> Resource:
    return next(r for r in RESOURCES if r.kind == kind)


_VERSION = re.compile(r"^v(\d+)(?:(alpha|beta)(\d+))?$")


def version_priority(version: str) -> tuple[int, int, int]:
    """Sort key, smallest first: GA, then beta, then alpha; higher major and minor first."""
    match = _VERSION.match(version)
    if not match:
        return (3, 0, 0)
    major, stage, minor = match.groups()
    return ({None: 0, "beta": 1, "alpha": 2}[stage], -int(major), -int(minor or 0))


@dataclass
class Catalogue:
    """What one stand-in cluster serves: built-in groups always, custom groups as installed."""

    served: dict[str, tuple[str, ...]] = field(default_factory=lambda: dict(DEFAULT_SERVED))
    """Custom group -> versions served; a group absent here has no CRDs installed."""
    uninstalled: frozenset[str] = frozenset()
    """``<plural>.<group>`` of custom resources whose CRD is missing although their group is served
    (a partial install): they answer like any unknown path."""

    @classmethod
    def of(cls, served: Mapping[str, Sequence[str]] | None, uninstalled: Sequence[str] = ()) -> Catalogue:
        chosen = dict(DEFAULT_SERVED) if served is None else {}
        for group, versions in (served or {}).items():
            if group not in CUSTOM_GROUPS:
                raise ValueError(f"{group!r} is not a custom API group the stand-in knows ({sorted(CUSTOM_GROUPS)})")
            unknown = set(versions) - {v for r in RESOURCES if r.group == group for v in r.versions}
            if unknown:
                raise ValueError(f"{group} has no version {sorted(unknown)}")
            chosen[group] = tuple(versions)
        known = {f"{r.plural}.{r.group}" for r in RESOURCES if r.custom}
        if set(uninstalled) - known:
            raise ValueError(f"unknown custom resources {sorted(set(uninstalled) - known)}")
        return cls(chosen, frozenset(uninstalled))

    def serves(self, res: Resource, version: str) -> bool:
        if version not in res.versions or f"{res.plural}.{res.group}" in self.uninstalled:
            return False
        return not res.custom or version in self.served.get(res.group, ())

    def find(self, group: str, version: str, plural: str) -> Resource | None:
        res = find(group, version, plural)
        return res if res is not None and self.serves(res, version) else None

    def groups(self) -> dict[str, list[str]]:
        """Group name -> served versions, preferred first (core group excluded)."""
        out: dict[str, list[str]] = {}
        for res in RESOURCES:
            if res.group:
                for version in res.versions:
                    if self.serves(res, version) and version not in out.setdefault(res.group, []):
                        out[res.group].append(version)
        return {g: sorted(v, key=version_priority) for g, v in out.items() if v}

    def discovery(self, path: str, server_address: str) -> dict[str, Any] | None:
        """The document for a discovery path (``/api``, ``/apis``, ``/apis/<g>``, ``/api/v1``,
        ``/apis/<g>/<v>``), else None."""
        if path == "/api":
            return {"kind": "APIVersions", "versions": ["v1"],
                    "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}]}
        groups = self.groups()
        if path == "/apis":
            return {"kind": "APIGroupList", "apiVersion": "v1",
                    "groups": [_group_doc(name, versions) for name, versions in groups.items()]}
        parts = path.strip("/").split("/")
        if len(parts) == 2 and parts[0] == "apis" and parts[1] in groups:
            return {"kind": "APIGroup", "apiVersion": "v1", **_group_doc(parts[1], groups[parts[1]])}
        if parts == ["api", "v1"]:
            group, version = "", "v1"
        elif len(parts) == 3 and parts[0] == "apis":
            group, version = parts[1], parts[2]
        else:
            return None
        served = [r for r in RESOURCES if r.group == group and self.serves(r, version)]
        if not served:
            return None
        listed: list[dict[str, Any]] = []
        for res in served:
            listed.append(res.descriptor())
            if res.status_subresource:
                listed.append({"name": f"{res.plural}/status", "singularName": "", "namespaced": res.namespaced,
                               "kind": res.kind, "verbs": ["get", "patch", "update"]})
        return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": served[0].api_version(version),
                "resources": listed}


def _group_doc(name: str, versions: list[str]) -> dict[str, Any]:
    return {"name": name, "versions": [{"groupVersion": f"{name}/{v}", "version": v} for v in versions],
            "preferredVersion": {"groupVersion": f"{name}/{versions[0]}", "version": versions[0]}}
