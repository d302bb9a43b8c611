"""The Platform contract: every platform passes the same checks, through the Protocol only.

Aspects: an undeployed service has no colours and no weights; the first blue/green apply
creates both colours with 100/0 to the applied colour; apply never changes existing weights;
set_weights is verified, idempotent and leaves another service's route alone; weight to an
unavailable colour is refused and nothing changes; marks show in status and clear; the lock
refuses a second holder and frees on exit; endpoints are URLs; direct deploys one unit without
weights; the deploy step and rollback run unchanged on the platform.

Adding a platform is one line in ``SUBJECTS``: a name and a factory (a context manager taking
``tmp_path`` and yielding a ``Subject``). ``fake`` keeps ``tests/fakes.py`` honest.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from pipeline_steps.documents.context import StageContext
from pipeline_steps.documents.deployment import read_record
from pipeline_steps.documents.service import ServiceSpec
from pipeline_steps.documents.weights import Weights
from pipeline_steps.errors import ConflictError, NotReadyError
from pipeline_steps.platforms.base import Platform
from pipeline_steps.steps.deploy import deploy
from pipeline_steps.steps.traffic import rollback


@dataclass
class Subject:
    """A platform under test plus what the contract needs to drive it."""

    platform: Platform
    service: Callable[[str], ServiceSpec]
    """service.yaml for a service name (the local platform needs a real command)."""
    image: str
    """``ctx.image`` that runs on this platform; tags ``1``, ``2``, ``3`` must be deployable."""
    break_colour: Callable[[StageContext, str, str], None]
    """Make a deployed colour unavailable with a reason (pods crash, process dies)."""
    ready_timeout_s: float = 20.0


# name -> "module:factory". One line per platform.
SUBJECTS: dict[str, str] = {
    "fake": "tests.platforms.test_contract:fake_subject",
    "kubernetes": "tests.platforms.test_contract:kubernetes_subject",
    "local": "tests.platforms.local.contract:local_subject",
}


@contextmanager
def fake_subject(tmp_path: Path) -> Iterator[Subject]:
    from tests.fakes import FakePlatform

    fake = FakePlatform()
    yield Subject(platform=fake, service=ServiceSpec.minimal, image="repo/app",
                  break_colour=lambda ctx, colour, reason: fake.break_colour(ctx, colour, reason))


@contextmanager
def kubernetes_subject(tmp_path: Path) -> Iterator[Subject]:
    from pipeline_steps.platforms.kubernetes.client import Kube, api_client
    from pipeline_steps.platforms.kubernetes.platform import KubernetesPlatform
    from standins.kubeapi import KubeApiStandIn, write_kubeconfig

    with KubeApiStandIn() as api:
        kubeconfig = write_kubeconfig(api.url, tmp_path / "kubeconfig")
        platform = KubernetesPlatform(Kube(api_client(str(kubeconfig), None), timeout_s=2.0), poll_s=0.05)

        def break_colour(ctx: StageContext, colour: str, reason: str) -> None:
            api.deployments.set_unready(ctx.namespace, f"{ctx.service}-{colour}", reason, "")

        yield Subject(platform=platform, service=ServiceSpec.minimal, image="repo/app", break_colour=break_colour)


@pytest.fixture(params=sorted(SUBJECTS))
def subject(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Subject]:
    module, attr = SUBJECTS[request.param].split(":")
    factory: Callable[[Path], AbstractContextManager[Subject]] = getattr(importlib.import_module(module), attr)
    with factory(tmp_path) as made:
        yield made


def ctx(subject: Subject, tag: str = "1", service: str = "app", strategy: str = "blue_green_service") -> StageContext:
    return StageContext(project="contract", stage="dev", service=service, image=subject.image, tag=tag,
                        deployment_strategy=strategy)


def test_undeployed_service_has_nothing(subject: Subject) -> None:
    status = subject.platform.status(ctx(subject))
    assert not status.deployed and status.weights is None and status.live is None


def test_first_apply_creates_both_colours_routed_to_it(subject: Subject) -> None:
    p, c = subject.platform, ctx(subject)
    p.apply(c, "blue", subject.service(c.service))
    for colour in ("blue", "green"):
        state = p.wait_available(c, colour, subject.ready_timeout_s)
        assert state.available and state.tag == "1" and state.colour == colour
    status = p.status(c)
    assert status.weights == Weights(100, 0) and status.live == "blue"
    assert {s.colour for s in status.colours} == {"blue", "green"}


def test_apply_keeps_weights_and_set_weights_is_verified_and_scoped(subject: Subject) -> None:
    p = subject.platform
    first, other = ctx(subject), ctx(subject, service="other")
    for c in (first, other):
        p.apply(c, "blue", subject.service(c.service))
        p.wait_available(c, "green", subject.ready_timeout_s)
    v2 = ctx(subject, tag="2")
    p.apply(v2, "green", subject.service(v2.service))
    p.wait_available(v2, "green", subject.ready_timeout_s)
    assert p.status(v2).weights == Weights(100, 0)
    assert p.set_weights(v2, Weights(20, 80)) == Weights(20, 80)
    assert p.set_weights(v2, Weights(20, 80)) == Weights(20, 80)
    assert p.status(v2).weights == Weights(20, 80)
    assert p.status(other).weights == Weights(100, 0)
    assert p.status(v2).colour("green").tag == "2"  # type: ignore[union-attr]


def test_unavailable_colour_gets_no_traffic(subject: Subject) -> None:
    p, c = subject.platform, ctx(subject)
    p.apply(c, "blue", subject.service(c.service))
    p.wait_available(c, "green", subject.ready_timeout_s)
    subject.break_colour(c, "green", "CrashLoopBackOff")
    with pytest.raises(NotReadyError):
        p.set_weights(c, Weights(0, 100))
    assert p.status(c).weights == Weights(100, 0)
    green = p.status(c).colour("green")
    assert green is not None and not green.available


def test_marks_lock_endpoints(subject: Subject) -> None:
    p, c = subject.platform, ctx(subject)
    p.apply(c, "blue", subject.service(c.service))
    p.wait_available(c, "blue", subject.ready_timeout_s)
    p.mark(c, "blue", "failed")
    assert p.status(c).colour("blue").mark == "failed"  # type: ignore[union-attr]
    p.mark(c, "blue", "")
    assert p.status(c).colour("blue").mark == ""  # type: ignore[union-attr]
    with p.lock(c, "one"), pytest.raises(ConflictError), p.lock(c, "two"):
        pass
    with p.lock(c, "two"):
        pass
    endpoints = p.endpoints(c)
    assert endpoints.public_url.startswith("http") and endpoints.internal_url.startswith("http")
    assert set(endpoints.colour_urls) == {"blue", "green"}


def test_direct_is_one_unit_without_weights(subject: Subject) -> None:
    p, c = subject.platform, ctx(subject, strategy="direct")
    p.apply(c, None, subject.service(c.service))
    assert p.wait_available(c, None, subject.ready_timeout_s).available
    status = p.status(c)
    assert [s.colour for s in status.colours] == [""] and status.weights is None


def test_deploy_step_and_rollback_run_unchanged(subject: Subject, tmp_path: Path) -> None:
    p = subject.platform
    service = subject.service("app")
    deploy(p, ctx(subject, "1"), service, tmp_path / "d1.json")
    record = deploy(p, ctx(subject, "2"), service, tmp_path / "d2.json")
    assert record.weights_after == Weights(0, 100) and p.status(ctx(subject)).live == "green"
    rollback(p, ctx(subject), read_record(tmp_path / "d2.json"))
    assert p.status(ctx(subject)).live == "blue"
