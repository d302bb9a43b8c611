"""What a deploy writes, decided once for both ``apply`` and its pre-flight dry run.

Per rendered object, one action: ``replace`` (create, or replace the live one), ``create`` (create
once, then leave it to its owners: the DestinationRule and Gateway, where users add traffic
policies, TLS or fault injection (Flagger #703, #1715), and the other colour once a route exists)
or ``keep`` (the VirtualService once it exists: its weights belong to ``switch``). Workloads come
first and routes last, so a route never points at something that does not exist yet. Without a
route this is a first deployment: both colours run the new version, also when a VirtualService
deleted by hand (or a first deploy that died before its route) left an older colour behind.

Replica counts (kubernetes docs, "Horizontal Pod Autoscaling": with an HPA, the manifest must
not set ``replicas``, or every apply resets what the HPA decided): a colour an HPA targets keeps
the count it has; and while any HPA scales a colour, the colour about to take the traffic starts
with at least as many replicas as the live colour has ready, so the flip does not move the live
load onto fewer pods than serve it now.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pipeline_steps.platforms.kubernetes.chart import colour_of
from pipeline_steps.platforms.kubernetes.objects import Objects

Obj = dict[str, Any]
ROUTING = ("VirtualService", "DestinationRule", "Gateway")
CREATE_ONCE = ("DestinationRule", "Gateway")


@dataclass(frozen=True)
class Step:
    obj: Obj
    action: str
    """``replace``, ``create`` (if absent) or ``keep``."""

    @property
    def title(self) -> str:
        return f"{self.obj['kind']} {self.obj['metadata']['name']}"


def plan(objects: list[Obj], colour: str | None, route_exists: bool) -> list[Step]:
    """The writes of a deploy into ``colour`` (None: direct), routes last."""
    mine = colour or "direct"
    steps = []
    for obj in sorted(objects, key=lambda o: o["kind"] in ROUTING):
        owner = colour_of(obj)
        if obj["kind"] == "VirtualService":
            action = "keep" if route_exists else "create"
        elif obj["kind"] in CREATE_ONCE or (owner is not None and owner != mine and route_exists):
            action = "create"
        else:
            action = "replace"
        steps.append(Step(obj, action))
    return steps


def hpa_targets(hpas: list[Obj]) -> set[str]:
    """Names of the Deployments the HorizontalPodAutoscalers scale."""
    targets = set()
    for hpa in hpas:
        ref = (hpa.get("spec") or {}).get("scaleTargetRef") or {}
        if ref.get("kind") == "Deployment" and ref.get("name"):
            targets.add(str(ref["name"]))
    return targets


def replicas(obj: Obj, live: Obj | None, targeted: bool, floor: int) -> Obj:
    """``obj`` with the replica count the rules above give (``floor``: the live colour's ready
    replicas when an HPA is in play, else 0)."""
    if obj["kind"] != "Deployment":
        return obj
    spec = dict(obj.get("spec") or {})
    count = int(spec.get("replicas", 1))
    if targeted and live is not None:
        count = int((live.get("spec") or {}).get("replicas", count))
    count = max(count, floor)
    if count == spec.get("replicas"):
        return obj
    return {**obj, "spec": {**spec, "replicas": count}}


Adjust = Callable[[Obj, "Obj | None"], Obj]
"""(object to write, live object or None) -> the object as it will be written."""


def write(objects: Objects, step: Step, adjust: Adjust, **options: Any) -> str:
    """Carry out ``step`` (``options``: dry_run/field_validation); returns what happened:
    ``created``, ``replaced``, ``kept`` (it exists and is left alone) or ``skipped`` (``keep``)."""
    if step.action == "keep":
        return "skipped"
    if step.action == "create":
        return "created" if objects.create_if_absent(adjust(step.obj, None), **options) else "kept"
    return objects.create_or_replace(step.obj, adjust=adjust, **options)
