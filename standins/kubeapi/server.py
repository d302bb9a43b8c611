"""A loopback Kubernetes API server for tests: the real ``kubernetes`` client and kubectl talk to it.

No real API server installs on this machine (tooling notes §2), so this one must be as strict as
a real one for everything pipeline-steps uses; each rule lives in the module that implements it,
with its Kubernetes source: authentication (``authn.py``), storage and write semantics (``store.py``), field validation and
pruning (``schema.py``), validation (``validation.py``), defaults (``defaults.py``), namespace
lifecycle (``namespaces.py``), authorization and SelfSubjectAccessReview (``access.py``), the
Deployment and HPA controllers (``controller.py``, ``hpa.py``), served API versions and
discovery (``resources.py``), error shapes (``errors.py``).

Tests shape the cluster (``served=`` versions per custom API group, controller lag, deny rules,
Terminating namespaces) and inject faults on the Nth matching request: answer 500, 429 or 503
with ``Retry-After``, hang before or after doing the work, or run a callback first (e.g. to edit
an object between a client's read and its write); ``requests`` logs every request.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from standins.kubeapi import authn, errors, patches
from standins.kubeapi.access import DEFAULT_USER, Access, verb_of
from standins.kubeapi.controller import DeploymentController
from standins.kubeapi.errors import ApiError
from standins.kubeapi.hpa import HpaController
from standins.kubeapi.namespaces import NamespaceLifecycle
from standins.kubeapi.resources import ISTIO, Catalogue, Resource, by_kind
from standins.kubeapi.schema import K8S_SCHEMA_VERSION
from standins.kubeapi.store import Obj, Store, WriteOptions

_MAJOR, _MINOR, _ = K8S_SCHEMA_VERSION.split(".")
VERSION = {"major": _MAJOR, "minor": _MINOR, "gitVersion": f"v{K8S_SCHEMA_VERSION}-standin", "gitCommit": "",
           "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.23", "compiler": "gc",
           "platform": "linux/amd64"}
ACTIONS = ("500", "429", "503", "hang", "hang_after", "call")


@dataclass
class Fault:
    """Misbehave on ``times`` requests from the ``nth`` whose method and path (regex) match."""

    method: str
    path: str
    nth: int = 1
    action: str = "500"
    """``500``: an InternalError; ``429``: API Priority and Fairness' rejection; ``503``: unavailable
    (both with ``Retry-After: retry_after``); ``hang``: never answer (nothing done); ``hang_after``:
    do the work, then never answer (the write landed, the answer is lost); ``call``: run ``callback`` first."""
    callback: Callable[[], None] | None = None
    times: int = 1
    retry_after: int = 1
    seen: int = 0
    fired: int = 0


@dataclass
class Request:
    method: str
    path: str
    code: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    """Headers of the answer (Content-Type, Retry-After, ...)."""
    warnings: list[str] = field(default_factory=list)
    """The texts of its ``Warning`` headers."""


@dataclass
class Route:
    res: Resource
    version: str
    namespace: str | None
    name: str | None
    subresource: str = ""


def parse_path(path: str, catalogue: Catalogue) -> Route | None:
    parts = [p for p in path.split("/") if p]
    if parts[:2] == ["api", "v1"]:
        group, version, rest = "", "v1", parts[2:]
    elif len(parts) >= 3 and parts[0] == "apis":
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return None
    namespace: str | None = None
    if len(rest) >= 3 and rest[0] == "namespaces" and rest[2] != "status":
        namespace, rest = rest[1], rest[2:]
    if not rest or len(rest) > 3:
        return None
    res = catalogue.find(group, version, rest[0])
    if res is None or (namespace is not None and not res.namespaced):
        return None
    name = rest[1] if len(rest) > 1 else None
    sub = rest[2] if len(rest) > 2 else ""
    if sub not in ("", "status") or (sub == "status" and not res.status_subresource):
        return None
    if name is not None and res.namespaced and namespace is None:
        return None
    return Route(res, version, namespace if res.namespaced else "", name, sub)


class KubeApiStandIn:
    """Start with ``start()`` (binds 127.0.0.1 on a free port), stop with ``stop()``; ``url`` to connect.

    ``served``: custom API group -> versions served (default: Istio's v1, v1beta1, v1alpha3; an
    empty mapping is a cluster without Istio); ``uninstalled``: ``<plural>.<group>`` of CRDs missing
    from a served group; ``ingress_gateway``: with Istio, its ingress gateway runs as Istio's default
    profile installs it (``install_ingress_gateway``). ``lag_s``/``step_s``/``deadline_scale``: the
    Deployment controller's pace (``controller.py``); 0 settles every rollout before answering."""

    def __init__(self, port: int = 0, *, ready_delay_s: float = 0.0, served: Mapping[str, Sequence[str]] | None = None,
                 uninstalled: Sequence[str] = (), lag_s: float = 0.0, step_s: float = 0.0,
                 deadline_scale: float = 1.0, hpa_lag_s: float = 0.0, user: str = DEFAULT_USER,
                 ingress_gateway: bool = True, token: str = authn.TOKEN) -> None:
        self.store = Store()
        self.catalogue = Catalogue.of(served, uninstalled)
        self.namespaces = NamespaceLifecycle(self.store)
        self.deployments = DeploymentController(self.store, ready_delay_s=ready_delay_s, lag_s=lag_s, step_s=step_s,
                                                deadline_scale=deadline_scale)
        self.hpa = HpaController(self.store, lag_s=hpa_lag_s)
        self.access = Access(user, self.store.objects)
        self.tokens = {token: user}
        """Bearer token -> user (``authn.py``); requests without one are ``system:anonymous``."""
        self.anonymous_as: str | None = None
        """A cluster that binds ``system:anonymous`` to a user's roles: anonymous requests act as that
        user. For kubectl only: client-go sends no bearer token over plain HTTP, and the stand-in
        serves HTTP (``None``, the default: anonymous requests are refused as a real cluster does)."""
        if ingress_gateway and self.catalogue.served.get(ISTIO):
            install_ingress_gateway(self.store)
        self.faults: list[Fault] = []
        self.requests: list[Request] = []
        self.stopping = threading.Event()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), _handler_for(self))
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def start(self) -> KubeApiStandIn:
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), name="kubeapi-standin",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self.deployments.stop()
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> KubeApiStandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def fault(self, method: str, path: str, nth: int = 1, action: str = "500",
              callback: Callable[[], None] | None = None, times: int = 1, retry_after: int = 1) -> Fault:
        if action not in ACTIONS:
            raise ValueError(f"unknown fault action {action!r}; valid: {', '.join(ACTIONS)}")
        fault = Fault(method.upper(), path, nth, action, callback, times, retry_after)
        self.faults.append(fault)
        return fault

    def count(self, method: str | None = None, path: str = "") -> int:
        return sum(1 for r in list(self.requests) if (method is None or r.method == method) and re.search(path, r.path))

    # -- request handling (called from handler threads) ------------------------------------
    def due_faults(self, method: str, path: str) -> list[Fault]:
        """Count this request against every matching fault; return those whose turn it is."""
        due = []
        with self.store.lock:
            for fault in self.faults:
                if fault.fired < fault.times and fault.method == method and re.search(fault.path, path):
                    fault.seen += 1
                    if fault.seen >= fault.nth:
                        fault.fired += 1
                        due.append(fault)
        return due

    def handle(self, method: str, path: str, query: dict[str, str], body: Any, content_type: str,
               opts: WriteOptions, authorization: str = "") -> tuple[int, Obj]:
        user = authn.authenticate(authorization, self.tokens)
        if user == authn.ANONYMOUS and self.anonymous_as:
            user = self.anonymous_as
        if path in ("/version", "/version/"):
            return 200, VERSION
        if user == authn.ANONYMOUS and not authn.public(path):
            found = parse_path(path, self.catalogue)
            if found is None:  # discovery and unknown paths alike
                raise authn.forbidden_path(user, method, path)
            nobody = Access(user)
            nobody.rbac = True  # no binding names system:anonymous: every resource is forbidden
            nobody.check(verb_of(method, found.name is not None, query), found.res.group, found.res.plural,
                         found.subresource, found.namespace or "", found.name or "")
        doc = self.catalogue.discovery(path.rstrip("/") or "/", self.url.removeprefix("http://"))
        if doc is not None and method == "GET":
            return 200, doc
        route = parse_path(path, self.catalogue)
        if route is None:
            raise errors.page_not_found()
        r, st = route, self.store
        # A request on one namespace is authorized in that namespace, so a Role there may grant
        # "get namespaces" on it (kubernetes/apiserver pkg/endpoints/request/requestinfo.go).
        scope = r.name if r.res.kind == "Namespace" and r.name else r.namespace
        self.access.check(verb_of(method, r.name is not None, query), r.res.group, r.res.plural, r.subresource,
                          scope or "", r.name or "")
        if query.get("watch") in ("true", "1"):
            raise errors.bad_request("watch is not supported by this stand-in")
        _write_options(query, opts)
        if r.res.kind == "SelfSubjectAccessReview":
            if method != "POST" or r.name is not None:
                raise ApiError(405, "MethodNotAllowed", f"{method} is not allowed on selfsubjectaccessreviews")
            return 201, self.access.review(body)
        if method == "GET" and r.name is None:
            return 200, st.list(r.res, r.namespace, r.version, query.get("labelSelector", ""),
                                query.get("fieldSelector", ""))
        if method == "GET":
            return 200, st.get(r.res, r.namespace or "", r.name or "", r.version)
        if method == "POST" and r.name is None:
            namespace = r.namespace if r.namespace is not None else ""
            if r.res.namespaced and not namespace:
                raise ApiError(405, "MethodNotAllowed", "create needs a namespace in the path")
            return 201, st.create(r.res, namespace, body, r.version, opts)
        if r.name is None:
            raise ApiError(405, "MethodNotAllowed", f"{method} is not allowed on a collection")
        if method == "PUT":
            if not r.res.unconditional_update and not ((body or {}).get("metadata") or {}).get("resourceVersion"):
                # Custom resources (unlike Deployments, Services, Leases) refuse a PUT without one.
                raise errors.invalid(r.res.group, r.res.kind, r.name, [
                    ("metadata.resourceVersion", "FieldValueInvalid",
                     "Invalid value: 0x0: must be specified for an update")])
            return 200, st.update(r.res, r.namespace or "", r.name, r.version, r.subresource, lambda _old: body, opts)
        if method == "PATCH":
            return 200, st.update(r.res, r.namespace or "", r.name, r.version, r.subresource,
                                  _patcher(r.res, content_type, body), opts)
        if method == "DELETE":
            return 200, st.delete(r.res, r.namespace or "", r.name, (body or {}).get("preconditions") or {}, opts)
        raise ApiError(405, "MethodNotAllowed", f"{method} is not allowed")


GATEWAY_LABELS = {"app": "istio-ingressgateway", "istio": "ingressgateway"}


def install_ingress_gateway(store: Store, namespace: str = "istio-system") -> None:
    """What Istio's default profile runs (istio/istio ``manifests/charts/gateways/istio-ingress``):
    the Deployment ``istio-ingressgateway`` in ``istio-system``, pods labelled ``istio:
    ingressgateway`` (the selector Gateways use) and ``app: istio-ingressgateway``."""
    store.create(by_kind("Namespace"), "", {"metadata": {"name": namespace, "labels": {
        "kubernetes.io/metadata.name": namespace}}}, "v1")
    store.create(by_kind("Deployment"), namespace, {
        "metadata": {"name": "istio-ingressgateway", "labels": dict(GATEWAY_LABELS)},
        "spec": {"replicas": 1, "selector": {"matchLabels": dict(GATEWAY_LABELS)},
                 "template": {"metadata": {"labels": dict(GATEWAY_LABELS)},
                              "spec": {"containers": [{"name": "istio-proxy", "image": "docker.io/istio/proxyv2:1.24.0"}]}}}},
        "v1")


def _write_options(query: dict[str, str], opts: WriteOptions) -> None:
    """``dryRun`` and ``fieldValidation`` as kubernetes/apimachinery
    ``pkg/apis/meta/v1/validation/validation.go`` accepts them (anything else: 422 NotSupported)."""
    options_kind = "CreateOptions"
    if "dryRun" in query:
        if query["dryRun"] != "All":
            raise errors.invalid("meta.k8s.io", options_kind, "", [
                ("dryRun", "FieldValueNotSupported", f'Unsupported value: ["{query["dryRun"]}"]: supported values: '
                                                     '"All"')])
        opts.dry_run = True
    chosen = query.get("fieldValidation", "")
    if chosen not in ("", "Ignore", "Warn", "Strict"):
        raise errors.invalid("meta.k8s.io", options_kind, "", [
            ("fieldValidation", "FieldValueNotSupported", f'Unsupported value: "{chosen}": supported values: "", '
                                                          '"Ignore", "Strict", "Warn"')])
    opts.field_validation = chosen or "Warn"


def _patcher(res: Resource, content_type: str, body: Any) -> Callable[[Obj], Obj]:
    kind = content_type.split(";")[0].strip()
    if kind == "application/merge-patch+json":
        return lambda old: patches.merge_patch(old, body)
    if kind == "application/json-patch+json":
        return lambda old: patches.json_patch(old, body)
    if kind == "application/strategic-merge-patch+json":
        if res.custom:
            raise ApiError(415, "UnsupportedMediaType",
                           "the body of the request was in an unknown format - accepted media types include: "
                           "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml")
        return lambda old: patches.strategic_merge_patch(old, body)
    raise ApiError(415, "UnsupportedMediaType", f"patch type {kind!r} is not supported by this stand-in")


def _handler_for(api: KubeApiStandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # One buffered write per answer and no Nagle: otherwise headers and body leave in two
        # segments and delayed ACKs add ~40 ms to every request (it would swamp the benchmark).
        wbufsize = 65536
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:  # quiet: tests read api.requests instead
            pass

        def _serve(self) -> None:
            split = urlsplit(self.path)
            query = {k: v[-1] for k, v in parse_qs(split.query).items()}
            record = Request(self.command, self.path)
            api.requests.append(record)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            due = api.due_faults(self.command, split.path)
            for call in (f for f in due if f.action == "call" and f.callback is not None):
                call.callback()  # type: ignore[misc]
            fault = next((f for f in due if f.action != "call"), None)
            if fault is not None and fault.action == "hang":
                api.stopping.wait(120)
                self.close_connection = True
                return
            opts = WriteOptions()
            headers = {"Content-Type": "application/json"}
            try:
                if fault is not None and fault.action in ("500", "429", "503"):
                    raise _injected(fault)
                body = json.loads(raw) if raw else None
                code, payload = api.handle(self.command, split.path, query, body,
                                           self.headers.get("Content-Type", "application/json"), opts,
                                           self.headers.get("Authorization", ""))
                data = json.dumps(payload).encode()
            except ApiError as err:
                code, data = err.code, err.body()
                headers.update(err.headers)
            except json.JSONDecodeError as err:
                code, data = 400, errors.bad_request(f"invalid JSON body: {err.msg}").body()
            if fault is not None and fault.action == "hang_after":
                api.stopping.wait(120)
                self.close_connection = True
                return
            record.code = code
            self.send_response(code)
            for name, value in headers.items():
                self.send_header(name, value)
                record.headers[name] = value
            for warning in opts.warnings:
                # Code 299, agent "-", the text quoted (kubernetes/apimachinery pkg/util/net/http.go
                # NewWarningHeader; clients print it as "Warning: <text>").
                quoted = warning.replace("\\", "\\\\").replace('"', '\\"')
                self.send_header("Warning", f'299 - "{quoted}"')
                record.warnings.append(warning)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

    return Handler


def _injected(fault: Fault) -> ApiError:
    if fault.action == "429":
        return errors.too_many_requests(fault.retry_after)
    if fault.action == "503":
        return errors.unavailable("the server is currently unable to handle the request (injected by the test)",
                                  fault.retry_after)
    return ApiError(500, "InternalError", "Internal error occurred: injected by the test")


__all__ = ["Fault", "KubeApiStandIn", "Request"]
