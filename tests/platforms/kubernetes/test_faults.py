"""Faults in the middle of a flip, against the API stand-in. After each one, traffic is on an
available colour and the error says what happened.

Aspects: the API answers 500 to the VirtualService write (nothing changed, error names it and
where traffic is); the write hangs before landing (timeout, traffic unchanged); the write lands
but its answer is lost (timeout, error reports the new weights, rollback restores the old ones);
the read-back hangs; the new colour never becomes ready (pods' reasons named, weights untouched,
no record); someone edits the VirtualService between our read and write (409, re-read, their
edit kept); it keeps changing (ConflictError, traffic unchanged).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pipeline_steps.documents.deployment import read_record
from pipeline_steps.documents.service import ServiceSpec
from pipeline_steps.documents.weights import Weights
from pipeline_steps.errors import ConflictError, InfrastructureError, NotReadyError
from pipeline_steps.platforms.kubernetes.platform import KubernetesPlatform
from pipeline_steps.steps.deploy import DeployOptions, deploy
from pipeline_steps.steps.traffic import rollback, switch
from standins.kubeapi import KubeApiStandIn
from standins.kubeapi.resources import find
from tests.platforms.kubernetes.conftest import bg

SERVICE = ServiceSpec.minimal("carts")
NS = "sockshop-staging"
VS_PATH = r"/virtualservices/carts$"


def weights(api: KubeApiStandIn) -> list[int]:
    vs = api.store.objects[("networking.istio.io", "virtualservices", NS, "carts")]
    return [d["weight"] for d in vs["spec"]["http"][-1]["route"]]


def edit_vs(api: KubeApiStandIn, change: Callable[[dict[str, Any]], None]) -> Callable[[], None]:
    """A callback that changes the VirtualService the way another user would (new resourceVersion)."""
    res = find("networking.istio.io", "v1", "virtualservices")
    assert res is not None

    def run() -> None:
        def apply(obj: dict[str, Any]) -> dict[str, Any]:
            new = copy.deepcopy(obj)
            change(new)
            return new
        api.store.update(res, NS, "carts", "v1", "", apply)
    return run


@pytest.fixture()
def deployed(api: KubeApiStandIn, platform: KubernetesPlatform, tmp_path: Path) -> Path:
    """Version 1 live on blue; version 2 about to be deployed into green."""
    deploy(platform, bg("1"), SERVICE, tmp_path / "d1.json")
    return tmp_path / "d2.json"


def test_500_on_write_leaves_traffic_and_says_so(api: KubeApiStandIn, platform: KubernetesPlatform, deployed: Path) -> None:
    api.fault("PATCH", VS_PATH, action="500")
    with pytest.raises(InfrastructureError) as err:
        deploy(platform, bg("2"), SERVICE, deployed)
    message = str(err.value)
    assert "write VirtualService carts: HTTP 500 InternalError" in message
    assert "the route now sends blue 100 / green 0" in message and "rollback --deployment" in message
    assert weights(api) == [100, 0]
    record = read_record(deployed)
    assert record.weights_before == Weights(100, 0) and not record.switched
    assert platform.status(bg()).colour("blue").available  # type: ignore[union-attr]


def test_write_that_hangs_times_out_with_traffic_unchanged(api: KubeApiStandIn, platform: KubernetesPlatform,
                                                           deployed: Path) -> None:
    api.fault("PATCH", VS_PATH, action="hang")
    with pytest.raises(InfrastructureError, match=r"timed out .*the route now sends blue 100 / green 0"):
        deploy(platform, bg("2"), SERVICE, deployed)
    assert weights(api) == [100, 0]


def test_write_lands_but_answer_lost_then_rollback(api: KubeApiStandIn, platform: KubernetesPlatform,
                                                   deployed: Path) -> None:
    api.fault("PATCH", VS_PATH, action="hang_after")
    with pytest.raises(InfrastructureError, match=r"timed out .*the route now sends blue 0 / green 100"):
        deploy(platform, bg("2"), SERVICE, deployed)
    assert weights(api) == [0, 100]
    status = platform.status(bg())
    assert all(c.available for c in status.colours)
    change = rollback(platform, bg(), read_record(deployed))
    assert change.after == Weights(100, 0) and weights(api) == [100, 0]


def test_read_back_that_hangs(api: KubeApiStandIn, platform: KubernetesPlatform, deployed: Path) -> None:
    deploy(platform, bg("2"), SERVICE, deployed, DeployOptions(switch=False))
    # switch: status before (1) and under the lock (2), the flip reads (3), writes, reads back (4: hangs).
    api.fault("GET", VS_PATH, nth=4, action="hang")
    with pytest.raises(InfrastructureError, match=r"read VirtualService carts: timed out.*blue 0 / green 100"):
        switch(platform, bg(), Weights(0, 100))
    assert weights(api) == [0, 100]


def test_new_colour_never_ready(api: KubeApiStandIn, platform: KubernetesPlatform, deployed: Path) -> None:
    api.deployments.set_unready(NS, "carts-green", "ImagePullBackOff", 'Back-off pulling image "carts:2"')
    with pytest.raises(NotReadyError) as err:
        deploy(platform, bg("2"), SERVICE, deployed, DeployOptions(timeout_s=1.0))
    message = str(err.value)
    assert re.search(r"Deployment carts-green in sockshop-staging is not available after 1\.\ds \(0/1 ready; "
                     r"0 of 1 updated replicas are available\)", message), message
    assert "ImagePullBackOff (Back-off pulling image" in message and "traffic was not changed" in message
    assert message.count("carts-green-") >= 1  # names the pod
    assert weights(api) == [100, 0] and not deployed.exists()
    assert not api.count("PATCH", VS_PATH)


def test_edit_between_read_and_write_is_kept(api: KubeApiStandIn, platform: KubernetesPlatform, deployed: Path) -> None:
    other = {"name": "canary-header", "match": [{"headers": {"x-test": {"exact": "1"}}}],
             "route": [{"destination": {"host": "carts", "subset": "green"}}]}
    api.fault("PATCH", VS_PATH, action="call", callback=edit_vs(api, lambda vs: vs["spec"]["http"].insert(0, other)))
    record = deploy(platform, bg("2"), SERVICE, deployed)
    assert record.weights_after == Weights(0, 100)
    vs = api.store.objects[("networking.istio.io", "virtualservices", NS, "carts")]
    assert vs["spec"]["http"][0] == other and weights(api) == [0, 100]
    assert [r.code for r in api.requests if r.method == "PATCH" and "virtualservices" in r.path] == [409, 200]


def test_vs_that_keeps_changing_gives_conflict_and_no_flip(api: KubeApiStandIn, platform: KubernetesPlatform,
                                                           deployed: Path) -> None:
    def touch(vs: dict[str, Any]) -> None:
        vs["metadata"].setdefault("annotations", {})["touched"] = str(len(api.requests))

    for nth in range(1, 6):
        api.fault("PATCH", VS_PATH, nth=nth, action="call", callback=edit_vs(api, touch))
    with pytest.raises(ConflictError, match="changed under every one of 5 attempts"):
        deploy(platform, bg("2"), SERVICE, deployed)
    assert weights(api) == [100, 0]
