"""Who, what and where of one pipeline run: project, stage, service, version and strategies.

Every step needs the same facts, and they arrive three ways: CLI flags, Jenkins parameters
(environment variables named as in Keptn 0.2's Jenkinsfiles: PROJECT, STAGE, SERVICE, IMAGE,
TAG, DEPLOYMENTSTRATEGY, TESTSTRATEGY, KEPTNCONTEXT) and the CloudEvent that triggered the
step. They are parsed once, at the edge, into this frozen dataclass.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

from pipeline_steps.documents.names import DNS_LABEL, check_label, check_tag, check_token
from pipeline_steps.documents.vocabulary import DeploymentStrategy
from pipeline_steps.errors import BadInputError
from pipeline_steps.files import check_text

__all__ = ["DNS_LABEL", "TEST_STRATEGIES", "StageContext", "check_fields"]

TEST_STRATEGIES = ("", "functional", "performance")


@dataclass(frozen=True)
class StageContext:
    """One service in one stage of one project, plus the version being delivered."""

    project: str
    """Project (Keptn: the config repo); part of the namespace ``<project>-<stage>``."""
    stage: str
    """Stage name from the shipyard (dev, staging, production)."""
    service: str
    """Service name (carts); names Deployments ``<service>-blue``/``-green``."""
    image: str = ""
    """Image repository without tag (``docker.io/keptnexamples/carts``); empty for steps that do not deploy."""
    tag: str = ""
    """Image tag / version being delivered (``0.7.2``)."""
    deployment_strategy: DeploymentStrategy | str = DeploymentStrategy.DIRECT
    """``direct`` or ``blue_green_service`` (Keptn shipyard names); a known name becomes the enum member
    when the context is made, anything else stays text and ``validate`` refuses it."""
    test_strategy: str = ""
    """``functional``, ``performance`` or empty (no tests, no evaluation)."""
    keptn_context: str = ""
    """``shkeptncontext``: correlates every event and file of one delivery."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "deployment_strategy", DeploymentStrategy.member(self.deployment_strategy))

    @property
    def namespace(self) -> str:
        """Kubernetes namespace and Prometheus ``$ENVIRONMENT`` as Keptn 0.2.2 named it."""
        return f"{self.project}-{self.stage}"

    @property
    def blue_green(self) -> bool:
        return self.deployment_strategy == DeploymentStrategy.BLUE_GREEN

    def with_stage(self, stage: str, deployment_strategy: DeploymentStrategy | str, test_strategy: str) -> StageContext:
        """The same delivery in another stage (promotion)."""
        return replace(self, stage=stage, deployment_strategy=deployment_strategy, test_strategy=test_strategy)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["deployment_strategy"] = str(self.deployment_strategy)
        return data

    def validate(self, source: str = "context", prefix: str = "") -> StageContext:
        """Check names and strategies; raise ``BadInputError`` naming ``source`` and the field
        (``prefix`` + its name: ``context.project`` in a document).

        Every field that becomes a name or a path is held to its grammar (``documents/names.py``):
        project, stage and service are DNS-1123 labels, the tag an image tag, the Keptn context an
        id. The image is checked by the platform that uses it: the OCI reference grammar on
        Kubernetes (``platforms/kubernetes/references.py``), a folder without control characters locally."""
        for name in ("project", "stage", "service"):
            if not getattr(self, name):
                raise BadInputError(source, prefix + name, "is required")
        check_fields(asdict(self), source, prefix)
        return self

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "context") -> StageContext:
        """Build from a JSON document (deployment.json, testrun.json, ...) and validate it."""
        if not isinstance(data, dict):
            raise BadInputError(source, "context", "must be an object")
        known = {f: data.get(f, "") for f in cls.__dataclass_fields__}
        for key, value in known.items():
            if not isinstance(value, str):
                raise BadInputError(source, f"context.{key}", "must be a string")
        known["deployment_strategy"] = known["deployment_strategy"] or DeploymentStrategy.DIRECT
        return cls(**known).validate(source, "context.")


def check_fields(values: Mapping[str, Any], source: str, prefix: str = "") -> None:
    """Check the context fields present in ``values`` (a whole context, or the part one file gives):
    UTF-8 text, DNS-1123 names, known strategies; ``BadInputError`` naming ``source`` and ``prefix`` +
    the field. Each source of a merged context is checked on its own, so an error names the one
    that gave the value (a bad ``--project`` is not blamed on testrun.json)."""
    for name, value in values.items():
        if isinstance(value, str):  # image, tag and the Keptn context reach every document as they are
            check_text(value, source, prefix + name)
    for name in ("project", "stage", "service"):
        value = values.get(name)
        if value:
            check_label(value, source, prefix + name)
    if isinstance(values.get("tag"), str):
        check_tag(values["tag"], source, prefix + "tag")
    if isinstance(values.get("keptn_context"), str):
        check_token(values["keptn_context"], source, prefix + "keptn_context")
    strategy = values.get("deployment_strategy")
    if "deployment_strategy" in values and strategy not in DeploymentStrategy.values():
        raise BadInputError(source, prefix + "deployment_strategy",
                            f"{strategy!r} is not one of {', '.join(DeploymentStrategy.values())}")
    test_strategy = values.get("test_strategy")
    if test_strategy and test_strategy not in TEST_STRATEGIES:
        raise BadInputError(source, prefix + "test_strategy", f"{test_strategy!r} is not one of functional, performance or empty")
