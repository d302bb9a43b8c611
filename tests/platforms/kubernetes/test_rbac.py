"""The chart's Role grants exactly the verbs pipeline-steps uses, proven on an RBAC-enforcing stand-in.

Aspects: the Role's rules are ``permissions.py``'s (monitors only when rendered), the ClusterRole's
are the cluster-wide views plus, for namespace creation, the namespaced verbs; with only the
chart's RoleBinding in force (the stand-in authorizing like the RBAC authorizer), pre-flight,
first and second deploy, a deploy whose colour never starts, switch, rollback, status, the
verdict mark and a stale-lock take-over all succeed, and the verbs they used in the namespace
are exactly the Role's: none missing (no 403), none granted for nothing; with only the
ClusterRole, a pipeline creates its namespace and deploys; without any binding, pre-flight names
every denied verb and deploy changes nothing.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from pipeline_steps.documents.context import StageContext
from pipeline_steps.documents.deployment import read_record
from pipeline_steps.documents.service import ServiceSpec
from pipeline_steps.documents.weights import Weights
from pipeline_steps.errors import NotReadyError
from pipeline_steps.platforms.kubernetes.chart import render, values_for
from pipeline_steps.platforms.kubernetes.permissions import CLUSTER, namespaced
from pipeline_steps.platforms.kubernetes.platform import KubernetesPlatform
from pipeline_steps.steps.deploy import DeployOptions, deploy
from pipeline_steps.steps.traffic import rollback, switch
from standins.kubeapi import KubeApiStandIn
from standins.kubeapi.resources import ISTIO, MONITORING, by_kind
from tests.platforms.kubernetes.conftest import bg, writes

NS = "sockshop-staging"
SERVICE = ServiceSpec(name="carts", chart_values={"metrics": {"serviceMonitor": {"enabled": True},
                                                              "podMonitor": {"enabled": True}}})
Make = Callable[..., tuple[KubeApiStandIn, KubernetesPlatform]]
VERB = {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}


def rbac_objects(ctx: StageContext, cluster_role: bool) -> list[dict[str, Any]]:
    values = {**values_for(ctx, SERVICE), "rbac": {"create": True, "clusterRole": cluster_role,
                                                   "serviceAccount": {"name": "pipeline-steps", "namespace": "jenkins"}}}
    return [o for o in render(values, ctx.namespace) if o["apiVersion"].startswith("rbac.") or o["kind"] ==
            "ServiceAccount"]


def rules(permissions: Any) -> list[dict[str, Any]]:
    return [{"apiGroups": [p.group], "resources": [p.resource], "verbs": list(p.verbs)} for p in permissions]


def install(api: KubeApiStandIn, objects: list[dict[str, Any]], kinds: tuple[str, ...]) -> None:
    for obj in (o for o in objects if o["kind"] in kinds):
        namespace = obj["metadata"].get("namespace", "")
        if by_kind(obj["kind"]).namespaced and ("", "namespaces", "", namespace) not in api.store.objects:
            api.store.create(by_kind("Namespace"), "", {"metadata": {"name": namespace}}, "v1")
        api.store.create(by_kind(obj["kind"]), namespace, obj, "v1")


def used(api: KubeApiStandIn, namespace: str) -> set[tuple[str, str, str]]:
    """(verb, group, resource) of every request on ``namespace`` or in it, as the authorizer sees them."""
    seen = set()
    for request in api.requests:
        path = request.path.split("?")[0]
        if path == f"/api/v1/namespaces/{namespace}":
            seen.add(("get" if request.method == "GET" else VERB[request.method], "", "namespaces"))
            continue
        match = re.match(rf"^/(?:api/v1|apis/([^/]+)/[^/]+)/namespaces/{namespace}/([^/]+)(/[^/]+)?$", path)
        if match:
            group, resource, name = match.group(1) or "", match.group(2), match.group(3)
            verb = ("get" if name else "list") if request.method == "GET" else VERB[request.method]
            seen.add((verb, group, resource))
    return seen


def test_the_roles_are_the_permissions() -> None:
    objects = {o["kind"]: o for o in rbac_objects(bg(), cluster_role=True)}
    assert objects["Role"]["rules"] == rules(namespaced({"ServiceMonitor", "PodMonitor"}))
    assert objects["ClusterRole"]["rules"] == rules(CLUSTER) + rules(namespaced({"ServiceMonitor", "PodMonitor"}))
    assert objects["RoleBinding"]["subjects"] == [{"kind": "ServiceAccount", "name": "pipeline-steps",
                                                   "namespace": "jenkins"}]
    plain = {o["kind"]: o for o in render({**values_for(bg(), ServiceSpec.minimal("carts")), "rbac": {
        "create": True}}, NS)}
    assert plain["Role"]["rules"] == rules(namespaced(set())) and "ClusterRole" not in plain


def test_the_role_is_exactly_what_the_steps_use(make_platform: Make, tmp_path: Path) -> None:
    api, platform = make_platform(served={ISTIO: ("v1", "v1beta1", "v1alpha3"), MONITORING: ("v1",)})
    install(api, rbac_objects(bg(), cluster_role=False), ("Role", "RoleBinding"))
    api.store.update(by_kind("Namespace"), "", NS, "v1", "", lambda ns: {
        **ns, "metadata": {**ns["metadata"], "resourceVersion": "", "labels": {"istio-injection": "enabled"}}})
    api.access.rbac = True
    api.requests.clear()

    assert platform.preflight(bg("1"), SERVICE).passed
    deploy(platform, bg("1"), SERVICE, tmp_path / "d1.json")
    deploy(platform, bg("2"), SERVICE, tmp_path / "d2.json")
    gateway = ServiceSpec(name="carts", chart_values={**SERVICE.chart_values, "ingress": {
        "gateway": {"create": False, "name": "carts-gateway"}}})
    assert platform.preflight(bg("3"), gateway).passed  # reads the existing Gateway
    api.deployments.set_unready(NS, "carts-blue", image="docker.io/keptnexamples/carts:3")
    with pytest.raises(NotReadyError):
        deploy(platform, bg("3"), SERVICE, tmp_path / "d3.json", DeployOptions(timeout_s=0.5))  # lists pods
    assert switch(platform, bg(), Weights(0, 100)).after == Weights(0, 100)
    api.deployments.set_ready(NS, "carts-blue")
    rollback(platform, bg(), read_record(tmp_path / "d2.json"))
    platform.mark(bg(), "green", "passed")
    platform.status(bg())
    lease = api.store.objects.get(("coordination.k8s.io", "leases", NS, "carts-pipeline-steps"))
    assert lease is None
    api.store.create(by_kind("Lease"), NS, {"metadata": {"name": "carts-pipeline-steps"}, "spec": {
        "holderIdentity": "dead-build", "leaseDurationSeconds": 1, "renewTime": "2020-01-01T00:00:00.000000Z"}}, "v1")
    switch(platform, bg(), Weights(100, 0))  # takes the stale lock over (update)

    assert [r for r in api.requests if r.code == 403] == []
    granted = {(v, p.group, p.resource) for p in namespaced({"ServiceMonitor", "PodMonitor"}) for v in p.verbs}
    assert used(api, NS) == granted


def test_a_cluster_role_lets_the_pipeline_create_its_namespace(make_platform: Make, tmp_path: Path) -> None:
    api, platform = make_platform()
    install(api, rbac_objects(bg(), cluster_role=True), ("ClusterRole", "ClusterRoleBinding"))
    api.access.rbac = True
    checklist = platform.preflight(bg("1"), ServiceSpec.minimal("carts"))
    assert checklist.passed, checklist.render()
    assert "istio-system/istio-ingressgateway-" in checklist.render()  # the cluster-wide gateway view
    deploy(platform, bg("1"), ServiceSpec.minimal("carts"), tmp_path / "d1.json")
    assert api.store.objects[("", "namespaces", "", NS)]["metadata"]["labels"]["istio-injection"] == "enabled"
    assert [r for r in api.requests if r.code == 403] == []


def test_without_rights_preflight_names_every_denied_verb_and_nothing_changes(make_platform: Make,
                                                                             tmp_path: Path) -> None:
    api, platform = make_platform()
    api.store.create(by_kind("Namespace"), "", {"metadata": {"name": NS, "labels": {"istio-injection": "enabled"}}},
                     "v1")
    api.access.rbac = True
    checklist = platform.preflight(bg("1"), ServiceSpec.minimal("carts"))
    rbac = next(c for c in checklist.checks if c.name == "RBAC")
    assert rbac.status == "fail"
    for verb, resource in (("create", "leases.coordination.k8s.io"), ("patch", "virtualservices.networking.istio.io"),
                           ("list", "horizontalpodautoscalers.autoscaling"), ("get", "namespaces")):
        assert f"{verb} {resource} in {NS}" in rbac.detail
    assert writes(api) == []


def test_the_docs_list_every_permission() -> None:
    """docs/kubernetes.md's table says what permissions.py says (one row per resource)."""
    doc = (Path(__file__).resolve().parents[3] / "docs" / "kubernetes.md").read_text()
    rows = {}
    for line in doc.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) == 4 and cells[0] in ('""', "apps", "autoscaling", "coordination.k8s.io", "networking.istio.io",
                                            "monitoring.coreos.com"):
            for resource in cells[1].split(", "):
                rows[(cells[0].strip('"'), resource)] = tuple(v.strip() for v in cells[2].split(","))
    listed = {(p.group, p.resource): p.verbs for p in namespaced({"ServiceMonitor", "PodMonitor"})}
    assert rows == listed


RBAC_KINDS = {"ServiceAccount", "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"}


def helm_set(values: dict[str, Any], assignments: str) -> None:
    """``--set a.b=x,c=true`` as Helm reads it (booleans become booleans)."""
    for assignment in assignments.split(","):
        path, _, raw = assignment.partition("=")
        target = values
        for key in path.split(".")[:-1]:
            target = target.setdefault(key, {})
        target[path.split(".")[-1]] = {"true": True, "false": False}.get(raw, raw)


def test_the_readmes_rbac_command_renders_only_the_rbac_objects() -> None:
    """An operator pipes it into ``kubectl apply``: without ``--show-only`` it would also apply both
    colours at the chart's default image and reset the route to 100/0 — on a live stage, users
    would be sent to a version nobody deployed."""
    import helm_python

    readme = " ".join((Path(__file__).resolve().parents[3] / "README.md").read_text().split())
    commands = re.findall(r"`(helm template [^`]*rbac\.create=true[^`]*)\| kubectl apply -f -`", readme)
    assert commands, "the README shows how to render the Role"
    for command in commands:
        words = command.split()
        values: dict[str, Any] = {}
        shown = ""
        for flag, argument in itertools.pairwise(words):
            if flag == "--set":
                helm_set(values, argument)
            elif flag in ("--show-only", "-s"):
                shown = argument
        assert shown, f"{command!r} renders every object of the chart, not only its RBAC"
        rendered = helm_python.Chart.load(Path(__file__).resolve().parents[3] / words[3]).render(
            values, name=words[2], namespace=f"{values['project']}-{values['stage']}")
        objects = [doc for path, text in rendered.items() if path.endswith(shown)
                   for doc in yaml.safe_load_all(text) if doc]
        assert objects and {o["kind"] for o in objects} <= RBAC_KINDS, command
        assert {"Role", "RoleBinding"} <= {o["kind"] for o in objects}
