"""The Kubernetes scenarios against a real cluster with Istio (skipped unless asked for).

Run: ``PIPELINE_STEPS_LIVE_KUBE=1 [KUBECONFIG=...] [PIPELINE_STEPS_LIVE_CONTEXT=name] python3 -m pytest -q tests/live``.
The cluster needs Istio's networking CRDs (the sidecar is not needed) and must pull
``nginxinc/nginx-unprivileged``; each run uses a fresh namespace ``pslive-<random>`` and deletes it.

Aspects: first deploy creates both colours live on blue; the next deploy flips only after the
new pods are available; switch is verified and idempotent; rollback restores weights_before; an
image that cannot be pulled fails naming the pods' reasons with weights untouched; a held lock
refuses a second pipeline.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline_steps.documents.context import StageContext
from pipeline_steps.documents.deployment import read_record
from pipeline_steps.documents.service import ServiceSpec
from pipeline_steps.documents.weights import Weights
from pipeline_steps.errors import ConflictError, NotReadyError
from pipeline_steps.platforms import PlatformSettings
from pipeline_steps.platforms.kubernetes.platform import KubernetesPlatform, KubernetesSettings
from pipeline_steps.steps.deploy import DeployOptions, deploy
from pipeline_steps.steps.traffic import rollback, switch

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(os.environ.get("PIPELINE_STEPS_LIVE_KUBE") != "1",
                       reason="live cluster tests: set PIPELINE_STEPS_LIVE_KUBE=1 (and KUBECONFIG / "
                              "PIPELINE_STEPS_LIVE_CONTEXT) to run them against a real cluster with Istio"),
]

IMAGE = "docker.io/nginxinc/nginx-unprivileged"
SERVICE = ServiceSpec(name="web", port=8080, health_path="/", replicas=1)


@pytest.fixture(scope="module")
def cluster() -> Iterator[tuple[KubernetesPlatform, str]]:
    settings = KubernetesSettings(kubeconfig=os.environ.get("KUBECONFIG") or None,
                                  context=os.environ.get("PIPELINE_STEPS_LIVE_CONTEXT") or None)
    platform = KubernetesPlatform.from_settings(PlatformSettings({"kubernetes": settings}))
    project = f"pslive-{uuid.uuid4().hex[:6]}"
    yield platform, project
    kube = platform.kube
    try:
        kube.call("delete namespace", kube.core.delete_namespace, f"{project}-live")
    except Exception as err:  # cleanup must not hide the test result
        print(f"cleanup of namespace {project}-live failed: {err}")


def ctx(project: str, tag: str) -> StageContext:
    return StageContext(project=project, stage="live", service="web", image=IMAGE, tag=tag,
                        deployment_strategy="blue_green_service")


def test_blue_green_scenarios(cluster: tuple[KubernetesPlatform, str], tmp_path: Path) -> None:
    platform, project = cluster
    first = deploy(platform, ctx(project, "1.25-alpine"), SERVICE, tmp_path / "d1.json",
                   DeployOptions(timeout_s=240))
    assert first.colour == "blue" and platform.status(ctx(project, "x")).live == "blue"

    second = deploy(platform, ctx(project, "1.27-alpine"), SERVICE, tmp_path / "d2.json",
                    DeployOptions(timeout_s=240))
    assert second.weights_after == Weights(0, 100)
    status = platform.status(ctx(project, "x"))
    assert status.live == "green" and all(c.available for c in status.colours)

    assert switch(platform, ctx(project, "x"), Weights(90, 10)).after == Weights(90, 10)
    assert not switch(platform, ctx(project, "x"), Weights(90, 10)).changed
    rollback(platform, ctx(project, "x"), read_record(tmp_path / "d2.json"))
    assert platform.status(ctx(project, "x")).weights == Weights(100, 0)

    with pytest.raises(NotReadyError, match=r"ImagePullBackOff|ErrImagePull"):
        deploy(platform, ctx(project, "does-not-exist-0"), SERVICE, tmp_path / "d3.json",
               DeployOptions(timeout_s=90))
    assert platform.status(ctx(project, "x")).weights == Weights(100, 0)

    with platform.lock(ctx(project, "x"), "live-test-1"), pytest.raises(ConflictError):
        switch(platform, ctx(project, "x"), Weights(0, 100), holder="live-test-2")
