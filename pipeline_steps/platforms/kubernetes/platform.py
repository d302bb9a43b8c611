"""The Kubernetes/Istio platform: Deployments per colour, traffic by VirtualService route weights.

A stage is the namespace ``<project>-<stage>``; a colour is the Deployment ``<service>-<colour>``
(pod label ``deployment: <service>-<colour>``); the switch is this service's route in the
VirtualService ``<service>``. Objects come from the chart in ``charts/service``; see
``objects.py`` for why they are created/replaced with resourceVersion and not server-side
applied, ``routes.py`` for the weight edit, ``lease.py`` for the lock.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, ClassVar

from pipeline_steps.documents.context import StageContext
from pipeline_steps.documents.deployment import Endpoints
from pipeline_steps.documents.service import ServiceSpec
from pipeline_steps.documents.vocabulary import DeploymentStrategy
from pipeline_steps.documents.weights import COLOURS, Weights
from pipeline_steps.errors import BadInputError, ConflictError, InfrastructureError, NotReadyError
from pipeline_steps.platforms import PlatformSettings
from pipeline_steps.platforms.base import ColourState, Option, StageStatus
from pipeline_steps.platforms.kubernetes.chart import colour_of, render, values_for
from pipeline_steps.platforms.kubernetes.client import BACKEND, Kube, KubeApiError, api_client
from pipeline_steps.platforms.kubernetes.lease import lease_lock
from pipeline_steps.platforms.kubernetes.objects import Objects
from pipeline_steps.platforms.kubernetes.readiness import MARK_LABEL, colour_state, deadline_exceeded, pod_reasons
from pipeline_steps.platforms.kubernetes.routes import RouteEditor, find_route, route_weights

COLOUR_LABEL = "pipeline-steps.io/colour"
MARKS = ("", "failed", "passed")
LABEL_MAX = 63  # a DNS-1123 label, and a label value


@dataclass(frozen=True)
class KubernetesSettings:
    """``--kubeconfig``/``--context``: where the cluster is (default: ``$KUBECONFIG``, ``~/.kube/config``,
    then the pod's service account)."""

    kubeconfig: str | None = None
    context: str | None = None


class KubernetesPlatform:
    """``Platform`` on a cluster with Istio; every read goes to the API server (no cache)."""

    name: ClassVar[str] = "kubernetes"
    OPTIONS: ClassVar[tuple[Option, ...]] = (
        ("--kubeconfig", {"envvar": "KUBECONFIG", "default": None, "help": "Kubernetes: kubeconfig file [env KUBECONFIG]."}),
        ("--context", {"param": "kube_context", "default": None, "help": "Kubernetes: kubeconfig context."}),
    )

    @classmethod
    def settings_from_options(cls, options: Mapping[str, Any]) -> KubernetesSettings:
        return KubernetesSettings(kubeconfig=options.get("kubeconfig"), context=options.get("kube_context"))

    @classmethod
    def from_settings(cls, settings: PlatformSettings) -> KubernetesPlatform:
        """The factory ``platforms.make_platform`` calls."""
        group: KubernetesSettings = settings.group(cls.name, KubernetesSettings())
        return cls(Kube(api_client(group.kubeconfig, group.context)))

    def __init__(self, kube: Kube, poll_s: float = 1.0) -> None:
        self.kube = kube
        self.objects = Objects(kube)
        self.routes = RouteEditor(kube)
        self.poll_s = poll_s

    # -- reads --------------------------------------------------------------------------
    def _deployments(self, ctx: StageContext) -> list[dict[str, Any]]:
        selector = f"app.kubernetes.io/name={ctx.service},app.kubernetes.io/component=service,{COLOUR_LABEL}"
        found = self.kube.call(f"list Deployments of {ctx.service}", self.kube.apps.list_namespaced_deployment,
                               ctx.namespace, label_selector=selector)
        return list(found.get("items") or [])

    def _reasons(self, ctx: StageContext, deployment: dict[str, Any]) -> tuple[str, ...]:
        name = deployment["metadata"]["name"]
        pods = self.kube.call(f"list Pods of {name}", self.kube.core.list_namespaced_pod, ctx.namespace,
                              label_selector=f"deployment={name}")
        reasons = pod_reasons(list(pods.get("items") or []))
        stuck = deadline_exceeded(deployment)
        return (*reasons, stuck) if stuck else reasons

    def _state(self, ctx: StageContext, deployment: dict[str, Any]) -> ColourState:
        colour = (deployment["metadata"].get("labels") or {}).get(COLOUR_LABEL, "")
        colour = "" if colour == "direct" else colour
        state = colour_state(deployment, colour)
        if not state.available:
            state = colour_state(deployment, colour, self._reasons(ctx, deployment))
        return state

    def status(self, ctx: StageContext) -> StageStatus:
        colours = tuple(self._state(ctx, d) for d in self._deployments(ctx))
        vs = self.routes.read(ctx, ctx.service)
        weights = route_weights(vs, ctx) if vs is not None else None
        strategy = DeploymentStrategy.BLUE_GREEN if weights is not None or any(c.colour in COLOURS for c in colours) \
            else DeploymentStrategy.DIRECT
        return StageStatus(context=ctx, strategy=strategy if colours else ctx.deployment_strategy,
                           colours=colours, weights=weights)

    def endpoints(self, ctx: StageContext) -> Endpoints:
        internal = f"{ctx.service}.{ctx.namespace}.svc.cluster.local"
        vs = self.routes.read(ctx, ctx.service) or {}
        hosts = [h for h in (vs.get("spec") or {}).get("hosts") or [] if "." in h and not h.endswith(".svc.cluster.local")]
        colour_urls = {c: f"http://{ctx.service}-{c}.{ctx.namespace}.svc.cluster.local" for c in COLOURS} \
            if ctx.blue_green else {}
        return Endpoints(public_url=f"http://{hosts[0]}" if hosts else f"http://{internal}",
                         internal_url=f"http://{internal}", colour_urls=colour_urls)

    # -- writes -------------------------------------------------------------------------
    def apply(self, ctx: StageContext, colour: str | None, service: ServiceSpec) -> None:
        check_names(ctx)
        if ctx.blue_green and colour not in COLOURS:
            raise BadInputError("colour", None, f"{colour!r} is not blue or green")
        vs = self.routes.read(ctx, ctx.service)
        if vs is not None and (find_route(vs, ctx) is not None) != ctx.blue_green:
            # A strategy change (or a route someone rewrote): re-applying would leave the old route
            # in charge, so traffic would never follow the colours. Moving it now, before the new
            # Deployments are available, would serve errors; so stop before writing anything.
            raise ConflictError(BACKEND, f"VirtualService {ctx.service} in {ctx.namespace} "
                                         f"{'has' if not ctx.blue_green else 'has no'} blue/green route for "
                                         f"{ctx.service}, but this deploy's strategy is {ctx.deployment_strategy}: "
                                         "nothing was changed; to change the strategy, delete the VirtualService "
                                         "and the old strategy's Deployments, then deploy again")
        vs_exists = ctx.blue_green and vs is not None
        weights = Weights.all_to(colour) if colour in COLOURS else None
        objects = render(values_for(ctx, service, weights), ctx.namespace)
        self.objects.ensure_namespace(ctx.namespace, {"istio-injection": "enabled",
                                                      "app.kubernetes.io/part-of": ctx.project})
        mine = colour or "direct"
        # Workloads first, routes last: a route is never created before what it points at.
        for obj in sorted(objects, key=lambda o: o["kind"] in ("VirtualService", "DestinationRule", "Gateway")):
            owner = colour_of(obj)
            if obj["kind"] == "VirtualService":
                if not vs_exists:
                    self.objects.create_if_absent(obj)  # weights belong to switch once it exists
            elif obj["kind"] in ("DestinationRule", "Gateway"):
                # Created once, then left to their owners: users add traffic policies, TLS or fault
                # injection there, and a redeploy must not take them over (Flagger #703, #1715).
                self.objects.create_if_absent(obj)
            elif owner is not None and owner != mine and vs_exists:
                self.objects.create_if_absent(obj)  # the other colour: created once, then left alone
            # Without a route this is a first deployment: both colours run the new version, also when
            # a VirtualService deleted by hand (or a first deploy that died before its route) left
            # an older colour behind, which would otherwise stay on that version.
            else:
                self.objects.create_or_replace(obj)

    def wait_available(self, ctx: StageContext, colour: str | None, timeout_s: float) -> ColourState:
        name = f"{ctx.service}-{colour}" if colour else ctx.service
        deadline = time.monotonic() + timeout_s
        while True:
            deployment = self.objects.get("Deployment", ctx.namespace, name)
            if deployment is None:
                raise NotReadyError(BACKEND, f"Deployment {name} does not exist in {ctx.namespace}")
            state = colour_state(deployment, colour or "")
            if state.available:
                return state
            stuck = deadline_exceeded(deployment)
            if stuck or time.monotonic() >= deadline:
                reasons = self._reasons(ctx, deployment)
                why = "; ".join(reasons) or "no pod reported a reason"
                raise NotReadyError(BACKEND, f"Deployment {name} in {ctx.namespace} is not available after "
                                             f"{round(timeout_s, 1):g}s ({state.ready}/{state.desired} ready): {why}; "
                                             "traffic was not changed")
            time.sleep(min(self.poll_s, max(0.0, deadline - time.monotonic())))

    def set_weights(self, ctx: StageContext, weights: Weights) -> Weights:
        # Availability of every colour that gets traffic, from one list call.
        states = {s.colour: s for s in (colour_state(d, (d["metadata"].get("labels") or {}).get(COLOUR_LABEL, ""))
                                        for d in self._deployments(ctx))}
        for colour in COLOURS:
            if weights.of(colour) and not (colour in states and states[colour].available):
                ready = f"{states[colour].ready}/{states[colour].desired} ready" if colour in states else "missing"
                raise NotReadyError(BACKEND, f"Deployment {ctx.service}-{colour} is not available ({ready}); "
                                             f"refusing to send it {weights.of(colour)}% of the traffic")
        try:
            return self.routes.set(ctx, ctx.service, weights)
        except InfrastructureError as err:
            err.args = (f"{err}; {self._now_routed(ctx)}",)
            raise

    def _now_routed(self, ctx: StageContext) -> str:
        """After a failed write: what the route says now, so the error tells where traffic is."""
        try:
            vs = self.routes.read(ctx, ctx.service)
        except KubeApiError:
            return ("the route could not be read back either; traffic is on an available colour but which one "
                    "is unknown: run 'pipeline-steps status'")
        weights = route_weights(vs, ctx) if vs else None
        return f"the route now sends {weights}" if weights else "the route could not be found"

    def mark(self, ctx: StageContext, colour: str | None, mark: str) -> None:
        if mark not in MARKS:
            raise BadInputError("mark", None, f"{mark!r} is not one of failed, passed or empty")
        name = f"{ctx.service}-{colour}" if colour else ctx.service
        patch = {"metadata": {"labels": {MARK_LABEL: mark or None}}}
        self.kube.call(f"mark Deployment {name}", self.kube.apps.patch_namespaced_deployment, name, ctx.namespace,
                       patch, _content_type="application/merge-patch+json")

    def lock(self, ctx: StageContext, holder: str, ttl_s: float = 300.0) -> AbstractContextManager[None]:
        check_names(ctx)
        self.objects.ensure_namespace(ctx.namespace, {"istio-injection": "enabled",
                                                      "app.kubernetes.io/part-of": ctx.project})
        return lease_lock(self.kube, ctx, _label_safe(holder), ttl_s)


def check_names(ctx: StageContext) -> None:
    """Names we derive must fit Kubernetes' 63-character limits (namespace; the ``deployment`` label
    carries ``<service>-db-<colour>``): the API server would refuse them half-way through a deploy."""
    if len(ctx.namespace) > LABEL_MAX:
        raise BadInputError("context", "project", f"with stage {ctx.stage!r} makes the namespace {ctx.namespace!r}, "
                                                  f"{len(ctx.namespace)} characters; Kubernetes allows {LABEL_MAX}")
    longest = f"{ctx.service}-db-green"
    if len(longest) > LABEL_MAX:
        raise BadInputError("context", "service", f"{ctx.service!r} is too long: {longest!r} must fit in {LABEL_MAX} "
                                                  f"characters (at most {LABEL_MAX - len('-db-green')} for the service)")


def _label_safe(holder: str) -> str:
    return holder[:128] or "pipeline-steps"
