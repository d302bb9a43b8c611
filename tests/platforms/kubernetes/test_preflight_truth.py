"""Pre-flight tells the truth: what it says ``ok`` the deploy can do, what it skips it says why.

Aspects (each found by playing the scenario through the CLI against the stand-in): a Gateway
shared from another namespace (``ingress.gateway.name: istio-system/public``, the common setup)
with only the chart's namespaced Role is not a failure but a check pre-flight cannot make (it
says so; the deploy itself never reads that Gateway); ``ingress.gateway.create: false`` without a
name checks the Gateway the route really binds to (``<service>-gateway``), never a list of every
Gateway; a Gateway without a selector is not "matched" by every pod in the cluster; a strategy
change (direct <-> blue/green) that ``deploy`` refuses is a failed route check, not "a first
deployment"; when API discovery fails for a reason other than Istio being absent (API Priority
and Fairness answering 429 past every retry) the skipped checks do not claim Istio is missing.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from pipeline_steps.cli import cli
from pipeline_steps.documents.service import ServiceSpec
from pipeline_steps.platforms.kubernetes.platform import KubernetesPlatform
from pipeline_steps.steps.deploy import deploy
from standins.kubeapi import KubeApiStandIn, write_kubeconfig
from standins.kubeapi.resources import ISTIO, by_kind
from tests.platforms.kubernetes.conftest import bg, writes
from tests.platforms.kubernetes.test_rbac import install, rbac_objects

NS = "sockshop-staging"
Make = Callable[..., tuple[KubeApiStandIn, KubernetesPlatform]]


def checks(checklist_text: str) -> dict[str, tuple[str, str]]:
    found = {}
    for line in checklist_text.splitlines():
        parts = line.split(None, 1)
        if len(parts) == 2 and parts[0] in ("ok", "fail", "skip") and line.startswith("  "):
            name, _, detail = parts[1].partition(": ")
            found[name] = (parts[0], detail)
    return found


def shared_gateway(api: KubeApiStandIn, selector: dict[str, str] | None = None) -> None:
    api.store.create(by_kind("Gateway"), "istio-system", {
        "apiVersion": f"{ISTIO}/v1", "kind": "Gateway", "metadata": {"name": "public"},
        "spec": {"selector": {"istio": "ingressgateway"} if selector is None else selector,
                 "servers": [{"port": {"number": 80, "name": "http", "protocol": "HTTP"}, "hosts": ["*"]}]}}, "v1")


def service(**gateway: object) -> ServiceSpec:
    return ServiceSpec(name="carts", chart_values={"ingress": {"gateway": gateway}})


def test_a_shared_gateway_elsewhere_is_skipped_not_failed_with_the_namespaced_role(make_platform: Make,
                                                                                 tmp_path: Path) -> None:
    api, platform = make_platform()
    install(api, rbac_objects(bg(), cluster_role=False), ("Role", "RoleBinding"))
    api.store.update(by_kind("Namespace"), "", NS, "v1", "", lambda ns: {
        **ns, "metadata": {**ns["metadata"], "resourceVersion": "", "labels": {"istio-injection": "enabled"}}})
    shared_gateway(api)
    api.access.rbac = True
    shared = service(create=False, name="istio-system/public")
    checklist = platform.preflight(bg("1"), shared)
    gateway = checks(checklist.render())["gateway"]
    assert checklist.passed, checklist.render()
    assert gateway[0] == "skip" and "istio-system/public" in gateway[1] and "rbac.clusterRole" in gateway[1]
    assert [r for r in api.requests if r.code == 403] == []
    deploy(platform, bg("1"), shared, tmp_path / "d1.json")  # and the deploy needs nothing more
    assert [r for r in api.requests if r.code == 403] == []


def test_with_the_right_to_read_it_a_shared_gateway_is_checked(make_platform: Make) -> None:
    api, platform = make_platform()
    shared_gateway(api)
    detail = checks(platform.preflight(bg("1"), service(create=False, name="istio-system/public")).render())
    assert detail["gateway"][0] == "ok" and "Gateway istio-system/public's selector istio=ingressgateway" in \
        detail["gateway"][1]


def test_create_false_without_a_name_checks_the_gateway_the_route_binds_to(make_platform: Make) -> None:
    api, platform = make_platform()
    checklist = platform.preflight(bg("1"), service(create=False))
    gateway = checks(checklist.render())["gateway"]
    assert gateway == ("fail", f"Gateway {NS}/carts-gateway (ingress.gateway.name; default <service>-gateway) "
                               "does not exist")
    assert not any(r.path.rstrip("/").endswith("/gateways") and r.method == "GET" for r in api.requests)


def test_a_gateway_without_a_selector_is_not_matched_by_any_pod(make_platform: Make) -> None:
    api, platform = make_platform()
    shared_gateway(api, selector={})
    gateway = checks(platform.preflight(bg("1"), service(create=False, name="istio-system/public")).render())["gateway"]
    assert gateway[0] == "skip" and "no selector" in gateway[1]


def run(api: KubeApiStandIn, tmp: Path, strategy: str, *args: str) -> Result:
    config = write_kubeconfig(api.url, tmp / "kubeconfig")
    return CliRunner().invoke(cli, ["deploy", "--project", "sockshop", "--stage", "staging", "--service", "carts",
                                    "--image", "docker.io/keptnexamples/carts", "--deployment-strategy", strategy,
                                    "--platform", "kubernetes", "--kubeconfig", str(config), "--timeout", "10",
                                    "--out-dir", str(tmp / "out"), *args],
                              catch_exceptions=False, env={"KUBECONFIG": None, "PIPELINE_STEPS_PLATFORM": None})


@pytest.mark.parametrize(("first", "then"), [("direct", "blue_green_service"), ("blue_green_service", "direct")])
def test_a_strategy_change_the_deploy_refuses_fails_the_route_check(tmp_path: Path, first: str, then: str) -> None:
    with KubeApiStandIn() as api:
        assert run(api, tmp_path, first, "--tag", "1").exit_code == 0
        api.requests.clear()
        dry = run(api, tmp_path, then, "--tag", "2", "--dry-run")
        route = checks(dry.output)["route"]
        assert dry.exit_code == 4 and route[0] == "fail", dry.output
        assert f"this deploy's strategy is {then}" in route[1]
        real = run(api, tmp_path, then, "--tag", "2")
        assert real.exit_code == 4 and "pre-flight failed, nothing was changed: route:" in real.output
        assert writes(api) == []


def test_when_discovery_fails_the_skipped_checks_do_not_claim_istio_is_missing(make_platform: Make) -> None:
    api, platform = make_platform(budget_s=5.0)
    api.fault("GET", r"^/apis/?$", action="429", times=11, retry_after=0)
    text = platform.preflight(bg("1"), ServiceSpec.minimal("carts")).render()
    found = checks(text)
    assert found["API discovery"][0] == "fail" and "429" in found["API discovery"][1]
    assert "not served" not in text, text


@pytest.mark.parametrize(("namespace", "host", "claims"), [
    (NS, "carts", True),  # a short name means carts.<its namespace>.svc.cluster.local (Istio's VirtualService.hosts)
    ("legacy", "carts", False),  # ... in its own namespace: another service
    ("legacy", f"carts.{NS}.svc.cluster.local", True),
])
def test_a_short_host_claims_the_service_in_its_own_namespace(make_platform: Make, namespace: str, host: str,
                                                              claims: bool) -> None:
    api, platform = make_platform()
    if ("", "namespaces", "", namespace) not in api.store.objects:
        api.store.create(by_kind("Namespace"), "", {"metadata": {"name": namespace}}, "v1")
    api.store.create(by_kind("VirtualService"), namespace, {
        "apiVersion": f"{ISTIO}/v1", "kind": "VirtualService", "metadata": {"name": "carts-legacy"},
        "spec": {"hosts": [host], "http": [{"route": [{"destination": {"host": host}}]}]}}, "v1")
    hosts = checks(platform.preflight(bg("1"), ServiceSpec.minimal("carts")).render())["hosts"]
    assert (hosts[0] == "fail") == claims, hosts
    if claims:
        assert f"{namespace}/carts-legacy claims carts.{NS}.svc.cluster.local" in hosts[1]


def test_istio_injection_on_the_namespace_overrides_a_revision_label(make_platform: Make) -> None:
    """Istio docs, "Canary upgrades": the ``istio-injection`` label takes precedence over
    ``istio.io/rev``, so a namespace with both never gets the asked revision's sidecar."""
    api, platform = make_platform()
    labels = {"istio.io/rev": "canary", "istio-injection": "disabled"}
    api.store.create(by_kind("Namespace"), "", {"metadata": {"name": NS, "labels": labels}}, "v1")
    platform.injection = ("istio.io/rev", "canary")
    namespace = checks(platform.preflight(bg("1"), ServiceSpec.minimal("carts")).render())["namespace"]
    assert namespace[0] == "fail" and "istio-injection=disabled, which takes precedence over istio.io/rev=canary" in namespace[1]


@pytest.mark.parametrize(("labels", "injection", "command"), [
    ({"istio-injection": "disabled"}, ("istio-injection", "enabled"), "--overwrite istio-injection=enabled"),
    ({"istio.io/rev": "stable"}, ("istio.io/rev", "canary"), "--overwrite istio.io/rev=canary"),
    ({}, ("istio.io/rev", "canary"), "istio.io/rev=canary"),
    ({"istio-injection": "enabled", "istio.io/rev": "stable"}, ("istio.io/rev", "canary"),
     "istio-injection- --overwrite istio.io/rev=canary"),
])
def test_the_namespace_fix_is_a_command_kubectl_accepts(make_platform: Make, labels: dict[str, str],
                                                        injection: tuple[str, str], command: str) -> None:
    """``kubectl label`` refuses to change a label that has another value without ``--overwrite``
    (kubectl reference, "kubectl label"), so the command pre-flight prints must carry it then."""
    api, platform = make_platform()
    api.store.create(by_kind("Namespace"), "", {"metadata": {"name": NS, "labels": labels}}, "v1")
    platform.injection = injection
    namespace = checks(platform.preflight(bg("1"), ServiceSpec.minimal("carts")).render())["namespace"]
    assert namespace[0] == "fail" and namespace[1].endswith(f"; kubectl label namespace {NS} {command}"), namespace
