"""Fault class: replica counts an HorizontalPodAutoscaler owns, reset by every deploy.

Issue 13: with an HPA on a colour, every deploy reset its replicas to the chart's value, and the
new colour could take 100 % of the traffic while sized by the chart, not by the live colour's load.

Aspects: a redeploy of a colour an HPA targets never writes a replica count other than the one
the HPA set; when an HPA scales the live colour, the new colour starts with at least as many
replicas as the live colour has ready, and traffic moves only once all of them are available;
without an HPA the chart's count applies as before.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipeline_steps.documents.service import ServiceSpec
from pipeline_steps.documents.weights import Weights
from pipeline_steps.platforms.kubernetes.platform import KubernetesPlatform
from pipeline_steps.platforms.kubernetes.readiness import is_available
from pipeline_steps.steps.deploy import deploy
from standins.kubeapi import KubeApiStandIn
from standins.kubeapi.resources import by_kind
from tests.platforms.kubernetes.conftest import bg

SERVICE = ServiceSpec(name="carts", replicas=1)
NS = "sockshop-staging"


def hpa(target: str, low: int = 1, high: int = 10) -> dict[str, Any]:
    return {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": target},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
                     "minReplicas": low, "maxReplicas": high}}


def replicas(api: KubeApiStandIn, name: str) -> int:
    return int(api.store.objects[("apps", "deployments", NS, name)]["spec"]["replicas"])


def test_hpa_counts_are_left_to_the_hpa_and_the_new_colour_matches_the_live_load(
        api: KubeApiStandIn, platform: KubernetesPlatform, tmp_path: Path) -> None:
    deploy(platform, bg("1"), SERVICE, tmp_path / "d1.json")
    for colour in ("blue", "green"):
        api.store.create(by_kind("HorizontalPodAutoscaler"), NS, hpa(f"carts-{colour}"), "v2")
    api.hpa.recommend(NS, "carts-blue", 4)  # the live colour is busy
    assert replicas(api, "carts-blue") == 4 and replicas(api, "carts-green") == 1
    seen: list[tuple[int, bool]] = []

    def at_flip() -> None:
        green = api.store.objects[("apps", "deployments", NS, "carts-green")]
        seen.append((int(green["spec"]["replicas"]), is_available(green)))

    api.fault("PATCH", r"/virtualservices/carts$", action="call", callback=at_flip)
    api.requests.clear()
    record = deploy(platform, bg("2"), SERVICE, tmp_path / "d2.json")
    assert record.weights_after == Weights(0, 100)
    assert seen == [(4, True)]  # four available replicas took the traffic, not the chart's one
    assert replicas(api, "carts-blue") == 4  # the live colour was never written

    api.hpa.recommendations.pop((NS, "carts-blue"))  # blue idles at what it has, green is busy now
    api.hpa.recommend(NS, "carts-green", 6)
    api.fault("PATCH", r"/virtualservices/carts$", action="call", callback=lambda: seen.append(
        (replicas(api, "carts-blue"), is_available(api.store.objects[("apps", "deployments", NS, "carts-blue")]))))
    deploy(platform, bg("3"), SERVICE, tmp_path / "d3.json")  # into blue, sized for green's six
    assert seen[-1] == (6, True) and replicas(api, "carts-green") == 6


def test_a_redeploy_keeps_the_count_of_a_colour_an_hpa_targets(api: KubeApiStandIn, platform: KubernetesPlatform,
                                                               tmp_path: Path) -> None:
    deploy(platform, bg("1"), SERVICE, tmp_path / "d1.json")
    deploy(platform, bg("2"), SERVICE, tmp_path / "d2.json")  # green live
    api.store.create(by_kind("HorizontalPodAutoscaler"), NS, hpa("carts-blue", low=3), "v2")
    assert replicas(api, "carts-blue") == 3
    puts: list[int] = []
    api.fault("PUT", r"/deployments/carts-blue$", action="call", callback=lambda: puts.append(1))
    deploy(platform, bg("3"), SERVICE, tmp_path / "d3.json")
    assert puts == [1] and replicas(api, "carts-blue") == 3
    assert api.store.objects[("apps", "deployments", NS, "carts-blue")]["metadata"]["generation"] == 3  # image only


def test_without_an_hpa_the_chart_decides(api: KubeApiStandIn, platform: KubernetesPlatform, tmp_path: Path) -> None:
    deploy(platform, bg("1"), ServiceSpec(name="carts", replicas=2), tmp_path / "d1.json")
    deploy(platform, bg("2"), ServiceSpec(name="carts", replicas=3), tmp_path / "d2.json")
    assert (replicas(api, "carts-blue"), replicas(api, "carts-green")) == (2, 3)
