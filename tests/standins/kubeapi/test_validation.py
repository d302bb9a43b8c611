"""Validation the API server applies to what the chart renders, beyond names and selectors.

Aspects (kubernetes/kubernetes ``pkg/apis/core/validation/validation.go``, apimachinery
``pkg/util/validation/validation.go``, ``pkg/api/resource/quantity.go``,
``pkg/registry/apps/deployment/strategy.go``): a Service's name is a DNS-1035 label (a letter
first), while a Deployment's may start with a digit; a container port name is an IANA service
name (at most 15 characters, a letter, no ``--``), a Service port name a DNS-1123 label and a named
``targetPort`` an IANA service name; a quantity outside its grammar cannot be decoded (400), a
negative one, a request above its limit or a resource name that is not a container resource is
422; a Deployment's generation moves when its annotations change (they are copied to its
ReplicaSets), and with its labels it does not.
"""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client

from tests.standins.kubeapi.conftest import Cluster, deployment, status_of


def service(name: str, port_name: str = "http", target: Any = "http") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"selector": {"app": "web"}, "ports": [{"name": port_name, "port": 80, "targetPort": target}]}}


def refused(call: Any, *args: Any) -> tuple[int, dict[str, Any]]:
    with pytest.raises(client.ApiException) as err:
        call(*args)
    return int(err.value.status), status_of(err.value)


def test_a_service_name_is_a_dns_1035_label(cluster: Cluster) -> None:
    code, status = refused(cluster.core.create_namespaced_service, "demo", service("9carts"))
    assert code == 422 and status["details"]["causes"][0]["field"] == "metadata.name"
    assert status["message"].startswith('Service "9carts" is invalid: metadata.name: Invalid value: "9carts": a '
                                        "DNS-1035 label must consist of lower case alphanumeric characters or '-', "
                                        "start with an alphabetic character")
    cluster.apps.create_namespaced_deployment("demo", deployment("9carts-blue"))  # a subdomain may
    cluster.core.create_namespaced_service("demo", service("carts"))


@pytest.mark.parametrize(("name", "why"), [
    ("mongodbxxxxxx-db", "must be no more than 15 characters"),
    ("http--x", "must not contain consecutive hyphens"),
    ("HTTP", "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)"),
    ("8080", "must contain at least one letter (a-z)"),
])
def test_port_names_are_iana_service_names(cluster: Cluster, name: str, why: str) -> None:
    body = deployment("web")
    body["spec"]["template"]["spec"]["containers"][0]["ports"] = [{"name": name, "containerPort": 8080}]
    code, status = refused(cluster.apps.create_namespaced_deployment, "demo", body)
    assert code == 422, status
    assert status["details"]["causes"][0]["field"] == "spec.template.spec.containers[0].ports[0].name"
    assert f'Invalid value: "{name}": {why}' in status["message"]
    code, status = refused(cluster.core.create_namespaced_service, "demo", service("web", "http", name))
    assert code == 422 and status["details"]["causes"][0]["field"] == "spec.ports[0].targetPort"


def test_a_service_port_name_is_a_dns_1123_label(cluster: Cluster) -> None:
    code, status = refused(cluster.core.create_namespaced_service, "demo", service("web", "Http_1"))
    assert code == 422 and status["details"]["causes"][0]["field"] == "spec.ports[0].name"
    cluster.core.create_namespaced_service("demo", service("web", "a-long-but-valid-service-port-name", 8080))


def with_resources(resources: dict[str, Any]) -> dict[str, Any]:
    body = deployment("web")
    body["spec"]["template"]["spec"]["containers"][0]["resources"] = resources
    return body


def test_a_quantity_outside_its_grammar_cannot_be_decoded(cluster: Cluster) -> None:
    for bad in ("1.2.3", "100 m", "Infinity", "1Mb"):
        code, status = refused(cluster.apps.create_namespaced_deployment, "demo",
                               with_resources({"limits": {"cpu": bad}}))
        assert code == 400 and status["reason"] == "BadRequest", bad
        assert status["message"].startswith('Deployment in version "v1" cannot be handled as a Deployment: ')
        assert "quantit" in status["message"]
    good = {"limits": {"cpu": "1.5", "memory": "1e3", "ephemeral-storage": "1Gi"}, "requests": {"cpu": 0.5}}
    code, _, body = cluster.http("POST", "/apis/apps/v1/namespaces/demo/deployments", with_resources(good))
    assert code == 201, body  # a JSON number is a quantity too (raw: the client's models want strings)


@pytest.mark.parametrize(("resources", "field", "why"), [
    ({"requests": {"cpu": "-1"}}, "spec.template.spec.containers[0].resources.requests[cpu]",
     'Invalid value: "-1": must be greater than or equal to 0'),
    ({"requests": {"cpu": "100m"}, "limits": {"cpu": "50m"}}, "spec.template.spec.containers[0].resources.requests",
     'Invalid value: "100m": must be less than or equal to cpu limit of 50m'),
    ({"limits": {"gpu": "1"}}, "spec.template.spec.containers[0].resources.limits[gpu]",
     'Invalid value: "gpu": must be a standard resource for containers'),
])
def test_resources_are_validated(cluster: Cluster, resources: dict[str, Any], field: str, why: str) -> None:
    code, status = refused(cluster.apps.create_namespaced_deployment, "demo", with_resources(resources))
    assert code == 422 and status["details"]["causes"][0]["field"] == field
    assert f"{field}: {why}" in status["message"]


def test_a_deployments_generation_moves_with_its_annotations_not_its_labels(cluster: Cluster) -> None:
    cluster.apps.create_namespaced_deployment("demo", deployment("web"))
    assert cluster.apps.read_namespaced_deployment("web", "demo").metadata.generation == 1
    labelled = cluster.apps.patch_namespaced_deployment("web", "demo", {"metadata": {"labels": {"team": "a"}}})
    assert labelled.metadata.generation == 1
    annotated = cluster.apps.patch_namespaced_deployment("web", "demo", {"metadata": {"annotations": {"x": "1"}}})
    assert annotated.metadata.generation == 2
    # A replace that drops an annotation (the controller's revision) changes them too.
    assert cluster.apps.replace_namespaced_deployment("web", "demo", deployment("web")).metadata.generation == 3
