"""In-memory object storage with the API server's rules: names, resourceVersion, generation, status.

What real clients rely on and off-the-shelf mocks get wrong (tooling notes: kmock answers 200 on
create and ignores resourceVersion): create answers 201 and 409 AlreadyExists; a write carrying
a stale ``metadata.resourceVersion`` (PUT or patch) answers 409 Conflict; a write that changes
nothing keeps the resourceVersion; ``metadata.generation`` moves only when ``spec`` changes; the
main resource ignores ``status`` and ``/status`` ignores everything else; a namespaced create in
a missing namespace answers 404; a create carrying a resourceVersion is refused (500, as
etcd3 storage does) and so is one whose namespace differs from the URL's (400); custom resources
refuse a PUT without resourceVersion (422); a delete whose preconditions fail answers 409;
names and label values longer or other than Kubernetes allows answer 422.
Errors are ``ApiError``s that the server turns into ``Status``.
"""

from __future__ import annotations

import copy
import re
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from standins.kubeapi import patches
from standins.kubeapi.resources import Resource, by_kind

Obj = dict[str, Any]
Key = tuple[str, str, str, str]  # group, plural, namespace, name


class ApiError(Exception):
    """An error answer: HTTP code, Status reason, message, and details for the Status object."""

    def __init__(self, code: int, reason: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code, self.reason, self.message, self.details = code, reason, message, details or {}

    def status(self) -> Obj:
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": self.message,
                "reason": self.reason, "details": self.details, "code": self.code}


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _details(res: Resource, name: str) -> dict[str, Any]:
    return {"name": name, "group": res.group, "kind": res.plural}


def _qualified(res: Resource) -> str:
    return f"{res.plural}.{res.group}" if res.group else res.plural


class Store:
    """All objects, one lock, one resourceVersion counter (like etcd's revision)."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.objects: dict[Key, Obj] = {}
        self._revision = 1000
        self.on_write: list[Callable[[Resource, Obj], None]] = []
        """Called after a write to a main resource (the stand-in's "controllers")."""

    # -- reads -----------------------------------------------------------------------
    def get(self, res: Resource, namespace: str, name: str, version: str) -> Obj:
        with self.lock:
            obj = self.objects.get((res.group, res.plural, namespace, name))
            if obj is None:
                raise ApiError(404, "NotFound", f'{_qualified(res)} "{name}" not found', _details(res, name))
            return self._present(res, obj, version)

    def list(self, res: Resource, namespace: str | None, version: str, label_selector: str = "",
             field_selector: str = "") -> Obj:
        try:
            wanted = patches.parse_selector(label_selector)
        except ValueError as err:
            raise ApiError(400, "BadRequest", str(err)) from err
        fields = dict(term.split("=", 1) for term in field_selector.split(",") if "=" in term)
        with self.lock:
            items = []
            for (group, plural, ns, name), obj in sorted(self.objects.items()):
                if (group, plural) != (res.group, res.plural) or (namespace is not None and ns != namespace):
                    continue
                if not patches.selector_matches(wanted, obj["metadata"].get("labels") or {}):
                    continue
                if fields.get("metadata.name", name) != name or fields.get("metadata.namespace", ns) != ns:
                    continue
                items.append(self._present(res, obj, version))
            return {"kind": f"{res.kind}List", "apiVersion": res.api_version(version),
                    "metadata": {"resourceVersion": str(self._current())}, "items": items}

    # -- writes ----------------------------------------------------------------------
    def create(self, res: Resource, namespace: str, body: Any, version: str) -> Obj:
        if not isinstance(body, dict) or not isinstance(body.get("metadata"), dict):
            raise ApiError(400, "BadRequest", "the body must be an object with metadata")
        meta = body["metadata"]
        if meta.get("resourceVersion"):
            raise ApiError(500, "InternalError", "resourceVersion should not be set on objects to be created")
        if res.namespaced and meta.get("namespace") not in (None, "", namespace):
            raise ApiError(400, "BadRequest", "the namespace of the provided object does not match the namespace "
                                              "sent on the request")
        name = meta.get("name") or (meta.get("generateName", "") + uuid.uuid4().hex[:5] if meta.get("generateName") else "")
        if not name:
            raise ApiError(422, "Invalid", f"{res.kind}: metadata.name: Required value", _details(res, ""))
        with self.lock:
            if res.namespaced and ("", "namespaces", "", namespace) not in self.objects:
                raise ApiError(404, "NotFound", f'namespaces "{namespace}" not found',
                               {"name": namespace, "kind": "namespaces"})
            key = (res.group, res.plural, namespace if res.namespaced else "", name)
            if key in self.objects:
                raise ApiError(409, "AlreadyExists", f'{_qualified(res)} "{name}" already exists', _details(res, name))
            _check_names(res, name, body)
            obj = copy.deepcopy(body)
            obj["metadata"] = {**meta, "name": name, "uid": str(uuid.uuid4()), "creationTimestamp": _now(),
                               "resourceVersion": str(self._bump()), "generation": 1}
            obj["metadata"].pop("generateName", None)
            if res.namespaced:
                obj["metadata"]["namespace"] = namespace
            if res.kind == "Namespace":
                obj["status"] = {"phase": "Active"}
            self.objects[key] = obj
            self._notify(res, obj)
            return self._present(res, self.objects[key], version)

    def update(self, res: Resource, namespace: str, name: str, version: str, subresource: str,
               change: Callable[[Obj], Any]) -> Obj:
        """Apply ``change`` (PUT body or patch) to the stored object under the lock, with the
        resourceVersion precondition the new object carries."""
        with self.lock:
            key = (res.group, res.plural, namespace if res.namespaced else "", name)
            current = self.objects.get(key)
            if current is None:
                raise ApiError(404, "NotFound", f'{_qualified(res)} "{name}" not found', _details(res, name))
            try:
                new = change(self._present(res, current, version))
            except patches.PatchError as err:
                raise ApiError(422, "Invalid", f"the patch could not be applied: {err}", _details(res, name)) from err
            if not isinstance(new, dict) or not isinstance(new.get("metadata"), dict):
                raise ApiError(400, "BadRequest", "the result must be an object with metadata")
            wanted_rv = new["metadata"].get("resourceVersion")
            if wanted_rv and wanted_rv != current["metadata"]["resourceVersion"]:
                raise ApiError(409, "Conflict", f'Operation cannot be fulfilled on {_qualified(res)} "{name}": '
                               "the object has been modified; please apply your changes to the latest version "
                               "and try again", _details(res, name))
            if new["metadata"].get("name", name) != name:
                raise ApiError(400, "BadRequest", "the name of the object does not match the name in the URL")
            merged = self._merge_scope(res, current, new, subresource)
            _check_names(res, name, merged)
            if _same(merged, current):
                return self._present(res, current, version)
            if merged.get("spec") != current.get("spec"):
                merged["metadata"]["generation"] = current["metadata"].get("generation", 1) + 1
            merged["metadata"]["resourceVersion"] = str(self._bump())
            self.objects[key] = merged
            if not subresource:
                self._notify(res, merged)
            return self._present(res, self.objects[key], version)

    def delete(self, res: Resource, namespace: str, name: str, preconditions: dict[str, Any] | None = None) -> Obj:
        """Delete; ``preconditions`` (DeleteOptions: ``uid``, ``resourceVersion``) that do not hold answer 409."""
        with self.lock:
            key = (res.group, res.plural, namespace if res.namespaced else "", name)
            if key not in self.objects:
                raise ApiError(404, "NotFound", f'{_qualified(res)} "{name}" not found', _details(res, name))
            meta = self.objects[key]["metadata"]
            for field, label in (("uid", "UID"), ("resourceVersion", "ResourceVersion")):
                wanted = (preconditions or {}).get(field)
                if wanted and wanted != meta.get(field):
                    raise ApiError(409, "Conflict", f'Operation cannot be fulfilled on {_qualified(res)} "{name}": '
                                   f"Precondition failed: {label} in precondition: {wanted}, {label} in object meta: "
                                   f"{meta.get(field)}", _details(res, name))
            del self.objects[key]
            return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                    "details": _details(res, name)}

    def put_status(self, kind: str, namespace: str, name: str, status: Obj) -> None:
        """Controllers and tests set an object's status directly (bumps resourceVersion)."""
        res = by_kind(kind)
        self.update(res, namespace, name, res.versions[0], "status", lambda obj: {**obj, "status": status,
                                                                                  "metadata": {**obj["metadata"],
                                                                                               "resourceVersion": ""}})

    # -- internals -------------------------------------------------------------------
    def _current(self) -> int:
        return self._revision

    def _bump(self) -> int:
        self._revision += 1
        return self._revision

    def _notify(self, res: Resource, obj: Obj) -> None:
        for hook in self.on_write:
            hook(res, obj)

    @staticmethod
    def _merge_scope(res: Resource, current: Obj, new: Obj, subresource: str) -> Obj:
        server_meta = {k: current["metadata"][k] for k in ("uid", "creationTimestamp", "generation", "namespace",
                                                           "name", "resourceVersion") if k in current["metadata"]}
        if subresource == "status":
            merged = copy.deepcopy(current)
            merged["status"] = copy.deepcopy(new.get("status"))
            return merged
        merged = copy.deepcopy(new)
        merged["metadata"] = {**new["metadata"], **server_meta}
        merged["apiVersion"], merged["kind"] = current.get("apiVersion"), current.get("kind")
        if res.status_subresource:
            if "status" in current:
                merged["status"] = copy.deepcopy(current["status"])
            else:
                merged.pop("status", None)
        return merged

    @staticmethod
    def _present(res: Resource, obj: Obj, version: str) -> Obj:
        shown = copy.deepcopy(obj)
        shown["apiVersion"], shown["kind"] = res.api_version(version), res.kind
        return shown


_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def _check_names(res: Resource, name: str, obj: Obj) -> None:
    """422 as the API server's validation gives it: object names (a namespace's is a 63-character
    DNS label, others DNS subdomains up to 253) and label values (up to 63 characters), also in a
    Deployment's selector and pod template."""
    limit = 63 if res.kind == "Namespace" else 253
    if len(name) > limit or not _SUBDOMAIN.match(name) or (res.kind == "Namespace" and "." in name):
        raise ApiError(422, "Invalid", f'{res.kind} "{name}" is invalid: metadata.name: Invalid value: "{name}": '
                       f"must be a lowercase RFC 1123 {'label' if limit == 63 else 'subdomain'} of at most {limit} "
                       "characters", _details(res, name))
    places = [("metadata.labels", (obj.get("metadata") or {}).get("labels"))]
    if res.kind == "Deployment":
        spec = obj.get("spec") or {}
        places += [("spec.selector.matchLabels", (spec.get("selector") or {}).get("matchLabels")),
                   ("spec.template.metadata.labels", ((spec.get("template") or {}).get("metadata") or {}).get("labels"))]
    for where, labels in places:
        for value in (labels or {}).values():
            if not isinstance(value, str) or len(value) > 63 or not _LABEL_VALUE.match(value):
                raise ApiError(422, "Invalid", f'{res.kind} "{name}" is invalid: {where}: Invalid value: "{value}": '
                               "a valid label must be an empty string or consist of at most 63 alphanumeric "
                               "characters, '-', '_' or '.'", _details(res, name))


def _same(a: Obj, b: Obj) -> bool:
    strip = ("resourceVersion", "generation")
    return ({k: v for k, v in a.items() if k not in ("metadata", "apiVersion")} ==
            {k: v for k, v in b.items() if k not in ("metadata", "apiVersion")} and
            {k: v for k, v in a["metadata"].items() if k not in strip} ==
            {k: v for k, v in b["metadata"].items() if k not in strip})
