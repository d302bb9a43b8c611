"""The service chart: lint clean, renders both strategies, every object valid for its schema.

Aspects: helm lint (strict) reports nothing; blue/green renders a Deployment per colour with pod
label ``deployment: <service>-<colour>``, one Service across colours (plus one per colour), a
DestinationRule with subsets, a weighted VirtualService for the public host and the mesh, a
Gateway; direct renders one Deployment and an unweighted route; the optional database renders
per colour; values (image, replicas, ports, health path, resources) land where they should;
Kubernetes kinds validate with kubernetes-validate, Istio and Prometheus Operator kinds against
their CRDs' facts (the stand-in's ``standins/kubeapi/crds``, every served version); the schema
check itself rejects a broken route and a misspelt field (so it can fail); label values
stay within 63 characters for the longest names the platform accepts and a long tag.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest

from pipeline_steps.documents.context import StageContext
from pipeline_steps.documents.service import ServiceSpec
from pipeline_steps.platforms.kubernetes.chart import chart_dir, render, values_for

K8S_VERSION = "1.30.0"


def ctx(strategy: str = "blue_green_service") -> StageContext:
    return StageContext(project="sockshop", stage="production", service="carts", image="docker.io/keptnexamples/carts",
                        tag="0.7.3", deployment_strategy=strategy)


def rendered(strategy: str = "blue_green_service", **chart_values: Any) -> list[dict[str, Any]]:
    service = ServiceSpec(name="carts", port=8080, health_path="/health", replicas=2, chart_values=chart_values)
    return render(values_for(ctx(strategy), service), ctx(strategy).namespace)


def by_name(objects: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(o["kind"], o["metadata"]["name"]): o for o in objects}


class CrdSchemaError(AssertionError):
    """An object its CRD's structural schema would prune (unknown field), refuse (type) or miss."""


def validate(obj: dict[str, Any]) -> None:
    from standins.kubeapi.resources import RESOURCES
    from standins.kubeapi.schema import inspect

    res = next(r for r in RESOURCES if r.kind == obj["kind"])
    if not res.custom:
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
        return
    _, found = inspect(res, obj["apiVersion"].split("/")[1], obj)
    if found.unknown or found.wrong_type or found.missing or found.invalid:
        raise CrdSchemaError(f"{obj['kind']}: unknown {found.unknown}, wrong type {found.wrong_type}, "
                             f"missing {found.missing}, invalid {found.invalid}")


def test_lint_is_clean() -> None:
    import helm_python

    report = helm_python.lint(str(chart_dir()), strict=True)
    assert report["errors"] == [] and report["messages"] == []


def test_blue_green_objects() -> None:
    objects = by_name(rendered())
    assert sorted(objects) == [("Deployment", "carts-blue"), ("Deployment", "carts-green"), ("DestinationRule", "carts"),
                               ("Gateway", "carts-gateway"), ("Service", "carts"), ("Service", "carts-blue"),
                               ("Service", "carts-green"), ("VirtualService", "carts")]
    for colour in ("blue", "green"):
        dep = objects[("Deployment", f"carts-{colour}")]
        assert dep["metadata"]["namespace"] == "sockshop-production"
        assert dep["spec"]["template"]["metadata"]["labels"]["deployment"] == f"carts-{colour}"
        assert dep["spec"]["replicas"] == 2
        container = dep["spec"]["template"]["spec"]["containers"][0]
        assert container["image"] == "docker.io/keptnexamples/carts:0.7.3"
        assert container["readinessProbe"]["httpGet"]["path"] == "/health"
        assert container["ports"][0]["containerPort"] == 8080
        assert dep["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "pipeline-steps"
    assert objects[("Service", "carts")]["spec"]["selector"] == {"app.kubernetes.io/name": "carts",
                                                                 "app.kubernetes.io/component": "service"}
    subsets = objects[("DestinationRule", "carts")]["spec"]["subsets"]
    assert [(s["name"], s["labels"]) for s in subsets] == [("blue", {"deployment": "carts-blue"}),
                                                           ("green", {"deployment": "carts-green"})]
    vs = objects[("VirtualService", "carts")]["spec"]
    assert vs["hosts"] == ["carts.sockshop-production.example.com", "carts.sockshop-production.svc.cluster.local"]
    assert vs["gateways"] == ["carts-gateway", "mesh"]
    assert [(d["destination"]["subset"], d["weight"]) for d in vs["http"][0]["route"]] == [("blue", 100), ("green", 0)]


def test_direct_objects() -> None:
    objects = by_name(rendered("direct"))
    assert sorted(objects) == [("Deployment", "carts"), ("Gateway", "carts-gateway"), ("Service", "carts"),
                               ("VirtualService", "carts")]
    route = objects[("VirtualService", "carts")]["spec"]["http"][0]["route"]
    assert len(route) == 1 and "weight" not in route[0] and "subset" not in route[0]["destination"]


def test_values_database_and_resources() -> None:
    objects = by_name(rendered(database={"enabled": True}, resources={"limits": {"cpu": "1", "memory": "1Gi"}},
                               servicePort=8081, ingress={"domain": "1.2.3.4.nip.io"}))
    assert ("Deployment", "carts-db-blue") in objects and ("Service", "carts-db-green") in objects
    env = {e["name"]: e.get("value") for e in objects[("Deployment", "carts-green")]["spec"]["template"]["spec"][
        "containers"][0]["env"]}
    assert env["DATABASE_HOST"] == "carts-db-green"
    assert objects[("Deployment", "carts-blue")]["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"] == {
        "cpu": "1", "memory": "1Gi"}
    assert objects[("Service", "carts")]["spec"]["ports"][0]["port"] == 8081
    assert objects[("VirtualService", "carts")]["spec"]["hosts"][0] == "carts.sockshop-production.1.2.3.4.nip.io"
    assert by_name(rendered("direct", database={"enabled": True}))[("Deployment", "carts-db")]


@pytest.mark.parametrize("strategy", ["blue_green_service", "direct"])
@pytest.mark.parametrize("istio_version", ["v1", "v1beta1", "v1alpha3"])
def test_every_object_validates(strategy: str, istio_version: str) -> None:
    objects = rendered(strategy, database={"enabled": True})
    assert objects
    for obj in objects:
        if obj["apiVersion"] == "networking.istio.io/v1":
            obj = {**obj, "apiVersion": f"networking.istio.io/{istio_version}"}
        validate(obj)


def test_every_option_renders_valid_objects() -> None:
    """Database, both Prometheus Operator monitors and the RBAC objects, each against its schema
    (Kubernetes kinds with kubernetes-validate, Istio's and the Operator's with their CRDs' facts)."""
    service = ServiceSpec(name="carts", port=8080, health_path="/health", replicas=2, chart_values={
        "database": {"enabled": True}, "metrics": {"serviceMonitor": {"enabled": True}, "podMonitor": {"enabled": True}}})
    values = {**values_for(ctx(), service), "rbac": {"create": True, "clusterRole": True}}
    objects = render(values, ctx().namespace)
    assert {"ServiceMonitor", "PodMonitor", "ServiceAccount", "Role", "RoleBinding", "ClusterRole",
            "ClusterRoleBinding"} <= {o["kind"] for o in objects}
    for obj in objects:
        validate(obj)
    monitor = next(o for o in objects if o["kind"] == "ServiceMonitor")["spec"]
    assert monitor["jobLabel"] == "app.kubernetes.io/instance"  # job = carts-sockshop-production
    assert next(o for o in objects if o["kind"] == "Service" and o["metadata"]["name"] == "carts")["metadata"][
        "labels"]["app.kubernetes.io/instance"] == "carts-sockshop-production"
    db = next(o for o in objects if o["kind"] == "Service" and o["metadata"]["name"] == "carts-db-blue")["spec"]["ports"][0]
    assert (db["name"], db["appProtocol"]) == ("mongo-db", "mongo")


def test_validation_can_fail() -> None:
    objects = by_name(rendered())
    broken = copy.deepcopy(objects[("VirtualService", "carts")])
    broken["spec"]["http"][0]["route"][0]["weight"] = "100"
    with pytest.raises(CrdSchemaError, match="wrong type"):
        validate(broken)
    del broken["spec"]["http"][0]["route"][0]["destination"]["host"]
    with pytest.raises(CrdSchemaError, match="missing"):
        validate(broken)
    out_of_bounds = copy.deepcopy(objects[("VirtualService", "carts")])
    out_of_bounds["spec"]["http"][0]["route"][0]["destination"]["port"]["number"] = 2**32
    with pytest.raises(CrdSchemaError, match="less than or equal to 4294967295"):
        validate(out_of_bounds)
    misspelt = copy.deepcopy(objects[("Gateway", "carts-gateway")])
    misspelt["spec"]["selektor"] = misspelt["spec"].pop("selector")
    with pytest.raises(CrdSchemaError, match="unknown"):
        validate(misspelt)
    dep = copy.deepcopy(objects[("Deployment", "carts-blue")])
    dep["spec"]["replicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(dep)


def test_helm_cli_is_used_when_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A ``helm`` on PATH renders (here a recording shim that answers like ``helm template``)."""
    import os
    import sys

    log = tmp_path / "argv.json"
    shim = tmp_path / "bin" / "helm"
    shim.parent.mkdir()
    shim.write_text(
        f"#!{sys.executable}\n"
        "import json, sys, helm_python\n"
        f"json.dump(sys.argv[1:], open({str(log)!r}, 'w'))\n"
        "_, name, chart, _, ns, _, values = sys.argv[1:]\n"
        "out = helm_python.Chart.load(chart).render(json.load(open(values)), name=name, namespace=ns)\n"
        "print('\\n---\\n'.join(out[k] for k in sorted(out) if k.endswith('.yaml')))\n", encoding="utf-8")
    shim.chmod(0o755)
    monkeypatch.setenv("PATH", f"{shim.parent}:{os.environ['PATH']}")
    via_cli = rendered()
    argv = json.loads(log.read_text())
    assert argv[:3] == ["template", "carts", str(chart_dir())] and argv[3:5] == ["--namespace", "sockshop-production"]
    monkeypatch.setenv("PATH", "/nonexistent")
    assert via_cli == rendered()


def test_missing_chart_is_bad_input(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pipeline_steps.errors import BadInputError

    monkeypatch.setenv("PIPELINE_STEPS_CHART", str(tmp_path))
    with pytest.raises(BadInputError, match=r"PIPELINE_STEPS_CHART: no Helm chart"):
        rendered()


def test_label_values_fit_63_characters_for_long_names() -> None:
    long_ctx = StageContext(project="p" * 50, stage="production", service="s" * 54, image="reg/s", tag="t" * 128,
                            deployment_strategy="blue_green_service")
    service = ServiceSpec(name=long_ctx.service, port=8080, health_path="/health", replicas=1,
                          chart_values={"database": {"enabled": True}})
    objects = render(values_for(long_ctx, service), long_ctx.namespace)
    values = [v for o in objects for v in (o["metadata"].get("labels") or {}).values()]
    values += [v for o in objects if o["kind"] == "Deployment"
               for v in o["spec"]["template"]["metadata"]["labels"].values()]
    assert values and max(len(v) for v in values) == 63
    assert all(not v.endswith("-") for v in values)
