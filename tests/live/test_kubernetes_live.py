"""The Kubernetes scenarios against a real cluster with Istio (skipped unless asked for).

Run: ``PIPELINE_STEPS_LIVE_KUBE=1 [KUBECONFIG=...] [PIPELINE_STEPS_LIVE_CONTEXT=name] python3 -m pytest -q tests/live``.
The cluster needs Istio (its networking CRDs and an ingress gateway labelled ``istio:
ingressgateway``; ``istioctl install --set profile=demo`` on kind will do) and must pull
``nginxinc/nginx-unprivileged``; each run uses a fresh namespace ``pslive-<random>-live``,
labelled for sidecar injection, and deletes it. See docs/testing.md.

Aspects — the stand-in's assumptions checked against the real API server, then the product's
scenarios: a Status naming the object for a missing VirtualService, a plain 404 naming nothing
for an Istio version that is not served; the validation the stand-in applies to what the chart
renders (Service names, port names, quantities, requests within limits, annotations moving a
Deployment's generation) and a request without credentials refused; pre-flight passes on the healthy cluster and fails the
dry run for a misspelt chart field (the real ``fieldValidation=Strict``) and the namespace check
for another injection revision, writing nothing; first deploy creates both colours live on blue;
the next deploy flips only after the new pods are available; every route of the service (a
``match: /api`` copy too) is flipped and verified; switch is verified and idempotent; rollback
restores weights_before; an image that cannot be pulled fails naming the pods' reasons with
weights untouched; a held lock refuses a second pipeline.
"""

from __future__ import annotations

import copy
import os
import shutil
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
from pipeline_steps.platforms.kubernetes.chart import chart_dir
from pipeline_steps.platforms.kubernetes.client import Kube, KubeApiError
from pipeline_steps.platforms.kubernetes.platform import KubernetesPlatform, KubernetesSettings
from pipeline_steps.platforms.kubernetes.routes import service_routes
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


def make(injection: tuple[str, str] | None = ("istio-injection", "enabled")) -> KubernetesPlatform:
    settings = KubernetesSettings(kubeconfig=os.environ.get("KUBECONFIG") or None,
                                  context=os.environ.get("PIPELINE_STEPS_LIVE_CONTEXT") or None, injection=injection)
    return KubernetesPlatform.from_settings(PlatformSettings({"kubernetes": settings}))


@pytest.fixture(scope="module")
def cluster() -> Iterator[tuple[KubernetesPlatform, str]]:
    platform = make()
    project = f"pslive-{uuid.uuid4().hex[:6]}"
    kube = platform.kube
    kube.call("create namespace", kube.core.create_namespace, {"metadata": {
        "name": f"{project}-live", "labels": {"istio-injection": "enabled"}}})
    yield platform, project
    try:
        kube.call("delete namespace", kube.core.delete_namespace, f"{project}-live")
    except Exception as err:  # cleanup must not hide the test result
        print(f"cleanup of namespace {project}-live failed: {err}")


def ctx(project: str, tag: str) -> StageContext:
    return StageContext(project=project, stage="live", service="web", image=IMAGE, tag=tag,
                        deployment_strategy="blue_green_service")


def test_the_api_servers_404s_are_what_the_stand_in_answers(cluster: tuple[KubernetesPlatform, str]) -> None:
    platform, project = cluster
    kube, version = platform.kube, platform.discovery.istio_version()
    with pytest.raises(KubeApiError) as missing:
        kube.call("read", kube.custom.get_namespaced_custom_object, "networking.istio.io", version,
                  f"{project}-live", "virtualservices", "no-such-route")
    assert missing.value.status == 404 and missing.value.names("virtualservices", "no-such-route")
    with pytest.raises(KubeApiError) as unserved:
        kube.call("read", kube.custom.get_namespaced_custom_object, "networking.istio.io", "v9",
                  f"{project}-live", "virtualservices", "no-such-route")
    assert unserved.value.status == 404 and not unserved.value.names("virtualservices", "no-such-route")


def test_the_api_servers_validation_is_what_the_stand_in_answers(cluster: tuple[KubernetesPlatform, str]) -> None:
    """The rules standins/kubeapi added after the review of issue 13, checked by server-side dry runs
    (nothing is kept): a Service name is a DNS-1035 label, a container port name at most 15
    characters, a quantity that does not decode is 400, a request above its limit 422; a
    Deployment's annotations move its generation; a request without credentials is refused."""
    import kubernetes

    platform, project = cluster
    kube, namespace = platform.kube, f"{project}-live"

    def dry_run(path: str, body: dict[str, object]) -> int:
        try:
            kube.rest("dry run", "POST", path, body, query={"dryRun": "All", "fieldValidation": "Strict"})
        except KubeApiError as err:
            return err.status
        return 201

    def deployment(name: str, container: dict[str, object]) -> dict[str, object]:
        return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
                "spec": {"selector": {"matchLabels": {"app": name}}, "template": {
                    "metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": "c", "image": IMAGE,
                                                                                     **container}]}}}}

    services, deployments = f"/api/v1/namespaces/{namespace}/services", f"/apis/apps/v1/namespaces/{namespace}/deployments"
    assert dry_run(services, {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "9web"},
                              "spec": {"ports": [{"port": 80}]}}) == 422
    assert dry_run(deployments, deployment("web", {"ports": [{"name": "mongodbxxxxxx-db", "containerPort": 1}]})) == 422
    assert dry_run(deployments, deployment("web", {"resources": {"limits": {"cpu": "1.2.3"}}})) == 400
    assert dry_run(deployments, deployment("web", {"resources": {"limits": {"cpu": "50m"},
                                                                 "requests": {"cpu": "100m"}}})) == 422

    kube.rest("create", "POST", deployments, deployment("annotated", {}))
    patched = kube.call("annotate", kube.apps.patch_namespaced_deployment, "annotated", namespace,
                        {"metadata": {"annotations": {"example.com/x": "1"}}},
                        _content_type="application/merge-patch+json")
    kube.call("delete", kube.apps.delete_namespaced_deployment, "annotated", namespace)  # pre-flight wants none
    assert patched["metadata"]["generation"] == 2

    anonymous = copy.copy(kube.api_client.configuration)
    anonymous.api_key, anonymous.api_key_prefix, anonymous.cert_file, anonymous.key_file = {}, {}, None, None
    anonymous.username = anonymous.password = None
    nobody = Kube(kubernetes.client.ApiClient(anonymous), timeout_s=10)
    with pytest.raises(KubeApiError) as refused:
        nobody.call("discover", nobody.apis.get_api_versions)
    assert refused.value.status in (401, 403)  # 403 system:anonymous; 401 where anonymous auth is off


def test_preflight(cluster: tuple[KubernetesPlatform, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    platform, project = cluster
    healthy = platform.preflight(ctx(project, "1.25-alpine"), SERVICE)
    print(healthy.render())
    assert healthy.passed, healthy.render()

    revision = make(injection=("istio.io/rev", "no-such-revision")).preflight(ctx(project, "1.25-alpine"), SERVICE)
    assert [c.name for c in revision.failed()] == ["namespace"]

    chart = tmp_path / "chart"
    shutil.copytree(chart_dir(), chart)
    template = chart / "templates" / "deployment.yaml"
    template.write_text(template.read_text().replace("imagePullPolicy:", "imagePullPolcy:"))
    monkeypatch.setenv("PIPELINE_STEPS_CHART", str(chart))
    typo = platform.preflight(ctx(project, "1.25-alpine"), SERVICE)
    assert [c.name for c in typo.failed()] == ["dry run"] and "imagePullPolcy" in typo.render()
    kube = platform.kube
    assert kube.call("list", kube.apps.list_namespaced_deployment, f"{project}-live")["items"] == []


def test_blue_green_scenarios(cluster: tuple[KubernetesPlatform, str], tmp_path: Path) -> None:
    platform, project = cluster
    first = deploy(platform, ctx(project, "1.25-alpine"), SERVICE, tmp_path / "d1.json",
                   DeployOptions(timeout_s=240))
    assert first.colour == "blue" and platform.status(ctx(project, "x")).live == "blue"

    # A user's copy of the route for /api: the flip must move it too.
    kube, version = platform.kube, platform.discovery.istio_version()
    args = ("networking.istio.io", version, f"{project}-live", "virtualservices", "web")
    vs = kube.call("read", kube.custom.get_namespaced_custom_object, *args)
    api_route = {**copy.deepcopy(vs["spec"]["http"][0]), "name": "web-api", "match": [{"uri": {"prefix": "/api"}}]}
    kube.call("edit", kube.custom.patch_namespaced_custom_object, *args,
              {"spec": {"http": [api_route, *vs["spec"]["http"]]}}, _content_type="application/merge-patch+json")

    second = deploy(platform, ctx(project, "1.27-alpine"), SERVICE, tmp_path / "d2.json",
                    DeployOptions(timeout_s=240))
    assert second.weights_after == Weights(0, 100)
    vs = kube.call("read", kube.custom.get_namespaced_custom_object, *args)
    assert [r.weights for r in service_routes(vs, ctx(project, "x"))] == [Weights(0, 100)] * 2
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
