"""When is a colour's Deployment available, and if not, why (in words a user can act on)?

Available means the controller has seen the current spec (``observedGeneration >= generation``)
and every desired replica is updated and available: a Deployment that still reports the old
ReplicaSet's pods as available is *not* ready for traffic (Argo Rollouts #2641: switched before
the new pods were ready). The reasons come from the pods: waiting reasons such as
``ImagePullBackOff`` or ``CrashLoopBackOff``, with their messages.
"""

from __future__ import annotations

from typing import Any

from pipeline_steps.platforms.base import ColourState

MARK_LABEL = "pipeline-steps.io/verdict"


def is_available(deployment: dict[str, Any]) -> bool:
    meta, spec, status = deployment.get("metadata") or {}, deployment.get("spec") or {}, deployment.get("status") or {}
    desired = int(spec.get("replicas", 1))
    if int(status.get("observedGeneration") or 0) < int(meta.get("generation") or 1):
        return False
    if desired == 0:
        return True
    return (int(status.get("updatedReplicas") or 0) >= desired and int(status.get("availableReplicas") or 0) >= desired
            and int(status.get("replicas") or 0) <= desired)


def deadline_exceeded(deployment: dict[str, Any]) -> str:
    """The Progressing=False condition's message when the rollout gave up, else ``""``."""
    for cond in (deployment.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Progressing" and cond.get("reason") == "ProgressDeadlineExceeded":
            return str(cond.get("message") or "progress deadline exceeded")
    return ""


def pod_reasons(pods: list[dict[str, Any]]) -> tuple[str, ...]:
    """``pod: Reason (message)`` for each pod that is not ready, waiting or terminated containers first."""
    reasons: list[str] = []
    for pod in pods:
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
    return ColourState(colour=colour, image=repo, tag=tag, desired=int(spec.get("replicas", 1)),
                       ready=int(status.get("readyReplicas") or 0), available=is_available(deployment),
                       mark=str((meta.get("labels") or {}).get(MARK_LABEL, "")), reasons=reasons)
