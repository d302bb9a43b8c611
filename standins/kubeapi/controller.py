"""The stand-in's Deployment controller: status and pods the way a test wants them.

A real cluster's controllers set ``status.observedGeneration``, ready/available replicas and
conditions, and create pods whose containers may wait (``ImagePullBackOff``, ...). Tests drive
that here: by default every Deployment becomes available (after ``ready_delay_s``); a Deployment
named in ``unready`` stays unavailable with pods waiting for the given reason.
"""

from __future__ import annotations

import threading
from typing import Any

from standins.kubeapi.resources import Resource, by_kind
from standins.kubeapi.store import Obj, Store


class DeploymentController:
    def __init__(self, store: Store, ready_delay_s: float = 0.0) -> None:
        self.store = store
        self.ready_delay_s = ready_delay_s
        self.unready: dict[tuple[str, str], tuple[str, str]] = {}
        """(namespace, name) -> (reason, message) for containers that never start."""
        store.on_write.append(self._on_write)

    def set_unready(self, namespace: str, name: str, reason: str = "ImagePullBackOff",
                    message: str = "Back-off pulling image") -> None:
        self.unready[(namespace, name)] = (reason, message)
        self._resync(namespace, name)

    def set_ready(self, namespace: str, name: str) -> None:
        self.unready.pop((namespace, name), None)
        self._resync(namespace, name)

    def _resync(self, namespace: str, name: str) -> None:
        with self.store.lock:
            obj = self.store.objects.get(("apps", "deployments", namespace, name))
            if obj is not None:
                self._reconcile(obj, allow_delay=False)

    def _on_write(self, res: Resource, obj: Obj) -> None:
        if res.kind == "Deployment":
            self._reconcile(obj, allow_delay=True)

    def _reconcile(self, obj: Obj, allow_delay: bool) -> None:
        meta = obj["metadata"]
        namespace, name, generation = meta["namespace"], meta["name"], meta.get("generation", 1)
        replicas = int((obj.get("spec") or {}).get("replicas", 1))
        problem = self.unready.get((namespace, name))
        if problem is None and allow_delay and self.ready_delay_s > 0:
            problem = ("ContainerCreating", "")
            timer = threading.Timer(self.ready_delay_s, self._resync, (namespace, name))
            timer.daemon = True
            timer.start()
        self._pods(obj, replicas, problem)
        if problem is None:
            status: dict[str, Any] = {
                "observedGeneration": generation, "replicas": replicas, "updatedReplicas": replicas,
                "readyReplicas": replicas, "availableReplicas": replicas,
                "conditions": [_condition("Available", "True", "MinimumReplicasAvailable"),
                               _condition("Progressing", "True", "NewReplicaSetAvailable")]}
        else:
            status = {
                "observedGeneration": generation, "replicas": replicas, "updatedReplicas": replicas,
                "unavailableReplicas": replicas,
                "conditions": [_condition("Available", "False", "MinimumReplicasUnavailable"),
                               _condition("Progressing", "True", "ReplicaSetUpdated")]}
        self.store.put_status("Deployment", namespace, name, status)

    def _pods(self, deployment: Obj, replicas: int, problem: tuple[str, str] | None) -> None:
        meta = deployment["metadata"]
        namespace, name = meta["namespace"], meta["name"]
        for key in [k for k in self.store.objects if k[1] == "pods" and k[2] == namespace and k[3].startswith(name + "-")]:
            owner = (self.store.objects[key]["metadata"].get("ownerReferences") or [{}])[0].get("name")
            if owner == name:
                del self.store.objects[key]
        template = (deployment.get("spec") or {}).get("template") or {}
        labels = (template.get("metadata") or {}).get("labels") or {}
        containers = (template.get("spec") or {}).get("containers") or [{"name": "main"}]
        pods = by_kind("Pod")
        for index in range(replicas):
            state: dict[str, Any] = ({"running": {"startedAt": "2026-01-01T00:00:00Z"}} if problem is None else
                                     {"waiting": {"reason": problem[0], "message": problem[1]}})
            pod = {"metadata": {"name": f"{name}-{meta['resourceVersion']}-{index}", "labels": dict(labels),
                                "ownerReferences": [{"kind": "ReplicaSet", "name": name}]},
                   "spec": template.get("spec") or {},
                   "status": {"phase": "Running" if problem is None else "Pending",
                              "containerStatuses": [{"name": c.get("name", "main"), "ready": problem is None,
                                                     "restartCount": 0, "image": c.get("image", ""), "state": state}
                                                    for c in containers]}}
            self.store.create(pods, namespace, pod, "v1")


def _condition(kind: str, status: str, reason: str) -> dict[str, str]:
    return {"type": kind, "status": status, "reason": reason, "lastTransitionTime": "2026-01-01T00:00:00Z"}
