"""When a colour counts as available, and the reasons given when it is not.

Aspects: available only when the controller has seen the current spec (observedGeneration) and
every desired replica is updated and available with no surplus old pods (a Deployment that
still reports the old ReplicaSet's pods as available is not ready for traffic); zero replicas
is available once observed; a progress deadline is reported; pod reasons name the pod and the
waiting/terminated reason with its message, or the phase and the scheduler's message.
"""

from __future__ import annotations

from typing import Any

import pytest

from pipeline_steps.platforms.kubernetes.readiness import colour_state, deadline_exceeded, is_available, pod_reasons


def deployment(generation: int = 2, replicas: int = 3, **status: Any) -> dict[str, Any]:
    return {"metadata": {"name": "carts-green", "generation": generation},
            "spec": {"replicas": replicas, "template": {"spec": {"containers": [{"image": "reg:5000/carts:2"}]}}},
            "status": status}


DONE = {"observedGeneration": 2, "replicas": 3, "updatedReplicas": 3, "readyReplicas": 3, "availableReplicas": 3}


@pytest.mark.parametrize(("status", "available"), [
    (DONE, True),
    ({**DONE, "observedGeneration": 1}, False),  # old spec's pods all available: not the new version yet
    ({**DONE, "updatedReplicas": 2}, False),  # one replica still runs the old template
    ({**DONE, "availableReplicas": 2}, False),
    ({**DONE, "replicas": 4}, False),  # a surplus old pod still takes traffic through the subset
    ({}, False),  # no status yet
])
def test_is_available(status: dict[str, Any], available: bool) -> None:
    assert is_available(deployment(**status)) is available


def test_zero_replicas_and_colour_state() -> None:
    assert is_available(deployment(replicas=0, observedGeneration=2))
    assert not is_available(deployment(replicas=0, observedGeneration=1))
    state = colour_state(deployment(**{**DONE, "readyReplicas": 2, "availableReplicas": 2}), "green")
    assert (state.image, state.tag, state.ready, state.desired, state.available) == ("reg:5000/carts", "2", 2, 3, False)


def test_deadline_and_pod_reasons() -> None:
    stuck = deployment(conditions=[{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
                                    "message": 'ReplicaSet "carts-green-1" has timed out progressing.'}])
    assert deadline_exceeded(stuck) == 'ReplicaSet "carts-green-1" has timed out progressing.'
    assert deadline_exceeded(deployment(**DONE)) == ""
    pods = [
        {"metadata": {"name": "p1"}, "status": {"phase": "Running", "containerStatuses": [
            {"ready": False, "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 10s"}}}]}},
        {"metadata": {"name": "p2"}, "status": {"phase": "Running", "containerStatuses": [
            {"ready": False, "state": {"terminated": {"reason": "OOMKilled"}}}]}},
        {"metadata": {"name": "p3"}, "status": {"phase": "Pending", "conditions": [
            {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "0/3 nodes: Insufficient cpu"}]}},
        {"metadata": {"name": "p4"}, "status": {"phase": "Running", "containerStatuses": [{"ready": True, "state": {}}]}},
    ]
    assert pod_reasons(pods) == ("p1: CrashLoopBackOff (back-off 10s)", "p2: OOMKilled",
                                 "p3: Pending (0/3 nodes: Insufficient cpu)")
