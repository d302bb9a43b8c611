"""Fault classes of a busy or shared cluster: throttling, namespaces being deleted, other writers.

Issue 13: APF's 429 was reported as "could not reach the API server" and never retried; a
Terminating namespace passed the existence check and the Lease create then failed with 403;
replacing a Service dropped labels, ownerReferences and finalizers others set; a Lease released
between our create (409) and our read (404) failed the step.

Aspects: 429 and 503 answers with Retry-After are retried for any verb, and the flip lands; a
Retry-After past the command's deadline fails at once saying so, with traffic unchanged; a
Terminating namespace stops deploy and switch before any write (exit 4), naming it; labels (ours
excepted), annotations, ownerReferences and finalizers others add to a Service or a Deployment
survive a redeploy; a Lease released between our create and read, or between read and take-over,
is acquired instead of failing.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pipeline_steps.documents.service import ServiceSpec
from pipeline_steps.documents.weights import Weights
from pipeline_steps.errors import ExitCode, InfrastructureError
from pipeline_steps.platforms.kubernetes.platform import KubernetesPlatform
from pipeline_steps.steps.deploy import deploy
from pipeline_steps.steps.traffic import switch
from standins.kubeapi import KubeApiStandIn
from standins.kubeapi.resources import by_kind
from tests.platforms.kubernetes.conftest import bg, writes

SERVICE = ServiceSpec.minimal("carts")
NS = "sockshop-staging"
Make = Callable[..., tuple[KubeApiStandIn, KubernetesPlatform]]


def stored(api: KubeApiStandIn, kind: str, name: str) -> dict[str, Any]:
    res = by_kind(kind)
    return api.store.objects[(res.group, res.plural, NS, name)]


@pytest.mark.parametrize("action", ["429", "503"])
def test_retry_after_is_honoured_for_every_verb(api: KubeApiStandIn, platform: KubernetesPlatform, tmp_path: Path,
                                                action: str) -> None:
    deploy(platform, bg("1"), SERVICE, tmp_path / "d1.json")
    for method, path in (("GET", r"/virtualservices/carts$"), ("PUT", r"/deployments/carts-green$"),
                         ("PATCH", r"/virtualservices/carts$"), ("POST", r"/leases$")):
        api.fault(method, path, action=action, retry_after=1)
    record = deploy(platform, bg("2"), SERVICE, tmp_path / "d2.json")
    assert record.weights_after == Weights(0, 100)
    assert platform.kube.retries == 4
    assert sum(1 for r in api.requests if r.code == int(action)) == 4


def test_retry_after_past_the_deadline_fails_at_once(make_platform: Make, tmp_path: Path) -> None:
    api, platform = make_platform(budget_s=5)
    deploy(platform, bg("1"), SERVICE, tmp_path / "d1.json")
    platform.kube.deadline = time.monotonic() + 5  # switch is a command of its own: 5 s left
    api.fault("PATCH", r"/virtualservices/carts$", action="429", retry_after=30)
    with pytest.raises(InfrastructureError, match=r"HTTP 429 Too Many Requests: Too many requests, please try again "
                                                  r"later\. \(waited 0\.0s; Retry-After 30s is past the command's "
                                                  r"deadline") as err:
        switch(platform, bg(), Weights(0, 100))
    assert "could not reach" not in str(err.value) and "blue 100 / green 0" in str(err.value)


def test_a_terminating_namespace_stops_before_any_write(api: KubeApiStandIn, platform: KubernetesPlatform,
                                                        tmp_path: Path) -> None:
    deploy(platform, bg("1"), SERVICE, tmp_path / "d1.json")
    blocker = stored(api, "Deployment", "carts-blue")
    blocker["metadata"]["finalizers"] = ["example.com/backup"]  # keeps the namespace Terminating
    api.namespaces.terminate(NS, hold=True)
    api.requests.clear()
    for act in (lambda: deploy(platform, bg("2"), SERVICE, tmp_path / "d2.json"),
                lambda: switch(platform, bg(), Weights(0, 100))):
        with pytest.raises(InfrastructureError, match=f"namespace {NS} is being deleted .Terminating") as err:
            act()
        assert err.value.exit_code == ExitCode.INFRA
    assert writes(api) == []


def test_what_others_add_survives_a_redeploy(api: KubeApiStandIn, platform: KubernetesPlatform, tmp_path: Path) -> None:
    deploy(platform, bg("1"), SERVICE, tmp_path / "d1.json")
    foreign = {"labels": {"team": "payments", "pipeline-steps.io/verdict": "failed"},
               "annotations": {"backup.example.com/schedule": "daily"},
               "ownerReferences": [{"apiVersion": "example.com/v1", "kind": "App", "name": "shop", "uid": "u-1"}],
               "finalizers": ["example.com/protect"]}
    for kind in ("Service", "Deployment"):
        obj = stored(api, kind, "carts-green")
        meta = obj["metadata"]
        meta["labels"] = {**meta.get("labels", {}), **foreign["labels"]}
        meta["annotations"] = {**meta.get("annotations", {}), **foreign["annotations"]}
        meta["ownerReferences"] = copy.deepcopy(foreign["ownerReferences"])
        meta["finalizers"] = list(foreign["finalizers"])
    deploy(platform, bg("2"), SERVICE, tmp_path / "d2.json")
    for kind in ("Service", "Deployment"):
        meta = stored(api, kind, "carts-green")["metadata"]
        assert meta["labels"]["team"] == "payments" and "pipeline-steps.io/verdict" not in meta["labels"]
        assert meta["annotations"]["backup.example.com/schedule"] == "daily"
        assert meta["ownerReferences"] == foreign["ownerReferences"] and meta["finalizers"] == foreign["finalizers"]
    assert stored(api, "Deployment", "carts-green")["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":2")


@pytest.mark.parametrize("race", ["released before our read", "released before our take-over"])
def test_a_lease_released_mid_acquisition_is_taken(api: KubeApiStandIn, platform: KubernetesPlatform, race: str) -> None:
    with platform.lock(bg(), "build-1", ttl_s=1):
        pass
    lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "carts-pipeline-steps"},
             "spec": {"holderIdentity": "build-0", "leaseDurationSeconds": 1,
                      "renewTime": "2020-01-01T00:00:00.000000Z"}}  # held by a dead build: stale
    api.store.create(by_kind("Lease"), NS, lease, "v1")

    def release() -> None:
        api.store.delete(by_kind("Lease"), NS, "carts-pipeline-steps")

    method = "GET" if race == "released before our read" else "PUT"
    api.fault(method, r"/leases/carts-pipeline-steps$", action="call", callback=release)
    with platform.lock(bg(), "build-2", ttl_s=60):
        assert stored(api, "Lease", "carts-pipeline-steps")["spec"]["holderIdentity"] == "build-2"
    codes = [(r.method, r.code) for r in api.requests if "/leases" in r.path]
    assert ("POST", 409) in codes and codes.count(("POST", 201)) == 2  # the first lock, then ours after the race
