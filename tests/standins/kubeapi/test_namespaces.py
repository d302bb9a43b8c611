"""Namespace lifecycle: Terminating namespaces and what the API server answers in them.

Aspects: a namespace gets the ``kubernetes`` finalizer and phase Active; DELETE answers the
namespace marked Terminating (``deletionTimestamp``); while Terminating, a create in it answers
403 Forbidden with apiserver's message and a ``NamespaceTerminating`` cause, also for dry-run,
while reads, updates and deletes still work; the namespace goes once everything in it is gone;
an object inside with a finalizer keeps it Terminating until the finalizer is removed; a create
in a namespace that does not exist answers 404 naming the namespace.
"""

from __future__ import annotations

import json
import time

import pytest
from kubernetes import client

from tests.standins.kubeapi.conftest import Cluster, deployment, status_of


def gone(cluster: Cluster, name: str, timeout_s: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if ("", "namespaces", "", name) not in cluster.api.store.objects:
            return True
        time.sleep(0.02)
    return False


def test_creating_in_a_terminating_namespace_is_forbidden(cluster: Cluster) -> None:
    fresh = cluster.core.read_namespace("demo")
    assert fresh.spec.finalizers == ["kubernetes"] and fresh.status.phase == "Active"
    cluster.apps.create_namespaced_deployment("demo", deployment("web"))
    cluster.api.namespaces.terminate("demo")  # held: stays Terminating until released
    ns = cluster.core.read_namespace("demo")
    assert ns.status.phase == "Terminating" and ns.metadata.deletion_timestamp is not None
    for dry_run in (None, "All"):
        with pytest.raises(client.ApiException) as refused:
            cluster.apps.create_namespaced_deployment("demo", deployment("api"), dry_run=dry_run)
        status = status_of(refused.value)
        assert refused.value.status == 403 and status["reason"] == "Forbidden"
        assert status["message"] == ('deployments.apps "api" is forbidden: unable to create new content in namespace '
                                     "demo because it is being terminated")
        assert status["details"]["causes"] == [{"type": "NamespaceTerminating", "field": "metadata.namespace",
                                                "message": "namespace demo is being terminated"}]
    deadline = time.monotonic() + 5
    while cluster.apps.list_namespaced_deployment("demo").items:  # the namespace controller deletes the rest
        assert time.monotonic() < deadline
        time.sleep(0.02)
    cluster.api.namespaces.release("demo")
    assert gone(cluster, "demo")
    with pytest.raises(client.ApiException) as missing:
        cluster.apps.create_namespaced_deployment("demo", deployment("api"))
    assert missing.value.status == 404 and status_of(missing.value)["details"] == {
        "name": "demo", "group": "", "kind": "namespaces"}


def test_delete_answers_the_terminating_namespace_and_a_finalizer_keeps_it(cluster: Cluster) -> None:
    blocked = deployment("web")
    blocked["metadata"]["finalizers"] = ["example.com/cleanup"]
    cluster.apps.create_namespaced_deployment("demo", blocked)
    code, _, body = cluster.http("DELETE", "/api/v1/namespaces/demo")
    answer = json.loads(body)
    assert code == 200 and answer["kind"] == "Namespace" and answer["status"]["phase"] == "Terminating"
    time.sleep(0.3)
    assert cluster.core.read_namespace("demo").status.phase == "Terminating"
    marked = cluster.apps.read_namespaced_deployment("web", "demo")
    assert marked.metadata.deletion_timestamp is not None  # deleted, waiting for its finalizer
    cluster.apps.patch_namespaced_deployment("web", "demo", {"metadata": {"finalizers": None}},
                                             _content_type="application/merge-patch+json")
    assert gone(cluster, "demo")


def test_an_empty_namespace_goes_soon_after_delete(cluster: Cluster) -> None:
    cluster.core.create_namespace({"metadata": {"name": "brief"}})
    cluster.core.delete_namespace("brief")
    assert gone(cluster, "brief")
