"""Retries, races and hand edits on every platform: deploy is idempotent, one pipeline acts at a time,
and an invalid split can always be repaired (issue 12.6, 12.7, 12.9).

Aspects, each run on the fake, the local platform (real Envoy, carts processes) and the Kubernetes
API stand-in through the Protocol and the steps:

* ``deploy v1; deploy v2; deploy v2`` leaves v1 in blue: the third deploy changes nothing, says so
  (``applied: false``) and records blue (v1) as what a failed gate restores; the same after a flip
  whose answer was lost and a retry; a live version that is down is refused, not deployed over v1;
  a version already running, available, in the free colour is flipped to without being deployed
  again; a direct deploy of the running version restarts nothing;
* in a stage with tests, a new version is refused (exit 4, nothing changed) while the live colour
  has no verdict and the free colour holds the previous version; after the verdict it goes in;
* evaluation-done, switch and deploy race for one service and stage with the same Jenkins build
  and Keptn context: exactly one acts, the others are refused naming its holder; through the CLI,
  a held lock refuses each of the three with exit 4 naming the holder;
* the route edited out of band to 70/70 (Envoy's runtime, the VirtualService): ``status`` shows what
  it found, ``deploy`` refuses, ``switch`` and ``rollback`` set valid weights again, verified.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from pipeline_steps.documents.context import StageContext
from pipeline_steps.documents.deployment import DeploymentFacts, read_record
from pipeline_steps.documents.shipyard import Stage
from pipeline_steps.documents.vocabulary import Verdict
from pipeline_steps.documents.weights import Weights
from pipeline_steps.errors import ConflictError, InfrastructureError, NotReadyError, PipelineStepsError
from pipeline_steps.platforms.base import Platform, lock_holder
from pipeline_steps.platforms.local import envoy_admin
from pipeline_steps.steps.deploy import DeployOptions, deploy
from pipeline_steps.steps.evaluation_done import evaluation_done
from pipeline_steps.steps.traffic import rollback, switch
from tests.platforms.test_contract import SUBJECTS, Subject

STAGING = Stage("staging", "blue_green_service", "performance")
PRODUCTION = Stage("production", "blue_green_service")


@pytest.fixture(params=sorted(SUBJECTS))
def subject(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Subject]:
    module, attr = SUBJECTS[request.param].split(":")
    factory: Callable[[Path], AbstractContextManager[Subject]] = getattr(importlib.import_module(module), attr)
    with factory(tmp_path) as made:
        yield made


def ctx(subject: Subject, tag: str, tests: str = "", strategy: str = "blue_green_service") -> StageContext:
    return StageContext(project="safety", stage="staging", service="app", image=subject.image, tag=tag,
                        deployment_strategy=strategy, test_strategy=tests)


class Proxy:
    """A platform that records what a step asked for; can lose a flip's answer or hold its lock a while."""

    def __init__(self, inner: Platform, *, lose_flip_answer: bool = False, slow_s: float = 0.0) -> None:
        self.inner, self.lose_flip_answer, self.slow_s = inner, lose_flip_answer, slow_s
        self.calls: list[str] = []
        self.name = inner.name

    def __getattr__(self, attr: str) -> Any:
        self.calls.append(attr)
        return getattr(self.inner, attr)

    @contextmanager
    def lock(self, c: StageContext, holder: str, ttl_s: float = 300.0) -> Iterator[None]:
        with self.inner.lock(c, holder, ttl_s):
            time.sleep(self.slow_s)  # a slow API server: the winner holds the lock while the others arrive
            yield

    def set_weights(self, c: StageContext, weights: Weights) -> Weights:
        self.calls.append("set_weights")
        verified = self.inner.set_weights(c, weights)
        if self.lose_flip_answer:
            raise InfrastructureError(self.name, "the answer to the flip was lost (connection reset)")
        return verified


def tags(subject: Subject, c: StageContext) -> dict[str, str]:
    return {s.colour: s.tag for s in subject.platform.status(c).colours}


def opts(subject: Subject, switch_: bool = True) -> DeployOptions:
    return DeployOptions(switch=switch_, timeout_s=subject.ready_timeout_s)


# -- 12.6: deploy is idempotent ------------------------------------------------------------------

def test_deploying_the_live_version_again_changes_nothing(subject: Subject, tmp_path: Path) -> None:
    p, service = subject.platform, subject.service("app")
    deploy(p, ctx(subject, "1"), service, tmp_path / "d1.json", opts(subject))
    deploy(p, ctx(subject, "2"), service, tmp_path / "d2.json", opts(subject))
    again = Proxy(p)
    record = deploy(again, ctx(subject, "2"), service, tmp_path / "d3.json", opts(subject))  # type: ignore[arg-type]
    assert "apply" not in again.calls and "set_weights" not in again.calls and "mark" not in again.calls
    assert not record.applied and not record.switched and record.colour == "green"
    assert (record.previous_colour, record.weights_before) == ("blue", Weights(100, 0))
    assert tags(subject, ctx(subject, "2")) == {"blue": "1", "green": "2"} and p.status(ctx(subject, "2")).live == "green"
    assert json.loads((tmp_path / "d3.json").read_text())["applied"] is False
    # a failed gate on it restores v1, not v2
    decision = evaluation_done(ctx(subject, "2"), Verdict.FAIL, DeploymentFacts.from_file(tmp_path / "d3.json"), STAGING,
                               PRODUCTION, platform=p)
    assert decision.weights == Weights(100, 0) and p.status(ctx(subject, "2")).live == "blue"
    assert tags(subject, ctx(subject, "2")) == {"blue": "1", "green": "2"}


def test_the_live_version_that_is_down_is_not_deployed_over_the_previous_one(subject: Subject, tmp_path: Path) -> None:
    p, service = subject.platform, subject.service("app")
    deploy(p, ctx(subject, "1"), service, tmp_path / "d1.json", opts(subject))
    deploy(p, ctx(subject, "2"), service, tmp_path / "d2.json", opts(subject))
    subject.break_colour(ctx(subject, "2"), "green", "CrashLoopBackOff")
    with pytest.raises(NotReadyError, match="rollback") as refused:
        deploy(p, ctx(subject, "2"), service, tmp_path / "d3.json", opts(subject))
    assert refused.value.exit_code == 4 and tags(subject, ctx(subject, "2")) == {"blue": "1", "green": "2"}


def test_a_retry_after_a_lost_flip_answer_keeps_the_previous_version(subject: Subject, tmp_path: Path) -> None:
    p, service = subject.platform, subject.service("app")
    deploy(p, ctx(subject, "1"), service, tmp_path / "d1.json", opts(subject))
    with pytest.raises(InfrastructureError, match="rollback --deployment"):
        deploy(Proxy(p, lose_flip_answer=True), ctx(subject, "2"), service, tmp_path / "d2.json",  # type: ignore[arg-type]
               opts(subject))
    assert p.status(ctx(subject, "2")).live == "green"  # the flip landed
    record = deploy(p, ctx(subject, "2"), service, tmp_path / "d2.json", opts(subject))  # the pipeline retries
    assert not record.applied and record.weights_before == Weights(100, 0) and record.previous_colour == "blue"
    assert tags(subject, ctx(subject, "2")) == {"blue": "1", "green": "2"}
    rollback(p, ctx(subject, "2"), read_record(tmp_path / "d2.json"))
    assert p.status(ctx(subject, "2")).live == "blue"


def test_the_version_in_the_free_colour_is_flipped_to_not_deployed_again(subject: Subject, tmp_path: Path) -> None:
    p, service = subject.platform, subject.service("app")
    deploy(p, ctx(subject, "1"), service, tmp_path / "d1.json", opts(subject))
    deploy(p, ctx(subject, "2"), service, tmp_path / "d2.json", opts(subject, switch_=False))  # switch: after_gate
    retry = Proxy(p)
    record = deploy(retry, ctx(subject, "2"), service, tmp_path / "d3.json", opts(subject))  # type: ignore[arg-type]
    assert "apply" not in retry.calls and "wait_available" not in retry.calls
    assert not record.applied and record.switched and record.weights_after == Weights(0, 100)
    assert tags(subject, ctx(subject, "2")) == {"blue": "1", "green": "2"}


def test_a_direct_deploy_of_the_running_version_restarts_nothing(subject: Subject, tmp_path: Path) -> None:
    p, service = subject.platform, subject.service("app")
    deploy(p, ctx(subject, "1", strategy="direct"), service, tmp_path / "d1.json", opts(subject))
    again = Proxy(p)
    record = deploy(again, ctx(subject, "1", strategy="direct"), service, tmp_path / "d2.json", opts(subject))  # type: ignore[arg-type]
    assert "apply" not in again.calls and not record.applied
    assert deploy(p, ctx(subject, "2", strategy="direct"), service, tmp_path / "d3.json", opts(subject)).applied


def test_the_previous_version_stays_until_a_verdict_moves_it(subject: Subject, tmp_path: Path) -> None:
    p, service = subject.platform, subject.service("app")
    deploy(p, ctx(subject, "1", "performance"), service, tmp_path / "d1.json", opts(subject))
    evaluation_done(ctx(subject, "1", "performance"), Verdict.PASS, DeploymentFacts.from_file(tmp_path / "d1.json"),
                    STAGING, PRODUCTION, platform=p)
    deploy(p, ctx(subject, "2", "performance"), service, tmp_path / "d2.json", opts(subject))
    with pytest.raises(ConflictError, match="no verdict yet") as refused:
        deploy(p, ctx(subject, "3", "performance"), service, tmp_path / "d3.json", opts(subject))
    assert refused.value.exit_code == 4
    assert tags(subject, ctx(subject, "3")) == {"blue": "1", "green": "2"} and p.status(ctx(subject, "3")).live == "green"
    evaluation_done(ctx(subject, "2", "performance"), Verdict.PASS, DeploymentFacts.from_file(tmp_path / "d2.json"),
                    STAGING, PRODUCTION, platform=p)
    record = deploy(p, ctx(subject, "3", "performance"), service, tmp_path / "d3.json", opts(subject))
    assert record.colour == "blue" and tags(subject, ctx(subject, "3")) == {"blue": "3", "green": "2"}


# -- 12.7: one pipeline acts at a time --------------------------------------------------------------

def test_evaluation_done_switch_and_deploy_race_and_one_acts(subject: Subject, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    p, service = subject.platform, subject.service("app")
    deploy(p, ctx(subject, "1"), service, tmp_path / "d1.json", opts(subject))
    deploy(p, ctx(subject, "2"), service, tmp_path / "d2.json", opts(subject))
    monkeypatch.setenv("BUILD_TAG", "jenkins-evaluation_done-7")  # one Jenkins build, one Keptn context for all
    c = StageContext(**{**ctx(subject, "2").to_dict(), "keptn_context": "db51be80-4fee-41af-bb53-1b093d2b694c"})
    facts = DeploymentFacts.from_file(tmp_path / "d2.json")
    slow = Proxy(p, slow_s=1.0)
    racers: dict[str, Callable[[], object]] = {
        "evaluation-done pass": lambda: evaluation_done(c, Verdict.PASS, facts, STAGING, PRODUCTION, platform=slow),  # type: ignore[arg-type]
        "evaluation-done fail": lambda: evaluation_done(c, Verdict.FAIL, facts, STAGING, PRODUCTION, platform=slow),  # type: ignore[arg-type]
        "switch": lambda: switch(slow, c, Weights(100, 0)),  # type: ignore[arg-type]
        "deploy": lambda: deploy(slow, StageContext(**{**c.to_dict(), "tag": "3"}), service,  # type: ignore[arg-type]
                                 tmp_path / "d3.json", opts(subject)),
    }
    outcomes: dict[str, BaseException | None] = {}
    start = threading.Barrier(len(racers))

    def race(name: str) -> None:
        start.wait()
        try:
            racers[name]()
            outcomes[name] = None
        except PipelineStepsError as err:
            outcomes[name] = err

    threads = [threading.Thread(target=race, args=(name,)) for name in racers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    acted = [name for name, err in outcomes.items() if err is None]
    refused = [err for err in outcomes.values() if isinstance(err, ConflictError)]
    assert len(acted) == 1 and len(refused) == len(racers) - 1, outcomes
    assert all("jenkins-evaluation_done-7/db51be80" in str(err) for err in refused), refused
    assert all(err.exit_code == 4 for err in refused)


def test_holders_are_unique_per_acquisition(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BUILD_TAG", "jenkins-deploy-" + "x" * 200)
    c = StageContext(project="p", stage="s", service="a", keptn_context="k" * 128)
    holders = {lock_holder(c) for _ in range(100)}
    assert len(holders) == 100 and all(len(h) <= 128 for h in holders)


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pipeline_steps", *args], capture_output=True, text=True, timeout=120,
                          env=env)


def platform_flags(subject: Subject, tmp_path: Path) -> list[str] | None:
    """How a child CLI reaches the subject's platform (None for the in-memory fake)."""
    if subject.platform.name == "local":
        return ["--platform", "local", "--state-dir", str(subject.platform.state.root)]  # type: ignore[attr-defined]
    if subject.platform.name == "kubernetes":
        return ["--platform", "kubernetes", "--kubeconfig", str(tmp_path / "kubeconfig")]
    return None


def test_a_held_lock_refuses_each_command_naming_the_holder(subject: Subject, tmp_path: Path) -> None:
    import os

    p, service = subject.platform, subject.service("app")
    deploy(p, ctx(subject, "1"), service, tmp_path / "d1.json", opts(subject))
    record = deploy(p, ctx(subject, "2"), service, tmp_path / "d2.json", opts(subject))
    flags = platform_flags(subject, tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIPELINE_STEPS_", "KUBECONFIG"))}
    context = ["--project", "safety", "--stage", "staging", "--service", "app"]
    shipyard = tmp_path / "shipyard.yaml"
    shipyard.write_text("stages:\n  - {name: staging, deployment_strategy: blue_green_service, test_strategy: performance}\n")
    service_yaml = tmp_path / "service.yaml"
    service_yaml.write_text(json.dumps({"name": "app", "local": {"command": list(service.local_command)}}))
    with p.lock(ctx(subject, "2"), "jenkins-deploy-41/ctx-1/0a1b2c3d"):
        if flags is None:  # the fake lives in this process: the steps themselves
            for act in (lambda: evaluation_done(ctx(subject, "2"), Verdict.FAIL, DeploymentFacts.from_file(tmp_path / "d2.json"),
                                                STAGING, PRODUCTION, platform=p),
                        lambda: switch(p, ctx(subject, "2"), Weights(100, 0)),
                        lambda: deploy(p, ctx(subject, "3"), service, tmp_path / "d3.json", opts(subject))):
                with pytest.raises(ConflictError, match="jenkins-deploy-41/ctx-1/0a1b2c3d"):
                    act()
        else:
            for args in (["evaluation-done", "--shipyard", str(shipyard), "--verdict", "fail",
                          "--deployment", str(tmp_path / "d2.json"), "--out-dir", str(tmp_path / "out")],
                         ["switch", "--weights", "blue", "--deployment-strategy", "blue_green_service"],
                         ["deploy", "--image", subject.image, "--tag", "3", "--deployment-strategy", "blue_green_service",
                          "--service-config", str(service_yaml), "--out-dir", str(tmp_path / "out3")]):
                result = cli(*args, *context, *flags, env=env)
                assert result.returncode == 4, (args[0], result.stdout, result.stderr)
                assert "jenkins-deploy-41/ctx-1/0a1b2c3d" in result.stderr, result.stderr
    assert p.status(ctx(subject, "2")).weights == record.weights_after
    assert tags(subject, ctx(subject, "2")) == {"blue": "1", "green": "2"}


# -- 12.9: an invalid split is shown and can be repaired ----------------------------------------------

def edit_route_out_of_band(subject: Subject, c: StageContext, blue: int, green: int) -> None:
    """What a person with access does by hand: Envoy's admin runtime, or the VirtualService (kubectl edit)."""
    p: Any = subject.platform
    if p.name == "local":
        # as `curl --unix-socket .../envoy/admin.sock -X POST /runtime_modify?...` would
        query = urlencode({"routing.traffic_split.blue": blue, "routing.traffic_split.green": green})
        envoy_admin.Admin(p.state.stage_dir(c) / "envoy")._call(f"/runtime_modify?{query}", "POST")
        return
    kube, group, version = p.kube, "networking.istio.io", "v1"
    vs = kube.call("read", kube.custom.get_namespaced_custom_object, group, version, c.namespace, "virtualservices", c.service)
    for destination in vs["spec"]["http"][0]["route"]:
        destination["weight"] = blue if destination["destination"]["subset"] == "blue" else green
    kube.call("edit", kube.custom.replace_namespaced_custom_object, group, version, c.namespace, "virtualservices",
              c.service, vs)


@pytest.fixture(params=sorted(set(SUBJECTS) - {"fake"}))  # the fake's route is a Weights: it cannot hold 70/70
def real_subject(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Subject]:
    module, attr = SUBJECTS[request.param].split(":")
    factory: Callable[[Path], AbstractContextManager[Subject]] = getattr(importlib.import_module(module), attr)
    with factory(tmp_path) as made:
        yield made


@pytest.mark.parametrize("edit", [(70, 70), (0, 0)], ids=["70/70", "0/0"])
@pytest.mark.parametrize("repair", ["switch", "rollback"])
def test_an_invalid_split_is_shown_and_repaired(real_subject: Subject, tmp_path: Path, repair: str,
                                                edit: tuple[int, int]) -> None:
    """Through the CLI, as an operator would: status (text and JSON), switch, rollback.

    What each platform finds: Envoy's runtime keys read 70/70 and 0/0 as no valid split; Istio reads
    weights as relative (istio/api virtual_service.proto, ``routes.py``), so 70/70 is a 50/50 split
    there and 0/0 (no weight at all) is no valid split."""
    import os

    subject = real_subject
    p, service = subject.platform, subject.service("app")
    deploy(p, ctx(subject, "1"), service, tmp_path / "d1.json", opts(subject))
    deploy(p, ctx(subject, "2"), service, tmp_path / "d2.json", opts(subject))
    c = ctx(subject, "2")
    edit_route_out_of_band(subject, c, *edit)
    status = p.status(c)
    relative = p.name == "kubernetes" and edit == (70, 70)
    if relative:
        assert status.weights == Weights(50, 50) and status.invalid_route == ""
    else:
        assert status.weights is None and str(edit[0]) in status.invalid_route and status.deployed
    assert status.live is None
    with pytest.raises(ConflictError, match="split"):
        deploy(p, ctx(subject, "3"), service, tmp_path / "d3.json", opts(subject))

    flags = platform_flags(subject, tmp_path)
    assert flags is not None
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIPELINE_STEPS_", "KUBECONFIG"))}
    context = ["--project", "safety", "--stage", "staging", "--service", "app", "--deployment-strategy",
               "blue_green_service", *flags]
    shown = cli("status", "--output", "json", *context, env=env)
    assert shown.returncode == 0, shown.stderr
    doc = json.loads(shown.stdout)
    assert doc["live"] is None
    if relative:
        assert doc["weights"] == {"blue": 50, "green": 50} and doc["invalid_route"] == ""
    else:
        assert doc["weights"] is None and str(edit[0]) in doc["invalid_route"]
    text = cli("status", *context, env=env)
    assert text.returncode == 0 and ("traffic is split" if relative else "no valid split") in text.stdout, text.stderr
    if repair == "switch":
        done = cli("switch", "--weights", "green", *context, env=env)
    else:
        done = cli("rollback", "--deployment", str(tmp_path / "d2.json"), *flags, env=env)
    assert done.returncode == 0, (done.stdout, done.stderr)
    assert "(verified)" in done.stdout
    expected = Weights(0, 100) if repair == "switch" else Weights(100, 0)
    assert p.status(c).weights == expected and p.status(c).invalid_route == ""
