"""The Kubernetes platform against the API stand-in, through the real ``kubernetes`` client.

Aspects: the first deploy creates namespace, both colour Deployments, Services, DestinationRule,
Gateway and a 100/0 route, labelled app.kubernetes.io/*; the next deploy replaces only the free
colour and flips after it is available; the flip touches only this service's route (a user's
other routes and hosts stay) and is read, write, read-back; idempotent switch writes nothing;
weight to an unavailable colour is refused; status shows versions, readiness, reasons and
marks; the Lease lock refuses a live holder, takes over a stale one and is released, but a
release never deletes a Lease someone took over after our read; a deploy
whose strategy does not fit the live route (direct <-> blue/green) is refused with nothing written;
names past Kubernetes' 63-character limits are bad input before any write.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from pipeline_steps.documents.service import ServiceSpec
from pipeline_steps.documents.weights import Weights
from pipeline_steps.errors import ConflictError, NotReadyError
from pipeline_steps.platforms.kubernetes.platform import KubernetesPlatform
from pipeline_steps.steps.deploy import DeployOptions, deploy
from pipeline_steps.steps.traffic import switch
from standins.kubeapi import KubeApiStandIn
from tests.platforms.kubernetes.conftest import bg, stage_objects

SERVICE = ServiceSpec.minimal("carts")
NS = "sockshop-staging"


def stored(api: KubeApiStandIn, plural: str, name: str, group: str = "") -> dict[str, Any]:
    return api.store.objects[(group, plural, NS, name)]


def vs(api: KubeApiStandIn) -> dict[str, Any]:
    return stored(api, "virtualservices", "carts", "networking.istio.io")


def test_first_deploy_creates_everything_with_route_to_blue(api: KubeApiStandIn, platform: KubernetesPlatform,
                                                            tmp_path: Path) -> None:
    record = deploy(platform, bg("0.7.1"), SERVICE, tmp_path / "d.json")
    assert record.colour == "blue" and record.namespace == NS and not record.switched
    kinds = sorted((k[1], k[3]) for k in api.store.objects if k[2] == NS and k[1] != "pods")
    assert kinds == [("deployments", "carts-blue"), ("deployments", "carts-green"), ("destinationrules", "carts"),
                     ("gateways", "carts-gateway"), ("services", "carts"), ("services", "carts-blue"),
                     ("services", "carts-green"), ("virtualservices", "carts")]
    blue = stored(api, "deployments", "carts-blue", "apps")
    assert blue["metadata"]["labels"]["app.kubernetes.io/name"] == "carts"
    assert blue["spec"]["template"]["metadata"]["labels"]["deployment"] == "carts-blue"
    assert blue["spec"]["template"]["spec"]["containers"][0]["image"] == "docker.io/keptnexamples/carts:0.7.1"
    assert [d["weight"] for d in vs(api)["spec"]["http"][0]["route"]] == [100, 0]
    assert ("coordination.k8s.io", "leases", NS, "carts-pipeline-steps") not in api.store.objects  # released


def test_second_deploy_replaces_free_colour_then_flips(api: KubeApiStandIn, platform: KubernetesPlatform,
                                                       tmp_path: Path) -> None:
    deploy(platform, bg("1"), SERVICE, tmp_path / "d1.json")
    blue_rv = stored(api, "deployments", "carts-blue", "apps")["metadata"]["resourceVersion"]
    api.requests.clear()
    record = deploy(platform, bg("2"), SERVICE, tmp_path / "d2.json")
    assert (record.colour, record.weights_after) == ("green", Weights(0, 100))
    assert stored(api, "deployments", "carts-blue", "apps")["metadata"]["resourceVersion"] == blue_rv
    assert stored(api, "deployments", "carts-green", "apps")["spec"]["template"]["spec"]["containers"][0][
        "image"].endswith(":2")
    methods = [(r.method, r.path.split("?")[0].rsplit("/", 2)[-2:]) for r in api.requests]
    replace_green = methods.index(("PUT", ["deployments", "carts-green"]))
    vs_write = methods.index(("PATCH", ["virtualservices", "carts"]))
    assert replace_green < vs_write
    status = platform.status(bg("2"))
    assert status.live == "green" and {c.colour: c.tag for c in status.colours} == {"blue": "1", "green": "2"}


def test_flip_touches_only_this_route_and_is_read_write_readback(api: KubeApiStandIn, platform: KubernetesPlatform,
                                                                 tmp_path: Path) -> None:
    deploy(platform, bg("1"), SERVICE, tmp_path / "d1.json", DeployOptions(switch=False))
    deploy(platform, bg("2"), SERVICE, tmp_path / "d2.json", DeployOptions(switch=False))
    user_route = {"name": "debug", "match": [{"headers": {"x-colour": {"exact": "green"}}}],
                  "route": [{"destination": {"host": "carts.sockshop-staging.svc.cluster.local", "subset": "green"}}],
                  "fault": {"delay": {"fixedDelay": "1s", "percentage": {"value": 1.0}}}}
    live = vs(api)
    live["spec"]["http"].insert(0, user_route)
    live["spec"]["hosts"].append("carts.example.org")
    api.requests.clear()
    platform.routes.round_trips = 0
    assert platform.set_weights(bg(), Weights(10, 90)) == Weights(10, 90)
    after = vs(api)["spec"]
    assert after["http"][0] == user_route and "carts.example.org" in after["hosts"]
    assert [d["weight"] for d in after["http"][1]["route"]] == [10, 90]
    assert platform.routes.round_trips == 3
    assert [r.method for r in api.requests if "virtualservices" in r.path] == ["GET", "PATCH", "GET"]
    rv = vs(api)["metadata"]["resourceVersion"]
    assert switch(platform, bg(), Weights(10, 90)).changed is False
    assert vs(api)["metadata"]["resourceVersion"] == rv


def test_refuses_weight_to_unavailable_colour_and_status_names_reasons(api: KubeApiStandIn, platform: KubernetesPlatform,
                                                                       tmp_path: Path) -> None:
    deploy(platform, bg("1"), SERVICE, tmp_path / "d1.json")
    api.deployments.set_unready(NS, "carts-green", "CrashLoopBackOff", "back-off 10s restarting failed container")
    with pytest.raises(NotReadyError, match="carts-green is not available"):
        platform.set_weights(bg(), Weights(0, 100))
    assert [d["weight"] for d in vs(api)["spec"]["http"][0]["route"]] == [100, 0]
    green = platform.status(bg()).colour("green")
    assert green is not None and not green.available
    assert any("CrashLoopBackOff (back-off 10s" in r for r in green.reasons)


def test_marks_show_in_status_and_new_version_clears_them(platform: KubernetesPlatform, tmp_path: Path) -> None:
    deploy(platform, bg("1"), SERVICE, tmp_path / "d1.json")
    deploy(platform, bg("2"), SERVICE, tmp_path / "d2.json")
    platform.mark(bg(), "green", "failed")
    assert platform.status(bg()).colour("green").mark == "failed"  # type: ignore[union-attr]
    platform.set_weights(bg(), Weights(100, 0))
    deploy(platform, bg("3"), SERVICE, tmp_path / "d3.json")
    assert platform.status(bg()).colour("green").mark == ""  # type: ignore[union-attr]


def test_lease_lock_refuses_live_holder_takes_over_stale(api: KubeApiStandIn, platform: KubernetesPlatform) -> None:
    with platform.lock(bg(), "build-1"):
        with pytest.raises(ConflictError, match="locked by 'build-1'"), platform.lock(bg(), "build-2"):
            pass
        lease = stored(api, "leases", "carts-pipeline-steps", "coordination.k8s.io")
        assert lease["spec"]["holderIdentity"] == "build-1"
    assert ("coordination.k8s.io", "leases", NS, "carts-pipeline-steps") not in api.store.objects
    with platform.lock(bg(), "dead-build", ttl_s=1):
        lease = stored(api, "leases", "carts-pipeline-steps", "coordination.k8s.io")
        old = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=30)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        lease["spec"]["renewTime"] = lease["spec"]["acquireTime"] = old
        with platform.lock(bg(), "build-3"):
            taken = stored(api, "leases", "carts-pipeline-steps", "coordination.k8s.io")
            assert taken["spec"]["holderIdentity"] == "build-3" and taken["spec"]["leaseTransitions"] == 1


def test_switch_on_missing_namespace_refuses_and_creates_nothing(api: KubeApiStandIn, platform: KubernetesPlatform) -> None:
    with pytest.raises(NotReadyError, match="no blue/green deployment"):
        switch(platform, bg(), Weights(0, 100))
    assert stage_objects(api) == set() and not [r for r in api.requests if r.method != "GET"]


def test_flip_waits_until_new_colour_is_available(tmp_path: Path) -> None:
    """With a controller that needs time, the route changes only once green is available (no 503 window)."""
    from pipeline_steps.platforms.kubernetes.client import Kube, api_client
    from pipeline_steps.platforms.kubernetes.readiness import is_available
    from standins.kubeapi import write_kubeconfig

    with KubeApiStandIn(ready_delay_s=0.4) as slow:
        kubeconfig = write_kubeconfig(slow.url, tmp_path / "kc")
        platform = KubernetesPlatform(Kube(api_client(str(kubeconfig), None), timeout_s=2), poll_s=0.05)
        deploy(platform, bg("1"), SERVICE, tmp_path / "d1.json")
        seen: list[bool] = []
        slow.fault("PATCH", r"/virtualservices/carts$", action="call",
                   callback=lambda: seen.append(is_available(stored(slow, "deployments", "carts-green", "apps"))))
        slow.requests.clear()
        record = deploy(platform, bg("2"), SERVICE, tmp_path / "d2.json")
        assert record.weights_after == Weights(0, 100) and seen == [True]
        polls = [r for r in slow.requests if r.method == "GET" and r.path.endswith("/deployments/carts-green")]
        assert len(polls) >= 3  # it had to wait: the pods took 0.4 s


def test_redeploy_keeps_user_edits_to_istio_objects(api: KubeApiStandIn, platform: KubernetesPlatform,
                                                    tmp_path: Path) -> None:
    deploy(platform, bg("1"), SERVICE, tmp_path / "d1.json")
    policy = {"loadBalancer": {"simple": "LEAST_REQUEST"}}
    stored(api, "destinationrules", "carts", "networking.istio.io")["spec"]["trafficPolicy"] = policy
    deploy(platform, bg("2"), SERVICE, tmp_path / "d2.json")
    assert stored(api, "destinationrules", "carts", "networking.istio.io")["spec"]["trafficPolicy"] == policy


@pytest.mark.parametrize("first", ["direct", "blue_green_service"])
def test_strategy_change_is_refused_without_writes(api: KubeApiStandIn, platform: KubernetesPlatform, tmp_path: Path,
                                                   first: str) -> None:
    then = "direct" if first == "blue_green_service" else "blue_green_service"
    deploy(platform, dataclasses.replace(bg("1"), deployment_strategy=first), SERVICE, tmp_path / "d1.json")
    before = {key: obj["metadata"]["resourceVersion"] for key, obj in api.store.objects.items()}
    with pytest.raises(ConflictError, match=f"blue/green route for carts, but this deploy's strategy is {then}: "
                                            "nothing was changed"):
        deploy(platform, dataclasses.replace(bg("2"), deployment_strategy=then), SERVICE, tmp_path / "d2.json")
    assert {key: obj["metadata"]["resourceVersion"] for key, obj in api.store.objects.items()} == before
    assert not (tmp_path / "d2.json").exists()


def test_release_keeps_a_lease_taken_over_between_read_and_delete(api: KubeApiStandIn,
                                                                  platform: KubernetesPlatform) -> None:
    from standins.kubeapi.resources import by_kind

    def take_over() -> None:
        api.store.update(by_kind("Lease"), NS, "carts-pipeline-steps", "v1", "", lambda lease: {
            **lease, "metadata": {**lease["metadata"], "resourceVersion": ""},
            "spec": {**lease["spec"], "holderIdentity": "build-2"}})

    api.fault("DELETE", r"/leases/carts-pipeline-steps$", action="call", callback=take_over)
    with platform.lock(bg(), "build-1", ttl_s=1):
        pass
    assert stored(api, "leases", "carts-pipeline-steps", "coordination.k8s.io")["spec"]["holderIdentity"] == "build-2"
    assert [r.code for r in api.requests if r.method == "DELETE"] == [409]


@pytest.mark.parametrize(("project", "service", "field"), [("p" * 56, "carts", "project"), ("sockshop", "c" * 55, "service")])
def test_names_too_long_for_kubernetes_are_bad_input_without_writes(api: KubeApiStandIn, platform: KubernetesPlatform,
                                                                    tmp_path: Path, project: str, service: str,
                                                                    field: str) -> None:
    from pipeline_steps.errors import BadInputError

    for strategy in ("blue_green_service", "direct"):
        ctx = dataclasses.replace(bg("1", service=service), project=project, deployment_strategy=strategy)
        with pytest.raises(BadInputError, match=f"^context: {field}: .*63"):
            deploy(platform, ctx, ServiceSpec.minimal(service), tmp_path / "d.json")
    assert stage_objects(api) == set() and [r.method for r in api.requests if r.method != "GET"] == []


def test_a_service_that_cannot_name_a_kubernetes_service_is_bad_input_without_requests(api: KubeApiStandIn,
                                                                                     platform: KubernetesPlatform,
                                                                                     tmp_path: Path) -> None:
    """``9carts`` is a DNS-1123 label (a Deployment may be called so) but no DNS-1035 label: the
    API server refuses the Service ``9carts`` after the Deployments were written."""
    from pipeline_steps.errors import BadInputError

    for strategy in ("blue_green_service", "direct"):
        ctx = dataclasses.replace(bg("1", service="9carts"), deployment_strategy=strategy)
        with pytest.raises(BadInputError, match=r"^context: service: '9carts' must start with a letter"):
            deploy(platform, ctx, ServiceSpec.minimal("9carts"), tmp_path / "d.json")
        with pytest.raises(BadInputError, match=r"^context: service: '9carts' must start with a letter"):
            platform.preflight(ctx, ServiceSpec.minimal("9carts"))
    assert api.requests == []


def test_missing_route_is_a_first_deployment_for_both_colours(api: KubeApiStandIn, platform: KubernetesPlatform,
                                                               tmp_path: Path) -> None:
    deploy(platform, bg("0.7.1"), SERVICE, tmp_path / "1.json")
    deploy(platform, bg("0.7.2"), SERVICE, tmp_path / "2.json")  # green 0.7.2, live
    del api.store.objects[("networking.istio.io", "virtualservices", NS, "carts")]  # deleted by hand
    record = deploy(platform, bg("0.7.3"), SERVICE, tmp_path / "3.json")
    assert record.colour == "blue" and not record.previous_colour and not record.switched
    images = {c: stored(api, "deployments", f"carts-{c}", "apps")["spec"]["template"]["spec"]["containers"][0]["image"]
              for c in ("blue", "green")}
    assert images == {"blue": "docker.io/keptnexamples/carts:0.7.3", "green": "docker.io/keptnexamples/carts:0.7.3"}
    assert [d["weight"] for d in vs(api)["spec"]["http"][0]["route"]] == [100, 0]
