"""Served API versions per custom group, and what an API server answers for what it does not serve.

Aspects: a current Istio serves v1, v1beta1 and v1alpha3 from one storage, v1 preferred; Istio
1.21 (v1beta1, v1alpha3) answers a v1 path with the plain-text ``404 page not found`` of the end
of apiserver's handler chain — no Status, so no ``details.name`` — while a missing object at a
served version is a Status naming it; discovery (``/apis``, ``/apis/<group>``,
``/apis/<group>/<version>``) lists only what is served; a cluster without Istio has no group at
all; a CRD missing from a served group (a partial install) answers like an unknown path;
Prometheus Operator kinds exist only when installed; an object sent with another version's
apiVersion is refused (400); kubectl finds VirtualServices by the preferred served version.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable

import pytest
from kubernetes import client

from standins.kubeapi.resources import ISTIO, MONITORING
from tests.standins.kubeapi.conftest import Cluster, status_of, virtual_service

ISTIO_1_21 = {ISTIO: ("v1beta1", "v1alpha3")}


def test_current_istio_serves_three_versions_from_one_storage(cluster: Cluster) -> None:
    created = cluster.custom.create_namespaced_custom_object(ISTIO, "v1alpha3", "demo", "virtualservices",
                                                             virtual_service("web", "v1alpha3"))
    for version in ("v1", "v1beta1", "v1alpha3"):
        seen = cluster.custom.get_namespaced_custom_object(ISTIO, version, "demo", "virtualservices", "web")
        assert seen["apiVersion"] == f"{ISTIO}/{version}"
        assert seen["metadata"]["uid"] == created["metadata"]["uid"]
    code, _, body = cluster.http("GET", f"/apis/{ISTIO}")
    group = json.loads(body)
    assert code == 200 and group["kind"] == "APIGroup"
    assert [v["version"] for v in group["versions"]] == ["v1", "v1beta1", "v1alpha3"]
    assert group["preferredVersion"]["version"] == "v1"


def test_istio_1_21_answers_v1_like_an_api_server_without_that_version(make_cluster: Callable[..., Cluster]) -> None:
    old = make_cluster(served=ISTIO_1_21)
    old.namespace()
    old.custom.create_namespaced_custom_object(ISTIO, "v1beta1", "demo", "virtualservices",
                                               virtual_service("web", "v1beta1"))
    with pytest.raises(client.ApiException) as unserved:
        old.custom.get_namespaced_custom_object(ISTIO, "v1", "demo", "virtualservices", "web")
    assert unserved.value.status == 404 and unserved.value.body == "404 page not found\n"
    code, headers, body = old.http("GET", f"/apis/{ISTIO}/v1/namespaces/demo/virtualservices/web")
    assert (code, body) == (404, b"404 page not found\n")
    assert headers["Content-Type"].startswith("text/plain")

    with pytest.raises(client.ApiException) as missing:
        old.custom.get_namespaced_custom_object(ISTIO, "v1beta1", "demo", "virtualservices", "nope")
    status = status_of(missing.value)
    assert missing.value.status == 404 and status["reason"] == "NotFound"
    assert status["details"] == {"name": "nope", "group": ISTIO, "kind": "virtualservices"}
    assert status["message"] == f'virtualservices.{ISTIO} "nope" not found'

    group = json.loads(old.http("GET", f"/apis/{ISTIO}")[2])
    assert [v["version"] for v in group["versions"]] == ["v1beta1", "v1alpha3"]
    assert group["preferredVersion"]["version"] == "v1beta1"
    assert old.http("GET", f"/apis/{ISTIO}/v1")[0] == 404
    assert json.loads(old.http("GET", f"/apis/{ISTIO}/v1beta1")[2])["groupVersion"] == f"{ISTIO}/v1beta1"


def test_without_istio_the_group_does_not_exist(make_cluster: Callable[..., Cluster]) -> None:
    bare = make_cluster(served={})
    bare.namespace()
    groups = [g["name"] for g in json.loads(bare.http("GET", "/apis")[2])["groups"]]
    assert ISTIO not in groups and MONITORING not in groups and "apps" in groups
    assert bare.http("GET", f"/apis/{ISTIO}")[:3:2] == (404, b"404 page not found\n")
    code, _, body = bare.http("POST", f"/apis/{ISTIO}/v1/namespaces/demo/virtualservices", virtual_service("web"))
    assert (code, body) == (404, b"404 page not found\n")
    assert bare.api.store.objects.keys() == {("", "namespaces", "", "demo")}


def test_a_missing_crd_in_a_served_group_answers_like_an_unknown_path(make_cluster: Callable[..., Cluster]) -> None:
    partial = make_cluster(uninstalled=[f"virtualservices.{ISTIO}"])
    partial.namespace()
    assert partial.http("GET", f"/apis/{ISTIO}/v1/namespaces/demo/virtualservices/web")[2] == b"404 page not found\n"
    resources = [r["name"] for r in json.loads(partial.http("GET", f"/apis/{ISTIO}/v1")[2])["resources"]]
    assert "virtualservices" not in resources and "gateways" in resources
    assert partial.http("GET", f"/apis/{ISTIO}/v1/namespaces/demo/gateways")[0] == 200


def test_prometheus_operator_kinds_only_when_installed(make_cluster: Callable[..., Cluster]) -> None:
    monitor = {"apiVersion": f"{MONITORING}/v1", "kind": "ServiceMonitor", "metadata": {"name": "web"},
               "spec": {"selector": {"matchLabels": {"app": "web"}}, "endpoints": [{"port": "http"}]}}
    plain = make_cluster()
    plain.namespace()
    assert plain.http("POST", f"/apis/{MONITORING}/v1/namespaces/demo/servicemonitors", monitor)[0] == 404
    operator = make_cluster(served={ISTIO: ("v1",), MONITORING: ("v1",)})
    operator.namespace()
    code, _, body = operator.http("POST", f"/apis/{MONITORING}/v1/namespaces/demo/servicemonitors", monitor)
    assert code == 201 and json.loads(body)["spec"]["endpoints"] == [{"port": "http"}]


def test_api_version_in_the_body_must_be_the_paths(cluster: Cluster) -> None:
    with pytest.raises(client.ApiException) as wrong:
        cluster.custom.create_namespaced_custom_object(ISTIO, "v1beta1", "demo", "virtualservices",
                                                       virtual_service("web", "v1"))
    assert wrong.value.status == 400
    assert status_of(wrong.value)["message"] == (f"the API version in the data ({ISTIO}/v1) does not match the "
                                                 f"expected API version ({ISTIO}/v1beta1)")


def test_unknown_versions_are_refused_when_the_cluster_is_made() -> None:
    from standins.kubeapi import KubeApiStandIn

    with pytest.raises(ValueError, match="has no version"):
        KubeApiStandIn(served={ISTIO: ("v2",)})
    with pytest.raises(ValueError, match="not a custom API group"):
        KubeApiStandIn(served={"apps": ("v1",)})


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kubectl_uses_the_served_version(make_cluster: Callable[..., Cluster], tmp_path: os.PathLike[str]) -> None:
    old = make_cluster(served=ISTIO_1_21)
    old.namespace()
    old.custom.create_namespaced_custom_object(ISTIO, "v1beta1", "demo", "virtualservices",
                                               virtual_service("web", "v1beta1"))
    old.api.anonymous_as = old.api.access.user  # kubectl sends no token over plain HTTP (authn.py)
    out = subprocess.run(["kubectl", "get", "virtualservices", "-n", "demo", "-o", "json", "--cache-dir",
                          f"{tmp_path}/cache"], env={**os.environ, "KUBECONFIG": str(old.kubeconfig)},
                         capture_output=True, text=True, timeout=60, check=True).stdout
    listed = json.loads(out)
    assert [i["metadata"]["name"] for i in listed["items"]] == ["web"]
    assert listed["items"][0]["apiVersion"] == f"{ISTIO}/v1beta1"
