"""Fault class: availability read before the controller caught up, or from a colour with no pods.

Issue 13: a leftover ``ProgressDeadlineExceeded`` failed a good deploy within milliseconds
("after 30s" after 0.05 s), and a colour scaled to 0 counted as available, so switch or rollback
could send all traffic to no pods (keptn/keptn#332). Availability now follows ``kubectl rollout
status`` (conditions only once ``observedGeneration`` caught up) with at least one desired and one
available replica, and messages give the real elapsed time.

Aspects, against a controller that lags like a real one: a deploy into a colour whose previous
rollout timed out waits for the new generation and succeeds; the flip happens only once surge
pods are available and old pods gone; a rollout that times out for the current spec fails early
with the real elapsed time; switch and rollback refuse a colour scaled to 0 and a colour
mid-rollout, with weights untouched.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from pipeline_steps.documents.deployment import read_record
from pipeline_steps.documents.service import ServiceSpec
from pipeline_steps.documents.weights import Weights
from pipeline_steps.errors import NotReadyError
from pipeline_steps.platforms.kubernetes.platform import KubernetesPlatform
from pipeline_steps.platforms.kubernetes.readiness import is_available
from pipeline_steps.steps.deploy import DeployOptions, deploy
from pipeline_steps.steps.traffic import rollback, switch
from standins.kubeapi import KubeApiStandIn
from tests.platforms.kubernetes.conftest import bg

NS = "sockshop-staging"
Make = Callable[..., tuple[KubeApiStandIn, KubernetesPlatform]]


def weights(api: KubeApiStandIn) -> list[int]:
    vs = api.store.objects[("networking.istio.io", "virtualservices", NS, "carts")]
    return [d["weight"] for d in vs["spec"]["http"][0]["route"]]


def test_a_stale_deadline_does_not_fail_a_good_rollout(make_platform: Make, tmp_path: Path) -> None:
    # 600 s progress deadline x 0.001 = 0.6 s; the controller notices a change 0.4 s later.
    api, platform = make_platform(lag_s=0.4, step_s=0.05, deadline_scale=0.001)
    deploy(platform, bg("1"), ServiceSpec.minimal("carts"), tmp_path / "d1.json", DeployOptions(timeout_s=20))
    api.deployments.set_unready(NS, "carts-green", "ImagePullBackOff", "Back-off pulling image",
                                "docker.io/keptnexamples/carts:2")
    started = time.monotonic()
    with pytest.raises(NotReadyError, match="exceeded its progress deadline") as failed:
        deploy(platform, bg("2"), ServiceSpec.minimal("carts"), tmp_path / "d2.json", DeployOptions(timeout_s=20))
    elapsed = time.monotonic() - started
    said = float(re.search(r"not available after ([\d.]+)s", str(failed.value)).group(1))  # type: ignore[union-attr]
    assert elapsed > 0.9 and abs(said - elapsed) < 0.5  # the real time, not the timeout
    assert weights(api) == [100, 0]

    seen_stale: list[bool] = []
    api.fault("GET", r"/deployments/carts-green$", action="call", callback=lambda: seen_stale.append(
        "ProgressDeadlineExceeded" in str(api.store.objects[("apps", "deployments", NS, "carts-green")]["status"])))
    record = deploy(platform, bg("3"), ServiceSpec.minimal("carts"), tmp_path / "d3.json", DeployOptions(timeout_s=20))
    assert record.weights_after == Weights(0, 100) and seen_stale == [True]  # the stale condition was served


def test_the_flip_waits_for_kubectls_rule(make_platform: Make, tmp_path: Path) -> None:
    api, platform = make_platform(lag_s=0.2, step_s=0.1)
    service = ServiceSpec(name="carts", replicas=4)
    deploy(platform, bg("1"), service, tmp_path / "d1.json", DeployOptions(timeout_s=20))
    at_flip: list[tuple[bool, int, int]] = []

    def look() -> None:
        green = api.store.objects[("apps", "deployments", NS, "carts-green")]
        pods = [p for k, p in api.store.objects.items() if k[1] == "pods" and k[3].startswith("carts-green-")]
        at_flip.append((is_available(green), len(pods), sum(bool(p["metadata"].get("deletionTimestamp")) for p in pods)))

    api.fault("PATCH", r"/virtualservices/carts$", action="call", callback=look)
    deploy(platform, bg("2"), service, tmp_path / "d2.json", DeployOptions(timeout_s=30))
    assert at_flip == [(True, 4, 0)]  # no surge pod, no terminating old pod left when traffic moved


def test_no_traffic_to_a_colour_without_pods(make_platform: Make, tmp_path: Path) -> None:
    api, platform = make_platform()
    deploy(platform, bg("1"), ServiceSpec.minimal("carts"), tmp_path / "d1.json")
    deploy(platform, bg("2"), ServiceSpec.minimal("carts"), tmp_path / "d2.json")  # green live
    api.store.update(api.catalogue.find("apps", "v1", "deployments"), NS, "carts-blue", "v1", "", lambda d: {
        **d, "metadata": {**d["metadata"], "resourceVersion": ""}, "spec": {**d["spec"], "replicas": 0}})
    for act in (lambda: switch(platform, bg(), Weights(100, 0)),
                lambda: rollback(platform, bg(), read_record(tmp_path / "d2.json"))):
        with pytest.raises(NotReadyError, match=r"carts-blue is not available \(scaled to 0 replicas, 0 available"):
            act()
    assert weights(api) == [0, 100]
    assert not platform.status(bg()).colour("blue").available  # type: ignore[union-attr]


def test_no_traffic_to_a_colour_mid_rollout(make_platform: Make, tmp_path: Path) -> None:
    api, platform = make_platform(lag_s=0.3, step_s=0.1)
    deploy(platform, bg("1"), ServiceSpec.minimal("carts"), tmp_path / "d1.json", DeployOptions(timeout_s=20))
    deploy(platform, bg("2"), ServiceSpec.minimal("carts"), tmp_path / "d2.json", DeployOptions(timeout_s=20))
    api.store.update(api.catalogue.find("apps", "v1", "deployments"), NS, "carts-blue", "v1", "", lambda d: {
        **d, "metadata": {**d["metadata"], "resourceVersion": ""},
        "spec": {**d["spec"], "template": {**d["spec"]["template"], "metadata": {
            **d["spec"]["template"]["metadata"], "annotations": {"restartedAt": "now"}}}}})
    with pytest.raises(NotReadyError, match=r"carts-blue is not available \(waiting for the deployment spec update"):
        switch(platform, bg(), Weights(100, 0))
    assert weights(api) == [0, 100]
