"""Every API verb pipeline-steps uses on a cluster, in one place: pre-flight asks the API server
about each (SelfSubjectAccessReview) and the chart's Role grants exactly these (a test compares).

In the stage's namespace (a Role there): reading the namespace itself (a request on a namespace
is authorized in that namespace, kubernetes/apiserver ``requestinfo.go``), pods for readiness
reasons, the colour Deployments and Services, HPAs (their replica count is theirs), the lock
Lease, the Istio objects, and the Prometheus Operator monitors when the chart renders them.
Dry-run requests need the same verbs as the writes they preview.

Cluster-wide (an optional ClusterRole, bound cluster-wide): the pre-flight views across
namespaces (ingress gateway pods, VirtualServices claiming the same host, a Gateway in another
namespace) and, for a pipeline that creates its stage namespaces, creating them — which means
it also needs the namespaced verbs everywhere, since no Role can exist in a namespace before it.
Discovery and SelfSubjectAccessReview are allowed to every authenticated user by Kubernetes'
default roles (``system:discovery``, ``system:basic-user``), so no Role lists them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Permission:
    group: str
    resource: str
    verbs: tuple[str, ...]
    why: str

    def pairs(self) -> list[tuple[str, str, str]]:
        """(verb, group, resource) per verb."""
        return [(verb, self.group, self.resource) for verb in self.verbs]


NAMESPACED: tuple[Permission, ...] = (
    Permission("", "namespaces", ("get",), "the stage namespace's phase and sidecar-injection label"),
    Permission("", "pods", ("list",), "why a colour is not ready"),
    Permission("", "services", ("get", "create", "update"), "the service and per-colour Services"),
    Permission("apps", "deployments", ("get", "list", "create", "update", "patch"),
               "the colours; patch: the verdict label"),
    Permission("autoscaling", "horizontalpodautoscalers", ("list",), "leave an HPA's replica count to it"),
    Permission("coordination.k8s.io", "leases", ("get", "create", "update", "delete"), "the deploy/switch lock"),
    Permission("networking.istio.io", "virtualservices", ("get", "list", "create", "patch"),
               "the route; patch: the weights; list: hosts claimed twice"),
    Permission("networking.istio.io", "destinationrules", ("create",), "the colour subsets (created once)"),
    Permission("networking.istio.io", "gateways", ("get", "create"),
               "the public host; get: an existing Gateway named by ingress.gateway.name"),
)
MONITORS: dict[str, Permission] = {
    "ServiceMonitor": Permission("monitoring.coreos.com", "servicemonitors", ("get", "create", "update"),
                                 "scrape configuration"),
    "PodMonitor": Permission("monitoring.coreos.com", "podmonitors", ("get", "create", "update"),
                             "scrape configuration"),
}
CLUSTER: tuple[Permission, ...] = (
    Permission("", "namespaces", ("create",), "create the stage namespace when it does not exist (with the "
                                              "namespaced verbs, cluster-wide)"),
    Permission("", "pods", ("list",), "pre-flight: running ingress gateway pods"),
    Permission("networking.istio.io", "virtualservices", ("list",), "pre-flight: hosts claimed in other namespaces"),
    Permission("networking.istio.io", "gateways", ("get",), "pre-flight: a shared Gateway in another namespace"),
)


def namespaced(kinds: set[str]) -> tuple[Permission, ...]:
    """What deploy needs in the stage's namespace when the chart renders ``kinds``."""
    return NAMESPACED + tuple(permission for kind, permission in MONITORS.items() if kind in kinds)
