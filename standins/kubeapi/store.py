"""In-memory object storage with the API server's rules: names, resourceVersion, generation, status.

What real clients rely on and off-the-shelf mocks get wrong (tooling notes: kmock answers 200 on
create and ignores resourceVersion): create answers 201 and 409 AlreadyExists; a write carrying
a stale ``metadata.resourceVersion`` (PUT or patch) answers 409 Conflict; a write that changes
nothing keeps the resourceVersion; ``metadata.generation`` moves only when ``spec`` changes (and a
Deployment's annotations); the
main resource ignores ``status`` and ``/status`` ignores everything else; a create carrying a
resourceVersion is refused (500, as etcd3 storage does) and so is one whose namespace differs
from the URL's (400, ``rest.EnsureObjectNamespaceMatchesRequestNamespace``) or whose apiVersion is
not the URL's (400, kubernetes/apiserver ``pkg/endpoints/handlers/create.go``); custom resources
refuse a PUT without resourceVersion (422); a delete whose preconditions fail answers 409.

Every write goes through the same steps a real one does: decode (undeclared fields pruned, warned
about or refused by ``fieldValidation``, ``schema.py``), defaults (``defaults.py``), admission
(``admission`` hooks: namespace lifecycle, ``namespaces.py``), validation (``validation.py``),
then storage, unless ``dryRun=All``: then everything but storage happens (kubernetes/apiserver
``pkg/registry/generic/registry/dryrun.go``: a dry-run create still answers 409 for an existing
name and returns the object without a resourceVersion). An object with finalizers is only marked
deleted (``deletionTimestamp``) until its finalizers are removed.
"""

from __future__ import annotations

import copy
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from standins.kubeapi import defaults, errors, patches, podspec, schema, validation
from standins.kubeapi.errors import ApiError
from standins.kubeapi.resources import Resource, by_kind

Obj = dict[str, Any]
Key = tuple[str, str, str, str]  # group, plural, namespace, name
Admission = Callable[[str, Resource, str, str, Obj], None]
"""(operation CREATE/UPDATE/DELETE, resource, namespace, name, object) -> raise ApiError to refuse."""

# Selectable fields per kind (kubernetes/kubernetes pkg/registry/core/pod/strategy.go
# ToSelectableFields, pkg/registry/core/namespace/strategy.go); others answer 400.
_FIELDS = {"Pod": {"status.phase", "spec.nodeName", "spec.serviceAccountName", "status.podIP"},
           "Namespace": {"status.phase"}}


@dataclass
class WriteOptions:
    """Query parameters of a write and what the server has to say back."""

    dry_run: bool = False
    field_validation: str = "Warn"
    """``Ignore``, ``Warn`` (default) or ``Strict``."""
    warnings: list[str] = field(default_factory=list)
    """``Warning`` headers to send with the answer."""


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _key(res: Resource, namespace: str, name: str) -> Key:
    return (res.group, res.plural, namespace if res.namespaced else "", name)


class Store:
    """All objects, one lock, one resourceVersion counter (like etcd's revision)."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.objects: dict[Key, Obj] = {}
        self._revision = 1000
        self.on_write: list[Callable[[Resource, Obj], None]] = []
        """Called after a write to a main resource (the stand-in's "controllers")."""
        self.on_delete: list[Callable[[Resource, Obj], None]] = []
        self.admission: list[Admission] = []

    # -- reads -----------------------------------------------------------------------
    def get(self, res: Resource, namespace: str, name: str, version: str) -> Obj:
        with self.lock:
            obj = self.objects.get(_key(res, namespace, name))
            if obj is None:
                raise errors.not_found(res.group, res.plural, name)
            return self._present(res, obj, version)

    def list(self, res: Resource, namespace: str | None, version: str, label_selector: str = "",
             field_selector: str = "") -> Obj:
        try:
            wanted = patches.parse_selector(label_selector)
        except ValueError as err:
            raise errors.bad_request(str(err)) from err
        fields = _field_terms(res, field_selector)
        with self.lock:
            items = []
            for (group, plural, ns, _name), obj in sorted(self.objects.items()):
                if (group, plural) != (res.group, res.plural) or (namespace is not None and ns != namespace):
                    continue
                if not patches.selector_matches(wanted, obj["metadata"].get("labels") or {}):
                    continue
                if not all((_dig(obj, path) == value) == equal for path, equal, value in fields):
                    continue
                items.append(self._present(res, obj, version))
            return {"kind": f"{res.kind}List", "apiVersion": res.api_version(version),
                    "metadata": {"resourceVersion": str(self._revision)}, "items": items}

    # -- writes ----------------------------------------------------------------------
    def create(self, res: Resource, namespace: str, body: Any, version: str, opts: WriteOptions | None = None) -> Obj:
        opts = opts or WriteOptions()
        if not isinstance(body, dict) or not isinstance(body.get("metadata"), dict):
            raise errors.bad_request("the body must be an object with metadata")
        meta = body["metadata"]
        if meta.get("resourceVersion"):
            raise ApiError(500, "InternalError", "resourceVersion should not be set on objects to be created")
        if res.namespaced and meta.get("namespace") not in (None, "", namespace):
            raise errors.bad_request("the namespace of the provided object does not match the namespace sent on "
                                     "the request")
        name = meta.get("name") or (meta.get("generateName", "") + uuid.uuid4().hex[:5] if meta.get("generateName")
                                    else "")
        if not name:
            raise errors.invalid(res.group, res.kind, "", [("metadata.name", "FieldValueRequired", "Required value")])
        obj = self._decode(res, version, name, body, opts)
        with self.lock:
            for hook in self.admission:
                hook("CREATE", res, namespace, name, obj)
            key = _key(res, namespace, name)
            if key in self.objects:
                raise errors.already_exists(res.group, res.plural, name)
            validation.check_names(res, name, obj)
            validation.check_kind(res, name, obj, None)
            validation.allocate_service_ip(res, name, obj, None, self._service_ips())
            obj["metadata"] = {k: v for k, v in {**obj["metadata"], "name": name, "uid": str(uuid.uuid4()),
                                                 "creationTimestamp": now(), "generation": 1}.items()
                               if k not in ("generateName", "deletionTimestamp", "resourceVersion")}
            if res.namespaced:
                obj["metadata"]["namespace"] = namespace
            if res.kind == "Namespace":
                obj["status"] = {"phase": "Active"}
            elif res.status_subresource:
                obj.pop("status", None)
            if opts.dry_run or not res.stored:
                return self._present(res, obj, version)
            obj["metadata"]["resourceVersion"] = str(self._bump())
            self.objects[key] = obj
            self._notify(res, obj)
            return self._present(res, obj, version)

    def update(self, res: Resource, namespace: str, name: str, version: str, subresource: str,
               change: Callable[[Obj], Any], opts: WriteOptions | None = None) -> Obj:
        """Apply ``change`` (PUT body or patch) to the stored object under the lock, with the
        resourceVersion precondition the new object carries."""
        opts = opts or WriteOptions()
        with self.lock:
            key = _key(res, namespace, name)
            current = self.objects.get(key)
            if current is None:
                raise errors.not_found(res.group, res.plural, name)
            try:
                new = change(self._present(res, current, version))
            except patches.PatchError as err:
                raise errors.invalid(res.group, res.kind, name, [("", "FieldValueInvalid",
                                                                  f"the patch could not be applied: {err}")]) from err
            if not isinstance(new, dict) or not isinstance(new.get("metadata"), dict):
                raise errors.bad_request("the result must be an object with metadata")
            wanted_rv = new["metadata"].get("resourceVersion")
            if wanted_rv and wanted_rv != current["metadata"]["resourceVersion"]:
                raise errors.conflict(res.group, res.plural, name, "the object has been modified; please apply your "
                                      "changes to the latest version and try again")
            if new["metadata"].get("name", name) != name:
                raise errors.bad_request("the name of the object does not match the name in the URL")
            if subresource != "status":
                new = self._decode(res, version, name, new, opts)
            merged = self._merge_scope(res, current, new, subresource)
            for hook in self.admission:
                hook("UPDATE", res, namespace, name, merged)
            validation.check_names(res, name, merged)
            if subresource != "status":
                validation.check_kind(res, name, merged, current)
                validation.allocate_service_ip(res, name, merged, current, set())
            if _same(merged, current):
                return self._present(res, current, version)
            if merged.get("spec") != current.get("spec") or (res.kind == "Deployment" and subresource != "status" and
                                                            _annotations(merged) != _annotations(current)):
                # A Deployment's annotations are copied to its ReplicaSets, so they move its generation
                # too (kubernetes/kubernetes pkg/registry/apps/deployment/strategy.go PrepareForUpdate).
                merged["metadata"]["generation"] = current["metadata"].get("generation", 1) + 1
            if opts.dry_run:
                return self._present(res, merged, version)
            merged["metadata"]["resourceVersion"] = str(self._bump())
            if merged["metadata"].get("deletionTimestamp") and not merged["metadata"].get("finalizers") and \
                    not (merged.get("spec") or {}).get("finalizers"):
                del self.objects[key]  # the last finalizer went: the deletion completes
                self._deleted(res, merged)
                return self._present(res, merged, version)
            self.objects[key] = merged
            if not subresource:
                self._notify(res, merged)
            return self._present(res, merged, version)

    def delete(self, res: Resource, namespace: str, name: str, preconditions: dict[str, Any] | None = None,
               opts: WriteOptions | None = None) -> Obj:
        """Delete; ``preconditions`` (DeleteOptions: ``uid``, ``resourceVersion``) that do not hold answer 409.
        An object with finalizers (a Namespace: ``spec.finalizers``) is marked, not removed."""
        opts = opts or WriteOptions()
        with self.lock:
            key = _key(res, namespace, name)
            if key not in self.objects:
                raise errors.not_found(res.group, res.plural, name)
            obj = self.objects[key]
            meta = obj["metadata"]
            for field_, label in (("uid", "UID"), ("resourceVersion", "ResourceVersion")):
                wanted = (preconditions or {}).get(field_)
                if wanted and wanted != meta.get(field_):
                    raise errors.conflict(res.group, res.plural, name, f"Precondition failed: {label} in "
                                          f"precondition: {wanted}, {label} in object meta: {meta.get(field_)}")
            for hook in self.admission:
                hook("DELETE", res, namespace, name, obj)
            if opts.dry_run:
                return self._present(res, obj, "")
            if meta.get("finalizers") or (obj.get("spec") or {}).get("finalizers"):
                if not meta.get("deletionTimestamp"):
                    marked = copy.deepcopy(obj)
                    marked["metadata"].update(deletionTimestamp=now(), deletionGracePeriodSeconds=0,
                                              resourceVersion=str(self._bump()))
                    if res.kind == "Namespace":
                        marked["status"] = {**(marked.get("status") or {}), "phase": "Terminating"}
                    self.objects[key] = marked
                    self._deleted(res, marked)
                return self._present(res, self.objects[key], res.versions[0])
            del self.objects[key]
            self._deleted(res, obj)
            return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                    "details": errors.details(res.group, res.plural, name)}

    def put_status(self, kind: str, namespace: str, name: str, status: Obj) -> None:
        """Controllers and tests set an object's status directly (bumps resourceVersion)."""
        res = by_kind(kind)
        self.update(res, namespace, name, res.versions[0], "status", lambda obj: {
            **obj, "status": status, "metadata": {**obj["metadata"], "resourceVersion": ""}})

    def put_raw(self, res: Resource, obj: Obj) -> None:
        """Store ``obj`` as a controller or the kubelet would write it: no validation, no hooks."""
        with self.lock:
            meta = obj["metadata"]
            meta.setdefault("uid", str(uuid.uuid4()))
            meta.setdefault("creationTimestamp", now())
            meta["resourceVersion"] = str(self._bump())
            self.objects[_key(res, meta.get("namespace", ""), meta["name"])] = obj

    def drop_raw(self, res: Resource, namespace: str, name: str) -> None:
        with self.lock:
            self.objects.pop(_key(res, namespace, name), None)

    # -- internals -------------------------------------------------------------------
    def _decode(self, res: Resource, version: str, name: str, body: Obj, opts: WriteOptions) -> Obj:
        sent = body.get("apiVersion")
        if sent and sent != res.api_version(version):
            raise errors.bad_request(f"the API version in the data ({sent}) does not match the expected API "
                                     f"version ({res.api_version(version)})")
        if body.get("kind") and body["kind"] != res.kind:
            raise errors.bad_request(f'{body["kind"]} in version "{version}" cannot be handled as a {res.kind}: '
                                     f"the object provided is unrecognized (must be of type {res.kind})")
        pruned, found = schema.inspect(res, version, body)
        if found.unknown and opts.field_validation == "Strict":
            unknown = ", ".join(f'unknown field "{path}"' for path in found.unknown)
            raise errors.bad_request(f'{res.kind} in version "{version}" cannot be handled as a {res.kind}: '
                                     f"strict decoding error: {unknown}")
        if opts.field_validation != "Ignore":
            opts.warnings.extend(f'unknown field "{path}"' for path in found.unknown)
        validation.check_schema(res, version, name, found)
        if res.kind in ("Deployment", "Pod"):
            template = (pruned.get("spec") or {}) if res.kind == "Pod" else \
                ((pruned.get("spec") or {}).get("template") or {}).get("spec")
            undecodable = podspec.decode_error(res.kind, version, template)
            if undecodable is not None:
                raise undecodable
        obj = copy.deepcopy(pruned)
        defaults.apply(res.kind, obj)
        obj["apiVersion"], obj["kind"] = res.api_version(version), res.kind
        return obj

    def _bump(self) -> int:
        self._revision += 1
        return self._revision

    def _service_ips(self) -> set[str]:
        return {str((o.get("spec") or {}).get("clusterIP")) for k, o in self.objects.items() if k[1] == "services"}

    def _notify(self, res: Resource, obj: Obj) -> None:
        for hook in self.on_write:
            hook(res, obj)

    def _deleted(self, res: Resource, obj: Obj) -> None:
        for hook in self.on_delete:
            hook(res, obj)

    @staticmethod
    def _merge_scope(res: Resource, current: Obj, new: Obj, subresource: str) -> Obj:
        server_meta = {k: current["metadata"][k] for k in ("uid", "creationTimestamp", "generation", "namespace",
                                                           "name", "resourceVersion", "deletionTimestamp",
                                                           "deletionGracePeriodSeconds") if k in current["metadata"]}
        if subresource == "status":
            merged = copy.deepcopy(current)
            merged["status"] = copy.deepcopy(new.get("status"))
            return merged
        merged = copy.deepcopy(new)
        merged["metadata"] = {**{k: v for k, v in new["metadata"].items() if k != "deletionTimestamp"}, **server_meta}
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
        shown["apiVersion"], shown["kind"] = res.api_version(version or res.versions[0]), res.kind
        return shown


def _annotations(obj: Obj) -> dict[str, Any]:
    return dict((obj.get("metadata") or {}).get("annotations") or {})


def _dig(obj: Obj, path: str) -> str:
    value: Any = obj
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return "" if value is None else str(value)


def _field_terms(res: Resource, selector: str) -> list[tuple[str, bool, str]]:
    """``[(path, equal, value)]`` for ``a=b``, ``a==b``, ``a!=b`` terms."""
    terms = []
    for term in (t.strip() for t in (selector or "").split(",") if t.strip()):
        op = next((o for o in ("!=", "==", "=") if o in term), None)
        if op is None:
            raise errors.bad_request(f"invalid selector: '{term}'; can't understand '{term}'")
        path, value = term.split(op, 1)
        if path not in {"metadata.name", "metadata.namespace"} | _FIELDS.get(res.kind, set()):
            # Kinds with their own conversion (pkg/apis/core/v1/conversion.go) word it differently
            # from apimachinery's DefaultMetaV1FieldSelectorConversion.
            raise errors.bad_request(f"field label not supported: {path}" if res.kind in _FIELDS else
                                     f'"{path}" is not a known field selector: only "metadata.name", '
                                     '"metadata.namespace"')
        terms.append((path, op != "!=", value))
    return terms


def _same(a: Obj, b: Obj) -> bool:
    strip = ("resourceVersion", "generation")
    return ({k: v for k, v in a.items() if k not in ("metadata", "apiVersion")} ==
            {k: v for k, v in b.items() if k not in ("metadata", "apiVersion")} and
            {k: v for k, v in a["metadata"].items() if k not in strip} ==
            {k: v for k, v in b["metadata"].items() if k not in strip})


__all__ = ["ApiError", "Obj", "Store", "WriteOptions"]
