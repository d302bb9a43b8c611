"""Weights on this service's route in an Istio VirtualService, changed without taking it over.

Users keep their own routes, hosts, retries and fault injection in the same VirtualService
(Flagger #1715, #703, #673). So we edit exactly one ``http`` entry: the one named after the
service, else the one whose destinations are this service's ``blue`` and ``green`` subsets;
single-destination routes (a user's "header -> green" test route) are never touched. Only the
``weight`` fields change; everything else is written back exactly as read.

A flip is read, write, read-back: the write is a JSON merge patch of ``spec.http`` carrying
the ``resourceVersion`` we read, so a concurrent edit answers 409 and we re-read and redo the
edit on the new version instead of overwriting it.
"""

from __future__ import annotations

import copy
from typing import Any

from pipeline_steps.documents.context import StageContext
from pipeline_steps.documents.weights import COLOURS, Weights
from pipeline_steps.errors import ConflictError, InfrastructureError
from pipeline_steps.platforms.kubernetes.client import BACKEND, Kube, KubeApiError
from pipeline_steps.platforms.kubernetes.objects import ISTIO

Obj = dict[str, Any]


def service_hosts(ctx: StageContext) -> set[str]:
    """Names by which a destination can mean this service inside the mesh."""
    fqdn = f"{ctx.service}.{ctx.namespace}.svc.cluster.local"
    return {ctx.service, f"{ctx.service}.{ctx.namespace}", f"{ctx.service}.{ctx.namespace}.svc", fqdn}


def find_route(vs: Obj, ctx: StageContext) -> int | None:
    """Index of this service's blue/green route in ``spec.http`` (None if there is none)."""
    http = (vs.get("spec") or {}).get("http") or []
    hosts = service_hosts(ctx)

    def ours(entry: Any) -> bool:
        route = entry.get("route") if isinstance(entry, dict) else None
        if not isinstance(route, list) or len(route) != 2:
            return False
        subsets = {(d.get("destination") or {}).get("subset") for d in route if isinstance(d, dict)}
        return subsets == set(COLOURS) and all((d.get("destination") or {}).get("host") in hosts for d in route)

    named = [i for i, e in enumerate(http) if isinstance(e, dict) and e.get("name") == ctx.service and ours(e)]
    candidates = named or [i for i, e in enumerate(http) if ours(e)]
    return candidates[0] if candidates else None


def route_weights(vs: Obj, ctx: StageContext) -> Weights | None:
    """Weights of this service's route, or None if the VirtualService has no blue/green route for it."""
    index = find_route(vs, ctx)
    if index is None:
        return None
    values = {d["destination"]["subset"]: d.get("weight", 0) for d in vs["spec"]["http"][index]["route"]}
    try:
        return Weights(blue=int(values.get("blue") or 0), green=int(values.get("green") or 0))
    except Exception as err:  # weights a human edited into something invalid
        raise InfrastructureError(BACKEND, f"VirtualService {vs['metadata']['name']}: route weights "
                                           f"{values} are invalid: {err}") from err


def with_weights(vs: Obj, ctx: StageContext, weights: Weights) -> list[Any]:
    """``spec.http`` of ``vs`` with only this service's route weights replaced."""
    http = copy.deepcopy(vs["spec"]["http"])
    index = find_route(vs, ctx)
    assert index is not None
    for destination in http[index]["route"]:
        destination["weight"] = weights.of(destination["destination"]["subset"])
    return http


class RouteEditor:
    """Reads and sets this service's weights; counts its own API round trips (for the benchmark)."""

    def __init__(self, kube: Kube, attempts: int = 5) -> None:
        self.kube = kube
        self.attempts = attempts
        self.round_trips = 0

    def read(self, ctx: StageContext, name: str) -> Obj | None:
        group, version = ISTIO
        self.round_trips += 1
        try:
            return self.kube.call(f"read VirtualService {name}", self.kube.custom.get_namespaced_custom_object,
                                  group, version, ctx.namespace, "virtualservices", name)
        except KubeApiError as err:
            if err.status == 404:
                return None
            raise

    def set(self, ctx: StageContext, name: str, weights: Weights) -> Weights:
        """Write ``weights`` (unless already set) and verify by reading back; retries on 409."""
        group, version = ISTIO
        for _ in range(self.attempts):
            vs = self.read(ctx, name)
            if vs is None or route_weights(vs, ctx) is None:
                raise InfrastructureError(BACKEND, f"VirtualService {name} in {ctx.namespace} has no blue/green "
                                                   f"route for {ctx.service}")
            if route_weights(vs, ctx) == weights:
                return weights  # idempotent: nothing to write
            patch = {"metadata": {"resourceVersion": vs["metadata"]["resourceVersion"]},
                     "spec": {"http": with_weights(vs, ctx, weights)}}
            self.round_trips += 1
            try:
                self.kube.call(f"write VirtualService {name}", self.kube.custom.patch_namespaced_custom_object,
                               group, version, ctx.namespace, "virtualservices", name, patch,
                               _content_type="application/merge-patch+json")
            except KubeApiError as err:
                if err.status == 409:
                    continue  # someone edited it since our read: re-read and redo on their version
                raise
            return self.verify(ctx, name, weights)
        raise ConflictError(BACKEND, f"VirtualService {name} in {ctx.namespace} changed under every one of "
                                     f"{self.attempts} attempts to set {weights}")

    def verify(self, ctx: StageContext, name: str, weights: Weights) -> Weights:
        back = self.read(ctx, name)
        found = route_weights(back, ctx) if back is not None else None
        if found != weights:
            raise ConflictError(BACKEND, f"VirtualService {name}: read back {found} after writing {weights}: "
                                         "someone changed it right after our write")
        return found
