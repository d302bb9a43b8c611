"""The platform Protocol: where versions run and how traffic is split between colours.

Two implementations keep every step platform-independent (DESIGN.md, "The two platforms"):
``kubernetes`` (Deployments ``<service>-blue``/``-green`` + Istio VirtualService weights) and
``local`` (a process per colour + a real Envoy with weighted clusters). The steps (deploy,
run-tests, evaluation-done) only call this Protocol, so a fake platform can test them without
servers, and a contract test runs both real implementations through the same checks.

Primitives, not workflows: the deploy *step* decides which colour is free and when to flip;
a platform only applies a version, waits, sets weights (verified) and reports status.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from pipeline_steps.documents.context import StageContext
from pipeline_steps.documents.deployment import Endpoints
from pipeline_steps.documents.service import ServiceSpec
from pipeline_steps.documents.weights import Weights


@dataclass(frozen=True)
class ColourState:
    """One colour (or the single direct deployment, colour ``""``) as the platform sees it now."""

    colour: str
    image: str
    tag: str
    desired: int
    ready: int
    available: bool
    """All desired replicas (processes) are up and answer their health path."""
    mark: str = ""
    """Verdict label set by ``Platform.mark``: ``failed``, ``passed`` or empty."""
    reasons: tuple[str, ...] = ()
    """Why it is not available (pod waiting reasons, process exit codes, health answers)."""


@dataclass(frozen=True)
class StageStatus:
    """A service in a stage: its colours and route weights (None for direct or not deployed)."""

    context: StageContext
    strategy: str
    colours: tuple[ColourState, ...] = ()
    weights: Weights | None = None
    invalid_route: str = ""
    """What the route holds when it is no valid split (an out-of-band edit of the Envoy runtime or the
    VirtualService, e.g. 70/70), as found; ``weights`` is None then. ``switch`` and ``rollback`` set
    valid weights over it; ``deploy`` refuses until they have."""

    @property
    def deployed(self) -> bool:
        return bool(self.colours)

    @property
    def live(self) -> str | None:
        """The colour that takes all traffic (blue/green) or None."""
        return self.weights.live if self.weights else None

    def colour(self, name: str) -> ColourState | None:
        return next((c for c in self.colours if c.colour == name), None)


Option = tuple[str, dict[str, Any]]
"""A flag a platform declares for its settings group: ``("--state-dir", {"envvar": ..., "help": ...})``; the
keys are click's, plus ``"param"`` (the Python name) and ``"path": True`` for a file. ``commands/``
turns them into click options, so platforms never import click and commands never name a platform."""


class Platform(Protocol):
    """What every step needs from where versions run. All methods raise ``PipelineStepsError``s only."""

    name: str

    def status(self, ctx: StageContext) -> StageStatus:
        """Read the live state (never a cache): colours, images, readiness, marks, weights; a route that
        is no valid split is reported (``invalid_route``), not raised."""
        ...

    def apply(self, ctx: StageContext, colour: str | None, service: ServiceSpec) -> None:
        """Run ``ctx.image:ctx.tag`` as ``colour`` (None: the direct deployment). The first
        blue/green deployment of a stage creates both colours and a route of 100/0 to the live one.
        Never changes weights of an existing route."""
        ...

    def wait_available(self, ctx: StageContext, colour: str | None, timeout_s: float) -> ColourState:
        """Block until the colour is fully available; raise ``NotReadyError`` naming the reasons."""
        ...

    def set_weights(self, ctx: StageContext, weights: Weights) -> Weights:
        """Set this service's route weights, read them back and return what was verified.
        Idempotent; refuses (``NotReadyError``) to give weight to a colour that is not available;
        touches no other route; replaces weights that are no valid split (``StageStatus.invalid_route``)."""
        ...

    def mark(self, ctx: StageContext, colour: str | None, mark: str) -> None:
        """Label a colour ``failed``/``passed`` (or clear with ``""``) so ``status`` shows verdicts."""
        ...

    def endpoints(self, ctx: StageContext) -> Endpoints:
        """Addresses for tests."""
        ...

    def lock(self, ctx: StageContext, holder: str, ttl_s: float = 300.0) -> AbstractContextManager[None]:
        """Exclusive lock per service and stage so two pipelines cannot flip at once; a stale
        lock (holder gone, ttl passed) is taken over. Raises ``ConflictError`` when held."""
        ...


@dataclass(frozen=True)
class Check:
    """One pre-flight check: ``ok``, ``fail`` (the deploy would not work) or ``skip`` (not checkable here)."""

    name: str
    status: str
    detail: str


@dataclass(frozen=True)
class Checklist:
    """The pre-flight of one deploy; it passes when no check failed."""

    title: str
    checks: tuple[Check, ...]

    @property
    def passed(self) -> bool:
        return not any(c.status == "fail" for c in self.checks)

    def failed(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if c.status == "fail")

    def render(self) -> str:
        lines = [self.title]
        lines += [f"  {c.status:<5} {c.name}: {c.detail}" for c in self.checks]
        failed = self.failed()
        lines.append("pre-flight passed: nothing was changed" if not failed else
                     f"pre-flight failed ({len(failed)} of {len(self.checks)} checks): nothing was changed")
        return "\n".join(lines)


@runtime_checkable
class Preflight(Protocol):
    """A platform that can check, without writing anything, that a deploy would work (``deploy
    --dry-run``, and ``deploy`` itself before its first write)."""

    name: str

    def preflight(self, ctx: StageContext, service: ServiceSpec) -> Checklist:
        """Run every check (never raising for a failed one); ``InfrastructureError`` only when the
        cluster cannot be asked at all."""
        ...


def iter_colours(status: StageStatus) -> Iterator[ColourState]:
    """Colours in display order (blue, green, then the direct one)."""
    order = {"blue": 0, "green": 1, "": 2}
    yield from sorted(status.colours, key=lambda c: order.get(c.colour, 3))


def lock_holder(ctx: StageContext) -> str:
    """A new holder identity for the service's lock (``Platform.lock``), unique to this acquisition:
    the Jenkins build if known (else host and pid), the Keptn context, and a random suffix.

    Unique, because a platform lets a holder take its own lock again: with a constant holder
    (evaluation-done used ``"evaluation-done"``), or two steps of one Jenkins build, both runs
    acted at once (issue 12.7). The readable part is what a second pipeline is shown; at most
    ~110 characters, so Kubernetes' Lease keeps the suffix."""
    build = os.environ.get("BUILD_TAG") or f"{socket.gethostname()}/pid-{os.getpid()}"
    parts = [build[:60], ctx.keptn_context[:36], secrets.token_hex(4)]
    return "/".join(p for p in parts if p)
