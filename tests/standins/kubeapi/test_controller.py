"""The stand-in's Deployment controller behaves like kube-controller-manager's, at either pace.

Aspects: a label-only change (labels, annotations) leaves generation and pods alone, a template
change rolls new pods of a new ``pod-template-hash`` and records the revision; scaling changes
only the count; defaults are filled in as the API server does. In lagging mode: after a write,
``observedGeneration`` stays behind and the old status (with a ``ProgressDeadlineExceeded`` from
an earlier failed rollout) is still served; the rollout then surges new pods within
``maxSurge``, marks old pods terminating (``deletionTimestamp``) before they go, never drops
below ``replicas - maxUnavailable`` available, and ends ``NewReplicaSetAvailable``; a rollout
whose pods never start ends ``ProgressDeadlineExceeded`` after the (scaled) deadline; a
Deployment scaled to 0 reports Available=True with no pods, as a real one does; the HPA
controller owns the replica count of its target.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from tests.standins.kubeapi.conftest import Cluster, deployment


def pods(cluster: Cluster, name: str, namespace: str = "demo") -> list[dict[str, Any]]:
    return [p.to_dict() for p in cluster.core.list_namespaced_pod(namespace, label_selector=f"deployment={name}").items]


def status(cluster: Cluster, name: str) -> dict[str, Any]:
    return dict(cluster.api.store.objects[("apps", "deployments", "demo", name)].get("status") or {})


def condition(cluster: Cluster, name: str, kind: str) -> dict[str, Any]:
    return next((c for c in status(cluster, name).get("conditions") or [] if c["type"] == kind), {})


def wait_for(check: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.02)


def test_label_only_changes_keep_pods_and_template_changes_roll_them(cluster: Cluster) -> None:
    cluster.apps.create_namespaced_deployment("demo", deployment("web", replicas=2))
    first = sorted(p["metadata"]["name"] for p in pods(cluster, "web"))
    live = cluster.apps.read_namespaced_deployment("web", "demo")
    assert len(first) == 2 and live.metadata.annotations["deployment.kubernetes.io/revision"] == "1"
    assert live.spec.strategy.rolling_update.max_surge == "25%" and live.spec.progress_deadline_seconds == 600
    assert live.spec.template.spec.containers[0].image_pull_policy == "IfNotPresent"

    cluster.apps.patch_namespaced_deployment("web", "demo", {"metadata": {"labels": {"team": "a"},
                                                                          "annotations": {"note": "x"}}})
    after = cluster.apps.read_namespaced_deployment("web", "demo")
    # The annotation moves the generation (deployment strategy.go PrepareForUpdate), the pods stay.
    assert after.metadata.generation == 2 and sorted(p["metadata"]["name"] for p in pods(cluster, "web")) == first

    cluster.apps.patch_namespaced_deployment("web", "demo", {"spec": {"replicas": 3}})
    scaled = pods(cluster, "web")
    assert len(scaled) == 3 and set(first) < {p["metadata"]["name"] for p in scaled}

    cluster.apps.patch_namespaced_deployment("web", "demo", {"spec": {"template": {"spec": {"containers": [
        {"name": "main", "image": "img:2"}]}}}})
    rolled = pods(cluster, "web")
    hashes = {p["metadata"]["labels"]["pod-template-hash"] for p in rolled}
    assert len(rolled) == 3 and len(hashes) == 1 and not {p["metadata"]["name"] for p in rolled} & set(first)
    assert all(p["spec"]["containers"][0]["image"] == "img:2" for p in rolled)
    done = cluster.apps.read_namespaced_deployment("web", "demo")
    assert done.metadata.annotations["deployment.kubernetes.io/revision"] == "2"
    assert (done.status.observed_generation, done.status.updated_replicas, done.status.available_replicas) == (4, 3, 3)
    assert condition(cluster, "web", "Progressing")["reason"] == "NewReplicaSetAvailable"


def test_lagging_controller_rolls_like_a_real_one(make_cluster: Callable[..., Cluster]) -> None:
    slow = make_cluster(lag_s=0.3, step_s=0.15)
    slow.namespace()
    slow.apps.create_namespaced_deployment("demo", deployment("web", replicas=4))
    wait_for(lambda: condition(slow, "web", "Progressing").get("reason") == "NewReplicaSetAvailable")
    old = {p["metadata"]["name"] for p in pods(slow, "web")}
    assert len(old) == 4

    slow.apps.patch_namespaced_deployment("web", "demo", {"spec": {"template": {"spec": {"containers": [
        {"name": "main", "image": "img:2"}]}}}})
    stale = slow.apps.read_namespaced_deployment("web", "demo")
    assert stale.metadata.generation == 2 and stale.status.observed_generation == 1  # not noticed yet
    assert stale.status.updated_replicas == 4 and condition(slow, "web", "Progressing")["reason"] == \
        "NewReplicaSetAvailable"  # the old rollout's status, still served

    seen_total, seen_terminating, min_available = 0, 0, 4
    deadline = time.monotonic() + 15
    while condition(slow, "web", "Progressing").get("reason") != "NewReplicaSetAvailable" or \
            status(slow, "web").get("observedGeneration") != 2 or status(slow, "web").get("updatedReplicas") != 4:
        assert time.monotonic() < deadline
        listed = pods(slow, "web")
        seen_total = max(seen_total, len([p for p in listed if not p["metadata"]["deletion_timestamp"]]))
        seen_terminating = max(seen_terminating, len([p for p in listed if p["metadata"]["deletion_timestamp"]
                                                      and p["metadata"]["name"] in old]))
        min_available = min(min_available, status(slow, "web").get("availableReplicas", 0))
        time.sleep(0.02)
    # 25 % of 4: one surge pod at most, one unavailable at most.
    assert seen_total == 5 and seen_terminating >= 1 and min_available == 3
    final = pods(slow, "web")
    assert len(final) == 4 and not {p["metadata"]["name"] for p in final} & old


def test_a_stale_deadline_condition_is_served_until_the_new_generation_is_observed(
        make_cluster: Callable[..., Cluster]) -> None:
    slow = make_cluster(lag_s=0.4, step_s=0.05, deadline_scale=0.001)  # 600 s deadline -> 0.6 s
    slow.namespace()
    slow.api.deployments.set_unready("demo", "web", "ImagePullBackOff", 'Back-off pulling image "img:0"', "img:0")
    slow.apps.create_namespaced_deployment("demo", deployment("web", image="img:0"))
    wait_for(lambda: condition(slow, "web", "Progressing").get("reason") == "ProgressDeadlineExceeded")
    timed_out = condition(slow, "web", "Progressing")
    assert timed_out["status"] == "False" and timed_out["message"].endswith("has timed out progressing.")
    assert pods(slow, "web")[0]["status"]["container_statuses"][0]["state"]["waiting"]["reason"] == "ImagePullBackOff"

    slow.apps.patch_namespaced_deployment("web", "demo", {"spec": {"template": {"spec": {"containers": [
        {"name": "main", "image": "img:1"}]}}}})
    written = time.monotonic()
    still = slow.apps.read_namespaced_deployment("web", "demo")
    assert still.status.observed_generation < still.metadata.generation
    assert condition(slow, "web", "Progressing")["reason"] == "ProgressDeadlineExceeded"
    wait_for(lambda: status(slow, "web").get("observedGeneration") == 2)
    assert time.monotonic() - written >= 0.3
    wait_for(lambda: condition(slow, "web", "Progressing").get("reason") == "NewReplicaSetAvailable")


def test_scaled_to_zero_is_available_with_no_pods(cluster: Cluster) -> None:
    cluster.apps.create_namespaced_deployment("demo", deployment("web", replicas=0))
    live = cluster.apps.read_namespaced_deployment("web", "demo")
    assert pods(cluster, "web") == [] and live.status.available_replicas is None
    assert condition(cluster, "web", "Available")["status"] == "True"
    assert live.status.observed_generation == live.metadata.generation


def test_deleting_a_deployment_removes_its_pods(cluster: Cluster) -> None:
    cluster.apps.create_namespaced_deployment("demo", deployment("web", replicas=2))
    cluster.apps.delete_namespaced_deployment("web", "demo")
    assert pods(cluster, "web") == []


def test_hpa_owns_the_replica_count_of_its_target(cluster: Cluster) -> None:
    from kubernetes import client

    cluster.apps.create_namespaced_deployment("demo", deployment("web", replicas=1))
    hpa: dict[str, Any] = {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "web"},
           "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                    "minReplicas": 2, "maxReplicas": 5}}
    autoscaling = client.AutoscalingV2Api(cluster.apps.api_client)
    autoscaling.create_namespaced_horizontal_pod_autoscaler("demo", hpa)  # type: ignore[arg-type]
    assert cluster.apps.read_namespaced_deployment("web", "demo").spec.replicas == 2  # raised to minReplicas
    cluster.api.hpa.recommend("demo", "web", 4)
    assert len(pods(cluster, "web")) == 4
    cluster.apps.patch_namespaced_deployment("web", "demo", {"spec": {"replicas": 1}})  # a manifest's count
    assert cluster.apps.read_namespaced_deployment("web", "demo").spec.replicas == 4
    decided = autoscaling.read_namespaced_horizontal_pod_autoscaler("web", "demo").status
    assert decided is not None and decided.desired_replicas == 4
