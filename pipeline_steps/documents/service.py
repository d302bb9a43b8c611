"""A service's own configuration (``service.yaml`` in the service's repository).

Keptn 0.2 spread this over helm values, JMeter files and a perfspec in the service repo. We
keep one small file that says how the service runs and is checked, so each platform can start
it (Kubernetes: chart values; local: a command) and each step can find its tests and gate.

Example (``examples/carts/service.yaml``)::

    name: carts
    port: 8080
    health_path: /health
    replicas: 1
    local:
      command: ["{python}", "app.py", "--port", "{port}"]
    chart:
      values: {}
    tests: tests.yaml
    gate: perfspec/perfspec.json
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline_steps.documents.names import check_label
from pipeline_steps.errors import BadInputError
from pipeline_steps.files import read_yaml, under
from pipeline_steps.finite import number

MAX_REPLICAS = 1000
"""Most replicas per colour: 10**30 passed the check and went on to the chart."""


@dataclass(frozen=True)
class ServiceSpec:
    """How one service runs and is checked. Paths are resolved against ``base_dir``, the folder
    service.yaml really lives in (symbolic links to it followed), and stay inside it."""

    name: str
    port: int = 8080
    """Container port (Kubernetes) / the port the service listens on inside its pod."""
    health_path: str = "/health"
    replicas: int = 1
    local_command: tuple[str, ...] = ()
    """Local platform: argv to start one colour; ``{port}`` and ``{python}`` are substituted,
    it runs in the artifact folder named by the image reference."""
    local_env: dict[str, str] = field(default_factory=dict)
    chart_values: dict[str, Any] = field(default_factory=dict)
    """Kubernetes: extra Helm values merged over the chart's defaults."""
    tests: str = ""
    """Path to the functional/performance workload YAML (run-tests)."""
    gate: str = ""
    """Path to the gate spec: a perfspec.json or an slo.yaml (with sli.yaml beside it)."""
    base_dir: str = "."

    def path(self, relative: str) -> Path:
        """A path from this file, resolved against the folder the file lives in; never outside it
        (a service repository names its own files, not the Jenkins agent's)."""
        return under(self.base_dir, relative, source=str(Path(self.base_dir) / "service.yaml")).resolve()

    @classmethod
    def minimal(cls, name: str) -> ServiceSpec:
        """Defaults for a service without a ``service.yaml``."""
        return cls(name=name)


def load_service(path: str | Path) -> ServiceSpec:
    """Parse ``service.yaml``; errors name the file and the field."""
    path = Path(path)
    source = str(path)
    data = read_yaml(path)
    if not isinstance(data, dict):
        raise BadInputError(source, None, "must be a mapping")

    def get(key: str, kind: type, default: Any) -> Any:
        value = data.get(key, default)
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
            raise BadInputError(source, key, f"must be {kind.__name__}")
        return value

    name = get("name", str, "")
    if not name:
        raise BadInputError(source, "name", "is required")
    check_label(name, source, "name")
    port = number(data.get("port", 8080), source, "port", minimum=1, maximum=65535, integer=True)
    replicas = number(data.get("replicas", 1), source, "replicas", minimum=1, maximum=MAX_REPLICAS, integer=True)
    local = get("local", dict, {})
    command = local.get("command", [])
    if not isinstance(command, list) or not all(isinstance(a, str) for a in command):
        raise BadInputError(source, "local.command", "must be a list of strings")
    env = local.get("env", {})
    if not isinstance(env, dict):
        raise BadInputError(source, "local.env", "must be a mapping")
    chart = get("chart", dict, {})
    values = chart.get("values", {})
    if not isinstance(values, dict):
        raise BadInputError(source, "chart.values", "must be a mapping")
    health = get("health_path", str, "/health")
    if not health.startswith("/"):
        raise BadInputError(source, "health_path", "must start with '/'")
    # The folder the file really lives in (a checkout may link service.yaml into a workspace): the files
    # it names are resolved there and must stay inside it.
    folder = path.resolve().parent
    for key in ("tests", "gate"):
        if get(key, str, ""):
            under(folder, get(key, str, ""), source=source, field=key)
    return ServiceSpec(
        name=name,
        port=port,
        health_path=health,
        replicas=replicas,
        local_command=tuple(command),
        local_env={str(k): str(v) for k, v in env.items()},
        chart_values=values,
        tests=get("tests", str, ""),
        gate=get("gate", str, ""),
        base_dir=str(folder),
    )
