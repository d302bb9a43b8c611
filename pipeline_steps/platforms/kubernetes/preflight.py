"""Pre-flight: everything a deploy needs from the cluster, checked without writing anything.

Why: a deploy that fails half-way leaves a cluster in a state nobody chose (a namespace created, a
colour replaced, then a 403 or a missing CRD). Every check here asks the API server itself, the
way the deploy will ask it, so a cluster that cannot take the deployment is refused with nothing
changed (``deploy`` runs this before its first write; ``deploy --dry-run`` prints it):

1. API discovery: Istio's networking API at a version we speak, the kinds we use (``discovery.py``);
2. the namespace: Active (not Terminating) and labelled for sidecar injection as configured
   (``istio-injection=enabled`` or ``istio.io/rev=<revision>``; Istio docs, "Installing the
   Sidecar": without it pods run without Envoy and neither routing nor the standard metrics apply);
3. RBAC: a SelfSubjectAccessReview for every verb the deploy uses (``permissions.py``);
4. the route: this service's routes readable, not split, and of this deploy's strategy (a strategy
   change is what ``apply`` refuses, ``routes.strategy_conflict``);
5. a server-side dry run (``dryRun=All``, ``fieldValidation=Strict``) of every object the deploy
   would write, as it would write it (``plan.py``): admission, validation and unknown fields are
   judged by the API server (kubernetes docs, "Dry-run" and "Field validation");
6. the Gateway the route binds to (the chart's, or ``ingress.gateway.name``, default
   ``<service>-gateway``) exists and its selector matches running ingress gateway pods (else the
   public host serves nothing);
7. no other VirtualService claims this service's hosts (Istio merges or drops conflicting ones).

Checks that need a view the deploy itself does not need say when the caller may not have it
(the chart's namespaced Role does not grant it): the gateway check is skipped (pods cluster-wide,
a Gateway shared from another namespace), the hosts check narrows to the stage's namespace. A
skipped check says why; when Istio's API cannot be used, whether it is absent or discovery went
unanswered (429 past every retry).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pipeline_steps.documents.context import StageContext
from pipeline_steps.documents.service import ServiceSpec
from pipeline_steps.documents.weights import COLOURS, Weights
from pipeline_steps.errors import PipelineStepsError
from pipeline_steps.platforms.base import Check, Checklist
from pipeline_steps.platforms.kubernetes.chart import effective_values, render, values_for
from pipeline_steps.platforms.kubernetes.client import Kube, KubeApiError
from pipeline_steps.platforms.kubernetes.discovery import ISTIO_GROUP, Discovery
from pipeline_steps.platforms.kubernetes.objects import Objects
from pipeline_steps.platforms.kubernetes.permissions import CLUSTER, namespaced
from pipeline_steps.platforms.kubernetes.plan import Adjust, plan, write
from pipeline_steps.platforms.kubernetes.routes import RouteEditor, route_weights, strategy_conflict

Obj = dict[str, Any]
STRICT = {"dry_run": "All", "field_validation": "Strict"}


class Preflight:
    def __init__(self, kube: Kube, discovery: Discovery, objects: Objects, routes: RouteEditor, *,
                 injection: tuple[str, str] | None, scaling: Callable[[StageContext, str | None], Adjust]) -> None:
        self.kube, self.discovery, self.objects, self.routes = kube, discovery, objects, routes
        self.injection = injection
        self.scaling = scaling
        """The platform's replica rule (HPAs), so the dry run writes what the deploy would."""

    def run(self, ctx: StageContext, service: ServiceSpec) -> Checklist:
        title = f"pre-flight: {ctx.service} {ctx.image}:{ctx.tag} into {ctx.namespace} ({ctx.deployment_strategy})"
        values = values_for(ctx, service)  # bad input raises before anything is asked
        rendered = render(values, ctx.namespace)
        values = effective_values(values)
        # Asked once: under API Priority and Fairness every question may cost its retries.
        try:
            self.discovery.istio_version()
            istio_error: PipelineStepsError | None = None
        except PipelineStepsError as err:
            istio_error = err
        checks = [self._guarded("API discovery", lambda: self._api(rendered, istio_error))]
        # Why the checks that need Istio's API are skipped: absent, or the question went unanswered.
        no_istio = "" if istio_error is None else "API discovery failed (see above)" if isinstance(
            istio_error, KubeApiError) else "Istio's networking API is not usable (see API discovery)"
        namespace: Obj | None = None
        try:
            namespace = self.objects.namespace(ctx.namespace)
        except PipelineStepsError as err:
            checks.append(Check("namespace", "fail", str(err)))
        else:
            checks.append(self._namespace(ctx, namespace))
        terminating = checks[-1].status == "fail" and "Terminating" in checks[-1].detail
        checks.append(self._guarded("RBAC", lambda: self._rbac(ctx, rendered, namespace is None)))
        if no_istio:
            checks += [Check("route", "skip", no_istio), Check("dry run", "skip", no_istio)]
        else:
            route_check, colour, route_exists = self._route(ctx)
            checks.append(route_check)
            if route_check.status != "ok" or terminating:
                checks.append(Check("dry run", "skip", "the route is not ready for a deploy" if not terminating
                                    else "the namespace is being deleted"))
            else:
                checks.append(self._guarded("dry run", lambda: self._dry_run(ctx, service, namespace, colour,
                                                                             route_exists)))
        checks.append(self._guarded("gateway", lambda: self._gateway(ctx, values, no_istio)))
        checks.append(self._guarded("hosts", lambda: self._hosts(ctx, values, no_istio)))
        return Checklist(title, tuple(checks))

    @staticmethod
    def _guarded(name: str, check: Callable[[], Check]) -> Check:
        try:
            return check()
        except PipelineStepsError as err:
            return Check(name, "fail", str(err))

    # -- the checks ---------------------------------------------------------------------
    def _api(self, rendered: list[Obj], istio_error: PipelineStepsError | None) -> Check:
        if istio_error is not None:
            raise istio_error
        version = self.discovery.istio_version()
        found = [f"{ISTIO_GROUP}/{version} (VirtualService, DestinationRule, Gateway)"]
        for group, version_, why in (("apps", "v1", "Deployments"), ("coordination.k8s.io", "v1", "the lock"),
                                     ("autoscaling", "v2", "HPAs")):
            if not self.discovery.serves(group, version_):
                return Check("API discovery", "fail", f"{group}/{version_} ({why}) is not served")
        monitors = sorted({o["kind"] for o in rendered if o["kind"] in ("ServiceMonitor", "PodMonitor")})
        if monitors and not self.discovery.serves("monitoring.coreos.com", "v1"):
            return Check("API discovery", "fail", f"the chart renders {', '.join(monitors)} but monitoring.coreos.com/v1 "
                                                  "(the Prometheus Operator's CRDs) is not served")
        if monitors:
            found.append(f"monitoring.coreos.com/v1 ({', '.join(monitors)})")
        return Check("API discovery", "ok", "; ".join(found))

    def _namespace(self, ctx: StageContext, namespace: Obj | None) -> Check:
        wanted = f"{self.injection[0]}={self.injection[1]}" if self.injection else "no injection label"
        if namespace is None:
            return Check("namespace", "ok", f"{ctx.namespace} does not exist: deploy creates it with {wanted}")
        meta = namespace.get("metadata") or {}
        if meta.get("deletionTimestamp") or (namespace.get("status") or {}).get("phase") == "Terminating":
            return Check("namespace", "fail", f"{ctx.namespace} is being deleted (Terminating): nothing can be "
                                              "created in it until it is gone")
        labels = meta.get("labels") or {}
        key, value = self.injection or ("", "")
        lacks = bool(key) and labels.get(key) != value
        # kubectl label refuses to change a key that has another value unless told to overwrite.
        relabel = f"{'--overwrite ' if key in labels else ''}{wanted}"
        if key and key != "istio-injection" and "istio-injection" in labels:
            # Istio docs, "Canary upgrades": istio-injection takes precedence over istio.io/rev.
            also = f" and it lacks {wanted}" if lacks else ""
            return Check("namespace", "fail", f"{ctx.namespace} has istio-injection={labels['istio-injection']}, which "
                                              f"takes precedence over {wanted}{also}: pods would not get that "
                                              f"revision's sidecar; kubectl label namespace {ctx.namespace} "
                                              f"istio-injection-{' ' + relabel if lacks else ''}")
        if lacks:
            have = ", ".join(f"{k}={v}" for k, v in sorted(labels.items()) if "istio" in k) or "none"
            return Check("namespace", "fail", f"{ctx.namespace} lacks the sidecar-injection label {wanted} (has "
                                              f"{have}): pods would run without Envoy; kubectl label namespace "
                                              f"{ctx.namespace} {relabel}")
        return Check("namespace", "ok", f"{ctx.namespace} is Active, {wanted}")

    def _allowed(self, verb: str, group: str, resource: str, namespace: str) -> bool:
        review = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
                  "spec": {"resourceAttributes": {"verb": verb, "group": group, "resource": resource,
                                                  "namespace": namespace}}}
        answer = self.kube.call(f"review {verb} {resource}", self.kube.authorization.create_self_subject_access_review,
                                review)
        return bool((answer.get("status") or {}).get("allowed"))

    def _rbac(self, ctx: StageContext, rendered: list[Obj], create_namespace: bool) -> Check:
        kinds = {o["kind"] for o in rendered}
        # A direct deploy renders no DestinationRule: it needs no right to create one.
        pairs = [(p, ctx.namespace) for p in namespaced(kinds)
                 if p.resource != "destinationrules" or "DestinationRule" in kinds]
        if create_namespace:
            pairs.append((CLUSTER[0], ""))
        asked, denied = 0, []
        for permission, namespace in pairs:
            for verb, group, resource in permission.pairs():
                asked += 1
                if not self._allowed(verb, group, resource, namespace):
                    where = f"in {namespace}" if namespace else "cluster-wide"
                    denied.append(f"{verb} {resource}{'.' + group if group else ''} {where}")
        if denied:
            return Check("RBAC", "fail", f"not allowed: {'; '.join(denied)} (the chart's rbac.create renders the "
                                         "Role the pipeline needs)")
        return Check("RBAC", "ok", f"all {asked} verbs the deploy uses are allowed")

    def _route(self, ctx: StageContext) -> tuple[Check, str | None, bool]:
        try:
            vs = self.routes.read(ctx, ctx.service)
            weights = route_weights(vs, ctx) if vs is not None else None
        except PipelineStepsError as err:
            return Check("route", "fail", str(err)), None, False
        conflict = strategy_conflict(vs, ctx)
        if conflict:  # what apply refuses before its first write
            return Check("route", "fail", conflict), None, True
        if not ctx.blue_green:
            return Check("route", "ok", "direct: one Deployment, one unweighted route"), None, vs is not None
        if vs is None or weights is None:
            return Check("route", "ok", "no route yet: a first deployment (both colours, blue live)"), "blue", False
        if weights.live is None:
            return Check("route", "fail", f"split {weights}: an earlier flip did not finish; finish it with "
                                          "'pipeline-steps switch' or 'rollback' first"), None, True
        free = "green" if weights.live == "blue" else "blue"
        return Check("route", "ok", f"{weights.live} is live ({weights}); the new version goes to {free}"), free, True

    def _dry_run(self, ctx: StageContext, service: ServiceSpec, namespace: Obj | None, colour: str | None,
                 route_exists: bool) -> Check:
        if namespace is None:
            ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ctx.namespace}}
            self.objects.create_if_absent(ns, **STRICT)
            return Check("dry run", "ok", f"Namespace {ctx.namespace} accepted; the objects in it can only be "
                                          "checked once it exists")
        weights = Weights.all_to(colour) if colour in COLOURS else None
        rendered = render(values_for(ctx, service, weights), ctx.namespace)
        adjust = self.scaling(ctx, colour)
        done: dict[str, int] = {}
        problems = []
        for step in plan(rendered, colour, route_exists):
            try:
                outcome = write(self.objects, step, adjust, **STRICT)
                done[outcome] = done.get(outcome, 0) + 1
            except PipelineStepsError as err:
                problems.append(f"{step.title}: {err}")
        if problems:
            return Check("dry run", "fail", "; ".join(problems))
        summary = ", ".join(f"{n} {what}" for what, n in sorted(done.items()) if what != "skipped")
        return Check("dry run", "ok", f"the API server accepts every object the deploy writes (dryRun=All, "
                                      f"fieldValidation=Strict): {summary or 'nothing to write'}")

    def _gateway(self, ctx: StageContext, values: dict[str, Any], no_istio: str) -> Check:
        ingress = values.get("ingress") or {}
        gateway = ingress.get("gateway") or {}
        selector = dict(ingress.get("gatewaySelector") or {})
        where = "the chart's Gateway"
        if not gateway.get("create", True):
            if no_istio:
                return Check("gateway", "skip", no_istio)
            # The Gateway the route binds to, named as the chart's VirtualService names it.
            ns, _, name = str(gateway.get("name") or f"{ctx.service}-gateway").rpartition("/")
            ns = ns or ctx.namespace
            if ns != ctx.namespace and not self._allowed("get", ISTIO_GROUP, "gateways", ns):
                # A shared Gateway elsewhere: the namespaced Role cannot read it, and the deploy
                # never needs to; only this check would.
                return Check("gateway", "skip", f"cannot read Gateway {ns}/{name}: getting gateways in {ns} is not "
                                                "allowed (the chart's rbac.clusterRole grants it)")
            existing = self.objects.get("Gateway", ns, name)
            if existing is None:
                return Check("gateway", "fail", f"Gateway {ns}/{name} (ingress.gateway.name; default "
                                                "<service>-gateway) does not exist")
            selector, where = dict((existing.get("spec") or {}).get("selector") or {}), f"Gateway {ns}/{name}"
        if not selector:
            # Istio applies a Gateway without selector to every gateway workload; which pods those
            # are cannot be told from labels, and an empty label selector would match every pod.
            return Check("gateway", "skip", f"{where} has no selector: it applies to every gateway workload, "
                                            "which pre-flight cannot tell from other pods")
        label_selector = ",".join(f"{k}={v}" for k, v in sorted(selector.items()))
        if not self._allowed("list", "", "pods", ""):
            return Check("gateway", "skip", f"cannot check {where}'s selector {label_selector}: listing pods "
                                            "cluster-wide is not allowed (the chart's rbac.clusterRole grants it)")
        pods = self.kube.call("list gateway pods", self.kube.core.list_pod_for_all_namespaces,
                              label_selector=label_selector)
        running = [p for p in pods.get("items") or [] if (p.get("status") or {}).get("phase") == "Running"
                   and not (p.get("metadata") or {}).get("deletionTimestamp")
                   and all(c.get("ready") for c in (p.get("status") or {}).get("containerStatuses") or [{}])]
        if not running:
            return Check("gateway", "fail", f"no running pod matches {where}'s selector {label_selector}: the "
                                            "public host would serve nothing (set ingress.gatewaySelector)")
        names = ", ".join(f"{p['metadata'].get('namespace')}/{p['metadata']['name']}" for p in running[:3])
        return Check("gateway", "ok", f"{where}'s selector {label_selector} matches {len(running)} running pod(s): "
                                      f"{names}")

    def _hosts(self, ctx: StageContext, values: dict[str, Any], no_istio: str) -> Check:
        if no_istio:
            return Check("hosts", "skip", no_istio)
        version = self.discovery.istio_version()
        ours = {f"{ctx.service}.{ctx.namespace}.{(values.get('ingress') or {}).get('domain')}",
                f"{ctx.service}.{ctx.namespace}.svc.cluster.local"}
        if self._allowed("list", ISTIO_GROUP, "virtualservices", ""):
            listed = self.kube.call("list VirtualServices", self.kube.custom.list_cluster_custom_object, ISTIO_GROUP,
                                    version, "virtualservices")
            scope = "in any namespace"
        else:
            listed = self.kube.call("list VirtualServices", self.kube.custom.list_namespaced_custom_object,
                                    ISTIO_GROUP, version, ctx.namespace, "virtualservices")
            scope = f"in {ctx.namespace} (listing cluster-wide is not allowed: rbac.clusterRole)"
        others = []
        for vs in listed.get("items") or []:
            meta = vs.get("metadata") or {}
            if (meta.get("namespace"), meta.get("name")) == (ctx.namespace, ctx.service):
                continue
            # A host without a dot is short for <host>.<that VirtualService's namespace>.svc.cluster.local
            # (istio/api networking/v1alpha3/virtual_service.proto, VirtualService.hosts).
            hosts = {h if "." in h or h == "*" else f"{h}.{meta.get('namespace')}.svc.cluster.local"
                     for h in (vs.get("spec") or {}).get("hosts") or [] if isinstance(h, str)}
            claimed = sorted(ours & hosts)
            if claimed:
                others.append(f"{meta.get('namespace')}/{meta.get('name')} claims {', '.join(claimed)}")
        if others:
            return Check("hosts", "fail", f"{'; '.join(others)}: Istio would merge or ignore one of the routes")
        return Check("hosts", "ok", f"no other VirtualService {scope} claims {', '.join(sorted(ours))}")
