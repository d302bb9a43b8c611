"""The deploy step: put a version into a stage, direct or blue/green, and record what was done.

Platform-independent on purpose: it only calls the ``Platform`` Protocol, so the same decisions
hold on Kubernetes/Istio and on the local Envoy platform. The order is the point of this module
(Keptn 0.2 flipped before the new pods were ready and served "no healthy upstream"):

1. read the live colour; a split route means an unfinished flip: refuse, change nothing;
2. apply the version to the free colour (the first deployment creates both, 100/0 to blue);
3. wait until that colour is fully available (else fail naming the reasons, weights untouched);
4. write ``deployment.json`` with ``weights_before`` (a crash during the flip stays recoverable);
5. flip, verified by read-back, and rewrite ``deployment.json``.

Idempotent, so a pipeline may retry it (issue 12.6: ``deploy v1; deploy v2; deploy v2`` put v2
into both colours, and a failed gate then "rolled back" to v2): the version that is already live
changes nothing, and the record names the other colour, which still runs the previous version, as
the one to roll back to; the version already running, available, in the free colour is not
deployed again (only flipped, if asked). The previous colour keeps the previous version until a
verdict moves it: in a stage with tests, while the live colour has no verdict yet (no mark) and
the free colour runs another version, a new version is refused (exit 4) instead of overwriting
the only way back. Every deploy holds the service's lock (``Platform.lock``), direct ones too.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from pipeline_steps.documents.context import StageContext
from pipeline_steps.documents.deployment import DeploymentRecord, write_record
from pipeline_steps.documents.events import after_deploy, event_path
from pipeline_steps.documents.service import ServiceSpec
from pipeline_steps.documents.weights import COLOURS, Weights, other_colour
from pipeline_steps.errors import BadInputError, ConflictError, NotReadyError, PipelineStepsError
from pipeline_steps.files import check_writable
from pipeline_steps.platforms.base import ColourState, Platform, StageStatus, lock_holder

FIRST_COLOUR = "blue"


@dataclass(frozen=True)
class DeployOptions:
    """How the step behaves beyond the context."""

    switch: bool = True
    """Flip traffic to the new colour once it is available (``--no-switch``: leave weights alone)."""
    timeout_s: float = 300.0
    """How long to wait for the new colour to become available."""
    holder: str = ""
    """Lock holder name; default: ``lock_holder(ctx)``."""


def deploy(platform: Platform, ctx: StageContext, service: ServiceSpec, out_path: Path,
           options: DeployOptions | None = None) -> DeploymentRecord:
    """Run the deploy step; returns the final record (also written to ``out_path``, with the
    ``deployment-finished`` event in ``events/`` beside it)."""
    options = options or DeployOptions()
    if not ctx.image or not ctx.tag:
        raise BadInputError("command line", "image" if not ctx.image else "tag", "is required to deploy")
    check_writable([out_path, event_path(out_path.parent, "deployment-finished")])  # before anything is deployed
    started = time.time()
    # The lock must outlive the wait for readiness, or a second pipeline could take it over as stale.
    with platform.lock(ctx, options.holder or lock_holder(ctx), ttl_s=max(300.0, options.timeout_s + 120.0)):
        if not ctx.blue_green:
            record = _deploy_direct(platform, ctx, service, out_path, options, started=started)
        else:
            record = _deploy_blue_green(platform, ctx, service, out_path, options, started=started)
    after_deploy(out_path.parent)
    return record


def runs(state: ColourState | None, ctx: StageContext) -> bool:
    """Whether ``state`` runs the version ``ctx`` delivers (same image and tag)."""
    return state is not None and (state.image, state.tag) == (ctx.image, ctx.tag)


def _deploy_direct(platform: Platform, ctx: StageContext, service: ServiceSpec, out_path: Path,
                   options: DeployOptions, *, started: float) -> DeploymentRecord:
    current = platform.status(ctx).colour("")
    applied = not (runs(current, ctx) and current is not None and current.available)
    if applied:  # the same version, running and available, is left alone (no restart, no gap)
        platform.apply(ctx, None, service)
        platform.wait_available(ctx, None, options.timeout_s)
        platform.mark(ctx, None, "")
    record = DeploymentRecord(context=ctx, platform=platform.name, namespace=ctx.namespace, colour="",
                              image=ctx.image, tag=ctx.tag, started_unix=started, applied=applied,
                              endpoints=platform.endpoints(ctx))
    record = record.finished()
    write_record(record, out_path)
    return record


def _already_live(platform: Platform, ctx: StageContext, status: StageStatus, out_path: Path,
                  started: float) -> DeploymentRecord:
    """The record of a deploy of the live version: nothing changes; what a failed gate restores is the
    other colour when it still runs the previous version (a retry after a flip whose answer was lost)."""
    assert status.weights is not None and status.live is not None
    live, free = status.live, other_colour(status.live)
    previous = free if status.colour(free) is not None and not runs(status.colour(free), ctx) else ""
    record = DeploymentRecord(
        context=ctx, platform=platform.name, namespace=ctx.namespace, colour=live, previous_colour=previous,
        image=ctx.image, tag=ctx.tag, weights_before=Weights.all_to(previous) if previous else status.weights,
        weights_after=status.weights, applied=False, started_unix=started, endpoints=platform.endpoints(ctx),
    ).finished()
    write_record(record, out_path)
    return record


def _check_previous_kept(platform: Platform, ctx: StageContext, status: StageStatus) -> None:
    """Refuse to overwrite the previous version while the live one waits for its verdict (module docstring)."""
    assert status.live is not None
    live, free = status.colour(status.live), status.colour(other_colour(status.live))
    if not ctx.test_strategy or live is None or free is None or live.mark or (live.image, live.tag) == (
            free.image, free.tag):
        return
    raise ConflictError(
        platform.name,
        f"{ctx.service} in {ctx.namespace}: {status.live} serves {live.tag}, which has no verdict yet, and "
        f"{free.colour} keeps {free.tag} to roll back to; deploying {ctx.tag} there would lose it. Nothing was "
        f"changed: run evaluation-done for {live.tag} (or 'pipeline-steps rollback'), then deploy again")


def _deploy_blue_green(platform: Platform, ctx: StageContext, service: ServiceSpec, out_path: Path,
                       options: DeployOptions, *, started: float) -> DeploymentRecord:
    status = platform.status(ctx)
    weights = status.weights
    if status.invalid_route:  # not a first deployment: a route exists, edited out of band
        raise ConflictError(
            platform.name,
            f"{ctx.service} in {ctx.namespace}: the route is no valid split ({status.invalid_route}); nothing was "
            "changed: set it with 'pipeline-steps switch --weights blue|green' or 'pipeline-steps rollback' first",
        )
    if weights is not None and weights.live is None:
        raise ConflictError(
            platform.name,
            f"{ctx.service} in {ctx.namespace} is split ({weights}): an earlier flip did not finish; "
            "finish it with 'pipeline-steps switch --weights blue|green' or 'pipeline-steps rollback' first",
        )
    first = weights is None
    applied = True
    if first:
        colour, previous, weights_before = FIRST_COLOUR, "", Weights.all_to(FIRST_COLOUR)
    else:
        assert weights is not None and weights.live is not None
        live = status.colour(weights.live)
        if runs(live, ctx) and live is not None:
            if not live.available:
                # Deploying it again into the free colour would overwrite the previous version, the way back.
                why = "; ".join(live.reasons) or f"{live.ready}/{live.desired} ready"
                raise NotReadyError(platform.name, f"{ctx.service} {ctx.tag} is live in {weights.live} but not "
                                                   f"available ({why}); nothing was changed: roll back to "
                                                   f"{other_colour(weights.live)} ('pipeline-steps rollback') "
                                                   "or deploy a new version")
            return _already_live(platform, ctx, status, out_path, started)
        previous = weights.live
        colour, weights_before = other_colour(previous), weights
        free = status.colour(colour)
        applied = not (runs(free, ctx) and free is not None and free.available)
        if applied:
            _check_previous_kept(platform, ctx, status)

    if applied:
        platform.apply(ctx, colour, service)
        # The first deployment created both colours with this version; both must be up before we
        # report success, or a later flip could land on a colour that never started. One deadline
        # for both: --timeout bounds the whole wait, and so stays inside the lock's ttl.
        deadline = time.monotonic() + options.timeout_s
        for name in (COLOURS if first else (colour,)):
            platform.wait_available(ctx, name, max(0.0, deadline - time.monotonic()))
    platform.mark(ctx, colour, "")

    record = DeploymentRecord(
        context=ctx, platform=platform.name, namespace=ctx.namespace, colour=colour, previous_colour=previous,
        image=ctx.image, tag=ctx.tag, weights_before=weights_before, started_unix=started, applied=applied,
        endpoints=platform.endpoints(ctx),
    )
    write_record(record, out_path)
    if first or not options.switch:
        # First deployment: the new version is already live in blue; nothing to flip.
        record = record.finished()
        write_record(record, out_path)
        return record

    try:
        verified = platform.set_weights(ctx, Weights.all_to(colour))
    except PipelineStepsError as err:
        # deployment.json already holds weights_before: say how to get back.
        err.args = (f"{err}; deployment record {out_path} holds the weights before the flip "
                    f"({weights_before}): 'pipeline-steps rollback --deployment {out_path}' restores them",)
        raise
    record = record.finished(weights_after=verified, switched=True)
    write_record(record, out_path)
    return record
