"""Defaults the API server fills in before it stores an object, for the kinds we write.

A client that reads back what it wrote sees these fields, and the Deployment controller hashes
the *defaulted* pod template, so writing the same manifest twice changes nothing. Sources:
kubernetes/kubernetes ``pkg/apis/apps/v1/defaults.go`` (``SetDefaults_Deployment``: replicas 1,
RollingUpdate 25 %/25 %, revisionHistoryLimit 10, progressDeadlineSeconds 600) and
``pkg/apis/core/v1/defaults.go`` (containers: terminationMessagePath/Policy, imagePullPolicy
Always for ``:latest`` or no tag else IfNotPresent, port protocol TCP, probe timings; pod:
restartPolicy Always, terminationGracePeriodSeconds 30, dnsPolicy ClusterFirst; Service: type
ClusterIP, sessionAffinity None, port protocol TCP, targetPort = port; Namespace: the
``kubernetes`` finalizer, ``pkg/registry/core/namespace/strategy.go``).
"""

from __future__ import annotations

from typing import Any

Obj = dict[str, Any]


def _probe(probe: Any) -> None:
    if not isinstance(probe, dict):
        return
    for key, value in (("timeoutSeconds", 1), ("periodSeconds", 10), ("successThreshold", 1), ("failureThreshold", 3)):
        probe.setdefault(key, value)
    if isinstance(probe.get("httpGet"), dict):
        probe["httpGet"].setdefault("scheme", "HTTP")


def _container(container: Any) -> None:
    if not isinstance(container, dict):
        return
    container.setdefault("terminationMessagePath", "/dev/termination-log")
    container.setdefault("terminationMessagePolicy", "File")
    image = str(container.get("image") or "")
    tagged = ":" in image.rsplit("/", 1)[-1] or "@" in image
    latest = not tagged or image.endswith(":latest")
    container.setdefault("imagePullPolicy", "Always" if latest else "IfNotPresent")
    for port in container.get("ports") or []:
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")
    for key in ("readinessProbe", "livenessProbe", "startupProbe"):
        _probe(container.get(key))


def _pod_spec(spec: Any) -> None:
    if not isinstance(spec, dict):
        return
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("securityContext", {})
    for container in spec.get("containers") or []:
        _container(container)


def apply(kind: str, obj: Obj) -> None:
    """Fill in ``obj``'s defaults in place (the main resource, never its status)."""
    spec = obj.get("spec")
    if kind == "Namespace":
        obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
    if not isinstance(spec, dict):
        return
    if kind == "Deployment":
        spec.setdefault("replicas", 1)
        strategy = spec.setdefault("strategy", {"type": "RollingUpdate"})
        if isinstance(strategy, dict) and strategy.get("type", "RollingUpdate") == "RollingUpdate":
            strategy.setdefault("type", "RollingUpdate")
            rolling = strategy.setdefault("rollingUpdate", {})
            rolling.setdefault("maxUnavailable", "25%")
            rolling.setdefault("maxSurge", "25%")
        spec.setdefault("revisionHistoryLimit", 10)
        spec.setdefault("progressDeadlineSeconds", 600)
        _pod_spec((spec.get("template") or {}).get("spec"))
    elif kind == "Service":
        spec.setdefault("type", "ClusterIP")
        spec.setdefault("sessionAffinity", "None")
        spec.setdefault("internalTrafficPolicy", "Cluster")
        for port in spec.get("ports") or []:
            if isinstance(port, dict):
                port.setdefault("protocol", "TCP")
                port.setdefault("targetPort", port.get("port"))
    elif kind == "Pod":
        _pod_spec(spec)
