"""The deploy step against the in-memory fake platform.

Aspects: the first blue/green deployment creates both colours, 100/0 to blue, no flip; later
deployments go to the free colour and flip only after it is available; deployment.json is
written before the flip (weights_before) and after it (verified weights_after); --no-switch
leaves weights alone; a split route is refused with nothing changed; a never-ready colour fails
naming the reasons with weights untouched; a failed flip says how to roll back; the lock is
held during the flip and a held lock refuses; direct deploys one unit and records no weights;
bad input changes nothing; --timeout bounds the wait for both colours of a first deployment.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from pipeline_steps.documents.context import StageContext
from pipeline_steps.documents.deployment import read_record
from pipeline_steps.documents.service import ServiceSpec
from pipeline_steps.documents.weights import Weights
from pipeline_steps.errors import BadInputError, ConflictError, InfrastructureError, NotReadyError
from pipeline_steps.platforms.base import ColourState
from pipeline_steps.steps.deploy import DeployOptions, deploy
from tests.fakes import FakePlatform

SERVICE = ServiceSpec.minimal("carts")


def ctx(tag: str, strategy: str = "blue_green_service") -> StageContext:
    return StageContext(project="sockshop", stage="staging", service="carts", image="docker.io/keptnexamples/carts",
                        tag=tag, deployment_strategy=strategy)


def test_first_deployment_creates_both_colours_live_on_blue(tmp_path: Path) -> None:
    fake = FakePlatform()
    record = deploy(fake, ctx("0.7.1"), SERVICE, tmp_path / "deployment.json")
    assert (record.colour, record.previous_colour, record.switched) == ("blue", "", False)
    assert record.weights_before == Weights(100, 0) and record.weights_after is None
    status = fake.status(ctx("0.7.1"))
    assert {c.colour: c.tag for c in status.colours} == {"blue": "0.7.1", "green": "0.7.1"}
    assert status.weights == Weights(100, 0)
    assert not [c for c in fake.calls if c[0] == "set_weights"]
    assert ("wait_available", "green") in fake.calls


def test_second_deployment_goes_to_free_colour_and_flips_after_available(tmp_path: Path) -> None:
    fake = FakePlatform()
    out = tmp_path / "deployment.json"
    deploy(fake, ctx("0.7.1"), SERVICE, out)
    fake.calls.clear()
    record = deploy(fake, ctx("0.7.2"), SERVICE, out)
    assert (record.colour, record.previous_colour) == ("green", "blue")
    assert record.weights_before == Weights(100, 0) and record.weights_after == Weights(0, 100)
    assert record.switched and record.finished_unix is not None
    names = [c[0] for c in fake.calls]
    assert names.index("wait_available") < names.index("set_weights")
    assert fake.status(ctx("0.7.2")).colour("blue").tag == "0.7.1"  # type: ignore[union-attr]
    on_disk = json.loads(out.read_text())
    assert on_disk["weights_after"] == {"blue": 0, "green": 100} and on_disk["schema"] == "pipeline-steps/deployment/v1"
    # third version goes back to blue
    assert deploy(fake, ctx("0.7.3"), SERVICE, out).colour == "blue"


def test_no_switch_leaves_weights(tmp_path: Path) -> None:
    fake = FakePlatform()
    deploy(fake, ctx("1"), SERVICE, tmp_path / "d.json")
    record = deploy(fake, ctx("2"), SERVICE, tmp_path / "d.json", DeployOptions(switch=False))
    assert not record.switched and record.weights_after is None
    assert fake.status(ctx("2")).weights == Weights(100, 0)


def test_split_route_is_refused_and_nothing_changes(tmp_path: Path) -> None:
    fake = FakePlatform()
    deploy(fake, ctx("1"), SERVICE, tmp_path / "d.json")
    fake.stage(ctx("1")).weights = Weights(50, 50)
    fake.calls.clear()
    with pytest.raises(ConflictError, match="split"):
        deploy(fake, ctx("2"), SERVICE, tmp_path / "d2.json")
    assert not [c for c in fake.calls if c[0] in ("apply", "set_weights")]
    assert not (tmp_path / "d2.json").exists()


def test_never_ready_colour_fails_with_reasons_and_weights_untouched(tmp_path: Path) -> None:
    fake = FakePlatform()
    deploy(fake, ctx("1"), SERVICE, tmp_path / "d.json")
    fake.unready["carts-green"] = ("carts-green-abc: ImagePullBackOff",)
    with pytest.raises(NotReadyError, match="ImagePullBackOff"):
        deploy(fake, ctx("2"), SERVICE, tmp_path / "d2.json")
    assert fake.status(ctx("2")).weights == Weights(100, 0)
    assert not [c for c in fake.calls if c[0] == "set_weights"]


@pytest.mark.parametrize("when", ["before", "after"])
def test_failed_flip_leaves_record_for_rollback(tmp_path: Path, when: str) -> None:
    fake = FakePlatform()
    out = tmp_path / "d.json"
    deploy(fake, ctx("1"), SERVICE, out)
    fake.fail_set_weights = when
    with pytest.raises(InfrastructureError, match="rollback --deployment"):
        deploy(fake, ctx("2"), SERVICE, out)
    record = read_record(out)
    assert record.weights_before == Weights(100, 0) and not record.switched and record.colour == "green"


def test_lock_held_during_flip_and_conflict_when_taken(tmp_path: Path) -> None:
    fake = FakePlatform()
    deploy(fake, ctx("1"), SERVICE, tmp_path / "d.json", DeployOptions(holder="job-1"))
    names = [c[0] for c in fake.calls]
    assert names[0] == "lock" and names[-1] == "unlock" and not fake.locks
    with fake.lock(ctx("2"), "other-job"), pytest.raises(ConflictError, match="other-job"):
        deploy(fake, ctx("2"), SERVICE, tmp_path / "d.json", DeployOptions(holder="job-2"))


def test_direct_deploys_one_unit_without_weights(tmp_path: Path) -> None:
    fake = FakePlatform()
    record = deploy(fake, ctx("1", "direct"), SERVICE, tmp_path / "d.json")
    assert record.colour == "" and record.weights_before is None and record.weights_after is None
    assert read_record(tmp_path / "d.json").tag == "1"
    assert [c.colour for c in fake.status(ctx("1", "direct")).colours] == [""]


def test_missing_tag_is_bad_input_and_changes_nothing(tmp_path: Path) -> None:
    fake = FakePlatform()
    with pytest.raises(BadInputError, match="tag"):
        deploy(fake, ctx(""), SERVICE, tmp_path / "d.json")
    assert fake.calls == [] and not (tmp_path / "d.json").exists()


def test_first_deployment_waits_for_both_colours_within_one_timeout(tmp_path: Path) -> None:
    class Slow(FakePlatform):
        def __init__(self) -> None:
            super().__init__()
            self.budgets: list[float] = []

        def wait_available(self, ctx: StageContext, colour: str | None, timeout_s: float) -> ColourState:
            self.budgets.append(timeout_s)
            time.sleep(0.3)  # each colour takes a while to come up
            return super().wait_available(ctx, colour, timeout_s)

    slow = Slow()
    deploy(slow, ctx("1"), SERVICE, tmp_path / "d.json", DeployOptions(timeout_s=2.0))
    assert len(slow.budgets) == 2 and slow.budgets[0] <= 2.0 and slow.budgets[1] <= 2.0 - 0.3


@pytest.mark.parametrize("in_the_way", ["deployment.json", "events/deployment-finished.json"])
def test_a_folder_where_a_document_goes_is_bad_input_before_anything_is_deployed(tmp_path: Path, in_the_way: str) -> None:
    """The record used to fail after the new colour was deployed and traffic had flipped (exit 4, a
    bug), leaving no deployment.json to roll back from."""
    fake = FakePlatform()
    deploy(fake, ctx("0.7.1"), SERVICE, tmp_path / "first" / "deployment.json")
    fake.calls.clear()
    (tmp_path / "out" / in_the_way).mkdir(parents=True)
    with pytest.raises(BadInputError, match="is a folder where this step writes a file") as err:
        deploy(fake, ctx("0.7.2"), SERVICE, tmp_path / "out" / "deployment.json")
    assert err.value.source == str(tmp_path / "out" / in_the_way)
    assert [c for c in fake.calls if c[0] in ("apply", "set_weights", "mark")] == []
    assert fake.status(ctx("0.7.2")).weights == Weights(100, 0)
