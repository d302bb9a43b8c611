"""An in-memory ``Platform`` that keeps the Protocol's promises, for step tests without servers.

Faithful where it matters to callers: ``apply`` on a fresh stage creates both colours with a
100/0 route to the applied colour and never touches existing weights; ``set_weights`` refuses
unavailable colours and verifies; ``lock`` raises ``ConflictError`` while another holder has it
and takes over a stale one. Tests steer it through plain attributes (``unready``,
``fail_set_weights``) and read ``calls`` to see what a step asked for, in order.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

from pipeline_steps.documents.context import StageContext
from pipeline_steps.documents.deployment import Endpoints
from pipeline_steps.documents.service import ServiceSpec
from pipeline_steps.documents.weights import COLOURS, Weights
from pipeline_steps.errors import BadInputError, ConflictError, InfrastructureError, NotReadyError
from pipeline_steps.platforms.base import ColourState, StageStatus

Key = tuple[str, str]  # (namespace, service)


@dataclass
class _Stage:
    strategy: str
    colours: dict[str, ColourState] = field(default_factory=dict)
    weights: Weights | None = None


class FakePlatform:
    """In-memory stand-in for a real platform; see the module docstring."""

    name = "fake"

    def __init__(self) -> None:
        self.stages: dict[Key, _Stage] = {}
        self.calls: list[tuple[str, ...]] = []
        self.unready: dict[str, tuple[str, ...]] = {}
        """``"<service>-<colour>"`` -> reasons: that colour never becomes available."""
        self.fail_set_weights: str = ""
        """``"before"``: raise without changing weights; ``"after"``: change them, then raise
        (a write that landed but whose answer was lost)."""
        self.locks: dict[Key, tuple[str, float]] = {}
        self._mutex = threading.Lock()

    # -- helpers for tests ------------------------------------------------------------
    def stage(self, ctx: StageContext) -> _Stage:
        return self.stages[(ctx.namespace, ctx.service)]

    def _unit(self, ctx: StageContext, colour: str | None) -> str:
        return f"{ctx.service}-{colour}" if colour else ctx.service

    def _state(self, ctx: StageContext, colour: str | None, service: ServiceSpec) -> ColourState:
        reasons = self.unready.get(self._unit(ctx, colour), ())
        return ColourState(colour=colour or "", image=ctx.image, tag=ctx.tag, desired=service.replicas,
                           ready=0 if reasons else service.replicas, available=not reasons, reasons=reasons)

    # -- Protocol ---------------------------------------------------------------------
    def status(self, ctx: StageContext) -> StageStatus:
        self.calls.append(("status",))
        found = self.stages.get((ctx.namespace, ctx.service))
        if found is None:
            return StageStatus(context=ctx, strategy=ctx.deployment_strategy)
        return StageStatus(context=ctx, strategy=found.strategy, colours=tuple(found.colours.values()),
                           weights=found.weights)

    def apply(self, ctx: StageContext, colour: str | None, service: ServiceSpec) -> None:
        self.calls.append(("apply", colour or ""))
        key = (ctx.namespace, ctx.service)
        stage = self.stages.setdefault(key, _Stage(strategy=ctx.deployment_strategy))
        if colour is None:
            stage.colours[""] = self._state(ctx, None, service)
            return
        if colour not in COLOURS:
            raise BadInputError("colour", None, f"{colour!r} is not blue or green")
        stage.colours[colour] = self._state(ctx, colour, service)
        if stage.weights is None:
            for other in COLOURS:
                stage.colours.setdefault(other, self._state(ctx, other, service))
            stage.weights = Weights.all_to(colour)

    def wait_available(self, ctx: StageContext, colour: str | None, timeout_s: float) -> ColourState:
        self.calls.append(("wait_available", colour or ""))
        state = self.stage(ctx).colours.get(colour or "")
        if state is None:
            raise NotReadyError(self.name, f"{self._unit(ctx, colour)} does not exist")
        if not state.available:
            raise NotReadyError(self.name, f"{self._unit(ctx, colour)} not available after {timeout_s:.0f}s: "
                                           + "; ".join(state.reasons))
        return state

    def set_weights(self, ctx: StageContext, weights: Weights) -> Weights:
        self.calls.append(("set_weights", f"{weights.blue}/{weights.green}"))
        stage = self.stage(ctx)
        if stage.weights is None:
            raise NotReadyError(self.name, f"{ctx.service} has no blue/green route in {ctx.namespace}")
        for name in COLOURS:
            state = stage.colours.get(name)
            if weights.of(name) and (state is None or not state.available):
                raise NotReadyError(self.name, f"{ctx.service}-{name} is not available")
        if self.fail_set_weights == "before":
            raise InfrastructureError(self.name, "injected failure before the write")
        stage.weights = weights
        if self.fail_set_weights == "after":
            raise InfrastructureError(self.name, "injected failure after the write")
        return stage.weights

    def mark(self, ctx: StageContext, colour: str | None, mark: str) -> None:
        self.calls.append(("mark", colour or "", mark))
        stage = self.stage(ctx)
        stage.colours[colour or ""] = replace(stage.colours[colour or ""], mark=mark)

    def endpoints(self, ctx: StageContext) -> Endpoints:
        base = f"http://{ctx.service}.{ctx.namespace}.fake"
        return Endpoints(public_url=base, internal_url=f"{base}/internal",
                         colour_urls={c: f"{base}/{c}" for c in COLOURS})

    @contextmanager
    def lock(self, ctx: StageContext, holder: str, ttl_s: float = 300.0) -> Iterator[None]:
        key = (ctx.namespace, ctx.service)
        with self._mutex:
            current = self.locks.get(key)
            if current is not None and current[0] != holder and current[1] > time.monotonic():
                raise ConflictError(self.name, f"{ctx.service} in {ctx.namespace} is locked by {current[0]}")
            self.locks[key] = (holder, time.monotonic() + ttl_s)
        self.calls.append(("lock", holder))
        try:
            yield
        finally:
            with self._mutex:
                if self.locks.get(key, ("",))[0] == holder:
                    del self.locks[key]
            self.calls.append(("unlock", holder))

    def break_colour(self, ctx: StageContext, colour: str, reason: str) -> None:
        """Make a deployed colour unavailable now (pods crashed), with ``reason``."""
        stage = self.stage(ctx)
        stage.colours[colour] = replace(stage.colours[colour], ready=0, available=False, reasons=(reason,))
