"""Injected faults look like the real server's: APF's 429, 503 with Retry-After, and Lease races.

Aspects: a 429 is API Priority and Fairness' answer (plain text, ``Retry-After`` header, no
Status) and fires for ``times`` consecutive matching requests from the ``nth``; a 503 carries
``Retry-After`` and ``details.retryAfterSeconds`` and does nothing; a Lease deleted between a
create that answered 409 and the read that follows gives that read a 404 Status naming the Lease
(the race a lock must survive); an unknown fault action is refused.
"""

from __future__ import annotations

import json

import pytest
from kubernetes import client

from standins.kubeapi.resources import by_kind
from tests.standins.kubeapi.conftest import Cluster, status_of

LEASE = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "lock"},
         "spec": {"holderIdentity": "a", "leaseDurationSeconds": 30}}


def test_429_is_apfs_plain_answer_with_retry_after(cluster: Cluster) -> None:
    cluster.api.fault("GET", r"/namespaces/demo$", nth=2, action="429", times=2, retry_after=3)
    assert cluster.http("GET", "/api/v1/namespaces/demo")[0] == 200
    for _ in range(2):
        code, headers, body = cluster.http("GET", "/api/v1/namespaces/demo")
        assert (code, body) == (429, b"Too many requests, please try again later.\n")
        assert headers["Retry-After"] == "3" and headers["Content-Type"].startswith("text/plain")
    assert cluster.http("GET", "/api/v1/namespaces/demo")[0] == 200


def test_503_carries_retry_after_in_header_and_status(cluster: Cluster) -> None:
    cluster.api.fault("POST", r"/leases$", action="503", retry_after=4)
    code, headers, body = cluster.http("POST", "/apis/coordination.k8s.io/v1/namespaces/demo/leases", LEASE)
    status = json.loads(body)
    assert code == 503 and headers["Retry-After"] == "4"
    assert status["reason"] == "ServiceUnavailable" and status["details"]["retryAfterSeconds"] == 4
    assert ("coordination.k8s.io", "leases", "demo", "lock") not in cluster.api.store.objects  # nothing done


def test_lease_deleted_between_409_and_read(cluster: Cluster) -> None:
    cluster.coordination.create_namespaced_lease("demo", LEASE)

    def holder_releases() -> None:
        cluster.api.store.delete(by_kind("Lease"), "demo", "lock")

    cluster.api.fault("GET", r"/leases/lock$", action="call", callback=holder_releases)
    with pytest.raises(client.ApiException) as taken:
        cluster.coordination.create_namespaced_lease("demo", LEASE)
    assert taken.value.status == 409 and status_of(taken.value)["reason"] == "AlreadyExists"
    with pytest.raises(client.ApiException) as vanished:
        cluster.coordination.read_namespaced_lease("lock", "demo")
    assert vanished.value.status == 404
    assert status_of(vanished.value)["details"] == {"name": "lock", "group": "coordination.k8s.io", "kind": "leases"}
    assert cluster.coordination.create_namespaced_lease_with_http_info("demo", LEASE)[1] == 201


def test_unknown_fault_actions_are_refused(cluster: Cluster) -> None:
    with pytest.raises(ValueError, match="unknown fault action"):
        cluster.api.fault("GET", "/", action="404")
