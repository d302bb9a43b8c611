"""Pre-flight: ``deploy --dry-run`` checks everything without writing, and ``deploy`` runs it first.

Aspects: on a healthy cluster every check is ``ok``, the checklist is printed, exit 0 and no write
reached the API (SelfSubjectAccessReviews and ``dryRun=All`` requests only); each way a cluster
can be unfit fails its own check, and only that one, naming the cause — Istio not served, the
namespace Terminating, the sidecar-injection label missing or for another revision, a verb the
deploy needs denied, a split route, an object the API server refuses under
``fieldValidation=Strict`` (an unknown field), no running gateway pod behind the Gateway's
selector, another VirtualService claiming the host — and then ``deploy`` exits 4 with the
checklist on stderr and nothing changed; ``--sidecar-injection istio.io/rev=canary`` is what gets
checked and labelled; a platform without pre-flight refuses ``--dry-run`` as bad input.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from pipeline_steps.cli import cli
from pipeline_steps.platforms.kubernetes.chart import chart_dir
from standins.kubeapi import KubeApiStandIn, write_kubeconfig
from standins.kubeapi.resources import ISTIO, by_kind
from tests.platforms.kubernetes.conftest import writes

NS = "sockshop-staging"
CONTEXT = ["--project", "sockshop", "--stage", "staging", "--service", "carts", "--image",
           "docker.io/keptnexamples/carts", "--deployment-strategy", "blue_green_service"]


def run(api: KubeApiStandIn, tmp: Path, *args: str, env: dict[str, str] | None = None) -> Result:
    config = write_kubeconfig(api.url, tmp / "kubeconfig")
    return CliRunner().invoke(cli, ["deploy", *CONTEXT, *args, "--platform", "kubernetes", "--kubeconfig", str(config),
                                    "--out-dir", str(tmp / "out"), "--timeout", "10"],
                              catch_exceptions=False, env={"KUBECONFIG": None, "PIPELINE_STEPS_PLATFORM": None,
                                                           **(env or {})})


def ready(api: KubeApiStandIn, tmp: Path) -> None:
    """A stage namespace labelled for injection, version 1 live on blue."""
    assert run(api, tmp, "--tag", "1").exit_code == 0


def statuses(result: Result) -> dict[str, str]:
    found = (re.match(r"^  (ok|fail|skip)\s+([^:]+): ", line) for line in result.output.splitlines())
    return {m.group(2): m.group(1) for m in found if m}


def test_a_healthy_cluster_passes_with_nothing_written(tmp_path: Path) -> None:
    with KubeApiStandIn() as api:
        ready(api, tmp_path)
        api.requests.clear()
        result = run(api, tmp_path, "--tag", "2", "--dry-run")
        print(result.output)  # the report quotes it
        assert result.exit_code == 0, result.output
        assert statuses(result) == dict.fromkeys(("API discovery", "namespace", "RBAC", "route", "dry run", "gateway",
                                                  "hosts"), "ok")
        assert "blue is live (blue 100 / green 0); the new version goes to green" in result.output
        assert "4 kept, 3 replaced" in result.output and result.output.rstrip().endswith("pre-flight passed: nothing was changed")
        assert writes(api) == [] and any("dryRun=All" in r.path and "fieldValidation=Strict" in r.path
                                         for r in api.requests)
        assert not (tmp_path / "out" / "deployment.json").exists() or "1" in (
            tmp_path / "out" / "deployment.json").read_text()


Breakage = Callable[[KubeApiStandIn, Path], dict[str, Any]]


def no_istio(api: KubeApiStandIn, tmp: Path) -> dict[str, Any]:
    api.catalogue.served = {}
    return {}


def terminating(api: KubeApiStandIn, tmp: Path) -> dict[str, Any]:
    api.store.objects[("apps", "deployments", NS, "carts-blue")]["metadata"]["finalizers"] = ["example.com/keep"]
    api.namespaces.terminate(NS, hold=True)
    return {}


def no_injection_label(api: KubeApiStandIn, tmp: Path) -> dict[str, Any]:
    api.store.objects[("", "namespaces", "", NS)]["metadata"]["labels"].pop("istio-injection")
    return {}


def other_revision(api: KubeApiStandIn, tmp: Path) -> dict[str, Any]:
    return {"args": ["--sidecar-injection", "istio.io/rev=canary"]}


def lease_denied(api: KubeApiStandIn, tmp: Path) -> dict[str, Any]:
    api.access.deny("create", "coordination.k8s.io", "leases", NS)
    return {}


def split_route(api: KubeApiStandIn, tmp: Path) -> dict[str, Any]:
    route = api.store.objects[(ISTIO, "virtualservices", NS, "carts")]["spec"]["http"][0]["route"]
    route[0]["weight"], route[1]["weight"] = 50, 50
    return {}


def unknown_field(api: KubeApiStandIn, tmp: Path) -> dict[str, Any]:
    chart = tmp / "chart"
    shutil.copytree(chart_dir(), chart)
    template = chart / "templates" / "deployment.yaml"
    template.write_text(template.read_text().replace("imagePullPolicy:", "imagePullPolcy:"))
    return {"env": {"PIPELINE_STEPS_CHART": str(chart)}}


def no_gateway_pods(api: KubeApiStandIn, tmp: Path) -> dict[str, Any]:
    api.store.delete(by_kind("Deployment"), "istio-system", "istio-ingressgateway")
    return {}


def host_claimed(api: KubeApiStandIn, tmp: Path) -> dict[str, Any]:
    api.store.create(by_kind("Namespace"), "", {"metadata": {"name": "legacy"}}, "v1")
    api.store.create(by_kind("VirtualService"), "legacy", {
        "apiVersion": f"{ISTIO}/v1", "kind": "VirtualService", "metadata": {"name": "old-carts"},
        "spec": {"hosts": ["carts.sockshop-staging.example.com"], "http": [{"route": [{"destination": {
            "host": "old-carts.legacy.svc.cluster.local"}}]}]}}, "v1")
    return {}


@pytest.mark.parametrize(("breakage", "check", "words"), [
    (no_istio, "API discovery", f"does not serve {ISTIO}"),
    (terminating, "namespace", "is being deleted (Terminating)"),
    (no_injection_label, "namespace", "lacks the sidecar-injection label istio-injection=enabled"),
    (other_revision, "namespace", "has istio-injection=enabled, which takes precedence over istio.io/rev=canary and it "
                                  "lacks istio.io/rev=canary: pods would not get that revision's sidecar; kubectl "
                                  f"label namespace {NS} istio-injection- istio.io/rev=canary"),
    (lease_denied, "RBAC", f"not allowed: create leases.coordination.k8s.io in {NS}"),
    (split_route, "route", "split blue 50 / green 50"),
    (unknown_field, "dry run", 'unknown field "spec.template.spec.containers[0].imagePullPolcy"'),
    (no_gateway_pods, "gateway", "no running pod matches the chart's Gateway's selector istio=ingressgateway"),
    (host_claimed, "hosts", "legacy/old-carts claims carts.sockshop-staging.example.com"),
], ids=lambda v: v.__name__ if callable(v) else None)
def test_each_unfit_cluster_fails_its_check_and_deploy_changes_nothing(tmp_path: Path, breakage: Breakage,
                                                                      check: str, words: str) -> None:
    with KubeApiStandIn() as api:
        ready(api, tmp_path)
        shape = breakage(api, tmp_path)
        api.requests.clear()
        dry = run(api, tmp_path, "--tag", "2", "--dry-run", *shape.get("args", []), env=shape.get("env"))
        assert dry.exit_code == 4, dry.output
        failed = {name for name, status in statuses(dry).items() if status == "fail"}
        assert failed == {check}, dry.output
        assert words in dry.output, dry.output
        real = run(api, tmp_path / "real", "--tag", "2", *shape.get("args", []), env=shape.get("env"))
        assert real.exit_code == 4 and f"pre-flight failed, nothing was changed: {check}" in real.output
        assert writes(api) == []


def test_the_broken_cluster_of_the_report(tmp_path: Path) -> None:
    """Several faults at once: each one is listed (the report quotes this checklist)."""
    with KubeApiStandIn() as api:
        ready(api, tmp_path)
        for breakage in (no_injection_label, lease_denied, no_gateway_pods, host_claimed):
            breakage(api, tmp_path)
        shape = unknown_field(api, tmp_path)
        result = run(api, tmp_path, "--tag", "2", "--dry-run", env=shape["env"])
        print(result.output)
        assert result.exit_code == 4
        assert {n for n, s in statuses(result).items() if s == "fail"} == {"namespace", "RBAC", "dry run", "gateway",
                                                                          "hosts"}


def test_a_revision_label_is_set_and_checked(tmp_path: Path) -> None:
    with KubeApiStandIn() as api:
        assert run(api, tmp_path, "--tag", "1", "--sidecar-injection", "istio.io/rev=canary").exit_code == 0
        labels = api.store.objects[("", "namespaces", "", NS)]["metadata"]["labels"]
        assert labels["istio.io/rev"] == "canary" and "istio-injection" not in labels
        assert run(api, tmp_path, "--tag", "2", "--dry-run", "--sidecar-injection", "istio.io/rev=canary").exit_code == 0
        bad = run(api, tmp_path, "--tag", "2", "--dry-run", "--sidecar-injection", "istio.io/rev=Canary!")
        assert bad.exit_code == 2 and "--sidecar-injection: 'istio.io/rev=Canary!' is not" in bad.output


def test_dry_run_needs_a_platform_with_preflight(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["deploy", *CONTEXT, "--tag", "1", "--dry-run", "--platform", "local",
                                      "--state-dir", str(tmp_path / "state")],
                                env={"PIPELINE_STEPS_PLATFORM": None})
    assert result.exit_code == 2 and "--dry-run: the local platform has no pre-flight checks" in result.output


def test_a_hostile_image_is_bad_input_before_any_request(tmp_path: Path) -> None:
    """Issue 12: IMAGE with a quote and newlines once added a privileged securityContext."""
    exploit = 'repo/carts:1"\n          securityContext: {privileged: true}\n          workingDir: "/'
    with KubeApiStandIn() as api:
        config = write_kubeconfig(api.url, tmp_path / "kubeconfig")
        args = ["deploy", "--project", "sockshop", "--stage", "staging", "--service", "carts", "--image", exploit,
                "--tag", "1", "--deployment-strategy", "blue_green_service", "--platform", "kubernetes",
                "--kubeconfig", str(config), "--out-dir", str(tmp_path / "out")]
        for extra in ([], ["--dry-run"]):
            result = CliRunner().invoke(cli, [*args, *extra], env={"KUBECONFIG": None, "PIPELINE_STEPS_PLATFORM": None})
            assert result.exit_code == 2 and result.output.count("\n") == 1, result.output
            assert result.output.startswith("error: --image: 'repo/carts:1\"\\n")
        assert api.requests == []
