"""Fixtures: a fresh Kubernetes API stand-in per test (or one shaped by the test), a kubeconfig for
it, and a platform on it; ``writes`` lists the requests that could have changed something."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pipeline_steps.documents.context import StageContext
from pipeline_steps.platforms.kubernetes.client import Kube, api_client
from pipeline_steps.platforms.kubernetes.platform import KubernetesPlatform
from standins.kubeapi import KubeApiStandIn, write_kubeconfig


@pytest.fixture()
def api() -> Iterator[KubeApiStandIn]:
    server = KubeApiStandIn().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture()
def kubeconfig(api: KubeApiStandIn, tmp_path: Path) -> Path:
    return write_kubeconfig(api.url, tmp_path / "kubeconfig")


@pytest.fixture()
def platform(kubeconfig: Path) -> KubernetesPlatform:
    # Short timeouts and polls so hung requests surface in seconds; 3 s leaves room on a busy 2-core box.
    return KubernetesPlatform(Kube(api_client(str(kubeconfig), None), timeout_s=3.0), poll_s=0.05)


def bg(tag: str = "1", service: str = "carts") -> StageContext:
    return StageContext(project="sockshop", stage="staging", service=service, image="docker.io/keptnexamples/carts",
                        tag=tag, deployment_strategy="blue_green_service")


@pytest.fixture()
def make_platform(tmp_path: Path) -> Iterator[Callable[..., tuple[KubeApiStandIn, KubernetesPlatform]]]:
    """A stand-in shaped by the test (served versions, controller lag, ...) and a platform on it."""
    started: list[KubeApiStandIn] = []

    def make(budget_s: float = 30.0, **options: Any) -> tuple[KubeApiStandIn, KubernetesPlatform]:
        server = KubeApiStandIn(**options).start()
        started.append(server)
        config = write_kubeconfig(server.url, tmp_path / f"kubeconfig-{len(started)}")
        return server, KubernetesPlatform(Kube(api_client(str(config), None), timeout_s=3.0, budget_s=budget_s),
                                          poll_s=0.05)

    yield make
    for server in started:
        server.stop()


def writes(api: KubeApiStandIn) -> list[str]:
    """Every request that could change something (SelfSubjectAccessReviews and dry runs excluded)."""
    return [f"{r.method} {r.path}" for r in api.requests if r.method != "GET"
            and "selfsubjectaccessreviews" not in r.path and "dryRun=All" not in r.path]


def stage_objects(api: KubeApiStandIn, namespace: str = "sockshop-staging") -> set[tuple[str, str, str, str]]:
    """Keys of what exists in the stage's namespace (the namespace included); the cluster's own
    objects (Istio's ingress gateway in istio-system) are not the deploy's."""
    return {k for k in api.store.objects if k[2] == namespace or k == ("", "namespaces", "", namespace)}
