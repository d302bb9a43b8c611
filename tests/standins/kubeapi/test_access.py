"""Authorization: a deny-list answered with apiserver's 403 Status, and SelfSubjectAccessReview.

Aspects: a denied create, get, list or patch answers 403 Forbidden with the message, reason and
details apiserver's ``forbiddenMessage`` gives (namespace or cluster scope, subresources as
``resource/sub``); a dry-run request is authorized like a real one; rules match by verb, group,
resource, namespace and name with ``*``; a request on a namespace is authorized in that
namespace; SelfSubjectAccessReview answers 201 with
``status.allowed`` from the same rules, and refuses a review without attributes (422); in RBAC
mode only what Roles, ClusterRoles and their bindings grant the service account is allowed.
"""

from __future__ import annotations

import pytest
from kubernetes import client

from standins.kubeapi.access import DEFAULT_USER
from standins.kubeapi.resources import by_kind
from tests.standins.kubeapi.conftest import Cluster, deployment, status_of


def review(cluster: Cluster, verb: str, group: str, resource: str, namespace: str = "demo",
           subresource: str = "") -> bool:
    body = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
            "spec": {"resourceAttributes": {"namespace": namespace, "verb": verb, "group": group,
                                            "resource": resource, "subresource": subresource}}}
    answer, code, _ = cluster.authz.create_self_subject_access_review_with_http_info(body)
    assert code == 201
    return bool(answer.status.allowed)


def test_denied_requests_answer_403_with_apiservers_status(cluster: Cluster) -> None:
    cluster.api.access.deny("create", "coordination.k8s.io", "leases", "demo")
    lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "lock"},
             "spec": {"holderIdentity": "me"}}
    with pytest.raises(client.ApiException) as denied:
        cluster.coordination.create_namespaced_lease("demo", lease)
    status = status_of(denied.value)
    assert denied.value.status == 403 and status["reason"] == "Forbidden"
    assert status["message"] == (f'leases.coordination.k8s.io is forbidden: User "{DEFAULT_USER}" cannot create '
                                 'resource "leases" in API group "coordination.k8s.io" in the namespace "demo"')
    assert status["details"] == {"name": "", "group": "coordination.k8s.io", "kind": "leases"}
    with pytest.raises(client.ApiException) as dry:
        cluster.coordination.create_namespaced_lease("demo", lease, dry_run="All")
    assert dry.value.status == 403
    assert cluster.coordination.list_namespaced_lease("demo").items == []  # other verbs are allowed
    cluster.core.create_namespace({"metadata": {"name": "other"}})
    cluster.coordination.create_namespaced_lease("other", lease)  # and other namespaces


def test_named_cluster_scoped_and_subresource_rules(cluster: Cluster) -> None:
    cluster.apps.create_namespaced_deployment("demo", deployment("web"))
    cluster.api.access.deny("get", "apps", "deployments", name="web")
    cluster.api.access.deny("create", "", "namespaces")
    cluster.api.access.deny("patch", "apps", "deployments/status")
    with pytest.raises(client.ApiException) as named:
        cluster.apps.read_namespaced_deployment("web", "demo")
    assert status_of(named.value)["message"].startswith('deployments.apps "web" is forbidden: User ')
    assert status_of(named.value)["details"]["name"] == "web"
    with pytest.raises(client.ApiException) as cluster_scope:
        cluster.core.create_namespace({"metadata": {"name": "new"}})
    assert status_of(cluster_scope.value)["message"].endswith(
        'cannot create resource "namespaces" in API group "" at the cluster scope')
    with pytest.raises(client.ApiException) as sub:
        cluster.apps.patch_namespaced_deployment_status("web", "demo", {"status": {}})
    assert 'cannot patch resource "deployments/status" in API group "apps"' in status_of(sub.value)["message"]
    cluster.apps.patch_namespaced_deployment("web", "demo", {"metadata": {"labels": {"a": "b"}}})  # main resource


def test_a_namespace_is_authorized_in_itself(cluster: Cluster) -> None:
    """GET /api/v1/namespaces/demo is checked in namespace demo: a Role there can allow it."""
    cluster.api.access.deny("get", "", "namespaces", namespace="demo")
    cluster.core.create_namespace({"metadata": {"name": "other"}})
    with pytest.raises(client.ApiException) as denied:
        cluster.core.read_namespace("demo")
    assert status_of(denied.value)["message"].endswith(
        'cannot get resource "namespaces" in API group "" in the namespace "demo"')
    assert cluster.core.read_namespace("other").metadata.name == "other"


def test_self_subject_access_review_answers_from_the_same_rules(cluster: Cluster) -> None:
    cluster.api.access.deny("patch", "networking.istio.io", "virtualservices", "demo")
    assert review(cluster, "get", "networking.istio.io", "virtualservices")
    assert not review(cluster, "patch", "networking.istio.io", "virtualservices")
    assert review(cluster, "patch", "networking.istio.io", "virtualservices", namespace="other")
    assert review(cluster, "patch", "apps", "deployments", subresource="status")
    assert "selfsubjectaccessreviews" not in {k[1] for k in cluster.api.store.objects}  # answered, never stored
    with pytest.raises(client.ApiException) as empty:
        cluster.authz.create_self_subject_access_review({"spec": {}})
    assert empty.value.status == 422


def test_rbac_mode_grants_what_roles_and_bindings_say(cluster: Cluster) -> None:
    cluster.api.access.rbac = True
    cluster.api.store.put_raw(by_kind("Role"), {
        "metadata": {"name": "deployer", "namespace": "demo"},
        "rules": [{"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get", "list"]},
                  {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get"]}]})
    cluster.api.store.put_raw(by_kind("RoleBinding"), {
        "metadata": {"name": "deployer", "namespace": "demo"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "deployer"},
        "subjects": [{"kind": "ServiceAccount", "name": "pipeline-steps", "namespace": "jenkins"}]})
    assert cluster.apps.list_namespaced_deployment("demo").items == []
    assert cluster.core.read_namespace("demo").metadata.name == "demo"
    with pytest.raises(client.ApiException) as create:
        cluster.apps.create_namespaced_deployment("demo", deployment("web"))
    assert create.value.status == 403
    assert review(cluster, "list", "apps", "deployments") and not review(cluster, "create", "apps", "deployments")
    cluster.api.store.put_raw(by_kind("ClusterRole"), {
        "metadata": {"name": "ns-creator"}, "rules": [{"apiGroups": [""], "resources": ["namespaces"],
                                                        "verbs": ["create"]}]})
    with pytest.raises(client.ApiException):
        cluster.core.create_namespace({"metadata": {"name": "new"}})  # the ClusterRole is not bound yet
    cluster.api.store.put_raw(by_kind("ClusterRoleBinding"), {
        "metadata": {"name": "ns-creator"}, "roleRef": {"kind": "ClusterRole", "name": "ns-creator"},
        "subjects": [{"kind": "ServiceAccount", "name": "pipeline-steps", "namespace": "jenkins"}]})
    cluster.core.create_namespace({"metadata": {"name": "new"}})
    with pytest.raises(client.ApiException):
        cluster.apps.list_namespaced_deployment("new")  # the Role is only for demo
