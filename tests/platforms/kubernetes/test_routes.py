"""Fault class: routes of this service left behind, or read without Istio's defaults.

Issue 13: a VirtualService with two routes to this service's subsets (one with ``match: /api``)
got only the first flipped, and deploy and status reported the flip as verified; a lone route
destination without a weight (Istio reads it as 100) showed no weights and no live colour.

Aspects: every route of this service (named after it, or sending to exactly its blue and green
subsets) is flipped and verified together, other hosts' routes and pinned single-colour test
routes are untouched; an entry that mixes this service's colours with another destination is
refused naming it, nothing written; a lone destination without a weight reads as 100 % and a
deploy flips it (the other colour added); relative weights read as Istio applies them; routes
that disagree (a hand edit: a flip writes them in one patch) are refused by name, nothing written.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pipeline_steps.documents.service import ServiceSpec
from pipeline_steps.documents.weights import Weights
from pipeline_steps.errors import ConflictError
from pipeline_steps.platforms.kubernetes.platform import KubernetesPlatform
from pipeline_steps.platforms.kubernetes.routes import route_weights, service_routes
from pipeline_steps.steps.deploy import DeployOptions, deploy
from pipeline_steps.steps.traffic import switch
from standins.kubeapi import KubeApiStandIn
from standins.kubeapi.resources import ISTIO, by_kind
from tests.platforms.kubernetes.conftest import bg, writes

SERVICE = ServiceSpec.minimal("carts")
NS = "sockshop-staging"
FQDN = f"carts.{NS}.svc.cluster.local"


def vs(api: KubeApiStandIn) -> dict[str, Any]:
    return api.store.objects[(ISTIO, "virtualservices", NS, "carts")]


def edit_http(api: KubeApiStandIn, change: Callable[[list[Any]], list[Any]]) -> None:
    api.store.update(by_kind("VirtualService"), NS, "carts", "v1", "", lambda obj: {
        **obj, "metadata": {**obj["metadata"], "resourceVersion": ""},
        "spec": {**obj["spec"], "http": change(copy.deepcopy(obj["spec"]["http"]))}})


def split(route: list[Any]) -> list[int]:
    return [d.get("weight") for d in route]


def test_every_route_of_the_service_flips_and_is_verified(api: KubeApiStandIn, platform: KubernetesPlatform,
                                                          tmp_path: Path) -> None:
    deploy(platform, bg("1"), SERVICE, tmp_path / "d1.json")
    api_route = {**copy.deepcopy(vs(api)["spec"]["http"][0]), "name": "carts-api", "match": [{"uri": {"prefix": "/api"}}]}
    pinned = {"name": "testers", "match": [{"headers": {"x-colour": {"exact": "green"}}}],
              "route": [{"destination": {"host": FQDN, "subset": "green"}}]}
    other = {"name": "orders", "route": [{"destination": {"host": "orders"}, "weight": 100}]}
    edit_http(api, lambda http: [pinned, api_route, other, *http])
    record = deploy(platform, bg("2"), SERVICE, tmp_path / "d2.json")
    http = vs(api)["spec"]["http"]
    assert record.weights_after == Weights(0, 100)
    assert split(http[1]["route"]) == [0, 100] and split(http[3]["route"]) == [0, 100]  # /api and the main route
    assert http[0] == pinned and http[2] == other  # left exactly as they were
    assert platform.status(bg()).weights == Weights(0, 100)


def test_an_ambiguous_route_is_refused_by_name(api: KubeApiStandIn, platform: KubernetesPlatform,
                                               tmp_path: Path) -> None:
    deploy(platform, bg("1"), SERVICE, tmp_path / "d1.json")
    mixed = {"name": "mirror-ish", "route": [{"destination": {"host": FQDN, "subset": "blue"}, "weight": 50},
                                             {"destination": {"host": "legacy"}, "weight": 50}]}
    edit_http(api, lambda http: [*http, mixed])
    before = copy.deepcopy(vs(api))
    api.requests.clear()
    for act in (lambda: deploy(platform, bg("2"), SERVICE, tmp_path / "d2.json"),
                lambda: switch(platform, bg(), Weights(0, 100))):
        with pytest.raises(ConflictError, match=r"ambiguous for carts: http\[1\] 'mirror-ish' routes to \['blue', "
                                                r"'another destination'\]"):
            act()
    assert vs(api) == before and [w for w in writes(api) if "/leases" not in w] == []


def test_a_lone_destination_without_weight_is_all_the_traffic(api: KubeApiStandIn, platform: KubernetesPlatform,
                                                              tmp_path: Path) -> None:
    deploy(platform, bg("1"), SERVICE, tmp_path / "d1.json")
    edit_http(api, lambda http: [{"name": "carts", "route": [{"destination": {"host": FQDN, "subset": "blue"}}]}])
    assert platform.status(bg()).weights == Weights(100, 0) and platform.status(bg()).live == "blue"
    record = deploy(platform, bg("2"), SERVICE, tmp_path / "d2.json")
    assert (record.colour, record.weights_before, record.weights_after) == ("green", Weights(100, 0), Weights(0, 100))
    assert [(d["destination"]["subset"], d["weight"]) for d in vs(api)["spec"]["http"][0]["route"]] == [
        ("blue", 0), ("green", 100)]


@pytest.mark.parametrize(("route", "expected"), [
    ([("blue", None)], Weights(100, 0)),  # lone destination, no weight
    ([("green", 30)], Weights(0, 100)),  # lone destination: its weight does not matter
    ([("blue", 1), ("green", 1)], Weights(50, 50)),  # relative weights
    ([("blue", None), ("green", 100)], Weights(0, 100)),  # an omitted weight is 0
    ([("green", 3), ("blue", 1)], Weights(25, 75)),
])
def test_istio_defaults_when_reading(route: list[tuple[str, int | None]], expected: Weights) -> None:
    entry = {"name": "carts", "route": [{"destination": {"host": "carts", "subset": s}, **({"weight": w} if w is not None
                                                                                          else {})} for s, w in route]}
    assert route_weights({"metadata": {"name": "carts"}, "spec": {"http": [entry]}}, bg()) == expected


def test_routes_that_disagree_are_refused_by_name(api: KubeApiStandIn, platform: KubernetesPlatform,
                                                  tmp_path: Path) -> None:
    deploy(platform, bg("1"), SERVICE, tmp_path / "d1.json")
    api_route = {**copy.deepcopy(vs(api)["spec"]["http"][0]), "name": "carts-api", "match": [{"uri": {"prefix": "/api"}}]}
    for destination in api_route["route"]:
        destination["weight"] = 100 - destination["weight"]
    edit_http(api, lambda http: [api_route, *http])
    before = copy.deepcopy(vs(api))
    api.requests.clear()
    for act in (lambda: deploy(platform, bg("2"), SERVICE, tmp_path / "d2.json", DeployOptions(timeout_s=5)),
                lambda: switch(platform, bg(), Weights(100, 0))):
        with pytest.raises(ConflictError, match=r"routes of carts disagree \(http\[0\] 'carts-api' \(blue 0 / green "
                                                r"100\), http\[1\] 'carts' \(blue 100 / green 0\)\)"):
            act()
    assert vs(api) == before and [w for w in writes(api) if "/leases" not in w] == []  # only the lock came and went
    assert [r.weights for r in service_routes(vs(api), bg())] == [Weights(0, 100), Weights(100, 0)]
