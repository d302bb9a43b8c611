"""Writes are judged as an API server judges them: dry run, field validation, validation, immutability.

Aspects: ``dryRun=All`` runs every check (409 for an existing name, 422, admission) and persists
nothing, for create, update, patch and delete, and any other dryRun value is 422; undeclared
fields are pruned with a ``Warning`` header by default, pruned silently with ``Ignore``, and
refused with 400 naming every one of them with ``fieldValidation=Strict`` (built-in kinds by
their OpenAPI schema, Istio and Prometheus Operator kinds by their CRD's), on create, update and
patch; an unknown fieldValidation value is 422; a value of the wrong type is 400 for a built-in
kind and 422 for a custom resource; a missing required field is 422; a Deployment's selector is
immutable and must match its template; a Service keeps its assigned cluster IP across a replace
and refuses a new one; a Lease duration of 0 is invalid; field selectors accept what the kind
supports and refuse the rest.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from kubernetes import client

from standins.kubeapi.resources import ISTIO
from tests.standins.kubeapi.conftest import Cluster, deployment, status_of, virtual_service


def stored_keys(cluster: Cluster) -> dict[tuple[str, ...], str]:
    return {k: o["metadata"]["resourceVersion"] for k, o in cluster.api.store.objects.items()}


def test_dry_run_checks_everything_and_persists_nothing(cluster: Cluster) -> None:
    cluster.apps.create_namespaced_deployment("demo", deployment("web"))
    before = stored_keys(cluster)
    preview = cluster.apps.create_namespaced_deployment("demo", deployment("api"), dry_run="All")
    assert preview.metadata.name == "api" and preview.metadata.uid and not preview.metadata.resource_version
    with pytest.raises(client.ApiException) as exists:
        cluster.apps.create_namespaced_deployment("demo", deployment("web"), dry_run="All")
    assert exists.value.status == 409
    bad = deployment("bad")
    bad["spec"]["template"]["metadata"]["labels"] = {"deployment": "other"}
    with pytest.raises(client.ApiException) as invalid:
        cluster.apps.create_namespaced_deployment("demo", bad, dry_run="All")
    assert invalid.value.status == 422
    replaced = cluster.apps.replace_namespaced_deployment("web", "demo", deployment("web", image="img:9"), dry_run="All")
    assert replaced.spec.template.spec.containers[0].image == "img:9" and replaced.metadata.generation == 2
    cluster.apps.patch_namespaced_deployment("web", "demo", {"spec": {"replicas": 5}}, dry_run="All")
    cluster.apps.delete_namespaced_deployment("web", "demo", dry_run="All")
    assert stored_keys(cluster) == before
    live = cluster.apps.read_namespaced_deployment("web", "demo")
    assert live.spec.replicas == 1 and live.spec.template.spec.containers[0].image == "img:1"
    code, _, body = cluster.http("POST", "/apis/apps/v1/namespaces/demo/deployments?dryRun=true", deployment("x"))
    assert code == 422 and b"supported values: \\\"All\\\"" in body


def with_unknown_fields(body: dict[str, Any]) -> dict[str, Any]:
    changed = copy.deepcopy(body)
    changed["spec"]["replica"] = 3  # a typo of replicas
    changed["spec"]["template"]["spec"]["containers"][0]["imagePolicy"] = "Always"
    return changed


def test_field_validation_strict_warn_and_ignore_on_builtin_kinds(cluster: Cluster) -> None:
    # Raw HTTP: the typed client refuses unknown fields of built-in kinds before sending them.
    deployments = "/apis/apps/v1/namespaces/demo/deployments"
    code, _, body = cluster.http("POST", f"{deployments}?fieldValidation=Strict", with_unknown_fields(deployment("web")))
    strict = json.loads(body)
    assert code == 400 and strict["reason"] == "BadRequest"
    assert strict["message"] == (
        'Deployment in version "v1" cannot be handled as a Deployment: strict decoding error: unknown field '
        '"spec.template.spec.containers[0].imagePolicy", unknown field "spec.replica"')  # in document order
    assert ("apps", "deployments", "demo", "web") not in cluster.api.store.objects

    code, headers, _ = cluster.http("POST", deployments, with_unknown_fields(deployment("web")))
    assert code == 201 and cluster.api.requests[-1].warnings == [
        'unknown field "spec.template.spec.containers[0].imagePolicy"', 'unknown field "spec.replica"']
    assert headers["Warning"].startswith('299 - "unknown field \\"spec.template.spec')
    kept = cluster.api.store.objects[("apps", "deployments", "demo", "web")]
    assert "replica" not in kept["spec"] and "imagePolicy" not in kept["spec"]["template"]["spec"]["containers"][0]

    cluster.http("POST", f"{deployments}?fieldValidation=Ignore", with_unknown_fields(deployment("api")))
    assert cluster.api.requests[-1].code == 201 and cluster.api.requests[-1].warnings == []

    with pytest.raises(client.ApiException) as patched:
        cluster.apps.patch_namespaced_deployment("web", "demo", {"spec": {"paused": True, "pause": True}},
                                                 field_validation="Strict")
    assert patched.value.status == 400 and 'unknown field "spec.pause"' in status_of(patched.value)["message"]
    assert cluster.http("PUT", f"{deployments}/web?fieldValidation=Strict",
                        with_unknown_fields(deployment("web")))[0] == 400
    assert cluster.http("POST", f"{deployments}?fieldValidation=Loose", deployment("x"))[0] == 422


def test_field_validation_on_custom_resources_follows_their_crd(cluster: Cluster) -> None:
    vs = virtual_service("web")
    vs["spec"]["http"][0]["retries"] = {"attempts": 3, "perTryTimeout": "2s"}  # declared fields stay
    vs["spec"]["http"][0]["route"][0]["wieght"] = 100
    with pytest.raises(client.ApiException) as strict:
        cluster.custom.create_namespaced_custom_object(ISTIO, "v1", "demo", "virtualservices", vs,
                                                       field_validation="Strict")
    assert strict.value.status == 400
    assert status_of(strict.value)["message"].endswith('strict decoding error: unknown field '
                                                       '"spec.http[0].route[0].wieght"')
    created = cluster.custom.create_namespaced_custom_object(ISTIO, "v1", "demo", "virtualservices", vs)
    assert created["spec"]["http"][0]["retries"] == {"attempts": 3, "perTryTimeout": "2s"}
    assert created["spec"]["http"][0]["route"][0] == {"destination": {"host": "web"}}  # pruned


def test_wrong_types_and_missing_required_fields(cluster: Cluster) -> None:
    vs = virtual_service("web")
    vs["spec"]["http"][0]["route"][0]["weight"] = "100"
    with pytest.raises(client.ApiException) as custom_type:
        cluster.custom.create_namespaced_custom_object(ISTIO, "v1", "demo", "virtualservices", vs)
    assert custom_type.value.status == 422
    assert 'spec.http[0].route[0].weight in body must be of type integer: "string"' in \
        status_of(custom_type.value)["message"]
    no_host = virtual_service("web")
    del no_host["spec"]["http"][0]["route"][0]["destination"]["host"]
    with pytest.raises(client.ApiException) as required:
        cluster.custom.create_namespaced_custom_object(ISTIO, "v1", "demo", "virtualservices", no_host)
    assert required.value.status == 422 and "spec.http[0].route[0].destination.host: Required value" in \
        status_of(required.value)["message"]
    builtin = deployment("web")
    builtin["spec"]["replicas"] = "two"
    code, _, body = cluster.http("POST", "/apis/apps/v1/namespaces/demo/deployments", builtin)
    assert code == 400 and "cannot unmarshal string" in json.loads(body)["message"]
    nameless = deployment("web")
    del nameless["spec"]["template"]["spec"]["containers"][0]["name"]
    code, _, body = cluster.http("POST", "/apis/apps/v1/namespaces/demo/deployments", nameless)
    assert code == 422 and "containers[0].name: Required value" in json.loads(body)["message"]


def test_deployment_selector_is_immutable_and_must_match_the_template(cluster: Cluster) -> None:
    cluster.apps.create_namespaced_deployment("demo", deployment("web"))
    moved = deployment("web")
    moved["spec"]["selector"]["matchLabels"]["tier"] = "front"
    moved["spec"]["template"]["metadata"]["labels"]["tier"] = "front"
    with pytest.raises(client.ApiException) as immutable:
        cluster.apps.replace_namespaced_deployment("web", "demo", moved)
    status = status_of(immutable.value)
    assert immutable.value.status == 422 and status["reason"] == "Invalid"
    assert status["message"].startswith('Deployment.apps "web" is invalid: spec.selector: Invalid value: ')
    assert status["message"].endswith("field is immutable")
    assert status["details"]["causes"][0]["field"] == "spec.selector"
    mismatch = deployment("api")
    mismatch["spec"]["template"]["metadata"]["labels"] = {"deployment": "web"}
    with pytest.raises(client.ApiException) as unmatched:
        cluster.apps.create_namespaced_deployment("demo", mismatch)
    assert unmatched.value.status == 422 and "`selector` does not match template `labels`" in \
        status_of(unmatched.value)["message"]


def test_service_cluster_ip_is_assigned_kept_and_immutable(cluster: Cluster) -> None:
    service: dict[str, Any] = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
               "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80}]}}
    created = cluster.core.create_namespaced_service("demo", service)
    address = created.spec.cluster_ip
    assert address.startswith("10.") and created.spec.ports[0].target_port == 80
    replaced = cluster.core.replace_namespaced_service("web", "demo", service)
    assert replaced.spec.cluster_ip == address
    moved = copy.deepcopy(service)
    moved["spec"]["clusterIP"] = "10.96.0.99"
    with pytest.raises(client.ApiException) as changed:
        cluster.core.replace_namespaced_service("web", "demo", moved)
    assert changed.value.status == 422 and "may not change once set" in status_of(changed.value)["message"]


def test_lease_duration_must_be_positive(cluster: Cluster) -> None:
    lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "lock"},
             "spec": {"holderIdentity": "me", "leaseDurationSeconds": 0}}
    with pytest.raises(client.ApiException) as zero:
        cluster.coordination.create_namespaced_lease("demo", lease)
    assert zero.value.status == 422 and "spec.leaseDurationSeconds" in status_of(zero.value)["message"]


def test_field_selectors(cluster: Cluster) -> None:
    cluster.apps.create_namespaced_deployment("demo", deployment("web", replicas=2))
    running = cluster.core.list_namespaced_pod("demo", field_selector="status.phase=Running")
    assert len(running.items) == 2
    assert cluster.core.list_namespaced_pod("demo", field_selector="status.phase!=Running").items == []
    with pytest.raises(client.ApiException) as unsupported:
        cluster.core.list_namespaced_pod("demo", field_selector="spec.containers=x")
    assert unsupported.value.status == 400
    assert status_of(unsupported.value)["message"] == "field label not supported: spec.containers"
    with pytest.raises(client.ApiException) as other_kind:
        cluster.apps.list_namespaced_deployment("demo", field_selector="status.phase=Running")
    assert other_kind.value.status == 400
