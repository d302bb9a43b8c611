"""A loopback Kubernetes API server for tests: the real ``kubernetes`` client and kubectl talk to it.

No real API server installs on this machine (tooling notes §2), so this keeps the semantics we
depend on: discovery, CRUD with 201/404/409, resourceVersion conflicts, label selectors, merge/
JSON/strategic patches, Status objects. A tiny Deployment "controller" sets status (available,
or not with pods whose containers wait with a reason) the way the test asks. Tests can inject
faults on the Nth matching request (answer 500, hang before or after doing the work, or run a
callback first, e.g. to edit an object between a client's read and its write), and read the
request log to count round trips.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from standins.kubeapi import patches
from standins.kubeapi.controller import DeploymentController
from standins.kubeapi.resources import Resource, discovery, find
from standins.kubeapi.store import ApiError, Obj, Store

VERSION = {"major": "1", "minor": "32", "gitVersion": "v1.32.0-standin", "gitCommit": "", "gitTreeState": "clean",
           "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.23", "compiler": "gc", "platform": "linux/amd64"}


@dataclass
class Fault:
    """Misbehave on the ``nth`` request whose method matches and whose path matches ``path`` (regex)."""

    method: str
    path: str
    nth: int = 1
    action: str = "500"
    """``500``: answer an InternalError; ``hang``: never answer (nothing done); ``hang_after``: do the
    work, then never answer (the write landed, the answer is lost); ``call``: run ``callback`` first."""
    callback: Callable[[], None] | None = None
    seen: int = 0
    fired: bool = False


@dataclass
class Request:
    method: str
    path: str
    code: int = 0


@dataclass
class Route:
    res: Resource
    version: str
    namespace: str | None
    name: str | None
    subresource: str = ""


def parse_path(path: str) -> Route | None:
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
    res = find(group, version, rest[0])
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
    """Start with ``start()`` (binds 127.0.0.1 on a free port), stop with ``stop()``; ``url`` to connect."""

    def __init__(self, port: int = 0, *, ready_delay_s: float = 0.0) -> None:
        self.store = Store()
        self.deployments = DeploymentController(self.store, ready_delay_s=ready_delay_s)
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
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> KubeApiStandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def fault(self, method: str, path: str, nth: int = 1, action: str = "500",
              callback: Callable[[], None] | None = None) -> Fault:
        fault = Fault(method.upper(), path, nth, action, callback)
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
                if not fault.fired and fault.method == method and re.search(fault.path, path):
                    fault.seen += 1
                    if fault.seen == fault.nth:
                        fault.fired = True
                        due.append(fault)
        return due

    def handle(self, method: str, path: str, query: dict[str, str], body: Any, content_type: str) -> tuple[int, Obj]:
        if path in ("/version", "/version/"):
            return 200, VERSION
        doc = discovery(path.rstrip("/") or "/", self.url.removeprefix("http://"))
        if doc is not None and method == "GET":
            return 200, doc
        route = parse_path(path)
        if route is None:
            return 404, ApiError(404, "NotFound", "the server could not find the requested resource").status()
        if query.get("watch") in ("true", "1"):
            raise ApiError(400, "BadRequest", "watch is not supported by this stand-in")
        r, st = route, self.store
        if method == "GET" and r.name is None:
            return 200, st.list(r.res, r.namespace, r.version, query.get("labelSelector", ""), query.get("fieldSelector", ""))
        if method == "GET":
            return 200, st.get(r.res, r.namespace or "", r.name or "", r.version)
        if method == "POST" and r.name is None:
            namespace = r.namespace if r.namespace is not None else ""
            if r.res.namespaced and not namespace:
                raise ApiError(405, "MethodNotAllowed", "create needs a namespace in the path")
            return 201, st.create(r.res, namespace, body, r.version)
        if r.name is None:
            raise ApiError(405, "MethodNotAllowed", f"{method} is not allowed on a collection")
        if method == "PUT":
            if not r.res.unconditional_update and not ((body or {}).get("metadata") or {}).get("resourceVersion"):
                # Custom resources (unlike Deployments, Services, Leases) refuse a PUT without one.
                raise ApiError(422, "Invalid", f'{r.res.kind}.{r.res.group} "{r.name}" is invalid: '
                               "metadata.resourceVersion: Invalid value: 0x0: must be specified for an update")
            return 200, st.update(r.res, r.namespace or "", r.name, r.version, r.subresource, lambda _old: body)
        if method == "PATCH":
            return 200, st.update(r.res, r.namespace or "", r.name, r.version, r.subresource,
                                  _patcher(r.res, content_type, body))
        if method == "DELETE":
            return 200, st.delete(r.res, r.namespace or "", r.name, (body or {}).get("preconditions") or {})
        raise ApiError(405, "MethodNotAllowed", f"{method} is not allowed")


def _patcher(res: Resource, content_type: str, body: Any) -> Callable[[Obj], Obj]:
    kind = content_type.split(";")[0].strip()
    if kind == "application/merge-patch+json":
        return lambda old: patches.merge_patch(old, body)
    if kind == "application/json-patch+json":
        return lambda old: patches.json_patch(old, body)
    if kind == "application/strategic-merge-patch+json":
        if res.group not in ("", "apps", "coordination.k8s.io"):
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
            try:
                if fault is not None and fault.action == "500":
                    raise ApiError(500, "InternalError", "Internal error occurred: injected by the test")
                body = json.loads(raw) if raw else None
                code, payload = api.handle(self.command, split.path, query, body,
                                           self.headers.get("Content-Type", "application/json"))
            except ApiError as err:
                code, payload = err.code, err.status()
            except json.JSONDecodeError as err:
                code, payload = 400, ApiError(400, "BadRequest", f"invalid JSON body: {err.msg}").status()
            if fault is not None and fault.action == "hang_after":
                api.stopping.wait(120)
                self.close_connection = True
                return
            record.code = code
            data = json.dumps(payload).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

    return Handler


__all__ = ["Fault", "KubeApiStandIn", "Request"]
