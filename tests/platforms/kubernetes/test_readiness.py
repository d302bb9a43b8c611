"""When a colour counts as available, and the reasons given when it is not.

Aspects (``kubectl rollout status``'s rule, in its order): available only when the controller has
seen the current spec (observedGeneration) and every desired replica is updated and available
with no surplus old pods (a Deployment that still reports the old ReplicaSet's pods as available
is not ready for traffic), with kubectl's messages; zero replicas never counts as available (no
pod would serve); a progress deadline counts only once the current spec was observed (a stale
one from an earlier rollout is not a failure); pod reasons name the pod and the waiting/terminated
reason with its message, or the phase and the scheduler's message, and skip pods being deleted.
"""

from __future__ import annotations

from typing import Any

import pytest

from pipeline_steps.platforms.kubernetes.readiness import colour_state, deadline_exceeded, is_available, pod_reasons, rollout


def deployment(generation: int = 2, desired: int = 3, **status: Any) -> dict[str, Any]:
    return {"metadata": {"name": "carts-green", "generation": generation},
            "spec": {"replicas": desired, "template": {"spec": {"containers": [{"image": "reg:5000/carts:2"}]}}},
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


@pytest.mark.parametrize(("status", "message"), [
    ({**DONE, "observedGeneration": 1}, "waiting for the deployment spec update to be observed"),
    ({**DONE, "updatedReplicas": 2}, "2 out of 3 new replicas have been updated"),
    ({**DONE, "replicas": 4}, "1 old replicas are pending termination"),
    ({**DONE, "availableReplicas": 2}, "2 of 3 updated replicas are available"),
    (DONE, "3 of 3 replicas available"),
])
def test_messages_are_kubectls(status: dict[str, Any], message: str) -> None:
    assert rollout(deployment(**status)).message == message


def test_zero_replicas_never_serve_and_colour_state() -> None:
    """Scaled to 0 is "rolled out" for kubectl, but 100 % of the traffic to it is an outage."""
    zero = deployment(desired=0, observedGeneration=2, conditions=[
        {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"}])
    assert not is_available(zero) and "no pod would serve" in rollout(zero).message
    assert not is_available(deployment(desired=0, observedGeneration=1))
    state = colour_state(deployment(**{**DONE, "readyReplicas": 2, "availableReplicas": 2}), "green")
    assert (state.image, state.tag, state.ready, state.desired, state.available) == ("reg:5000/carts", "2", 2, 3, False)
    assert state.reasons == ("2 of 3 updated replicas are available",)


def test_deadline_counts_only_for_the_observed_spec_and_pod_reasons() -> None:
    timed_out = [{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
                  "message": 'ReplicaSet "carts-green-1" has timed out progressing.'}]
    stuck = deployment(observedGeneration=2, conditions=timed_out)
    assert deadline_exceeded(stuck) == ("deployment 'carts-green' exceeded its progress deadline: "
                                        'ReplicaSet "carts-green-1" has timed out progressing.')
    assert rollout(stuck).failed and not is_available(stuck)
    stale = deployment(**{**DONE, "observedGeneration": 1}, conditions=timed_out)  # from the previous rollout
    assert deadline_exceeded(stale) == "" and not rollout(stale).failed
    assert deadline_exceeded(deployment(**DONE)) == ""
    pods = [
        {"metadata": {"name": "p1"}, "status": {"phase": "Running", "containerStatuses": [
            {"ready": False, "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 10s"}}}]}},
        {"metadata": {"name": "p2"}, "status": {"phase": "Running", "containerStatuses": [
            {"ready": False, "state": {"terminated": {"reason": "OOMKilled"}}}]}},
        {"metadata": {"name": "p3"}, "status": {"phase": "Pending", "conditions": [
            {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "0/3 nodes: Insufficient cpu"}]}},
        {"metadata": {"name": "p4"}, "status": {"phase": "Running", "containerStatuses": [{"ready": True, "state": {}}]}},
        {"metadata": {"name": "p5", "deletionTimestamp": "2026-01-01T00:00:00Z"}, "status": {
            "phase": "Running", "containerStatuses": [{"ready": False, "state": {"terminated": {"reason": "Completed"}}}]}},
    ]
    assert pod_reasons(pods) == ("p1: CrashLoopBackOff (back-off 10s)", "p2: OOMKilled",
                                 "p3: Pending (0/3 nodes: Insufficient cpu)")
