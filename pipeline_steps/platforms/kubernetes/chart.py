"""Render the service chart (``charts/service``) into Kubernetes objects for one stage and version.

The chart is the single description of what runs (users can ``helm template`` it too); the
platform renders it and applies the objects itself, so it controls the order (namespace, then
Deployments, then routes) and never lets a re-apply reset live route weights. Rendering uses
the ``helm`` CLI when it is on PATH, else the Helm library bundled in ``helm-python-sdk``.

Values are untrusted (IMAGE and TAG are Jenkins build parameters): the image reference is checked
against the OCI grammar here (``references.py``), the chart's ``values.schema.json`` refuses any
value of the wrong shape before Helm renders, and the templates quote every value, so no value can
add a field or an object. Both refusals are bad input (exit 2) before anything is written.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from pipeline_steps.documents.context import StageContext
from pipeline_steps.documents.service import ServiceSpec
from pipeline_steps.documents.weights import Weights
from pipeline_steps.errors import BadInputError, InfrastructureError
from pipeline_steps.files import parse_yaml_documents, read_yaml, to_json
from pipeline_steps.platforms.kubernetes.references import check_repository, check_tag

COLOUR_LABEL = "pipeline-steps.io/colour"


def chart_dir() -> Path:
    """``$PIPELINE_STEPS_CHART`` or the repository's ``charts/service``."""
    override = os.environ.get("PIPELINE_STEPS_CHART")
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[3] / "charts" / "service"


def _deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in over.items():
        merged[key] = _deep_merge(merged[key], value) if isinstance(value, dict) and isinstance(
            merged.get(key), dict) else value
    return merged


def values_for(ctx: StageContext, service: ServiceSpec, weights: Weights | None = None) -> dict[str, Any]:
    """Chart values: the service's own ``chart.values`` under the facts of this deploy (which win).

    Raises ``BadInputError`` for an image repository or tag outside the OCI reference grammar."""
    check_repository(ctx.image)
    check_tag(ctx.tag)
    ours: dict[str, Any] = {
        "name": ctx.service, "project": ctx.project, "stage": ctx.stage, "strategy": ctx.deployment_strategy,
        "image": {"repository": ctx.image, "tag": ctx.tag},
        "replicas": service.replicas, "port": service.port, "healthPath": service.health_path,
    }
    if weights is not None:
        ours["weights"] = weights.to_dict()
    # RBAC is for an operator to apply (helm template --set rbac.create=true); a deploy never
    # renders it, whatever service.yaml says.
    ours["rbac"] = {"create": False}
    return _deep_merge(service.chart_values, ours)


def effective_values(values: dict[str, Any], directory: Path | None = None) -> dict[str, Any]:
    """``values`` over the chart's own ``values.yaml``: what the templates will see (Helm's merge)."""
    defaults = read_yaml((directory or chart_dir()) / "values.yaml") or {}
    return _deep_merge(defaults if isinstance(defaults, dict) else {}, values)


def render(values: dict[str, Any], namespace: str, directory: Path | None = None) -> list[dict[str, Any]]:
    """Render the chart; returns the objects in file order (bad values -> ``BadInputError``)."""
    directory = directory or chart_dir()
    if not (directory / "Chart.yaml").is_file():
        raise BadInputError("PIPELINE_STEPS_CHART", None, f"no Helm chart (Chart.yaml) in {directory}")
    helm = shutil.which("helm")
    texts = _render_cli(helm, directory, values, namespace) if helm else _render_library(directory, values, namespace)
    objects: list[dict[str, Any]] = []
    for text in texts:
        try:  # the strict reader: a chart (PIPELINE_STEPS_CHART may name any) cannot alias-bomb us
            objects.extend(doc for doc in parse_yaml_documents(text, f"chart {directory}") if isinstance(doc, dict))
        except BadInputError as err:
            raise InfrastructureError("helm", f"chart {directory} rendered YAML we refuse: {err}") from err
    return objects


def _render_library(directory: Path, values: dict[str, Any], namespace: str) -> list[str]:
    import helm_python

    try:
        chart = helm_python.Chart.load(directory)
        rendered = chart.render(values, name=str(values.get("name", "release")), namespace=namespace)
    except helm_python.HelmValuesError as err:
        raise values_error(str(err)) from err
    except helm_python.HelmError as err:
        raise InfrastructureError("helm", f"cannot render {directory}: {err}") from err
    return [rendered[path] for path in sorted(rendered) if path.endswith((".yaml", ".yml"))]


def _render_cli(helm: str, directory: Path, values: dict[str, Any], namespace: str) -> list[str]:
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        handle.write(to_json(values))
    try:
        proc = subprocess.run([helm, "template", str(values.get("name", "release")), str(directory),
                               "--namespace", namespace, "--values", handle.name],
                              capture_output=True, text=True, timeout=60, check=False)
    finally:
        Path(handle.name).unlink(missing_ok=True)
    if proc.returncode != 0:
        if "values don't meet the specifications of the schema" in proc.stderr:
            raise values_error(proc.stderr)
        raise InfrastructureError("helm", f"helm template {directory} failed: {proc.stderr.strip()[:300]}")
    return [proc.stdout]


_AT = re.compile(r"at '(/?[^']*)': (.+?)(?=\s+-\s+at '|$)", re.DOTALL)


def values_error(text: str) -> BadInputError:
    """Helm's schema refusal as ``chart.values: <field>: <why>`` for its first finding (Helm 3.15+
    and the bundled library say ``- at '/database/protocol': value must be one of ...``); an
    older wording is kept whole."""
    found = _AT.search(text)
    if found is None:
        return BadInputError("chart.values", None, text.strip()[:300])
    field = ".".join(part for part in found.group(1).split("/") if part) or None
    return BadInputError("chart.values", field, found.group(2).strip()[:300])


def colour_of(obj: dict[str, Any]) -> str | None:
    """The colour an object belongs to (``direct`` for the direct unit), or None if shared."""
    labels = (obj.get("metadata") or {}).get("labels") or {}
    value = labels.get(COLOUR_LABEL)
    return str(value) if value else None
