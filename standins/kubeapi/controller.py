"""The stand-in's Deployment controller and kubelet: pods per template revision, status, lag.

Two speeds. **Instant** (default): every write is reconciled before the API answers, and the
rollout runs to where it would settle: the new revision's pods start (after ``ready_delay_s``),
old ones go. **Lagging** (``lag_s``/``step_s`` > 0), like a real cluster: the controller notices a
change ``lag_s`` later, so for a while ``status.observedGeneration`` is behind ``generation`` and
the status (conditions included, also a ``ProgressDeadlineExceeded`` from an earlier failed
rollout) still describes the old spec; then the rollout moves one step every ``step_s``:
surge pods of the new revision start, old pods are marked terminating (``deletionTimestamp``)
and disappear a step later, within ``maxSurge``/``maxUnavailable`` (``rollout.py``; rolling
update as kubernetes/kubernetes ``pkg/controller/deployment/rolling.go`` does it: scale up the
new ReplicaSet within the surge, remove unhealthy old pods first, then old pods while the
minimum stays available). With no progress for ``progressDeadlineSeconds`` x ``deadline_scale``
the rollout is marked ``ProgressDeadlineExceeded``.

A Deployment named in ``unready`` has the pods of its current revision waiting with the given
reason (``ImagePullBackOff`` for new ones, ``CrashLoopBackOff`` for running ones that crash), as
the kubelet reports them; its older revision's pods keep running.
"""

from __future__ import annotations

import copy
import hashlib
import threading
import time
import uuid
from typing import Any

from standins.kubeapi import rollout
from standins.kubeapi.resources import Resource, by_kind
from standins.kubeapi.store import Obj, Store, now

PODS = by_kind("Pod")
DEPLOYMENTS = by_kind("Deployment")
REVISION = "deployment.kubernetes.io/revision"


class DeploymentController:
    def __init__(self, store: Store, ready_delay_s: float = 0.0, lag_s: float = 0.0, step_s: float = 0.0,
                 deadline_scale: float = 1.0) -> None:
        self.store = store
        self.ready_delay_s, self.lag_s, self.step_s, self.deadline_scale = ready_delay_s, lag_s, step_s, deadline_scale
        self.unready: dict[tuple[str, str], tuple[str, str, str]] = {}
        """(namespace, name) -> (reason, message, image or "" for any) for containers that never start."""
        self._noticed: dict[tuple[str, str], float] = {}
        """When the controller will notice the current generation (lagging mode)."""
        self._progress: dict[tuple[str, str], float] = {}
        """When each rollout last made progress (for the deadline)."""
        self._ready_at: dict[str, float] = {}
        self._revisions: dict[tuple[str, str], dict[str, int]] = {}
        """Template hash -> revision, per Deployment (its ReplicaSets)."""
        self._stop = threading.Event()
        store.on_write.append(self._on_write)
        store.on_delete.append(self._on_delete)
        if self.lagging:
            threading.Thread(target=self._run, name="kubeapi-controller", daemon=True).start()

    @property
    def lagging(self) -> bool:
        return self.lag_s > 0 or self.step_s > 0

    def stop(self) -> None:
        self._stop.set()

    def set_unready(self, namespace: str, name: str, reason: str = "ImagePullBackOff",
                    message: str = "Back-off pulling image", image: str = "") -> None:
        """Pods of ``name`` (only those running ``image``, if given) wait with ``reason``."""
        self.unready[(namespace, name)] = (reason, message, image)
        self.resync(namespace, name)

    def set_ready(self, namespace: str, name: str) -> None:
        self.unready.pop((namespace, name), None)
        self.resync(namespace, name)

    def resync(self, namespace: str, name: str) -> None:
        with self.store.lock:
            if ("apps", "deployments", namespace, name) in self.store.objects:
                self._reconcile(namespace, name)

    # -- driving ------------------------------------------------------------------------
    def _on_write(self, res: Resource, obj: Obj) -> None:
        if res.kind != "Deployment":
            return
        key = (obj["metadata"]["namespace"], obj["metadata"]["name"])
        if self.lagging:
            self._noticed.setdefault(key, time.monotonic() + self.lag_s)
        else:
            self._reconcile(*key)

    def _on_delete(self, res: Resource, obj: Obj) -> None:
        # The garbage collector removes a deleted Deployment's ReplicaSets and their pods.
        if res.kind == "Deployment" and not obj["metadata"].get("deletionTimestamp"):
            key = (obj["metadata"]["namespace"], obj["metadata"]["name"])
            for pod in self._pods(*key) + self._pods(*key, terminating=True):
                self.store.drop_raw(PODS, key[0], pod["metadata"]["name"])
            self._revisions.pop(key, None)
            self._noticed.pop(key, None)

    def _run(self) -> None:
        tick = max(0.01, min(x for x in (self.lag_s, self.step_s) if x > 0) / 4)
        last_step = time.monotonic()
        while not self._stop.wait(tick):
            stepping = time.monotonic() - last_step >= self.step_s
            if stepping:
                last_step = time.monotonic()
            with self.store.lock:
                for key in [(k[2], k[3]) for k in self.store.objects if k[:2] == ("apps", "deployments")]:
                    noticed = self._noticed.get(key)
                    if noticed is not None and time.monotonic() >= noticed:
                        del self._noticed[key]
                        self._reconcile(*key, steps=1)
                    elif noticed is None and stepping:
                        self._reconcile(*key, steps=1)

    # -- one reconcile ------------------------------------------------------------------
    def _reconcile(self, namespace: str, name: str, steps: int = 50) -> None:
        """Observe the Deployment and advance its rollout ``steps`` times (until it settles)."""
        key = (namespace, name)
        deployment = self.store.objects.get(("apps", "deployments", namespace, name))
        if deployment is None or (self.lagging and key in self._noticed):
            return
        spec = deployment.get("spec") or {}
        current = rollout.template_hash(spec.get("template") or {})
        rs_name = f"{name}-{current}"
        progressing = self._observe(deployment, current, rs_name)
        for _ in range(steps):
            if not self._step(deployment, current):
                break
            progressing = ("True", "ReplicaSetUpdated", f'ReplicaSet "{rs_name}" is progressing.')
            self._progress[key] = time.monotonic()
        counts = self._counts(namespace, name, current)
        if rollout.complete(deployment, counts):
            progressing = ("True", "NewReplicaSetAvailable", f'ReplicaSet "{rs_name}" has successfully progressed.')
        elif progressing is None:
            deadline = int(spec.get("progressDeadlineSeconds", 600)) * self.deadline_scale
            since = self._progress.setdefault(key, time.monotonic())
            kept = next((c for c in (deployment.get("status") or {}).get("conditions") or []
                         if c.get("type") == "Progressing"), None)
            if time.monotonic() - since > deadline:
                progressing = ("False", "ProgressDeadlineExceeded", f'ReplicaSet "{rs_name}" has timed out progressing.')
            elif kept is not None:
                progressing = (kept["status"], kept["reason"], kept["message"])
            else:
                progressing = ("True", "ReplicaSetUpdated", f'ReplicaSet "{rs_name}" is progressing.')
        status = rollout.status_for(deployment, counts, progressing, now())
        if status != deployment.get("status"):
            self.store.put_status("Deployment", namespace, name, status)

    def _observe(self, deployment: Obj, current: str, rs_name: str) -> tuple[str, str, str] | None:
        """A template the controller has not seen yet gets a new ReplicaSet and the next revision,
        recorded in the Deployment's ``deployment.kubernetes.io/revision`` annotation."""
        meta = deployment["metadata"]
        seen = self._revisions.setdefault((meta["namespace"], meta["name"]), {})
        if current in seen:
            return None
        seen[current] = max(seen.values(), default=0) + 1
        updated = copy.deepcopy(deployment)
        updated["metadata"].setdefault("annotations", {})[REVISION] = str(seen[current])
        self.store.put_raw(DEPLOYMENTS, updated)
        deployment["metadata"] = updated["metadata"]
        self._progress[(meta["namespace"], meta["name"])] = time.monotonic()
        return ("True", "NewReplicaSetCreated", f'Created new replica set "{rs_name}"')

    def _step(self, deployment: Obj, current: str) -> bool:
        """One move of the rolling update; False if nothing could move."""
        meta, spec = deployment["metadata"], deployment.get("spec") or {}
        namespace, name = meta["namespace"], meta["name"]
        moved = False
        for pod in self._pods(namespace, name, terminating=True):
            self.store.drop_raw(PODS, namespace, pod["metadata"]["name"])  # its grace period is over
            moved = True
        for pod in self._pods(namespace, name):
            moved |= self._kubelet(pod, current, (namespace, name))
        desired = int(spec.get("replicas", 1))
        surge, unavailable = rollout.fenceposts(deployment)
        counts = self._counts(namespace, name, current)
        pods = self._pods(namespace, name)
        new = [p for p in pods if _hash(p) == current]
        old = [p for p in pods if _hash(p) != current]
        if counts.new < desired and counts.replicas < desired + surge:
            for _ in range(min(desired - counts.new, desired + surge - counts.replicas)):
                self._create_pod(deployment, current)
            return True
        if counts.new > desired:
            self._terminate(new[: counts.new - desired])
            return True
        unhealthy = [p for p in old if not _ready(p)]
        if unhealthy:
            self._terminate(unhealthy)
            return True
        removable = counts.ready - (desired - unavailable)
        healthy_old = [p for p in old if _ready(p)]
        if removable > 0 and healthy_old:
            self._terminate(healthy_old[:removable])
            return True
        return moved

    def _kubelet(self, pod: Obj, current: str, owner: tuple[str, str]) -> bool:
        """The current revision's pods start when their time has come, and stop being ready while
        the Deployment is marked unready (a crash loop); True if a pod became ready."""
        if _hash(pod) != current:
            return False
        problem = self._problem(pod, owner)
        if problem is None and _ready(pod):
            return False
        if problem is None and time.monotonic() < self._ready_at.get(pod["metadata"]["name"], 0.0):
            problem = ("ContainerCreating", "")
        before = copy.deepcopy(pod.get("status"))
        pod["status"] = _pod_status(pod, problem)
        if pod["status"] == before:
            return False
        self.store.put_raw(PODS, pod)
        return problem is None

    # -- pods ---------------------------------------------------------------------------
    def _pods(self, namespace: str, name: str, terminating: bool = False) -> list[Obj]:
        found = []
        for (group, plural, ns, _pod), obj in list(self.store.objects.items()):
            if (group, plural, ns) != ("", "pods", namespace):
                continue
            owner = (obj["metadata"].get("ownerReferences") or [{}])[0].get("name", "")
            if owner.rsplit("-", 1)[0] == name and bool(obj["metadata"].get("deletionTimestamp")) == terminating:
                found.append(obj)
        return sorted(found, key=lambda p: p["metadata"]["name"])

    def _counts(self, namespace: str, name: str, current: str) -> rollout.Counts:
        pods = self._pods(namespace, name)
        new = [p for p in pods if _hash(p) == current]
        old = [p for p in pods if _hash(p) != current]
        return rollout.Counts(len(new), sum(map(_ready, new)), len(old), sum(map(_ready, old)))

    def _create_pod(self, deployment: Obj, current: str) -> None:
        meta = deployment["metadata"]
        template = (deployment.get("spec") or {}).get("template") or {}
        name = f"{meta['name']}-{current}-{uuid.uuid4().hex[:5]}"
        pod: Obj = {"apiVersion": "v1", "kind": "Pod",
                    "metadata": {"name": name, "namespace": meta["namespace"],
                                 "labels": {**((template.get("metadata") or {}).get("labels") or {}),
                                            "pod-template-hash": current},
                                 "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                                                      "name": f"{meta['name']}-{current}", "controller": True,
                                                      "blockOwnerDeletion": True, "uid": str(uuid.uuid4())}]},
                    "spec": copy.deepcopy(template.get("spec") or {})}
        self._ready_at[name] = time.monotonic() + self.ready_delay_s
        if self.ready_delay_s > 0 and not self.lagging:
            timer = threading.Timer(self.ready_delay_s + 0.01, self.resync, (meta["namespace"], meta["name"]))
            timer.daemon = True
            timer.start()
        pod["status"] = _pod_status(pod, self._problem(pod, (meta["namespace"], meta["name"])) or
                                    ("ContainerCreating", ""))
        self.store.put_raw(PODS, pod)

    def _problem(self, pod: Obj, owner: tuple[str, str]) -> tuple[str, str] | None:
        found = self.unready.get(owner)
        if found is None:
            return None
        reason, message, image = found
        images = [c.get("image") for c in (pod.get("spec") or {}).get("containers") or []]
        return (reason, message) if not image or image in images else None

    def _terminate(self, pods: list[Obj]) -> None:
        for pod in pods:
            if self.lagging:
                pod["metadata"]["deletionTimestamp"] = now()
                pod["metadata"]["deletionGracePeriodSeconds"] = 30
                self.store.put_raw(PODS, pod)
            else:
                self.store.drop_raw(PODS, pod["metadata"]["namespace"], pod["metadata"]["name"])


def _hash(pod: Obj) -> str:
    return str((pod["metadata"].get("labels") or {}).get("pod-template-hash", ""))


def _ready(pod: Obj) -> bool:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    return bool(statuses) and all(c.get("ready") for c in statuses)


def _pod_status(pod: Obj, problem: tuple[str, str] | None) -> Obj:
    containers = (pod.get("spec") or {}).get("containers") or [{"name": "main"}]
    state: dict[str, Any] = ({"running": {"startedAt": now()}} if problem is None else
                             {"waiting": {"reason": problem[0], **({"message": problem[1]} if problem[1] else {})}})
    ready = "True" if problem is None else "False"
    return {"phase": "Running" if problem is None else "Pending",
            "conditions": [{"type": "Ready", "status": ready}, {"type": "ContainersReady", "status": ready}],
            # image, imageID, name, ready and restartCount are required in ContainerStatus; the
            # kubelet sends imageID "" until the image is pulled.
            "containerStatuses": [{"name": c.get("name", "main"), "ready": problem is None, "restartCount": 0,
                                   "image": c.get("image", ""), "started": problem is None, "state": state,
                                   "imageID": "sha256:" + hashlib.sha256(str(c.get("image")).encode()).hexdigest()
                                   if problem is None else ""} for c in containers]}
