"""Switch and rollback: move a service's traffic between colours, safely, on any platform.

Both go through the ``Platform`` Protocol under the service's lock, and both can always put valid
weights back over a route someone edited into no valid split (70/70: ``StageStatus.invalid_route``). Before asking the platform
to change weights they check, from live status, that every colour that is to receive traffic
is available (Argo Rollouts PR #1190 and Flagger #874: weight sent to zero ready pods). The
platform checks again and verifies by read-back; this module decides *what* to set:

* ``switch``: the weights the user asked for (``90/10``, ``blue``, ``green``);
* ``rollback``: ``weights_before`` from ``deployment.json`` (or all to ``--to COLOUR``), which
  holds even when the flip half-failed, because deploy wrote the record before flipping.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline_steps.documents.context import StageContext
from pipeline_steps.documents.deployment import DeploymentRecord
from pipeline_steps.documents.weights import COLOURS, Weights
from pipeline_steps.errors import BadInputError, NotReadyError
from pipeline_steps.platforms.base import Platform, StageStatus, lock_holder


@dataclass(frozen=True)
class TrafficChange:
    """What a switch or rollback did: weights before and the verified weights after."""

    before: Weights | None
    after: Weights

    @property
    def changed(self) -> bool:
        return self.before != self.after


def check_targets(platform: Platform, status: StageStatus, weights: Weights) -> None:
    """Raise ``NotReadyError`` if a colour that would get traffic is missing or not available."""
    ctx = status.context
    if not status.deployed or (status.weights is None and not status.invalid_route):
        raise NotReadyError(platform.name, f"{ctx.service} has no blue/green deployment in {ctx.namespace}")
    for name in COLOURS:
        if weights.of(name) == 0:
            continue
        state = status.colour(name)
        if state is None:
            raise NotReadyError(platform.name, f"{ctx.service}-{name} does not exist in {ctx.namespace}; "
                                               f"refusing to send it {weights.of(name)}% of the traffic")
        if not state.available:
            why = "; ".join(state.reasons) or f"{state.ready}/{state.desired} ready"
            raise NotReadyError(platform.name, f"{ctx.service}-{name} is not available ({why}); "
                                               f"refusing to send it {weights.of(name)}% of the traffic")


def switch(platform: Platform, ctx: StageContext, weights: Weights, holder: str = "") -> TrafficChange:
    """Set ``weights`` (verified). Running it twice changes nothing the second time."""
    # Refuse before locking: taking the lock may create state (a namespace for the Lease), and a
    # refused switch must change nothing. Checked again under the lock, where it counts.
    check_targets(platform, platform.status(ctx), weights)
    with platform.lock(ctx, holder or lock_holder(ctx)):
        status = platform.status(ctx)
        check_targets(platform, status, weights)
        if status.weights == weights:
            return TrafficChange(before=status.weights, after=weights)
        after = platform.set_weights(ctx, weights)
        return TrafficChange(before=status.weights, after=after)


def rollback_target(record: DeploymentRecord | None, to: str | None, source: str = "deployment.json") -> Weights:
    """The weights a rollback restores: all to ``to`` if given, else the record's ``weights_before``."""
    if to is not None:
        if to not in COLOURS:
            raise BadInputError("--to", None, f"{to!r} is not blue or green")
        return Weights.all_to(to)
    if record is None:
        raise BadInputError("rollback", None, "give --deployment FILE or --to COLOUR")
    if record.weights_before is None:
        raise BadInputError(source, "weights_before", "is null: a direct deployment has no other colour to roll back to")
    return record.weights_before


def rollback(platform: Platform, ctx: StageContext, record: DeploymentRecord | None = None,
             to: str | None = None, *, holder: str = "", source: str = "deployment.json") -> TrafficChange:
    """Restore the weights from before the flip (or all to ``to``); refuses an unavailable target.

    ``source`` names the record's file in bad-input messages."""
    if record is not None and (record.context.project, record.context.stage, record.context.service) != (
            ctx.project, ctx.stage, ctx.service):
        raise BadInputError(source, "context", f"is for {record.context.service} in {record.context.namespace}, "
                                               f"not {ctx.service} in {ctx.namespace}")
    if record is not None and to is None and record.platform != platform.name:
        # Its weights describe another platform's route: restoring them here would be a guess.
        raise BadInputError(source, "platform", f"is {record.platform!r}, but this rollback runs on {platform.name!r}")
    target = rollback_target(record, to, source)
    return switch(platform, ctx, target, holder)
