"""Namespace lifecycle: creating in a missing or Terminating namespace, and how deletion proceeds.

Admission (kubernetes/apiserver ``pkg/admission/plugin/namespace/lifecycle/admission.go``): a
create of a namespaced object in a namespace that does not exist answers 404
``namespaces "<ns>" not found``; in a namespace being deleted it answers 403 Forbidden,
``<resource> "<name>" is forbidden: unable to create new content in namespace <ns> because it is
being terminated``, with a ``NamespaceTerminating`` cause on ``metadata.namespace``. Updates and
deletes in a Terminating namespace are allowed.

Deletion (kubernetes/kubernetes ``pkg/registry/core/namespace/storage/storage.go`` and the
namespace controller, ``pkg/controller/namespace/deletion/namespaced_resources_deleter.go``): a
DELETE marks the namespace (``deletionTimestamp``, ``status.phase: Terminating``) and answers
with it; the controller then deletes everything in it and removes the namespace once it is
empty. An object inside that carries a finalizer nobody removes keeps the namespace Terminating
(the common "stuck namespace"); so does ``hold`` here, for tests.
"""

from __future__ import annotations

import threading

from standins.kubeapi import errors
from standins.kubeapi.resources import RESOURCES, Resource, by_kind
from standins.kubeapi.store import Obj, Store


class NamespaceLifecycle:
    """Registers itself with the store; ``cleanup_delay_s`` is how long the controller takes to start."""

    def __init__(self, store: Store, cleanup_delay_s: float = 0.05) -> None:
        self.store = store
        self.cleanup_delay_s = cleanup_delay_s
        self.held: set[str] = set()
        """Namespaces whose deletion never completes (a finalizer nobody removes)."""
        self._cleaning = False
        store.admission.append(self._admit)
        store.on_delete.append(self._on_delete)

    def _admit(self, operation: str, res: Resource, namespace: str, name: str, obj: Obj) -> None:
        if operation != "CREATE" or not res.namespaced:
            return
        ns = self.store.objects.get(("", "namespaces", "", namespace))
        if ns is None:
            raise errors.not_found("", "namespaces", namespace)
        if ns["metadata"].get("deletionTimestamp") or (ns.get("status") or {}).get("phase") == "Terminating":
            raise errors.forbidden(res.group, res.plural, name, f"unable to create new content in namespace "
                                   f"{namespace} because it is being terminated",
                                   [{"type": "NamespaceTerminating", "field": "metadata.namespace",
                                     "message": f"namespace {namespace} is being terminated"}])

    def terminate(self, name: str, hold: bool = True) -> None:
        """Start deleting namespace ``name``; with ``hold`` it stays Terminating until ``release``."""
        if hold:
            self.held.add(name)
        self.store.delete(by_kind("Namespace"), "", name)

    def release(self, name: str) -> None:
        self.held.discard(name)
        self._cleanup(name)

    def _on_delete(self, res: Resource, obj: Obj) -> None:
        if res.kind == "Namespace" and obj["metadata"].get("deletionTimestamp"):
            timer = threading.Timer(self.cleanup_delay_s, self._cleanup, (obj["metadata"]["name"],))
            timer.daemon = True
            timer.start()
        elif res.namespaced and not self._cleaning:
            # An object inside went (its finalizer was removed): the namespace may be empty now.
            self._cleanup(obj["metadata"].get("namespace", ""))

    def _cleanup(self, namespace: str) -> None:
        with self.store.lock:
            ns = self.store.objects.get(("", "namespaces", "", namespace))
            if ns is None or not ns["metadata"].get("deletionTimestamp"):
                return
            self._cleaning = True
            try:
                for group, plural, _ns, name in [k for k in self.store.objects if k[2] == namespace]:
                    obj = self.store.objects.get((group, plural, namespace, name))
                    if obj is not None and not obj["metadata"].get("deletionTimestamp"):
                        self.store.delete(_BY_PLURAL[(group, plural)], namespace, name)
            finally:
                self._cleaning = False
            if namespace not in self.held and not [k for k in self.store.objects if k[2] == namespace]:
                del self.store.objects[("", "namespaces", "", namespace)]


_BY_PLURAL = {(r.group, r.plural): r for r in RESOURCES}
