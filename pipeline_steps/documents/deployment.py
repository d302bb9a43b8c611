"""``deployment.json``: what ``deploy`` did, so run-tests, evaluation-done and rollback can act on it.

The record is written twice by a blue/green deploy: once *before* the flip (``weights_before``
set, ``switched`` false) so that a crash or API failure in the middle of the flip can still be
rolled back, and once after the verified flip. Schema: ``docs/documents.md``. The same fields
travel without the rest of the record as ``DeploymentFacts`` (the ``deployment`` of every step
event, evaluation-done's ``--colour``/``--weights-before``); both are parsed here, one way.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pipeline_steps.documents.context import StageContext
from pipeline_steps.documents.weights import COLOURS, Weights
from pipeline_steps.errors import BadInputError
from pipeline_steps.files import iso_utc, read_json, write_json
from pipeline_steps.finite import unix_seconds

SCHEMA = "pipeline-steps/deployment/v1"


@dataclass(frozen=True)
class Endpoints:
    """Where tests reach the service in a stage."""

    public_url: str
    """Through the traffic switch (Istio gateway / local Envoy): blue/green weights apply."""
    internal_url: str
    """The stage-internal address (cluster DNS / the live colour) used for functional checks."""
    colour_urls: dict[str, str] = field(default_factory=dict)
    """Each colour's own address, bypassing the switch (tests before a flip)."""



def _colour(data: dict[str, Any], key: str, source: str) -> str:
    value = data.get(key) or ""
    if value not in ("", *COLOURS):
        raise BadInputError(source, key, f"must be blue, green or empty, got {value!r}")
    return str(value)


def _weights(data: dict[str, Any], key: str, source: str) -> Weights | None:
    value = data.get(key)
    if value is None:
        return None
    try:
        return Weights.from_dict(value, f"{source}: {key}")
    except BadInputError as err:  # Weights names itself; the user needs the file and key
        raise BadInputError(source, f"{key}.{err.field}" if err.field else key, err.message) from err


@dataclass(frozen=True)
class DeploymentFacts:
    """What evaluation-done needs from the deploy step: which colour is new and what to restore."""

    colour: str = ""
    previous_colour: str = ""
    weights_before: Weights | None = None

    @classmethod
    def from_json(cls, data: Any, source: str) -> DeploymentFacts:
        """The facts from deployment.json, an event's ``data.deployment`` or flags; errors name ``source``."""
        if not isinstance(data, dict):
            raise BadInputError(source, None, "must be a JSON object")
        return cls(colour=_colour(data, "colour", source), previous_colour=_colour(data, "previous_colour", source),
                   weights_before=_weights(data, "weights_before", source))

    @classmethod
    def from_file(cls, path: str | Path) -> DeploymentFacts:
        """The facts of a deployment.json, the whole record checked first (a malformed field we do not
        use is still a malformed file)."""
        data = read_json(path)
        if isinstance(data, dict) and "schema" in data:
            DeploymentRecord.from_dict(data, str(path))
        return cls.from_json(data, str(path))

    def to_json(self) -> dict[str, Any]:
        return {
            "colour": self.colour,
            "previous_colour": self.previous_colour,
            "weights_before": self.weights_before.to_dict() if self.weights_before else None,
        }

    def restore_target(self) -> Weights | None:
        """Weights to go back to: those recorded before the flip, else all to the previous colour."""
        if self.weights_before is not None:
            return self.weights_before
        return Weights.all_to(self.previous_colour) if self.previous_colour else None


@dataclass(frozen=True)
class DeploymentRecord:
    """One deploy of one version into one stage."""

    context: StageContext
    platform: str
    namespace: str
    colour: str
    """The colour that received the new version; ``""`` for direct."""
    previous_colour: str = ""
    """The colour that was live before; ``""`` for direct or the first deployment."""
    image: str = ""
    tag: str = ""
    weights_before: Weights | None = None
    """Route weights before the flip: what rollback restores. None for direct."""
    weights_after: Weights | None = None
    """Verified weights after the flip; None when the step did not flip (yet)."""
    switched: bool = False
    applied: bool = True
    """Whether this deploy put the version into ``colour``; false when it already ran there (available)
    and was left alone: deploying the live version again changes nothing."""
    started_unix: float = 0.0
    finished_unix: float | None = None
    endpoints: Endpoints | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    """Keys written by newer versions of the schema; kept so a rewrite does not drop them."""

    def finished(self, **changes: Any) -> DeploymentRecord:
        """A copy with ``changes`` applied and the finish time set to now."""
        return replace(self, finished_unix=time.time(), **changes)

    def to_dict(self) -> dict[str, Any]:
        endpoints = None
        if self.endpoints is not None:
            endpoints = {
                "public_url": self.endpoints.public_url,
                "internal_url": self.endpoints.internal_url,
                "colour_urls": dict(self.endpoints.colour_urls),
            }
        data: dict[str, Any] = dict(self.extra)
        data.update({
            "schema": SCHEMA,
            "context": self.context.to_dict(),
            "platform": self.platform,
            "namespace": self.namespace,
            "colour": self.colour,
            "previous_colour": self.previous_colour,
            "image": self.image,
            "tag": self.tag,
            "weights_before": self.weights_before.to_dict() if self.weights_before else None,
            "weights_after": self.weights_after.to_dict() if self.weights_after else None,
            "switched": self.switched,
            "applied": self.applied,
            "started_at": iso_utc(self.started_unix),
            "started_unix": self.started_unix,
            "finished_at": iso_utc(self.finished_unix) if self.finished_unix is not None else None,
            "finished_unix": self.finished_unix,
            "endpoints": endpoints,
        })
        return data

    @classmethod
    def from_dict(cls, data: Any, source: str = "deployment.json") -> DeploymentRecord:
        """Parse and check a record; errors name ``source`` and the field."""
        if not isinstance(data, dict):
            raise BadInputError(source, None, "must be a JSON object")
        if data.get("schema") != SCHEMA:
            raise BadInputError(source, "schema", f"must be {SCHEMA!r}, got {data.get('schema')!r}")
        context = StageContext.from_dict(data.get("context"), source)  # type: ignore[arg-type]

        def text(key: str) -> str:
            value = data.get(key, "")
            if not isinstance(value, str):
                raise BadInputError(source, key, "must be a string")
            return value

        def number(key: str, optional: bool) -> float | None:
            value = data.get(key)
            if value is None and optional:
                return None
            return unix_seconds(value, source, key)

        switched, applied = data.get("switched", False), data.get("applied", True)
        for key, value in (("switched", switched), ("applied", applied)):
            if not isinstance(value, bool):
                raise BadInputError(source, key, "must be true or false")
        facts = DeploymentFacts.from_json(data, source)
        known = {"schema", "context", "platform", "namespace", "colour", "previous_colour", "image", "tag",
                 "weights_before", "weights_after", "switched", "applied", "started_at", "started_unix", "finished_at",
                 "finished_unix", "endpoints"}
        return cls(
            context=context,
            platform=text("platform"),
            namespace=text("namespace"),
            colour=facts.colour,
            previous_colour=facts.previous_colour,
            image=text("image"),
            tag=text("tag"),
            weights_before=facts.weights_before,
            weights_after=_weights(data, "weights_after", source),
            switched=switched,
            applied=applied,
            started_unix=number("started_unix", optional=False) or 0.0,
            finished_unix=number("finished_unix", optional=True),
            endpoints=_endpoints(data.get("endpoints"), source),
            extra={k: v for k, v in data.items() if k not in known},
        )


def _endpoints(value: Any, source: str) -> Endpoints | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise BadInputError(source, "endpoints", "must be an object")
    urls = value.get("colour_urls", {})
    if not isinstance(urls, dict) or not all(isinstance(v, str) for v in urls.values()):
        raise BadInputError(source, "endpoints.colour_urls", "must map colours to URLs")
    for key in ("public_url", "internal_url"):
        if not isinstance(value.get(key, ""), str):
            raise BadInputError(source, f"endpoints.{key}", "must be a string")
    return Endpoints(public_url=value.get("public_url", ""), internal_url=value.get("internal_url", ""),
                     colour_urls={str(k): v for k, v in urls.items()})


def write_record(record: DeploymentRecord, path: str | Path) -> Path:
    """Write atomically (temp file + rename): a reader never sees half a record, even if we crash."""
    return write_json(path, record.to_dict())


def read_record(path: str | Path) -> DeploymentRecord:
    """Read ``deployment.json``; a missing or malformed file is bad input naming the file."""
    return DeploymentRecord.from_dict(read_json(path), str(path))
