"""A Kubernetes Lease (coordination.k8s.io/v1) per service and stage: one pipeline flips at a time.

Two Jenkins builds of the same service must not interleave "read live colour, deploy, flip".
The lock is the Lease ``<service>-pipeline-steps`` in the stage's namespace: creating it takes
the lock; a Lease held by someone else whose ``renewTime + leaseDurationSeconds`` has passed is
stale (its build died) and is taken over with a replace guarded by its resourceVersion, so two
takers cannot both win. Release deletes it only if we still hold it (a delete guarded the same way).

Between our create (409: someone holds it) and our read, the holder may release it (404 naming
the Lease), and between the read and a take-over it may go too: both mean "free now", so the
acquisition starts over (a few times) instead of failing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from pipeline_steps.documents.context import StageContext
from pipeline_steps.errors import ConflictError
from pipeline_steps.platforms.kubernetes.client import BACKEND, Kube, KubeApiError


def lease_name(ctx: StageContext) -> str:
    return f"{ctx.service}-pipeline-steps"


def _micro(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse(text: Any) -> dt.datetime | None:
    """RFC 3339 as the API server writes MicroTime (``...Z``) or the client re-serialises it (``+00:00``)."""
    if not isinstance(text, str) or not text:
        return None
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)


def _body(ctx: StageContext, holder: str, ttl_s: float, now: dt.datetime, transitions: int = 0) -> dict[str, Any]:
    return {
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": lease_name(ctx), "namespace": ctx.namespace,
                     "labels": {"app.kubernetes.io/name": ctx.service, "app.kubernetes.io/managed-by": "pipeline-steps"}},
        "spec": {"holderIdentity": holder, "leaseDurationSeconds": max(1, int(ttl_s)), "acquireTime": _micro(now),
                 "renewTime": _micro(now), "leaseTransitions": transitions},
    }


@contextmanager
def lease_lock(kube: Kube, ctx: StageContext, holder: str, ttl_s: float) -> Iterator[None]:
    acquire(kube, ctx, holder, ttl_s)
    try:
        yield
    finally:
        release(kube, ctx, holder)


ATTEMPTS = 5


def acquire(kube: Kube, ctx: StageContext, holder: str, ttl_s: float) -> None:
    api, name, ns = kube.coordination, lease_name(ctx), ctx.namespace
    for _ in range(ATTEMPTS):
        now = dt.datetime.now(dt.timezone.utc)
        try:
            kube.call(f"create Lease {name}", api.create_namespaced_lease, ns, _body(ctx, holder, ttl_s, now))
            return
        except KubeApiError as err:
            if err.status != 409:
                raise
        try:
            live = kube.call(f"read Lease {name}", api.read_namespaced_lease, name, ns)
        except KubeApiError as err:
            if err.status == 404 and err.names("leases", name):
                continue  # released between our create and our read: try to create it again
            raise
        if _take_over(kube, ctx, holder, ttl_s, live=live, now=now):
            return
    raise ConflictError(BACKEND, f"{ctx.service} in {ns}: the lock {name} was taken and released {ATTEMPTS} times "
                                 "while we tried to take it; try again")


def _take_over(kube: Kube, ctx: StageContext, holder: str, ttl_s: float, *, live: dict[str, Any],
               now: dt.datetime) -> bool:
    """Take the Lease ``live`` if it is ours or stale; False if it vanished meanwhile."""
    api, name, ns = kube.coordination, lease_name(ctx), ctx.namespace
    spec = live.get("spec") or {}
    current = spec.get("holderIdentity") or ""
    renewed = _parse(spec.get("renewTime")) or _parse(spec.get("acquireTime"))
    expires = renewed + dt.timedelta(seconds=int(spec.get("leaseDurationSeconds") or 0)) if renewed else None
    if current and current != holder and expires is not None and expires > now:
        left = (expires - now).total_seconds()
        raise ConflictError(BACKEND, f"{ctx.service} in {ns} is locked by {current!r} (Lease {name}, expires in "
                                     f"{left:.0f}s); wait for that pipeline or delete the Lease if it is dead")
    body = _body(ctx, holder, ttl_s, now, int(spec.get("leaseTransitions") or 0) + (current != holder))
    body["metadata"]["resourceVersion"] = live["metadata"]["resourceVersion"]
    try:
        kube.call(f"take over Lease {name}", api.replace_namespaced_lease, name, ns, body)
        return True
    except KubeApiError as err:
        if err.status == 409:
            raise ConflictError(BACKEND, f"{ctx.service} in {ns}: another pipeline took the stale lock "
                                         f"{name} at the same moment") from None
        if err.status == 404 and err.names("leases", name):
            return False  # deleted between our read and our replace: free again
        raise


def release(kube: Kube, ctx: StageContext, holder: str) -> None:
    api, name = kube.coordination, lease_name(ctx)
    try:
        live = kube.call(f"read Lease {name}", api.read_namespaced_lease, name, ctx.namespace)
        if (live.get("spec") or {}).get("holderIdentity") == holder:
            # Only the version we just read: if another pipeline took the Lease over in between
            # (ours had expired), the API answers 409 and its lock stays.
            guard = {"preconditions": {"resourceVersion": live["metadata"]["resourceVersion"]}}
            kube.call(f"delete Lease {name}", api.delete_namespaced_lease, name, ctx.namespace, body=guard)
    except KubeApiError:
        # Releasing is best effort: a Lease we fail to delete expires after its ttl.
        pass
