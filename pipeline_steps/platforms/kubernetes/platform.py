"""The Kubernetes/Istio platform: Deployments per colour, traffic by VirtualService route weights.

A stage is the namespace ``<project>-<stage>``; a colour is the Deployment ``<service>-<colour>``
(pod label ``deployment: <service>-<colour>``); the switch is this service's route in the
VirtualService ``<service>``. Objects come from the chart in ``charts/service``; see
``objects.py`` for why they are created/replaced with resourceVersion and not server-side
applied, ``plan.py`` for what a deploy writes, ``routes.py`` for the weight edit, ``lease.py``
for the lock, ``readiness.py`` for when a colour may take traffic, ``discovery.py`` for the Istio
version, ``preflight.py`` for what is checked before the first write.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, ClassVar

from pipeline_steps.documents.context import StageContext
from pipeline_steps.documents.deployment import Endpoints
from pipeline_steps.documents.service import ServiceSpec
from pipeline_steps.documents.vocabulary import DeploymentStrategy
from pipeline_steps.documents.weights import COLOURS, Weights, other_colour
from pipeline_steps.errors import BadInputError, ConflictError, InfrastructureError, NotReadyError
from pipeline_steps.platforms import PlatformSettings
from pipeline_steps.platforms.base import Checklist, ColourState, Option, StageStatus
from pipeline_steps.platforms.kubernetes.chart import render, values_for
from pipeline_steps.platforms.kubernetes.client import BACKEND, Kube, KubeApiError, api_client
from pipeline_steps.platforms.kubernetes.discovery import Discovery
from pipeline_steps.platforms.kubernetes.lease import lease_lock
from pipeline_steps.platforms.kubernetes.objects import Objects
from pipeline_steps.platforms.kubernetes.plan import Adjust, hpa_targets, plan, replicas, write
from pipeline_steps.platforms.kubernetes.preflight import Preflight
from pipeline_steps.platforms.kubernetes.readiness import MARK_LABEL, colour_state, pod_reasons, rollout
from pipeline_steps.platforms.kubernetes.references import check_repository, check_tag
from pipeline_steps.platforms.kubernetes.routes import RouteEditor, route_weights, strategy_conflict

COLOUR_LABEL = "pipeline-steps.io/colour"
MARKS = ("", "failed", "passed")
LABEL_MAX = 63  # a DNS-1123 label, and a label value
DNS_1035 = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?", re.ASCII)
INJECTION = "istio-injection=enabled"


def parse_injection(text: str) -> tuple[str, str] | None:
    """``istio-injection=enabled`` or ``istio.io/rev=<revision>`` (Istio docs, "Installing the
    Sidecar"; a revision is a DNS label), or ``none``; else bad input."""
    if text == "none":
        return None
    key, _, value = text.partition("=")
    revision = re.fullmatch(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?", value, re.ASCII)
    if not ((key, value) == ("istio-injection", "enabled") or (key == "istio.io/rev" and revision)):
        raise BadInputError("--sidecar-injection", None, f"{text!r} is not istio-injection=enabled, "
                                                         "istio.io/rev=<revision> or none")
    return key, value


@dataclass(frozen=True)
class KubernetesSettings:
    """``--kubeconfig``/``--context``: where the cluster is (default: ``$KUBECONFIG``, ``~/.kube/config``,
    then the pod's service account); ``--sidecar-injection``: the namespace label that makes Istio
    inject its sidecar (set when the namespace is created, checked by pre-flight)."""

    kubeconfig: str | None = None
    context: str | None = None
    injection: tuple[str, str] | None = ("istio-injection", "enabled")


class KubernetesPlatform:
    """``Platform`` on a cluster with Istio; every read goes to the API server (no cache)."""

    name: ClassVar[str] = "kubernetes"
    OPTIONS: ClassVar[tuple[Option, ...]] = (
        ("--kubeconfig", {"envvar": "KUBECONFIG", "default": None, "help": "Kubernetes: kubeconfig file [env KUBECONFIG]."}),
        ("--context", {"param": "kube_context", "default": None, "help": "Kubernetes: kubeconfig context."}),
        ("--sidecar-injection", {"envvar": "SIDECAR_INJECTION", "default": INJECTION,
                                 "help": "Kubernetes: the namespace label that turns on Istio's sidecar injection: "
                                         "istio-injection=enabled, istio.io/rev=<revision>, or none "
                                         "[env SIDECAR_INJECTION]."}),
    )

    @classmethod
    def settings_from_options(cls, options: Mapping[str, Any]) -> KubernetesSettings:
        return KubernetesSettings(kubeconfig=options.get("kubeconfig"), context=options.get("kube_context"),
                                  injection=parse_injection(options.get("sidecar_injection") or INJECTION))

    @classmethod
    def from_settings(cls, settings: PlatformSettings) -> KubernetesPlatform:
        """The factory ``platforms.make_platform`` calls."""
        group: KubernetesSettings = settings.group(cls.name, KubernetesSettings())
        return cls(Kube(api_client(group.kubeconfig, group.context)), injection=group.injection)

    def __init__(self, kube: Kube, poll_s: float = 1.0,
                 injection: tuple[str, str] | None = ("istio-injection", "enabled")) -> None:
        self.kube = kube
        self.discovery = Discovery(kube)
        self.objects = Objects(kube, self.discovery)
        self.routes = RouteEditor(kube, discovery=self.discovery)
        self.poll_s = poll_s
        self.injection = injection

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
        state = rollout(deployment)
        return (*reasons, state.message) if state.failed else reasons

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
        weights, invalid = None, ""
        try:
            weights = route_weights(vs, ctx) if vs is not None else None
        except InfrastructureError as err:  # edited out of band: shown, and switch/rollback can repair it
            invalid = err.message
        strategy = DeploymentStrategy.BLUE_GREEN if weights is not None or invalid or any(
            c.colour in COLOURS for c in colours) else DeploymentStrategy.DIRECT
        return StageStatus(context=ctx, strategy=strategy if colours else ctx.deployment_strategy,
                           colours=colours, weights=weights, invalid_route=invalid)

    def endpoints(self, ctx: StageContext) -> Endpoints:
        internal = f"{ctx.service}.{ctx.namespace}.svc.cluster.local"
        vs = self.routes.read(ctx, ctx.service) or {}
        hosts = [h for h in (vs.get("spec") or {}).get("hosts") or [] if "." in h and not h.endswith(".svc.cluster.local")]
        colour_urls = {c: f"http://{ctx.service}-{c}.{ctx.namespace}.svc.cluster.local" for c in COLOURS} \
            if ctx.blue_green else {}
        return Endpoints(public_url=f"http://{hosts[0]}" if hosts else f"http://{internal}",
                         internal_url=f"http://{internal}", colour_urls=colour_urls)

    # -- writes -------------------------------------------------------------------------
    def _namespace_labels(self, ctx: StageContext) -> dict[str, str]:
        labels = {"app.kubernetes.io/part-of": ctx.project}
        if self.injection:
            labels[self.injection[0]] = self.injection[1]
        return labels

    def apply(self, ctx: StageContext, colour: str | None, service: ServiceSpec) -> None:
        check_context(ctx)
        if ctx.blue_green and colour not in COLOURS:
            raise BadInputError("colour", None, f"{colour!r} is not blue or green")
        vs = self.routes.read(ctx, ctx.service)
        conflict = strategy_conflict(vs, ctx)
        if conflict:
            raise ConflictError(BACKEND, conflict)
        weights = Weights.all_to(colour) if colour in COLOURS else None
        objects = render(values_for(ctx, service, weights), ctx.namespace)
        adjust = self.scaling(ctx, colour)
        self.objects.ensure_namespace(ctx.namespace, self._namespace_labels(ctx))
        for step in plan(objects, colour, ctx.blue_green and vs is not None):
            write(self.objects, step, adjust)

    def scaling(self, ctx: StageContext, colour: str | None) -> Adjust:
        """The replica rule of ``plan.py``: a colour an HPA targets keeps its count, and with an HPA
        in play the colour being deployed gets at least the live colour's ready replicas."""
        hpas = self.kube.call(f"list HPAs in {ctx.namespace}",
                              self.kube.autoscaling.list_namespaced_horizontal_pod_autoscaler, ctx.namespace)
        targets = hpa_targets(list(hpas.get("items") or []))
        mine = f"{ctx.service}-{colour}" if colour else ctx.service
        floor = 0
        if colour in COLOURS and targets & {f"{ctx.service}-{c}" for c in COLOURS}:
            live = self.objects.get("Deployment", ctx.namespace, f"{ctx.service}-{other_colour(str(colour))}")
            floor = int(((live or {}).get("status") or {}).get("availableReplicas") or 0)

        def adjust(obj: dict[str, Any], live: dict[str, Any] | None) -> dict[str, Any]:
            name = obj["metadata"]["name"]
            return replicas(obj, live, name in targets, floor if name == mine else 0)

        return adjust

    def wait_available(self, ctx: StageContext, colour: str | None, timeout_s: float) -> ColourState:
        name = f"{ctx.service}-{colour}" if colour else ctx.service
        started = time.monotonic()
        deadline = started + timeout_s
        # The command's deadline for retries (Retry-After) reaches at least as far as this wait.
        self.kube.deadline = max(self.kube.deadline, deadline)
        while True:
            deployment = self.objects.get("Deployment", ctx.namespace, name)
            if deployment is None:
                raise NotReadyError(BACKEND, f"Deployment {name} does not exist in {ctx.namespace}")
            state = rollout(deployment)
            if state.done:
                return colour_state(deployment, colour or "")
            if state.failed or time.monotonic() >= deadline:
                current = colour_state(deployment, colour or "")
                pods = [r for r in self._reasons(ctx, deployment) if r != state.message]
                why = "; ".join(pods) or "no pod reported a reason"
                raise NotReadyError(BACKEND, f"Deployment {name} in {ctx.namespace} is not available after "
                                             f"{time.monotonic() - started:.1f}s ({current.ready}/{current.desired} "
                                             f"ready; {state.message}): {why}; traffic was not changed")
            time.sleep(min(self.poll_s, max(0.0, deadline - time.monotonic())))

    def set_weights(self, ctx: StageContext, weights: Weights) -> Weights:
        # Availability of every colour that gets traffic, from one list call: kubectl's rollout
        # rule and at least one available replica (a colour scaled to 0 serves nothing).
        found = {(d["metadata"].get("labels") or {}).get(COLOUR_LABEL, ""): d for d in self._deployments(ctx)}
        for colour in COLOURS:
            if not weights.of(colour):
                continue
            if colour not in found:
                raise NotReadyError(BACKEND, f"Deployment {ctx.service}-{colour} does not exist; refusing to send it "
                                             f"{weights.of(colour)}% of the traffic")
            state = rollout(found[colour])
            if not state.done:
                raise NotReadyError(BACKEND, f"Deployment {ctx.service}-{colour} is not available ({state.message}); "
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
        try:
            weights = route_weights(vs, ctx) if vs else None
        except InfrastructureError as err:
            return f"the routes now read: {err}"
        return f"the route now sends {weights}" if weights else "the route could not be found"

    def mark(self, ctx: StageContext, colour: str | None, mark: str) -> None:
        if mark not in MARKS:
            raise BadInputError("mark", None, f"{mark!r} is not one of failed, passed or empty")
        name = f"{ctx.service}-{colour}" if colour else ctx.service
        patch = {"metadata": {"labels": {MARK_LABEL: mark or None}}}
        self.kube.call(f"mark Deployment {name}", self.kube.apps.patch_namespaced_deployment, name, ctx.namespace,
                       patch, _content_type="application/merge-patch+json")

    def lock(self, ctx: StageContext, holder: str, ttl_s: float = 300.0) -> AbstractContextManager[None]:
        check_context(ctx)
        # Before the first write: the route lives in Istio's API, and a namespace being deleted
        # would answer 403 to the Lease (ensure_namespace refuses it).
        self.discovery.istio_version()
        self.objects.ensure_namespace(ctx.namespace, self._namespace_labels(ctx))
        return lease_lock(self.kube, ctx, _label_safe(holder), ttl_s)

    def preflight(self, ctx: StageContext, service: ServiceSpec) -> Checklist:
        """``Preflight``: every check of ``preflight.py``, nothing written."""
        check_context(ctx)
        return Preflight(self.kube, self.discovery, self.objects, self.routes, injection=self.injection,
                         scaling=self.scaling).run(ctx, service)


def check_context(ctx: StageContext) -> None:
    """Bad input (exit 2) before any request: names past Kubernetes' limits, an image reference
    outside the OCI grammar (``references.py``)."""
    check_names(ctx)
    if ctx.image:
        check_repository(ctx.image)
    if ctx.tag:
        check_tag(ctx.tag)


def check_names(ctx: StageContext) -> None:
    """Names we derive must fit Kubernetes' 63-character limits (namespace; the ``deployment`` label
    carries ``<service>-db-<colour>``) and the service must start with a letter (it names Services):
    the API server would refuse them half-way through a deploy."""
    if len(ctx.namespace) > LABEL_MAX:
        raise BadInputError("context", "project", f"with stage {ctx.stage!r} makes the namespace {ctx.namespace!r}, "
                                                  f"{len(ctx.namespace)} characters; Kubernetes allows {LABEL_MAX}")
    if not DNS_1035.fullmatch(ctx.service):
        # It names Services, whose names are DNS-1035 labels (ValidateServiceName): the API server
        # would refuse them only after the Deployments were written.
        raise BadInputError("context", "service", f"{ctx.service!r} must start with a letter: it names Kubernetes "
                                                  "Services (a DNS-1035 label)")
    longest = f"{ctx.service}-db-green"
    if len(longest) > LABEL_MAX:
        raise BadInputError("context", "service", f"{ctx.service!r} is too long: {longest!r} must fit in {LABEL_MAX} "
                                                  f"characters (at most {LABEL_MAX - len('-db-green')} for the service)")


def _label_safe(holder: str) -> str:
    return holder[:128] or "pipeline-steps"
