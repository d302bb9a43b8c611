"""Blue/green on real Envoy: the traffic switch of the local platform.

Aspects: the first deployment starts both colours with 100/0 to the deployed colour; a flip
moves real traffic (answers counted per version through the public URL) and is verified by
reading Envoy's runtime back; a split routes roughly by weight; set_weights is idempotent;
it refuses a colour that is not available and leaves the weights as they were; a new version
in the free colour moves that colour's cluster endpoint without touching the live colour;
endpoints name Envoy (public), the live colour (internal) and each colour; a direct stage has
one cluster and no weights; switching a stage's strategy starts it afresh (no stale weights).
"""

from __future__ import annotations

import json
import socket
from collections import Counter
from urllib.request import urlopen

import pytest

from pipeline_steps.documents.service import ServiceSpec
from pipeline_steps.documents.weights import Weights
from pipeline_steps.errors import BadInputError, NotReadyError
from pipeline_steps.platforms.local import envoy, processes
from pipeline_steps.platforms.local.platform import LocalPlatform
from tests.platforms.local.conftest import context


def versions(url: str, n: int) -> Counter[str]:
    """Which version answered each of ``n`` requests."""
    seen: Counter[str] = Counter()
    for _ in range(n):
        with urlopen(url + "/version", timeout=5) as resp:
            seen[json.loads(resp.read())["version"]] += 1
    return seen


def deploy_v1_then_v3_to_green(platform: LocalPlatform, image: str, service: ServiceSpec) -> None:
    first = context(image, "1")
    platform.apply(first, "blue", service)
    for colour in ("blue", "green"):
        platform.wait_available(first, colour, 15)
    platform.apply(context(image, "3"), "green", service)
    platform.wait_available(context(image, "3"), "green", 15)


def test_first_deployment_creates_both_colours_live_on_blue(platform: LocalPlatform, carts_image: str,
                                                             carts_service: ServiceSpec) -> None:
    ctx = context(carts_image, "1")
    platform.apply(ctx, "blue", carts_service)
    platform.wait_available(ctx, "blue", 15)
    platform.wait_available(ctx, "green", 15)
    status = platform.status(ctx)
    assert status.weights == Weights(100, 0)
    assert [(c.colour, c.tag, c.available) for c in status.colours] == [("blue", "1", True), ("green", "1", True)]
    assert versions(platform.endpoints(ctx).public_url, 20) == Counter({"v1": 20})


def test_flip_moves_real_traffic_and_reads_back(platform: LocalPlatform, carts_image: str,
                                                carts_service: ServiceSpec) -> None:
    deploy_v1_then_v3_to_green(platform, carts_image, carts_service)
    ctx = context(carts_image, "3")
    public = platform.endpoints(ctx).public_url
    assert versions(public, 30) == Counter({"v1": 30}), "the free colour got traffic before the flip"

    assert platform.set_weights(ctx, Weights.all_to("green")) == Weights(0, 100)
    assert versions(public, 30) == Counter({"v3": 30})
    admin = envoy.Admin(platform.state.stage_dir(ctx) / "envoy")
    assert admin.weights() == Weights(0, 100)

    assert platform.set_weights(ctx, Weights(50, 50)) == Weights(50, 50)
    split = versions(public, 200)
    assert 60 <= split["v1"] <= 140 and split["v1"] + split["v3"] == 200, split

    assert platform.set_weights(ctx, Weights(0, 100)) == Weights(0, 100)
    assert platform.set_weights(ctx, Weights(0, 100)) == Weights(0, 100)  # idempotent
    endpoints = platform.endpoints(ctx)
    assert endpoints.internal_url == endpoints.colour_urls["green"] != endpoints.public_url
    assert versions(endpoints.colour_urls["blue"], 1) == Counter({"v1": 1})


def test_refuses_weight_for_an_unavailable_colour(platform: LocalPlatform, carts_image: str,
                                                   carts_service: ServiceSpec) -> None:
    deploy_v1_then_v3_to_green(platform, carts_image, carts_service)
    ctx = context(carts_image, "3")
    green = json.loads(platform.state.stage_file(ctx).read_text())["colours"]["green"]
    assert processes.stop(green["process"])
    with pytest.raises(NotReadyError, match="green is not available"):
        platform.set_weights(ctx, Weights(0, 100))
    assert platform.status(ctx).weights == Weights(100, 0)
    assert versions(platform.endpoints(ctx).public_url, 10) == Counter({"v1": 10})


def test_new_version_in_free_colour_keeps_live_colour_serving(platform: LocalPlatform, carts_image: str,
                                                              carts_service: ServiceSpec) -> None:
    deploy_v1_then_v3_to_green(platform, carts_image, carts_service)
    before = json.loads(platform.state.stage_file(context(carts_image, "1")).read_text())
    platform.apply(context(carts_image, "2"), "green", carts_service)
    after = json.loads(platform.state.stage_file(context(carts_image, "2")).read_text())
    assert after["colours"]["blue"]["process"] == before["colours"]["blue"]["process"]
    assert after["colours"]["green"]["process"]["pid"] != before["colours"]["green"]["process"]["pid"]
    assert after["colours"]["green"]["port"] == before["colours"]["green"]["port"]  # a stable scrape target
    assert not processes.is_ours(before["colours"]["green"]["process"])
    assert after["envoy"]["listener_port"] == before["envoy"]["listener_port"]
    assert after["envoy"]["stats_port"] == before["envoy"]["stats_port"]
    admin = envoy.Admin(platform.state.stage_dir(context(carts_image, "2")) / "envoy")
    assert admin.endpoint_ports()["green"] == [after["colours"]["green"]["port"]]
    platform.wait_available(context(carts_image, "2"), "green", 15)
    assert versions(after_url := platform.endpoints(context(carts_image, "2")).colour_urls["green"], 1) == Counter({"v2": 1})
    assert after_url.endswith(f":{before['colours']['green']['port']}")


def test_a_colour_whose_port_was_taken_meanwhile_moves_to_a_new_one(platform: LocalPlatform, carts_image: str,
                                                                     carts_service: ServiceSpec) -> None:
    deploy_v1_then_v3_to_green(platform, carts_image, carts_service)
    ctx = context(carts_image, "2")
    before = json.loads(platform.state.stage_file(ctx).read_text())["colours"]["green"]
    assert processes.stop(before["process"])
    with socket.socket() as squatter:  # another program binds the port while green is down
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # past connections' TIME_WAIT
        squatter.bind(("127.0.0.1", before["port"]))
        squatter.listen()
        platform.apply(ctx, "green", carts_service)
        platform.wait_available(ctx, "green", 15)
        after = json.loads(platform.state.stage_file(ctx).read_text())["colours"]["green"]
        assert after["port"] != before["port"]
        assert envoy.Admin(platform.state.stage_dir(ctx) / "envoy").endpoint_ports()["green"] == [after["port"]]
        assert versions(platform.endpoints(ctx).colour_urls["green"], 1) == Counter({"v2": 1})


def test_direct_stage_has_one_cluster_and_no_weights(platform: LocalPlatform, carts_image: str,
                                                     carts_service: ServiceSpec) -> None:
    ctx = context(carts_image, "1", stage="dev", strategy="direct")
    platform.apply(ctx, None, carts_service)
    state = platform.wait_available(ctx, None, 15)
    assert state.colour == "" and state.tag == "1"
    status = platform.status(ctx)
    assert status.weights is None and status.strategy == "direct"
    endpoints = platform.endpoints(ctx)
    assert endpoints.internal_url == endpoints.public_url and endpoints.colour_urls == {}
    assert versions(endpoints.public_url, 5) == Counter({"v1": 5})
    with pytest.raises(BadInputError):
        platform.set_weights(ctx, Weights(50, 50))
    platform.apply(context(carts_image, "3", stage="dev", strategy="direct"), None, carts_service)
    platform.wait_available(ctx, None, 15)
    assert versions(endpoints.public_url, 5) == Counter({"v3": 5})


def test_strategy_change_restarts_the_stage_cleanly(platform: LocalPlatform, carts_image: str,
                                                    carts_service: ServiceSpec) -> None:
    deploy_v1_then_v3_to_green(platform, carts_image, carts_service)
    platform.set_weights(context(carts_image, "3"), Weights(0, 100))
    direct = context(carts_image, "1", strategy="direct")
    platform.apply(direct, None, carts_service)
    platform.wait_available(direct, None, 15)
    assert [c.colour for c in platform.status(direct).colours] == [""]
    assert versions(platform.endpoints(direct).public_url, 5) == Counter({"v1": 5})
    again = context(carts_image, "3")
    platform.apply(again, "blue", carts_service)
    platform.wait_available(again, "blue", 15)
    assert platform.status(again).weights == Weights(100, 0)  # not the 0/100 of the earlier blue/green life
    assert versions(platform.endpoints(again).public_url, 5) == Counter({"v3": 5})
