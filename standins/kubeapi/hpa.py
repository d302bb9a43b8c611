"""A HorizontalPodAutoscaler controller: the replica count of a Deployment an HPA targets is its.

What matters to a client that also writes the Deployment (kubernetes/kubernetes
``pkg/controller/podautoscaler/horizontal.go``; docs
https://kubernetes.io/docs/tasks/run-application/horizontal-pod-autoscale/#migrating-deployments-and-statefulsets-to-horizontal-autoscaling):
the HPA sets ``spec.replicas`` of its ``scaleTargetRef`` through the scale subresource, within
``minReplicas`` (default 1) and ``maxReplicas``, to what its metrics recommend; a manifest that
also sets ``spec.replicas`` makes every apply reset the count, pods are killed and the HPA scales
back up ``lag_s`` later. Here a test sets the recommendation (``recommend``) instead of metrics;
without one the HPA keeps the current count within its bounds. ``status.currentReplicas`` and
``desiredReplicas`` say what it decided.
"""

from __future__ import annotations

import threading

from standins.kubeapi.resources import Resource, by_kind
from standins.kubeapi.store import Obj, Store

DEPLOYMENTS = by_kind("Deployment")


class HpaController:
    def __init__(self, store: Store, lag_s: float = 0.0) -> None:
        self.store = store
        self.lag_s = lag_s
        self.recommendations: dict[tuple[str, str], int] = {}
        """(namespace, hpa name) -> replicas the metrics ask for."""
        store.on_write.append(self._on_write)

    def recommend(self, namespace: str, hpa: str, replicas: int) -> None:
        self.recommendations[(namespace, hpa)] = replicas
        self._sync(namespace, hpa)

    def _on_write(self, res: Resource, obj: Obj) -> None:
        namespace = obj["metadata"].get("namespace", "")
        if res.kind == "HorizontalPodAutoscaler":
            targets = [obj["metadata"]["name"]]
        elif res.kind == "Deployment":
            targets = [k[3] for k, hpa in list(self.store.objects.items())
                       if k[:3] == ("autoscaling", "horizontalpodautoscalers", namespace)
                       and _target(hpa) == obj["metadata"]["name"]]
        else:
            return
        for name in targets:
            if self.lag_s > 0:
                timer = threading.Timer(self.lag_s, self._sync, (namespace, name))
                timer.daemon = True
                timer.start()
            else:
                self._sync(namespace, name)

    def _sync(self, namespace: str, name: str) -> None:
        with self.store.lock:
            hpa = self.store.objects.get(("autoscaling", "horizontalpodautoscalers", namespace, name))
            if hpa is None:
                return
            target = self.store.objects.get(("apps", "deployments", namespace, _target(hpa)))
            if target is None:
                return
            spec = hpa.get("spec") or {}
            current = int((target.get("spec") or {}).get("replicas", 1))
            wanted = self.recommendations.get((namespace, name), current)
            desired = max(int(spec.get("minReplicas", 1)), min(int(spec.get("maxReplicas", wanted)), wanted))
            if desired != current:
                self.store.update(DEPLOYMENTS, namespace, _target(hpa), "v1", "", lambda d: {
                    **d, "metadata": {**d["metadata"], "resourceVersion": ""},
                    "spec": {**d["spec"], "replicas": desired}})
            status = {"currentReplicas": current, "desiredReplicas": desired}
            if (hpa.get("status") or {}) != status:
                self.store.put_status("HorizontalPodAutoscaler", namespace, name, status)


def _target(hpa: Obj) -> str:
    ref = (hpa.get("spec") or {}).get("scaleTargetRef") or {}
    return str(ref.get("name", "")) if ref.get("kind") == "Deployment" else ""
