"""Weights on this service's routes in an Istio VirtualService, changed without taking it over.

Users keep their own routes, hosts, retries and fault injection in the same VirtualService
(Flagger #1715, #703, #673), so only the ``route`` of *this service's* ``http`` entries change.
Which entries those are follows Argo Rollouts' rule (argoproj/argo-rollouts
``rollout/trafficrouting/istio/istio.go``: named routes are managed; without names the
VirtualService must have exactly one route), extended so that no route of the service is left
behind:

* every entry named after the service, and every entry whose destinations are exactly this
  service's ``blue`` and ``green`` subsets (a user's ``match: /api`` copy included), is flipped
  and verified together;
* an entry named after the service, or the only entry of the VirtualService, may have one
  destination: it reads with Istio's defaults and gets the other colour added when it flips;
* an entry that mixes this service's colours with other destinations, or names one twice, is
  ambiguous: nothing is written and the error names it;
* other single-destination entries (a user's "header -> green" test route) are never touched.

Weights read as Istio applies them (istio/api ``networking/v1alpha3/virtual_service.proto``
``HTTPRouteDestination.weight``): a lone destination gets all traffic whatever its weight; an
omitted weight is 0; weights are relative (``weight/sum``). Managed entries that disagree can only
come from a hand edit (a flip writes them in one patch): reading refuses, naming them.

A flip is read, write, read-back: the write is a JSON merge patch of ``spec.http`` carrying
the ``resourceVersion`` we read, so a concurrent edit answers 409 and we re-read and redo the
edit on the new version instead of overwriting it.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from pipeline_steps.documents.context import StageContext
from pipeline_steps.documents.weights import COLOURS, Weights
from pipeline_steps.errors import ConflictError, InfrastructureError
from pipeline_steps.platforms.kubernetes.client import BACKEND, Kube, KubeApiError
from pipeline_steps.platforms.kubernetes.discovery import ISTIO_GROUP, Discovery

Obj = dict[str, Any]


def service_hosts(ctx: StageContext) -> set[str]:
    """Names by which a destination can mean this service inside the mesh."""
    fqdn = f"{ctx.service}.{ctx.namespace}.svc.cluster.local"
    return {ctx.service, f"{ctx.service}.{ctx.namespace}", f"{ctx.service}.{ctx.namespace}.svc", fqdn}


@dataclass(frozen=True)
class ServiceRoute:
    """One ``http`` entry carrying this service's blue/green traffic."""

    index: int
    name: str
    weights: Weights | None
    """None: weights edited into no valid split (found only by ``set``, which writes valid ones over them)."""

    def describe(self) -> str:
        return f"http[{self.index}]" + (f" {self.name!r}" if self.name else "") + f" ({self.weights})"


def _colour(destination: Any, hosts: set[str]) -> str | None:
    dest = (destination or {}).get("destination") if isinstance(destination, dict) else None
    if isinstance(dest, dict) and dest.get("host") in hosts and dest.get("subset") in COLOURS:
        return str(dest["subset"])
    return None


def _weights(route: list[Any], colours: list[str | None], where: str) -> Weights:
    if len(route) == 1:
        return Weights.all_to(str(colours[0]))  # a lone destination takes everything
    raw = {c: route[i].get("weight", 0) for i, c in enumerate(colours) if c}
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in raw.values()) or not sum(raw.values()):
        raise InfrastructureError(BACKEND, f"{where}: weights {raw} are not a valid split")
    blue = round(100 * raw.get("blue", 0) / sum(raw.values()))
    return Weights(blue=blue, green=100 - blue)


def _found(route: list[Any], colours: list[str | None], where: str, invalid_ok: bool) -> Weights | None:
    try:
        return _weights(route, colours, where)
    except InfrastructureError:
        if invalid_ok:
            return None
        raise


def service_routes(vs: Obj, ctx: StageContext, *, invalid_ok: bool = False) -> list[ServiceRoute]:
    """This service's routes with their weights (Istio defaults applied); [] if there is none.
    Raises ``ConflictError`` naming the entries that make the VirtualService ambiguous, and
    ``InfrastructureError`` for weights that are no valid split unless ``invalid_ok`` (then None:
    a write can always put valid weights back, issue 12.9)."""
    http = (vs.get("spec") or {}).get("http") or []
    hosts = service_hosts(ctx)
    found: list[ServiceRoute] = []
    ambiguous: list[str] = []
    for index, entry in enumerate(http):
        route = entry.get("route") if isinstance(entry, dict) else None
        if not isinstance(route, list) or not route:
            continue
        name = str(entry.get("name") or "")
        colours = [_colour(d, hosts) for d in route]
        where = f"http[{index}]" + (f" {name!r}" if name else "")
        if not any(colours):
            continue
        if len(route) == 1:
            if name == ctx.service or len(http) == 1:
                found.append(ServiceRoute(index, name, _found(route, colours, where, invalid_ok)))
            continue  # a pinned test route: left alone
        if sorted(c or "" for c in colours) == sorted(COLOURS):
            found.append(ServiceRoute(index, name, _found(route, colours, where, invalid_ok)))
        else:
            ambiguous.append(f"{where} routes to {[c or 'another destination' for c in colours]}")
    if ambiguous:
        raise ConflictError(BACKEND, f"VirtualService {vs['metadata']['name']} in {ctx.namespace} is ambiguous for "
                                     f"{ctx.service}: {'; '.join(ambiguous)}; a route of this service must send to "
                                     "exactly its blue and green subsets, so nothing was changed")
    return found


def strategy_conflict(vs: Obj | None, ctx: StageContext) -> str:
    """Why deploying ``ctx``'s strategy over ``vs`` must stop before any write, or ``""``.

    A VirtualService with a blue/green route of this service under a direct deploy (or the
    reverse) means a strategy change or a route someone rewrote: re-applying would leave the old
    route in charge, so traffic would never follow the colours, and moving it before the new
    Deployments are available would serve errors. ``deploy`` and its pre-flight share this rule."""
    if vs is None or bool(service_routes(vs, ctx)) == ctx.blue_green:
        return ""
    return (f"VirtualService {ctx.service} in {ctx.namespace} {'has' if not ctx.blue_green else 'has no'} "
            f"blue/green route for {ctx.service}, but this deploy's strategy is {ctx.deployment_strategy}: nothing "
            "was changed; to change the strategy, delete the VirtualService and the old strategy's Deployments, "
            "then deploy again")


def find_route(vs: Obj, ctx: StageContext) -> int | None:
    """Index of this service's first route in ``spec.http`` (None if there is none)."""
    routes = service_routes(vs, ctx)
    return routes[0].index if routes else None


def route_weights(vs: Obj, ctx: StageContext) -> Weights | None:
    """The weights of this service's routes, or None if the VirtualService has none for it.
    ``ConflictError`` if they disagree (name the routes and how to make them agree)."""
    routes = service_routes(vs, ctx)
    if not routes:
        return None
    if len({r.weights for r in routes}) > 1:
        raise ConflictError(BACKEND, f"VirtualService {vs['metadata']['name']} in {ctx.namespace}: the routes of "
                                     f"{ctx.service} disagree ({', '.join(r.describe() for r in routes)}): a split "
                                     "made by hand; nothing was changed: make them agree in the VirtualService "
                                     "(or remove one), then run the step again")
    return routes[0].weights


def with_weights(vs: Obj, ctx: StageContext, weights: Weights) -> list[Any]:
    """``spec.http`` of ``vs`` with only this service's routes set to ``weights``."""
    http = copy.deepcopy(vs["spec"]["http"])
    for found in service_routes(vs, ctx, invalid_ok=True):
        route = http[found.index]["route"]
        if len(route) == 1:  # add the other colour next to the lone destination
            other = copy.deepcopy(route[0])
            other["destination"]["subset"] = "green" if route[0]["destination"]["subset"] == "blue" else "blue"
            route.append(other)
        for destination in route:
            destination["weight"] = weights.of(destination["destination"]["subset"])
    return http


class RouteEditor:
    """Reads and sets this service's weights; counts its own API round trips (for the benchmark)."""

    def __init__(self, kube: Kube, attempts: int = 5, discovery: Discovery | None = None) -> None:
        self.kube = kube
        self.attempts = attempts
        self.discovery = discovery or Discovery(kube)
        self.round_trips = 0

    def read(self, ctx: StageContext, name: str) -> Obj | None:
        """The VirtualService, or None if the API server says it does not exist."""
        version = self.discovery.istio_version()
        self.round_trips += 1
        try:
            return self.kube.call(f"read VirtualService {name}", self.kube.custom.get_namespaced_custom_object,
                                  ISTIO_GROUP, version, ctx.namespace, "virtualservices", name)
        except KubeApiError as err:
            if err.status == 404 and err.names("virtualservices", name):
                return None
            if err.status == 404:
                raise InfrastructureError(BACKEND, f"{err}: {ISTIO_GROUP}/{version} virtualservices is not served "
                                                   "(404 without a Status naming the VirtualService); nothing was "
                                                   "changed") from None
            raise

    def set(self, ctx: StageContext, name: str, weights: Weights) -> Weights:
        """Write ``weights`` to every route of this service (unless already set) and verify by
        reading back; retries on 409."""
        version = self.discovery.istio_version()
        for _ in range(self.attempts):
            vs = self.read(ctx, name)
            routes = service_routes(vs, ctx, invalid_ok=True) if vs is not None else []
            if vs is None or not routes:
                raise InfrastructureError(BACKEND, f"VirtualService {name} in {ctx.namespace} has no blue/green "
                                                   f"route for {ctx.service}")
            if len({r.weights for r in routes if r.weights is not None}) > 1:
                route_weights(vs, ctx)  # routes split differently by hand: refused, naming them
            if all(r.weights == weights for r in routes) and all(
                    len(vs["spec"]["http"][r.index]["route"]) == 2 or weights.live for r in routes):
                return weights  # idempotent: nothing to write
            patch = {"metadata": {"resourceVersion": vs["metadata"]["resourceVersion"]},
                     "spec": {"http": with_weights(vs, ctx, weights)}}
            self.round_trips += 1
            try:
                self.kube.call(f"write VirtualService {name}", self.kube.custom.patch_namespaced_custom_object,
                               ISTIO_GROUP, version, ctx.namespace, "virtualservices", name, patch,
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
        routes = service_routes(back, ctx) if back is not None else []
        wrong = [r for r in routes if r.weights != weights]
        if not routes or wrong:
            found = ", ".join(r.describe() for r in (wrong or routes)) or "no route"
            raise ConflictError(BACKEND, f"VirtualService {name}: read back {found} after writing {weights}: "
                                         "someone changed it right after our write")
        return weights
