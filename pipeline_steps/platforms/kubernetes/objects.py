"""Create, read and replace the few kinds we manage, by kind, through the typed client APIs.

Why create/replace with ``resourceVersion`` and not server-side apply: (1) with SSA we would
co-own the VirtualService's route weights, and every re-apply of the chart would reset the
weights that ``switch`` set and verified; here the VirtualService (like the DestinationRule
and Gateway) is only ever *created* by apply, and its weights change on exactly one path (``routes.py``, read/write/read-back);
(2) a replace carrying the live ``resourceVersion`` fails with 409 if anyone changed the object
since we read it, which is the same optimistic concurrency the flip uses, so there is one model
to reason about; (3) it behaves the same on every API server version and on the test stand-in.
The cost (a replace overwrites fields others set) is contained: what others add to our objects
survives a replace — labels and annotations we do not set, ownerReferences, finalizers — and so
do the fields the API server assigned (a Service's cluster IPs). A 404 means "absent" only when
its Status names the object (``KubeApiError.names``); any other 404 is an API that is not served.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from pipeline_steps.errors import ConflictError, InfrastructureError
from pipeline_steps.platforms.kubernetes.client import BACKEND, Kube, KubeApiError
from pipeline_steps.platforms.kubernetes.discovery import ISTIO_GROUP, ISTIO_PLURALS, Discovery

Obj = dict[str, Any]
OUR_PREFIX = "pipeline-steps.io/"
"""Labels under this prefix are ours: a replace drops the ones the new manifest does not set."""
MONITORING = ("monitoring.coreos.com", "v1")
CUSTOM_PLURALS = {**ISTIO_PLURALS, "ServiceMonitor": "servicemonitors", "PodMonitor": "podmonitors"}
PLURALS = {"Deployment": "deployments", "Service": "services", "Namespace": "namespaces", **CUSTOM_PLURALS}
BUILTIN_PATHS = {"Deployment": "/apis/apps/v1/namespaces/{namespace}/deployments",
                 "Service": "/api/v1/namespaces/{namespace}/services", "Namespace": "/api/v1/namespaces"}


class Objects:
    """Kind-dispatched get/create/replace for Namespaces, Deployments, Services and custom resources.

    Writes send the manifest as JSON by path (``Kube.rest``), never through the client's models,
    so the API server alone judges it."""

    def __init__(self, kube: Kube, discovery: Discovery | None = None) -> None:
        self.kube = kube
        self.discovery = discovery or Discovery(kube)

    def _group_version(self, kind: str) -> tuple[str, str]:
        return (ISTIO_GROUP, self.discovery.istio_version()) if kind in ISTIO_PLURALS else MONITORING

    def _ops(self, kind: str, namespace: str, name: str, **options: Any) -> tuple[
            Callable[[], Any], Callable[[Obj], Any], Callable[[Obj], Any]]:
        """(read, create, replace); ``options`` (dry_run, field_validation) go with the writes."""
        k = self.kube
        if kind in BUILTIN_PATHS:
            query = {"dryRun": options["dry_run"]} if options.get("dry_run") else {}
            if options.get("field_validation"):
                query["fieldValidation"] = options["field_validation"]
            collection = BUILTIN_PATHS[kind].format(namespace=namespace)
            read = {"Deployment": lambda: k.call(f"read Deployment {name}", k.apps.read_namespaced_deployment, name,
                                                 namespace),
                    "Service": lambda: k.call(f"read Service {name}", k.core.read_namespaced_service, name, namespace),
                    "Namespace": lambda: k.call(f"read Namespace {name}", k.core.read_namespace, name)}[kind]
            return (read,
                    lambda b: k.rest(f"create {kind} {name}", "POST", collection, b, query=query),
                    lambda b: k.rest(f"replace {kind} {name}", "PUT", f"{collection}/{name}", b, query=query))
        if kind in CUSTOM_PLURALS:
            plural = CUSTOM_PLURALS[kind]

            def group_version() -> tuple[str, str]:
                return self._group_version(kind)

            return (lambda: k.call(f"read {kind} {name}", k.custom.get_namespaced_custom_object, *group_version(),
                                   namespace, plural, name),
                    lambda b: k.call(f"create {kind} {name}", k.custom.create_namespaced_custom_object,
                                     *group_version(), namespace, plural, self._versioned(b), **options),
                    lambda b: k.call(f"replace {kind} {name}", k.custom.replace_namespaced_custom_object,
                                     *group_version(), namespace, plural, name, self._versioned(b), **options))
        raise ValueError(f"unsupported kind {kind}")  # pragma: no cover - the chart only renders the kinds above

    def _versioned(self, body: Obj) -> Obj:
        """The body with the apiVersion the server serves (the chart renders networking.istio.io/v1)."""
        group, version = self._group_version(str(body.get("kind")))
        return {**body, "apiVersion": f"{group}/{version}"}

    def get(self, kind: str, namespace: str, name: str) -> Obj | None:
        """The live object, or None if the API server says it does not exist."""
        read, _, _ = self._ops(kind, namespace, name)
        try:
            return dict(read())
        except KubeApiError as err:
            if err.status == 404 and err.names(PLURALS[kind], name):
                return None
            if err.status == 404:
                raise InfrastructureError(BACKEND, f"{err}: the API for {kind} is not served here (is its CRD "
                                                   "installed?); nothing was changed") from None
            raise

    def create_if_absent(self, obj: Obj, **options: Any) -> bool:
        """Create ``obj``; True if created, False if it already existed (left as it is)."""
        _, create, _ = self._ops(obj["kind"], obj["metadata"].get("namespace", ""), obj["metadata"]["name"], **options)
        try:
            create(obj)
            return True
        except KubeApiError as err:
            if err.status == 409 and err.reason == "AlreadyExists":
                return False
            raise

    def create_or_replace(self, obj: Obj, attempts: int = 3, *, adjust: Callable[[Obj, Obj | None], Obj] | None = None,
                          **options: Any) -> str:
        """Create ``obj`` or replace the live one (guarded by its resourceVersion; 409 -> re-read);
        ``created`` or ``replaced``. ``adjust(new, live or None)`` may change what is written once
        it is known what is live (replica counts)."""
        kind, meta = obj["kind"], obj["metadata"]
        namespace = meta.get("namespace", "")
        _, _, replace = self._ops(kind, namespace, meta["name"], **options)
        adjust = adjust or (lambda new, _live: new)
        if self.create_if_absent(adjust(obj, None), **options):
            return "created"
        for _ in range(attempts):
            live = self.get(kind, namespace, meta["name"])
            if live is None:
                if self.create_if_absent(adjust(obj, None), **options):
                    return "created"
                continue
            try:
                replace(adjust(carry_over(obj, live), live))
                return "replaced"
            except KubeApiError as err:
                if err.status != 409:
                    raise
        raise ConflictError(BACKEND, f"{kind} {meta['name']} in {namespace} kept changing while we "
                                     f"replaced it ({attempts} attempts)")

    def namespace(self, name: str) -> Obj | None:
        return self.get("Namespace", "", name)

    def ensure_namespace(self, name: str, labels: dict[str, str]) -> None:
        """Create the namespace if it is absent; refuse one that is being deleted (a create in it
        would answer 403 half-way through a deploy)."""
        live = self.namespace(name)
        if live is not None:
            check_active(live)
            return
        if not self.create_if_absent({"apiVersion": "v1", "kind": "Namespace",
                                      "metadata": {"name": name, "labels": labels}}):
            live = self.namespace(name)  # created by a parallel pipeline, or being deleted
            if live is not None:
                check_active(live)


def check_active(namespace: Obj) -> None:
    """``InfrastructureError`` if the namespace is Terminating (kubernetes/apiserver NamespaceLifecycle
    forbids creating anything in it until it is gone)."""
    meta = namespace.get("metadata") or {}
    if meta.get("deletionTimestamp") or (namespace.get("status") or {}).get("phase") == "Terminating":
        raise InfrastructureError(BACKEND, f"namespace {meta.get('name')} is being deleted (Terminating since "
                                           f"{meta.get('deletionTimestamp') or '?'}): nothing can be created in it; "
                                           "nothing was changed. Wait until it is gone, then deploy again")


def carry_over(desired: Obj, live: Obj) -> Obj:
    """``desired`` as a replace of ``live``: its resourceVersion; the labels (except ours),
    annotations, ownerReferences and finalizers others set; the fields the API server assigned
    (a Service's cluster IPs are immutable)."""
    new = copy.deepcopy(desired)
    meta = new["metadata"]
    live_meta = live.get("metadata") or {}
    meta["resourceVersion"] = live_meta.get("resourceVersion")
    labels = {k: v for k, v in (live_meta.get("labels") or {}).items() if not k.startswith(OUR_PREFIX)}
    annotations = dict(live_meta.get("annotations") or {})
    labels.update(meta.get("labels") or {})
    annotations.update(meta.get("annotations") or {})
    for key, value in (("labels", labels), ("annotations", annotations)):
        if value:
            meta[key] = value
    owners = list(live_meta.get("ownerReferences") or [])
    owners += [o for o in meta.get("ownerReferences") or [] if o not in owners]
    finalizers = list(live_meta.get("finalizers") or [])
    finalizers += [f for f in meta.get("finalizers") or [] if f not in finalizers]
    for key, value in (("ownerReferences", owners), ("finalizers", finalizers)):  # type: ignore[assignment]
        if value:
            meta[key] = value
    if desired["kind"] == "Service":
        live_spec = live.get("spec") or {}
        for key in ("clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"):
            if key in live_spec:
                new.setdefault("spec", {})[key] = live_spec[key]
    return new
