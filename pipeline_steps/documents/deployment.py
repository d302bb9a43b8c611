"""``deployment.json``: what ``deploy`` did, so run-tests, evaluation-done and rollback can act on it.

The record is written twice by a blue/green deploy: once *before* the flip (``weights_before``
set, ``switched`` false) so that a crash or API failure in the middle of the flip can still be
rolled back, and once after the verified flip. Schema: ``docs/documents.md``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pipeline_steps.documents.context import StageContext
from pipeline_steps.errors import BadInputError
from pipeline_steps.platforms.base import COLOURS, Endpoints, Weights

SCHEMA = "pipeline-steps/deployment/v1"


def iso_utc(unix: float) -> str:
    """``2026-11-26T10:00:00Z`` for a unix time (second precision, as humans read it)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(unix))


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

        def text(key: str, allowed: tuple[str, ...] | None = None) -> str:
            value = data.get(key, "")
            if not isinstance(value, str):
                raise BadInputError(source, key, "must be a string")
            if allowed is not None and value not in allowed:
                raise BadInputError(source, key, f"must be one of {', '.join(repr(a) for a in allowed)}")
            return value

        def weights(key: str) -> Weights | None:
            value = data.get(key)
            if value is None:
                return None
            try:
                return Weights.from_dict(value, f"{source}: {key}")
            except BadInputError as err:  # Weights names itself; the user needs the file and key
                raise BadInputError(source, key, err.message) from err

        def number(key: str, optional: bool) -> float | None:
            value = data.get(key)
            if value is None and optional:
                return None
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                raise BadInputError(source, key, "must be a number")
            return float(value)

        switched = data.get("switched", False)
        if not isinstance(switched, bool):
            raise BadInputError(source, "switched", "must be true or false")
        colours = ("", *COLOURS)
        known = {"schema", "context", "platform", "namespace", "colour", "previous_colour", "image", "tag",
                 "weights_before", "weights_after", "switched", "started_at", "started_unix", "finished_at",
                 "finished_unix", "endpoints"}
        return cls(
            context=context,
            platform=text("platform"),
            namespace=text("namespace"),
            colour=text("colour", colours),
            previous_colour=text("previous_colour", colours),
            image=text("image"),
            tag=text("tag"),
            weights_before=weights("weights_before"),
            weights_after=weights("weights_after"),
            switched=switched,
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
    from pipeline_steps.files import write_json

    return write_json(path, record.to_dict())


def read_record(path: str | Path) -> DeploymentRecord:
    """Read ``deployment.json``; a missing or malformed file is bad input naming the file."""
    from pipeline_steps.files import read_json

    return DeploymentRecord.from_dict(read_json(path), str(path))
