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

from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol

from pipeline_steps.documents.context import StageContext
from pipeline_steps.documents.service import ServiceSpec
from pipeline_steps.errors import BadInputError

COLOURS = ("blue", "green")


def other_colour(colour: str) -> str:
    """The colour that is not ``colour``."""
    return "green" if colour == "blue" else "blue"


@dataclass(frozen=True)
class Weights:
    """Route weights of one service in one stage. Always two integers summing to 100."""

    blue: int
    green: int

    def __post_init__(self) -> None:
        for name in COLOURS:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 100:
                raise BadInputError("weights", name, f"must be an integer 0..100, got {value!r}")
        if self.blue + self.green != 100:
            raise BadInputError("weights", None, f"must sum to 100, got {self.blue}+{self.green}")

    @classmethod
    def all_to(cls, colour: str) -> Weights:
        """100 % to ``colour``."""
        return cls(blue=100, green=0) if colour == "blue" else cls(blue=0, green=100)

    @classmethod
    def parse(cls, text: str, source: str = "--weights") -> Weights:
        """``"90/10"`` (blue/green) or ``"blue"``/``"green"`` for 100 % to one colour."""
        if text in COLOURS:
            return cls.all_to(text)
        parts = text.split("/")
        if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
            raise BadInputError(source, None, f"{text!r} is not BLUE/GREEN (e.g. 90/10) or a colour")
        return cls(blue=int(parts[0]), green=int(parts[1]))

    @property
    def live(self) -> str | None:
        """The colour taking all traffic, or None while traffic is split."""
        if self.blue == 100:
            return "blue"
        if self.green == 100:
            return "green"
        return None

    def of(self, colour: str) -> int:
        return int(getattr(self, colour))

    def to_dict(self) -> dict[str, int]:
        return {"blue": self.blue, "green": self.green}

    @classmethod
    def from_dict(cls, data: Any, source: str = "weights") -> Weights:
        if not isinstance(data, dict):
            raise BadInputError(source, None, "must be an object {blue, green}")
        return cls(blue=data.get("blue"), green=data.get("green"))  # type: ignore[arg-type]

    def __str__(self) -> str:
        return f"blue {self.blue} / green {self.green}"


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

    @property
    def deployed(self) -> bool:
        return bool(self.colours)

    @property
    def live(self) -> str | None:
        """The colour that takes all traffic (blue/green) or None."""
        return self.weights.live if self.weights else None

    def colour(self, name: str) -> ColourState | None:
        return next((c for c in self.colours if c.colour == name), None)


@dataclass(frozen=True)
class Endpoints:
    """Where tests reach the service in a stage."""

    public_url: str
    """Through the traffic switch (Istio gateway / local Envoy): blue/green weights apply."""
    internal_url: str
    """The stage-internal address (cluster DNS / the live colour) used for functional checks."""
    colour_urls: dict[str, str] = field(default_factory=dict)
    """Each colour's own address, bypassing the switch (tests before a flip)."""


class Platform(Protocol):
    """What every step needs from where versions run. All methods raise ``PipelineStepsError``s only."""

    name: str

    def status(self, ctx: StageContext) -> StageStatus:
        """Read the live state (never a cache): colours, images, readiness, marks, weights."""
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
        touches no other route."""
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


def iter_colours(status: StageStatus) -> Iterator[ColourState]:
    """Colours in display order (blue, green, then the direct one)."""
    order = {"blue": 0, "green": 1, "": 2}
    yield from sorted(status.colours, key=lambda c: order.get(c.colour, 3))
