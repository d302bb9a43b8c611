"""The deploy step: put a version into a stage, direct or blue/green, and record what was done.

Platform-independent on purpose: it only calls the ``Platform`` Protocol, so the same decisions
hold on Kubernetes/Istio and on the local Envoy platform. The order is the point of this module
(Keptn 0.2 flipped before the new pods were ready and served "no healthy upstream"):

1. read the live colour; a split route means an unfinished flip: refuse, change nothing;
2. apply the version to the free colour (the first deployment creates both, 100/0 to blue);
3. wait until that colour is fully available (else fail naming the reasons, weights untouched);
4. write ``deployment.json`` with ``weights_before`` (a crash during the flip stays recoverable);
5. flip, verified by read-back, and rewrite ``deployment.json``.
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
from pipeline_steps.errors import BadInputError, ConflictError, PipelineStepsError
from pipeline_steps.files import check_writable
from pipeline_steps.platforms.base import Platform, lock_holder

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
    if not ctx.blue_green:
        record = _deploy_direct(platform, ctx, service, out_path, options, started=started)
    else:
        # The lock must outlive the wait for readiness, or a second pipeline could take it over as stale.
        with platform.lock(ctx, options.holder or lock_holder(ctx), ttl_s=max(300.0, options.timeout_s + 120.0)):
            record = _deploy_blue_green(platform, ctx, service, out_path, options, started=started)
    after_deploy(out_path.parent)
    return record


def _deploy_direct(platform: Platform, ctx: StageContext, service: ServiceSpec, out_path: Path,
                   options: DeployOptions, *, started: float) -> DeploymentRecord:
    platform.apply(ctx, None, service)
    platform.wait_available(ctx, None, options.timeout_s)
    platform.mark(ctx, None, "")
    record = DeploymentRecord(context=ctx, platform=platform.name, namespace=ctx.namespace, colour="",
                              image=ctx.image, tag=ctx.tag, started_unix=started,
                              endpoints=platform.endpoints(ctx))
    record = record.finished()
    write_record(record, out_path)
    return record


def _deploy_blue_green(platform: Platform, ctx: StageContext, service: ServiceSpec, out_path: Path,
                       options: DeployOptions, *, started: float) -> DeploymentRecord:
    status = platform.status(ctx)
    weights = status.weights
    if weights is not None and weights.live is None:
        raise ConflictError(
            platform.name,
            f"{ctx.service} in {ctx.namespace} is split ({weights}): an earlier flip did not finish; "
            "finish it with 'pipeline-steps switch --weights blue|green' or 'pipeline-steps rollback' first",
        )
    first = weights is None
    if first:
        colour, previous, weights_before = FIRST_COLOUR, "", Weights.all_to(FIRST_COLOUR)
    else:
        assert weights is not None and weights.live is not None
        previous = weights.live
        colour, weights_before = other_colour(previous), weights

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
        image=ctx.image, tag=ctx.tag, weights_before=weights_before, started_unix=started,
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
