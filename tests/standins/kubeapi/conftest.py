"""Fixtures for the stand-in's own tests: a cluster shaped by the test, clients, raw HTTP."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config

from standins.kubeapi import KubeApiStandIn, write_kubeconfig
from standins.kubeapi.authn import TOKEN


@dataclass
class Cluster:
    """A running stand-in with the official client's typed APIs on it."""

    api: KubeApiStandIn
    core: Any
    apps: Any
    custom: Any
    coordination: Any
    authz: Any
    kubeconfig: Path

    def namespace(self, name: str = "demo") -> None:
        self.core.create_namespace({"metadata": {"name": name}})

    def http(self, method: str, path: str, body: Any = None, content_type: str = "application/json",
             authorization: str = f"Bearer {TOKEN}") -> tuple[int, dict[str, str], bytes]:
        """One raw request: status, headers, body (what the client library would hide);
        ``authorization=""`` sends no credentials."""
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": content_type, **({"Authorization": authorization} if authorization else {})}
        request = urllib.request.Request(self.api.url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=5) as answer:
                return answer.status, dict(answer.headers), answer.read()
        except urllib.error.HTTPError as err:
            return err.code, dict(err.headers), err.read()


@pytest.fixture()
def make_cluster(tmp_path: Path) -> Iterator[Callable[..., Cluster]]:
    started: list[KubeApiStandIn] = []

    def make(**options: Any) -> Cluster:
        api = KubeApiStandIn(**options).start()
        started.append(api)
        kubeconfig = write_kubeconfig(api.url, tmp_path / f"kubeconfig-{len(started)}")
        api_client = config.new_client_from_config(str(kubeconfig))
        return Cluster(api, client.CoreV1Api(api_client), client.AppsV1Api(api_client),
                       client.CustomObjectsApi(api_client), client.CoordinationV1Api(api_client),
                       client.AuthorizationV1Api(api_client), kubeconfig)

    yield make
    for api in started:
        api.stop()


@pytest.fixture()
def cluster(make_cluster: Callable[..., Cluster]) -> Cluster:
    made = make_cluster()
    made.namespace()
    return made


def status_of(err: client.ApiException) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(err.body or "{}")
    return body


def deployment(name: str, image: str = "img:1", replicas: int = 1, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "labels": labels or {}},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"deployment": name}},
                     "template": {"metadata": {"labels": {"deployment": name}},
                                  "spec": {"containers": [{"name": "main", "image": image}]}}}}


def virtual_service(name: str, version: str = "v1") -> dict[str, Any]:
    return {"apiVersion": f"networking.istio.io/{version}", "kind": "VirtualService", "metadata": {"name": name},
            "spec": {"hosts": [name], "http": [{"name": name, "route": [{"destination": {"host": name}}]}]}}
