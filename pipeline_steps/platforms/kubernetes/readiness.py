"""When is a colour's Deployment ready for traffic, and if not, why (in words a user can act on)?

The rule is ``kubectl rollout status``'s (kubernetes/kubectl ``pkg/polymorphichelpers/rollout_status.go``
``DeploymentStatusViewer.Status``), in its order: nothing in ``status`` counts until the
controller has observed the current spec (``observedGeneration >= generation``) — before that,
the status and its conditions describe the previous spec (a ``ProgressDeadlineExceeded`` left
from an earlier failed rollout must not fail a good one); then a ``ProgressDeadlineExceeded``
condition is a failure; then every desired replica must be updated, no old replica may remain,
and every updated replica must be available. On top of kubectl's rule, a colour gets traffic only
with at least one desired and one available replica: a Deployment scaled to 0 is "rolled out"
but serves nothing (Keptn 0.2's "no healthy upstream", keptn/keptn#332).

The reasons come from the pods of the current revision: waiting reasons such as
``ImagePullBackOff`` or ``CrashLoopBackOff``, with their messages; pods being deleted (old
revisions terminating) are not the colour's problem and are left out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pipeline_steps.platforms.base import ColourState

MARK_LABEL = "pipeline-steps.io/verdict"
TIMED_OUT = "ProgressDeadlineExceeded"


@dataclass(frozen=True)
class Rollout:
    """Where a Deployment's rollout stands, in ``kubectl rollout status``'s words."""

    done: bool
    """Rolled out and serving: kubectl's "successfully rolled out" and >= 1 available replica."""
    failed: bool
    """The controller gave up (ProgressDeadlineExceeded, observed for the current spec)."""
    message: str


def _int(value: Any) -> int:
    return int(value or 0)


def rollout(deployment: dict[str, Any]) -> Rollout:
    meta, spec, status = deployment.get("metadata") or {}, deployment.get("spec") or {}, deployment.get("status") or {}
    name = meta.get("name", "?")
    if _int(meta.get("generation")) > _int(status.get("observedGeneration")):
        return Rollout(False, False, "waiting for the deployment spec update to be observed")
    for cond in status.get("conditions") or []:
        if cond.get("type") == "Progressing" and cond.get("reason") == TIMED_OUT:
            return Rollout(False, True, f"deployment {name!r} exceeded its progress deadline: "
                                        f"{cond.get('message') or TIMED_OUT}")
    desired = _int(spec.get("replicas", 1))
    updated, replicas, available = (_int(status.get(k)) for k in ("updatedReplicas", "replicas", "availableReplicas"))
    if updated < desired:
        return Rollout(False, False, f"{updated} out of {desired} new replicas have been updated")
    if replicas > updated:
        return Rollout(False, False, f"{replicas - updated} old replicas are pending termination")
    if available < updated:
        return Rollout(False, False, f"{available} of {updated} updated replicas are available")
    if desired < 1 or available < 1:
        return Rollout(False, False, f"scaled to {desired} replicas, {available} available: no pod would serve")
    return Rollout(True, False, f"{available} of {desired} replicas available")


def is_available(deployment: dict[str, Any]) -> bool:
    return rollout(deployment).done


def deadline_exceeded(deployment: dict[str, Any]) -> str:
    """The failure message when the controller gave up on the *current* spec, else ``""``."""
    state = rollout(deployment)
    return state.message if state.failed else ""


def pod_reasons(pods: list[dict[str, Any]]) -> tuple[str, ...]:
    """``pod: Reason (message)`` for each pod that is not ready, waiting or terminated containers
    first; pods already being deleted are skipped."""
    reasons: list[str] = []
    for pod in pods:
        if (pod.get("metadata") or {}).get("deletionTimestamp"):
            continue
        name = (pod.get("metadata") or {}).get("name", "?")
        status = pod.get("status") or {}
        found = False
        for container in (status.get("containerStatuses") or []):
            if container.get("ready"):
                continue
            state = container.get("state") or {}
            detail = state.get("waiting") or state.get("terminated")
            if detail:
                message = f" ({detail['message'][:160]})" if detail.get("message") else ""
                reasons.append(f"{name}: {detail.get('reason') or 'not ready'}{message}")
                found = True
        if not found and status.get("phase") not in ("Running", "Succeeded"):
            unscheduled = [c.get("message", "") for c in status.get("conditions") or [] if c.get("reason") == "Unschedulable"]
            reasons.append(f"{name}: {status.get('phase') or 'Pending'}" + (f" ({unscheduled[0][:160]})" if unscheduled else ""))
    return tuple(reasons)


def colour_state(deployment: dict[str, Any], colour: str, reasons: tuple[str, ...] = ()) -> ColourState:
    meta, spec, status = deployment.get("metadata") or {}, deployment.get("spec") or {}, deployment.get("status") or {}
    containers = ((spec.get("template") or {}).get("spec") or {}).get("containers") or [{}]
    image = str(containers[0].get("image") or "")
    repo, tag = image, ""
    if ":" in image.rsplit("/", 1)[-1]:
        repo, tag = image.rsplit(":", 1)
    state = rollout(deployment)
    if not state.done and not reasons:
        reasons = (state.message,)
    # Ready = available replicas of the current revision (an old revision's pods do not count).
    ready = min(_int(status.get("availableReplicas")), _int(status.get("updatedReplicas")))
    return ColourState(colour=colour, image=repo, tag=tag, desired=_int(spec.get("replicas", 1)),
                       ready=ready, available=state.done,
                       mark=str((meta.get("labels") or {}).get(MARK_LABEL, "")), reasons=reasons)
