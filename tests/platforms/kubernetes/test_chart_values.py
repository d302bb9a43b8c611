"""No value can change the shape of what the chart renders (issue 12: manifest injection).

Aspects: the reported exploit (IMAGE with a quote and newlines adding ``securityContext:
privileged``) is bad input naming ``--image``, before rendering; image repositories and tags
follow the OCI reference grammar (valid ones from the registries' own examples render, invalid
ones are refused, also with a trailing newline or a Unicode digit); for every value
pipeline-steps sets and every value a service.yaml can set, each hostile string (YAML
structure, document separators, template syntax, quotes, escapes, Unicode line breaks) is
either refused as bad input or renders as exactly that string in exactly the places a harmless
marker lands, with every other object and field unchanged; the test covers every value
``values_for`` produces, so a new value cannot go untested; numbers stay numbers.
"""

from __future__ import annotations

import copy
import json
import shutil
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pipeline_steps.documents.context import StageContext
from pipeline_steps.documents.service import ServiceSpec
from pipeline_steps.errors import BadInputError
from pipeline_steps.platforms.kubernetes.chart import chart_dir, render, values_for
from pipeline_steps.platforms.kubernetes.references import check_repository, check_tag
from standins.kubeapi import KubeApiStandIn
from standins.kubeapi.authn import TOKEN
from standins.kubeapi.resources import ISTIO, MONITORING, by_kind

CTX = StageContext(project="sockshop", stage="staging", service="carts", image="docker.io/keptnexamples/carts",
                   tag="0.7.3", deployment_strategy="blue_green_service")
SERVICE = ServiceSpec(name="carts", port=8080, health_path="/health", replicas=2,
                      chart_values={"database": {"enabled": True}, "env": {"MODE": "demo"},
                                    "metrics": {"serviceMonitor": {"enabled": True}, "podMonitor": {"enabled": True}}})
EXPLOIT = 'repo/carts:1"\n          securityContext: {privileged: true}\n          workingDir: "/'
HOSTILE = [
    '1"\n  securityContext: {privileged: true}\n  x: "', "x\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: s}",
    "a: b", "- x", "{{ .Release.Name }}", '{{ fail "x" }}', "*ref", "&anchor x", "!!binary AA==", "'", '"', "\\",
    "#", "x #c", "@x", "`x`", "%x", "x\u2028y: z", "x\x85y: z", "x\ty", "", " ", "null", "true", "1e3", "0x10",
    "~", "[a, b]", "{a: b}", "x\r\ny: z", "\u0000",
]
MARKER = "zqmarkerqz"
QUANTITY_MARKER = "98765"
DEFAULT_WHEN_EMPTY = {("ingress", "gateway", "name"), ("rbac", "serviceAccount", "namespace")}
"""Values whose empty string means "the default" (documented in values.yaml)."""


def objects(values: dict[str, Any], directory: Path | None = None) -> list[dict[str, Any]]:
    return render(values, CTX.namespace, directory)


@pytest.fixture(scope="module")
def schemaless(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The chart without values.schema.json: the templates' quoting has to hold on its own."""
    copy_dir = tmp_path_factory.mktemp("chart") / "service"
    shutil.copytree(chart_dir(), copy_dir)
    (copy_dir / "values.schema.json").unlink()
    return copy_dir


@pytest.fixture(scope="module")
def server() -> Iterator[KubeApiStandIn]:
    """An API server with every CRD the chart may render."""
    with KubeApiStandIn(served={ISTIO: ("v1",), MONITORING: ("v1",)}) as api:
        yield api


def refusals(api: KubeApiStandIn, rendered: list[dict[str, Any]]) -> list[str]:
    """What the API server says to each object (server-side dry run, ``fieldValidation=Strict``)."""
    found = []
    for obj in rendered:
        res = by_kind(obj["kind"])
        namespace = obj["metadata"].get("namespace", "")
        if res.namespaced and ("", "namespaces", "", namespace) not in api.store.objects:
            api.store.create(by_kind("Namespace"), "", {"metadata": {"name": namespace}}, "v1")
        base = f"/apis/{obj['apiVersion']}" if "/" in obj["apiVersion"] else "/api/v1"
        path = f"{base}/namespaces/{namespace}/{res.plural}" if res.namespaced else f"{base}/{res.plural}"
        request = urllib.request.Request(f"{api.url}{path}?dryRun=All&fieldValidation=Strict",
                                         data=json.dumps(obj).encode(), method="POST",
                                         headers={"Content-Type": "application/json",
                                                  "Authorization": f"Bearer {TOKEN}"})
        try:
            urllib.request.urlopen(request, timeout=10).close()
        except urllib.error.HTTPError as err:
            found.append(f"{obj['kind']} {obj['metadata']['name']}: {err.code} {err.read().decode()[:300]}")
    return found


def shape(node: Any) -> Any:
    """Structure without string contents: keys, list lengths and leaf types."""
    if isinstance(node, dict):
        return {k: shape(v) for k, v in node.items()}
    if isinstance(node, list):
        return [shape(v) for v in node]
    return type(node).__name__


def set_path(values: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    changed = copy.deepcopy(values)
    target = changed
    for key in path[:-1]:
        target = target.setdefault(key, {})
    target[path[-1]] = value
    return changed


def marker_for(path: tuple[Any, ...]) -> str:
    """A plain word for the place: a quantity (``resources``) must look like one."""
    return QUANTITY_MARKER if len(path) > 1 and path[-2] in ("limits", "requests") else MARKER


def replace_marker(node: Any, hostile: str, marker: str = MARKER) -> Any:
    if isinstance(node, dict):
        return {replace_marker(k, hostile, marker): replace_marker(v, hostile, marker) for k, v in node.items()}
    if isinstance(node, list):
        return [replace_marker(v, hostile, marker) for v in node]
    return node.replace(marker, hostile) if isinstance(node, str) else node


def leaves(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(node, dict) and node:
        return [p for key, value in node.items() for p in leaves(value, (*path, key))]
    return [path]


# What a deploy renders, plus the RBAC objects an operator renders with the same chart.
BASE = {**values_for(CTX, SERVICE), "rbac": {"create": True, "clusterRole": True,
                                             "serviceAccount": {"create": True, "name": "jenkins", "namespace": "ci"}}}
# Every leaf value: what pipeline-steps sets and what service.yaml sets (chart defaults included).
STRING_PATHS = [("name",), ("project",), ("stage",), ("strategy",), ("image", "repository"), ("image", "tag"),
                ("image", "pullPolicy"), ("healthPath",), ("env", "MODE"), ("ingress", "domain"),
                ("ingress", "gatewaySelector", "istio"), ("ingress", "gateway", "name"), ("database", "image"),
                ("database", "tag"), ("database", "protocol"), ("metrics", "path"), ("metrics", "interval"),
                ("resources", "limits", "cpu"), ("database", "resources", "requests", "memory"),
                ("rbac", "serviceAccount", "name"), ("rbac", "serviceAccount", "namespace")]
NUMBER_PATHS = [("replicas",), ("port",), ("servicePort",), ("weights", "blue"), ("weights", "green"),
                ("ingress", "port"), ("database", "port")]
SWITCH_PATHS = [("database", "enabled"), ("ingress", "gateway", "create"), ("metrics", "serviceMonitor", "enabled"),
                ("metrics", "podMonitor", "enabled"), ("rbac", "create"), ("rbac", "clusterRole"),
                ("rbac", "serviceAccount", "create")]


def dataclasses_replace(ctx: StageContext, strategy: str) -> StageContext:
    import dataclasses

    return dataclasses.replace(ctx, deployment_strategy=strategy)


def test_a_deploy_never_renders_rbac() -> None:
    forced = ServiceSpec(name="carts", chart_values={"rbac": {"create": True, "clusterRole": True}})
    kinds = {o["kind"] for o in objects(values_for(CTX, forced))}
    assert not kinds & {"ServiceAccount", "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"}
    assert {"Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding", "ServiceAccount"} <= {
        o["kind"] for o in objects(BASE)}


def test_the_reported_exploit_is_bad_input_naming_the_image() -> None:
    ctx = StageContext(project="sockshop", stage="staging", service="carts", image=EXPLOIT, tag="1",
                       deployment_strategy="blue_green_service")
    with pytest.raises(BadInputError, match=r"^--image: 'repo/carts:1\"\\n .* is not an image repository") as err:
        values_for(ctx, SERVICE)
    assert "\n" not in str(err.value)
    with pytest.raises(BadInputError, match="give the tag in TAG"):
        check_repository("docker.io/keptnexamples/carts:0.7.3")


@pytest.mark.parametrize("repository", ["carts", "docker.io/keptnexamples/carts", "localhost:5000/a/b-c__d.e",
                                        "registry.example.com:443/team/app", "[::1]:5000/app", "a/b---c"])
def test_valid_repositories(repository: str) -> None:
    assert check_repository(repository) == repository


@pytest.mark.parametrize("repository", ["", "Carts", "carts:1", "carts@sha256:" + "a" * 64, "carts/", "/carts",
                                        "a//b", "carts\n", "a/-b", "a/b-", "café", "a b", "a/" + "b" * 256,
                                        "host:port/app", "a/b_-c"])
def test_invalid_repositories(repository: str) -> None:
    with pytest.raises(BadInputError, match=r"^--image: "):
        check_repository(repository)


@pytest.mark.parametrize("tag", ["0.7.3", "latest", "v1.2.3-rc.1", "_x", "A" * 128, "1_0"])
def test_valid_tags(tag: str) -> None:
    assert check_tag(tag) == tag


@pytest.mark.parametrize("tag", ["", "A" * 129, ".x", "-x", "1\n", "1 2", "1:2", "1/2", "١", "x\u200b"])
def test_invalid_tags(tag: str) -> None:
    with pytest.raises(BadInputError, match=r"^--tag: "):
        check_tag(tag)


def test_every_value_is_covered() -> None:
    covered = set(STRING_PATHS) | set(NUMBER_PATHS) | set(SWITCH_PATHS)
    produced = {p for p in leaves(BASE) if not (p[0] == "resources" or p[:2] == ("database", "resources"))}
    assert produced <= covered | {("resources",), ("database", "resources")}, produced - covered


@pytest.mark.parametrize("path", STRING_PATHS, ids=".".join)
def test_hostile_strings_are_refused_or_rendered_verbatim(path: tuple[str, ...], server: KubeApiStandIn) -> None:
    """...and what renders, the API server accepts: a value the chart lets through but the server
    refuses (a Service named ``1e3``, a cpu limit of ``true``) would stop a deploy half-way."""
    marker = marker_for(path)
    marked = set_path(BASE, path, marker)
    try:
        expected_shape = objects(marked)
    except BadInputError:
        expected_shape = None  # even a plain word is refused here (an enum): every hostile value must be too
    for hostile in HOSTILE:
        if hostile == "" and path in DEFAULT_WHEN_EMPTY:
            continue  # "" means the documented default
        try:
            got = objects(set_path(BASE, path, hostile))
        except BadInputError as err:
            assert "\n" not in str(err)
            continue
        assert expected_shape is not None, f"{path}: {hostile!r} rendered where no plain word may"
        assert got == replace_marker(expected_shape, hostile, marker), f"{path}: {hostile!r} changed the objects"
        assert refusals(server, got) == [], f"{path}: {hostile!r} renders what the API server refuses"


def test_the_defaults_and_every_option_are_accepted_by_the_api_server(server: KubeApiStandIn) -> None:
    assert refusals(server, objects(BASE)) == []
    direct = {**values_for(dataclasses_replace(CTX, "direct"), SERVICE), "rbac": BASE["rbac"]}
    assert refusals(server, objects(direct)) == []


@pytest.mark.parametrize(("path", "value", "field"), [
    (("database", "protocol"), "mongodbxxxxxx", "database.protocol"),  # port name mongodbxxxxxx-db: > 15
    (("resources", "limits", "cpu"), "1.2.3", "resources.limits.cpu"),
    (("resources", "limits", "cpu"), "-1", "resources.limits.cpu"),
    (("resources", "limits", "gpu"), "1", None),  # the library reports a property name at '' (the root)
    (("metrics", "interval"), "30s1m", "metrics.interval"),
    (("ingress", "gateway", "name"), "istio-system/", "ingress.gateway.name"), (("name",), "9carts", "name"),
    (("metric",), {"podMonitor": {}}, None),
], ids=str)
def test_values_the_api_server_would_refuse_are_bad_input(path: tuple[str, ...], value: Any, field: str | None) -> None:
    """One line naming the value (``chart.values: database.protocol: ...``), not Helm's preamble."""
    with pytest.raises(BadInputError) as err:
        objects(set_path(BASE, path, value))
    assert err.value.source == "chart.values" and err.value.field == field, str(err.value)
    assert "\n" not in str(err.value) and "specifications of the schema" not in str(err.value)


@pytest.mark.parametrize("path", STRING_PATHS, ids=".".join)
def test_templates_alone_quote_every_string(path: tuple[str, ...], schemaless: Path) -> None:
    """Without the schema, a hostile string may be cut (label values) but never adds a field or object."""
    expected = shape(objects(set_path(BASE, path, marker_for(path)), schemaless))
    for hostile in HOSTILE:
        got = objects(set_path(BASE, path, hostile), schemaless)
        assert shape(got) == expected, f"{path}: {hostile!r}"


@pytest.mark.parametrize("path", NUMBER_PATHS + SWITCH_PATHS, ids=".".join)
def test_numbers_and_switches_accept_only_their_type(path: tuple[str, ...]) -> None:
    for hostile in [*HOSTILE, "1", 1.5, [1], {"a": 1}]:
        with pytest.raises(BadInputError):
            objects(set_path(BASE, path, hostile))


def test_helm_refuses_what_the_product_check_would_also_refuse() -> None:
    """The chart guards ``helm template`` users too: its schema refuses the exploit by itself."""
    with pytest.raises(BadInputError, match=r"^chart\.values: image\.repository: "):
        objects(set_path(BASE, ("image", "repository"), EXPLOIT))
