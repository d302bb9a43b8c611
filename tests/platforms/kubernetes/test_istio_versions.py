"""Fault class: a 404 that names nothing read as "no VirtualService" (issue 13, first fault).

On an Istio that does not serve v1 the product took the plain 404 of the unserved path for a
missing route, ran the first-deployment path and replaced both colours with the untested version.

Aspects: the served Istio version is discovered and used for every Istio object and the flip
(Istio 1.21: v1beta1 + v1alpha3; v1alpha3 only; a cluster preferring v1beta1); a cluster without
Istio, with a partial install (the VirtualService CRD missing) or with no version we speak is
refused with exit 4 before any write; a 404 whose Status names the object still means absent.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import pytest

from pipeline_steps.documents.service import ServiceSpec
from pipeline_steps.documents.weights import Weights
from pipeline_steps.errors import ExitCode, InfrastructureError
from pipeline_steps.platforms.kubernetes.platform import KubernetesPlatform
from pipeline_steps.steps.deploy import deploy
from pipeline_steps.steps.traffic import switch
from standins.kubeapi import KubeApiStandIn
from standins.kubeapi.resources import ISTIO
from tests.platforms.kubernetes.conftest import bg, stage_objects, writes

SERVICE = ServiceSpec.minimal("carts")
NS = "sockshop-staging"
Make = Callable[..., tuple[KubeApiStandIn, KubernetesPlatform]]


@pytest.mark.parametrize("served", [("v1beta1", "v1alpha3"), ("v1alpha3",), ("v1", "v1beta1", "v1alpha3")])
def test_the_served_istio_version_is_used_end_to_end(make_platform: Make, tmp_path: Path,
                                                     served: tuple[str, ...]) -> None:
    api, platform = make_platform(served={ISTIO: served})
    first = deploy(platform, bg("1"), SERVICE, tmp_path / "d1.json")
    second = deploy(platform, bg("2"), SERVICE, tmp_path / "d2.json")
    assert (first.colour, second.colour, second.weights_after) == ("blue", "green", Weights(0, 100))
    images = {c: api.store.objects[("apps", "deployments", NS, f"carts-{c}")]["spec"]["template"]["spec"][
        "containers"][0]["image"].rsplit(":", 1)[1] for c in ("blue", "green")}
    assert images == {"blue": "1", "green": "2"}  # the untested version never replaced the live colour
    assert switch(platform, bg(), Weights(100, 0)).after == Weights(100, 0)
    istio_paths = {r.path.split("/")[3] for r in api.requests if r.path.startswith(f"/apis/{ISTIO}/")}
    assert istio_paths == {served[0]}  # the preferred served version, for every Istio request
    assert platform.status(bg()).weights == Weights(100, 0)


@pytest.mark.parametrize(("shape", "message"), [
    ({"served": {}}, f"does not serve {ISTIO}"),
    ({"uninstalled": [f"virtualservices.{ISTIO}"]}, "lacks virtualservices"),
])
def test_without_istio_nothing_is_written(make_platform: Make, tmp_path: Path, shape: dict[str, object],
                                          message: str) -> None:
    api, platform = make_platform(**shape)
    for strategy in ("blue_green_service", "direct"):
        ctx = dataclasses.replace(bg("1"), deployment_strategy=strategy)
        with pytest.raises(InfrastructureError, match=message) as err:
            deploy(platform, ctx, SERVICE, tmp_path / "d.json")
        assert err.value.exit_code == ExitCode.INFRA
    assert writes(api) == [] and stage_objects(api) == set()
    assert not (tmp_path / "d.json").exists()


def test_a_plain_404_on_a_route_read_is_not_an_absent_route(make_platform: Make, tmp_path: Path) -> None:
    """The CRD goes away after discovery (uninstalled mid-run): the read's 404 names nothing."""
    api, platform = make_platform()
    deploy(platform, bg("1"), SERVICE, tmp_path / "d1.json")
    api.catalogue.uninstalled = frozenset({f"virtualservices.{ISTIO}"})
    before = {k: o["metadata"]["resourceVersion"] for k, o in api.store.objects.items()}
    api.requests.clear()
    with pytest.raises(InfrastructureError, match="404 without a Status naming the VirtualService"):
        deploy(platform, bg("2"), SERVICE, tmp_path / "d2.json")
    assert [w for w in writes(api) if "/leases" not in w] == []  # only the lock came and went
    assert {k: o["metadata"]["resourceVersion"] for k, o in api.store.objects.items()
            if k[1] != "leases"} == before


def test_a_404_naming_the_object_is_absent(make_platform: Make, tmp_path: Path) -> None:
    api, platform = make_platform()
    deploy(platform, bg("1"), SERVICE, tmp_path / "d1.json")
    del api.store.objects[(ISTIO, "virtualservices", NS, "carts")]
    assert platform.routes.read(bg(), "carts") is None
    assert platform.status(bg()).weights is None
