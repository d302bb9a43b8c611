"""Fixtures: a fresh Kubernetes API stand-in per test, a kubeconfig for it, and a platform on it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

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
