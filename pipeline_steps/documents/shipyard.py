"""The shipyard: the ordered stages a version passes and how each one deploys, tests and approves.

Keptn 0.2's format (``stages: [{name, deployment_strategy, test_strategy}]``) is accepted as is;
we add what later Keptn versions added and users asked for, all optional:

* ``approval_strategy: {pass: automatic|manual, warning: automatic|manual}`` (Keptn 0.7 names;
  default automatic for both, as Keptn 0.2 promoted warnings);
* ``gate``: the gate spec for this stage (a perfspec.json or slo.yaml path, relative to the
  shipyard); default: the service's own (service.yaml ``gate``);
* ``switch: before_tests | after_gate``: when traffic moves to the new colour in a blue/green
  stage with tests. ``before_tests`` (default, Keptn's order) tests through the public switch;
  ``after_gate`` tests the new colour directly and flips only once the gate passed, so no user
  request reaches an unjudged version. Stages without tests flip once the new colour is ready.

Validated once, at load, with file-and-field errors.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline_steps.documents.names import DNS_LABEL
from pipeline_steps.documents.vocabulary import DeploymentStrategy
from pipeline_steps.errors import BadInputError
from pipeline_steps.files import read_yaml, under

APPROVALS = ("automatic", "manual")
SWITCHES = ("before_tests", "after_gate")
TEST_STRATEGIES = ("functional", "performance")


@dataclass(frozen=True)
class Stage:
    """One stage of the shipyard."""

    name: str
    deployment_strategy: DeploymentStrategy | str
    test_strategy: str = ""
    approval_pass: str = "automatic"
    approval_warning: str = "automatic"
    gate: str = ""
    """Absolute path of this stage's gate spec, or empty for the service's default."""
    switch: str = "before_tests"

    def __post_init__(self) -> None:
        object.__setattr__(self, "deployment_strategy", DeploymentStrategy.member(self.deployment_strategy))

    @property
    def blue_green(self) -> bool:
        return self.deployment_strategy == DeploymentStrategy.BLUE_GREEN

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "deployment_strategy": str(self.deployment_strategy),
            "test_strategy": self.test_strategy,
            "approval_strategy": {"pass": self.approval_pass, "warning": self.approval_warning},
            "gate": self.gate,
            "switch": self.switch,
        }


@dataclass(frozen=True)
class Shipyard:
    """Stages in promotion order."""

    stages: tuple[Stage, ...]
    source: str = "shipyard.yaml"
    registry: str = ""

    @property
    def first(self) -> Stage:
        return self.stages[0]

    def stage(self, name: str) -> Stage:
        """The stage called ``name``; unknown names are bad input that lists the valid ones."""
        for stage in self.stages:
            if stage.name == name:
                return stage
        valid = ", ".join(s.name for s in self.stages)
        raise BadInputError(self.source, "stages", f"no stage named {name!r} (stages: {valid})")

    def next_stage(self, name: str) -> Stage | None:
        """The stage after ``name`` (None after the last), as Keptn's github-service chose it."""
        names = [s.name for s in self.stages]
        self.stage(name)
        index = names.index(name)
        return self.stages[index + 1] if index + 1 < len(self.stages) else None


def load_shipyard(path: str | Path) -> Shipyard:
    """Read and validate a shipyard file."""
    return parse_shipyard(read_yaml(path), str(path), base_dir=Path(path).resolve().parent)


def parse_shipyard(raw: Any, source: str, base_dir: Path) -> Shipyard:
    """Validate an already-parsed shipyard document."""
    if not isinstance(raw, dict):
        raise BadInputError(source, None, "must be a mapping with 'stages'")
    if "apiVersion" in raw or "spec" in raw:
        raise BadInputError(source, "apiVersion", "Keptn 0.8+ shipyards (sequences/tasks) are not supported; use the 0.2 form")
    stages_raw = raw.get("stages")
    if not isinstance(stages_raw, list) or not stages_raw:
        raise BadInputError(source, "stages", "must be a non-empty list")
    stages: list[Stage] = []
    seen: set[str] = set()
    for index, item in enumerate(stages_raw):
        stage = _parse_stage(item, source, f"stages[{index}]", base_dir)
        if stage.name in seen:
            raise BadInputError(source, f"stages[{index}].name", f"duplicate stage {stage.name!r}")
        seen.add(stage.name)
        stages.append(stage)
    registry = raw.get("registry", "")
    return Shipyard(stages=tuple(stages), source=source, registry=registry if isinstance(registry, str) else "")


def _parse_stage(item: Any, source: str, where: str, base_dir: Path) -> Stage:
    if not isinstance(item, dict):
        raise BadInputError(source, where, "must be a mapping")
    name = item.get("name")
    if not isinstance(name, str) or DNS_LABEL.fullmatch(name) is None:
        raise BadInputError(source, f"{where}.name", "must be a lower-case DNS label (a-z, 0-9, '-')")
    strategy = DeploymentStrategy(_choice(item, "deployment_strategy", DeploymentStrategy.values(), source, where, default=None))
    tests = _choice(item, "test_strategy", TEST_STRATEGIES, source, where, default="")
    approval = item.get("approval_strategy", {}) or {}
    if not isinstance(approval, dict):
        raise BadInputError(source, f"{where}.approval_strategy", "must be a mapping {pass, warning}")
    approval_pass = _choice(approval, "pass", APPROVALS, source, f"{where}.approval_strategy", default="automatic")
    approval_warning = _choice(approval, "warning", APPROVALS, source, f"{where}.approval_strategy", default="automatic")
    switch = _choice(item, "switch", SWITCHES, source, where, default="before_tests")
    gate = item.get("gate", "")
    if not isinstance(gate, str):
        raise BadInputError(source, f"{where}.gate", "must be a path")
    if gate:
        gate_path = under(base_dir, gate, source=source, field=f"{where}.gate").resolve()
        if not gate_path.is_file():
            raise BadInputError(source, f"{where}.gate", f"file not found: {gate_path}")
        gate = str(gate_path)
    return Stage(name=name, deployment_strategy=strategy, test_strategy=tests, approval_pass=approval_pass,
                 approval_warning=approval_warning, gate=gate, switch=switch)


def _choice(item: dict[str, Any], key: str, valid: tuple[str, ...], source: str, where: str, *, default: str | None) -> str:
    value = item.get(key, default)
    if value is None or (value == "" and default == ""):
        if default is None:
            raise BadInputError(source, f"{where}.{key}", f"is required ({' | '.join(valid)})")
        return default
    if value not in valid:
        raise BadInputError(source, f"{where}.{key}", f"{value!r} is not one of {', '.join(valid)}")
    return str(value)
