"""The arithmetic of a Deployment rollout, as kubernetes/kubernetes' Deployment controller does it.

* Pod template hash: pods of one template version belong to one ReplicaSet ``<deployment>-<hash>``
  and carry ``pod-template-hash``; only a change of ``spec.template`` makes a new one, so a
  label-only change of the Deployment leaves its pods alone (``pkg/controller/deployment/sync.go``
  ``getNewReplicaSet``, ``controller.ComputeHash``).
* Fenceposts: ``maxSurge`` rounds up and ``maxUnavailable`` down from percentages of the desired
  replicas; both 0 means one may be unavailable (``pkg/controller/deployment/util/deployment_util.go``
  ``ResolveFenceposts``).
* Status and conditions (``pkg/controller/deployment/sync.go`` ``calculateStatus``,
  ``pkg/controller/deployment/progress.go`` ``syncRolloutStatus``): counts over active
  (not terminating) pods; ``Available`` is True once available >= desired - maxUnavailable
  ("Deployment has minimum availability."); ``Progressing`` is ``NewReplicaSetCreated`` when a new
  ReplicaSet appears, ``ReplicaSetUpdated`` while a rollout progresses, ``NewReplicaSetAvailable``
  when complete, and False ``ProgressDeadlineExceeded`` when nothing progressed for
  ``progressDeadlineSeconds`` ("ReplicaSet "x" has timed out progressing.").
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from typing import Any

Obj = dict[str, Any]
_SAFE = "bcdfghjklmnpqrstvwxz2456789"  # the alphabet of rand.SafeEncodeString (apimachinery)


def template_hash(template: Any) -> str:
    digest = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).digest()
    return "".join(_SAFE[b % len(_SAFE)] for b in digest[:10])


def _resolve(value: Any, total: int, round_up: bool) -> int:
    if isinstance(value, str) and value.endswith("%"):
        scaled = int(value[:-1]) * total / 100
        return math.ceil(scaled) if round_up else math.floor(scaled)
    return int(value or 0)


def fenceposts(deployment: Obj) -> tuple[int, int]:
    """(maxSurge, maxUnavailable) in pods."""
    spec = deployment.get("spec") or {}
    desired = int(spec.get("replicas", 1))
    rolling = ((spec.get("strategy") or {}).get("rollingUpdate") or {})
    surge = _resolve(rolling.get("maxSurge", "25%"), desired, True)
    unavailable = _resolve(rolling.get("maxUnavailable", "25%"), desired, False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


@dataclass(frozen=True)
class Counts:
    """Active pods of the Deployment by revision and readiness."""

    new: int
    new_ready: int
    old: int
    old_ready: int

    @property
    def replicas(self) -> int:
        return self.new + self.old

    @property
    def ready(self) -> int:
        return self.new_ready + self.old_ready


def condition(kind: str, status: str, reason: str, message: str, at: str, previous: Obj | None = None) -> Obj:
    # lastTransitionTime moves only when the status flips (SetDeploymentCondition).
    transition = previous["lastTransitionTime"] if previous and previous.get("status") == status else at
    return {"type": kind, "status": status, "reason": reason, "message": message, "lastUpdateTime": at,
            "lastTransitionTime": transition}


def status_for(deployment: Obj, counts: Counts, progressing: tuple[str, str, str], at: str) -> Obj:
    """The Deployment status for ``counts`` with the Progressing condition ``(status, reason, message)``."""
    spec, meta = deployment.get("spec") or {}, deployment.get("metadata") or {}
    previous = {c.get("type"): c for c in (deployment.get("status") or {}).get("conditions") or []}
    desired = int(spec.get("replicas", 1))
    _, max_unavailable = fenceposts(deployment)
    available = counts.ready >= desired - max_unavailable
    conditions = [
        condition("Available", "True", "MinimumReplicasAvailable", "Deployment has minimum availability.", at,
                  previous.get("Available")) if available else
        condition("Available", "False", "MinimumReplicasUnavailable", "Deployment does not have minimum "
                  "availability.", at, previous.get("Available")),
        condition("Progressing", *progressing, at, previous.get("Progressing")),
    ]
    kept = previous.get("Progressing")
    if kept and (kept["status"], kept["reason"], kept["message"]) == progressing:
        conditions[1] = kept  # no news: the condition stays as it was (lastUpdateTime too)
    status: Obj = {"observedGeneration": meta.get("generation", 1), "replicas": counts.replicas,
                   "updatedReplicas": counts.new, "readyReplicas": counts.ready,
                   "availableReplicas": counts.ready, "conditions": conditions}
    if desired - counts.ready > 0:
        status["unavailableReplicas"] = desired - counts.ready
    return {k: v for k, v in status.items() if v != 0 or k == "observedGeneration"}


def complete(deployment: Obj, counts: Counts) -> bool:
    desired = int((deployment.get("spec") or {}).get("replicas", 1))
    return counts.new == desired and counts.old == 0 and counts.new_ready == desired
