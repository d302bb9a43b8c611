"""The Kubernetes API stand-in keeps the API server's semantics, checked with the real client and kubectl.

Aspects: 201 on create and 409 AlreadyExists; 404 for a missing object and a missing namespace;
409 Conflict for a stale resourceVersion on PUT and on a patch; a no-op write keeps the
resourceVersion; generation moves with spec only; the status subresource is separate; label
selectors (=, !=, in, notin, exists, !exists); merge, JSON (with a failing test -> 422) and
strategic patches (415 for custom resources); Status objects in the real shape; v1 and v1beta1
Istio objects share storage; fault hooks (500, callback); kubectl get and patch work; a custom
resource refuses a PUT without resourceVersion (422) where a Deployment accepts it; a create
carrying a resourceVersion or another namespace is refused; delete preconditions (409); names
and label values past Kubernetes' limits answer 422.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config

from standins.kubeapi import KubeApiStandIn


def clients(kubeconfig: Path) -> tuple[Any, Any, Any]:
    api_client = config.new_client_from_config(str(kubeconfig))
    return client.CoreV1Api(api_client), client.AppsV1Api(api_client), client.CustomObjectsApi(api_client)


def deployment(name: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "labels": labels or {}},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"deployment": name}},
                     "template": {"metadata": {"labels": {"deployment": name}},
                                  "spec": {"containers": [{"name": "main", "image": "img:1"}]}}}}


def status_of(err: client.ApiException) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(err.body or "{}")
    return body


def test_create_get_conflicts_and_status_objects(kubeconfig: Path) -> None:
    core, apps, _ = clients(kubeconfig)
    with pytest.raises(client.ApiException) as missing_ns:
        apps.create_namespaced_deployment("demo", deployment("web"))
    assert missing_ns.value.status == 404 and status_of(missing_ns.value)["kind"] == "Status"
    assert core.create_namespace_with_http_info({"metadata": {"name": "demo"}})[1] == 201
    created, code, _ = apps.create_namespaced_deployment_with_http_info("demo", deployment("web"))
    assert code == 201 and created.metadata.generation == 1
    with pytest.raises(client.ApiException) as dup:
        apps.create_namespaced_deployment("demo", deployment("web"))
    assert dup.value.status == 409 and status_of(dup.value)["reason"] == "AlreadyExists"
    with pytest.raises(client.ApiException) as gone:
        apps.read_namespaced_deployment("nope", "demo")
    assert gone.value.status == 404 and status_of(gone.value)["reason"] == "NotFound"

    live = apps.read_namespaced_deployment("web", "demo").to_dict()
    stale_rv = live["metadata"]["resource_version"]
    body = deployment("web")
    body["metadata"]["resourceVersion"] = stale_rv
    body["spec"]["replicas"] = 2
    apps.replace_namespaced_deployment("web", "demo", body)
    with pytest.raises(client.ApiException) as stale:
        apps.replace_namespaced_deployment("web", "demo", body)
    assert stale.value.status == 409 and status_of(stale.value)["reason"] == "Conflict"
    after = apps.read_namespaced_deployment("web", "demo")
    assert after.metadata.generation == 2 and after.status.observed_generation == 2


def test_noop_write_keeps_resource_version_and_status_is_separate(kubeconfig: Path) -> None:
    core, apps, _ = clients(kubeconfig)
    core.create_namespace({"metadata": {"name": "demo"}})
    apps.create_namespaced_deployment("demo", deployment("web"))
    before = apps.read_namespaced_deployment("web", "demo")
    apps.patch_namespaced_deployment("web", "demo", {"spec": {"replicas": 1}},
                                     _content_type="application/merge-patch+json")
    assert apps.read_namespaced_deployment("web", "demo").metadata.resource_version == before.metadata.resource_version
    # The main resource ignores status; labels do not move generation.
    apps.patch_namespaced_deployment("web", "demo", {"metadata": {"labels": {"x": "y"}}, "status": {"replicas": 9}},
                                     _content_type="application/merge-patch+json")
    after = apps.read_namespaced_deployment("web", "demo")
    assert after.status.replicas == 1 and after.metadata.generation == before.metadata.generation
    assert after.metadata.labels == {"x": "y"}


def test_label_selectors(kubeconfig: Path) -> None:
    core, apps, _ = clients(kubeconfig)
    core.create_namespace({"metadata": {"name": "demo"}})
    apps.create_namespaced_deployment("demo", deployment("a", {"app": "web", "tier": "front"}))
    apps.create_namespaced_deployment("demo", deployment("b", {"app": "web"}))
    apps.create_namespaced_deployment("demo", deployment("c", {"app": "db"}))

    def names(selector: str) -> list[str]:
        return sorted(d.metadata.name for d in apps.list_namespaced_deployment("demo", label_selector=selector).items)

    assert names("app=web") == ["a", "b"]
    assert names("app==web,tier=front") == ["a"]
    assert names("app!=web") == ["c"]
    assert names("app in (db, other)") == ["c"]
    assert names("app notin (db)") == ["a", "b"]
    assert names("tier") == ["a"]
    assert names("!tier") == ["b", "c"]
    with pytest.raises(client.ApiException) as bad:
        names("app in db")
    assert bad.value.status == 400


def test_patch_types_on_custom_objects_and_versions(kubeconfig: Path) -> None:
    core, _, custom = clients(kubeconfig)
    core.create_namespace({"metadata": {"name": "demo"}})
    vs = {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService", "metadata": {"name": "web"},
          "spec": {"hosts": ["web"], "http": [{"route": [{"destination": {"host": "web"}, "weight": 100}]}]}}
    created = custom.create_namespaced_custom_object("networking.istio.io", "v1", "demo", "virtualservices", vs)
    rv = created["metadata"]["resourceVersion"]
    custom.patch_namespaced_custom_object("networking.istio.io", "v1", "demo", "virtualservices", "web",
                                          {"spec": {"hosts": ["web", "other"]}})
    with pytest.raises(client.ApiException) as stale:
        custom.patch_namespaced_custom_object("networking.istio.io", "v1", "demo", "virtualservices", "web",
                                              {"metadata": {"resourceVersion": rv}, "spec": {"hosts": ["x"]}})
    assert stale.value.status == 409
    with pytest.raises(client.ApiException) as failed_test:
        custom.patch_namespaced_custom_object("networking.istio.io", "v1", "demo", "virtualservices", "web",
                                              [{"op": "test", "path": "/spec/hosts/0", "value": "nope"}],
                                              _content_type="application/json-patch+json")
    assert failed_test.value.status == 422
    custom.patch_namespaced_custom_object("networking.istio.io", "v1", "demo", "virtualservices", "web",
                                          [{"op": "replace", "path": "/spec/http/0/route/0/weight", "value": 50}],
                                          _content_type="application/json-patch+json")
    with pytest.raises(client.ApiException) as smp:
        custom.patch_namespaced_custom_object("networking.istio.io", "v1", "demo", "virtualservices", "web",
                                              {"spec": {}}, _content_type="application/strategic-merge-patch+json")
    assert smp.value.status == 415
    seen = custom.get_namespaced_custom_object("networking.istio.io", "v1beta1", "demo", "virtualservices", "web")
    assert seen["apiVersion"] == "networking.istio.io/v1beta1"
    assert seen["spec"]["hosts"] == ["web", "other"] and seen["spec"]["http"][0]["route"][0]["weight"] == 50


def test_strategic_merge_merges_containers_by_name(kubeconfig: Path) -> None:
    core, apps, _ = clients(kubeconfig)
    core.create_namespace({"metadata": {"name": "demo"}})
    body = deployment("web")
    body["spec"]["template"]["spec"]["containers"].append({"name": "sidecar", "image": "side:1"})
    apps.create_namespaced_deployment("demo", body)
    apps.patch_namespaced_deployment("web", "demo", {"spec": {"template": {"spec": {"containers": [
        {"name": "main", "image": "img:2"}]}}}}, _content_type="application/strategic-merge-patch+json")
    containers = apps.read_namespaced_deployment("web", "demo").spec.template.spec.containers
    assert [(c.name, c.image) for c in containers] == [("main", "img:2"), ("sidecar", "side:1")]


def test_fault_hooks(api: KubeApiStandIn, kubeconfig: Path) -> None:
    core, _, _ = clients(kubeconfig)
    core.create_namespace({"metadata": {"name": "demo"}})
    api.fault("GET", r"/namespaces/demo$", nth=2, action="500")
    core.read_namespace("demo")
    with pytest.raises(client.ApiException) as err:
        core.read_namespace("demo")
    assert err.value.status == 500 and status_of(err.value)["reason"] == "InternalError"
    core.read_namespace("demo")  # fires once only
    calls: list[str] = []
    api.fault("GET", r"/namespaces/demo$", action="call", callback=lambda: calls.append("x"))
    core.read_namespace("demo")
    assert calls == ["x"] and api.count("GET", r"/namespaces/demo$") == 4


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kubectl_get_and_patch(api: KubeApiStandIn, kubeconfig: Path, tmp_path: Path) -> None:
    core, apps, custom = clients(kubeconfig)
    core.create_namespace({"metadata": {"name": "demo"}})
    apps.create_namespaced_deployment("demo", deployment("web"))
    custom.create_namespaced_custom_object("networking.istio.io", "v1", "demo", "virtualservices", {
        "apiVersion": "networking.istio.io/v1", "kind": "VirtualService", "metadata": {"name": "web"},
        "spec": {"hosts": ["web"]}})
    env = {**os.environ, "KUBECONFIG": str(kubeconfig)}
    api.anonymous_as = api.access.user  # kubectl sends no token over plain HTTP (standins/kubeapi/authn.py)

    def kubectl(*args: str) -> str:
        return subprocess.run(["kubectl", *args, "--cache-dir", str(tmp_path / "cache")], env=env, capture_output=True,
                              text=True, timeout=60, check=True).stdout

    assert "web" in kubectl("get", "deployments", "-n", "demo", "-o", "name")
    kubectl("patch", "virtualservice", "web", "-n", "demo", "--type", "merge", "-p", '{"spec":{"hosts":["web","b"]}}')
    assert custom.get_namespaced_custom_object("networking.istio.io", "v1", "demo", "virtualservices", "web")[
        "spec"]["hosts"] == ["web", "b"]


def test_patch_and_selector_semantics_table() -> None:
    from standins.kubeapi.patches import PatchError, json_patch, merge_patch, parse_selector, selector_matches

    doc = {"a": {"b": 1, "c": [1, 2]}, "d": "x"}
    assert merge_patch(doc, {"a": {"b": None, "c": [3]}, "e": 1}) == {"a": {"c": [3]}, "d": "x", "e": 1}
    assert json_patch(doc, [{"op": "add", "path": "/a/c/-", "value": 3}, {"op": "move", "from": "/d", "path": "/f"},
                            {"op": "copy", "from": "/f", "path": "/g"}, {"op": "remove", "path": "/a/b"}]) == {
        "a": {"c": [1, 2, 3]}, "f": "x", "g": "x"}
    assert doc == {"a": {"b": 1, "c": [1, 2]}, "d": "x"}  # the input is never modified
    for bad in ([{"op": "replace", "path": "/nope", "value": 1}], [{"op": "remove", "path": "/a/c/5"}],
                [{"op": "test", "path": "/d", "value": "y"}], {"op": "add"}):
        with pytest.raises(PatchError):
            json_patch(doc, bad)
    labels = {"app": "web", "tier": "front"}
    table = {"app=web": True, "app=db": False, "app!=db": True, "missing!=x": True, "app in (a, web)": True,
             "app notin (web)": False, "tier,app": True, "!tier": False, "!missing": True, "app=web,tier=back": False}
    for selector, expected in table.items():
        assert selector_matches(parse_selector(selector), labels) is expected, selector
    with pytest.raises(ValueError):
        parse_selector("!app=web")


def test_unconditional_update_create_rules_and_delete_preconditions(kubeconfig: Path) -> None:
    core, apps, custom = clients(kubeconfig)
    core.create_namespace({"metadata": {"name": "demo"}})
    vs = {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService", "metadata": {"name": "vs"},
          "spec": {"hosts": ["a"]}}
    custom.create_namespaced_custom_object("networking.istio.io", "v1", "demo", "virtualservices", vs)
    with pytest.raises(client.ApiException) as no_rv:
        custom.replace_namespaced_custom_object("networking.istio.io", "v1", "demo", "virtualservices", "vs",
                                                {**vs, "spec": {"hosts": ["b"]}})
    assert no_rv.value.status == 422 and "must be specified for an update" in status_of(no_rv.value)["message"]
    apps.create_namespaced_deployment("demo", deployment("web"))
    replaced = apps.replace_namespaced_deployment("web", "demo", deployment("web", {"x": "1"}))  # built-in: allowed
    assert replaced.metadata.labels == {"x": "1"}

    with_rv = deployment("other")
    with_rv["metadata"]["resourceVersion"] = "5"
    with pytest.raises(client.ApiException) as created_rv:
        apps.create_namespaced_deployment("demo", with_rv)
    assert created_rv.value.status == 500
    elsewhere = deployment("other")
    elsewhere["metadata"]["namespace"] = "prod"
    with pytest.raises(client.ApiException) as mismatch:
        apps.create_namespaced_deployment("demo", elsewhere)
    assert mismatch.value.status == 400 and "does not match the namespace" in status_of(mismatch.value)["message"]

    # The replace dropped the controller's revision annotation, so the generation moved and the
    # controller wrote the status since: the current resourceVersion is the one to hold.
    rv = apps.read_namespaced_deployment("web", "demo").metadata.resource_version
    stale = client.V1DeleteOptions(preconditions=client.V1Preconditions(resource_version=str(int(rv) - 1)))
    with pytest.raises(client.ApiException) as precondition:
        apps.delete_namespaced_deployment("web", "demo", body=stale)
    assert precondition.value.status == 409 and "Precondition failed" in status_of(precondition.value)["message"]
    current = client.V1DeleteOptions(preconditions=client.V1Preconditions(resource_version=rv))
    apps.delete_namespaced_deployment("web", "demo", body=current)
    with pytest.raises(client.ApiException) as gone:
        apps.read_namespaced_deployment("web", "demo")
    assert gone.value.status == 404


def test_names_and_label_values_are_validated(kubeconfig: Path) -> None:
    core, apps, _ = clients(kubeconfig)
    with pytest.raises(client.ApiException) as long_ns:
        core.create_namespace({"metadata": {"name": "n" * 64}})
    assert long_ns.value.status == 422 and "metadata.name" in status_of(long_ns.value)["message"]
    core.create_namespace({"metadata": {"name": "n" * 63}})
    long_label = deployment("web")
    long_label["spec"]["template"]["metadata"]["labels"]["deployment"] = "w" * 64
    with pytest.raises(client.ApiException) as bad:
        apps.create_namespaced_deployment("n" * 63, long_label)
    assert bad.value.status == 422 and "spec.template.metadata.labels" in status_of(bad.value)["message"]
    apps.create_namespaced_deployment("n" * 63, deployment("web", {"a": "x" * 63}))
    with pytest.raises(client.ApiException) as patched:
        apps.patch_namespaced_deployment("web", "n" * 63, {"metadata": {"labels": {"a": "-x"}}})
    assert patched.value.status == 422
