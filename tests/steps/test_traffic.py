"""switch and rollback against the in-memory fake platform, plus deployment.json round trips.

Aspects: switch sets verified weights and is idempotent (no write the second time); a colour
that is not available never gets traffic; rollback restores weights_before from the record, also
after a half-failed flip; --to COLOUR; a record for another service, a direct record and one
from another platform are refused naming the file and field; the record
survives a write/read round trip and malformed records name the file and field.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from pipeline_steps.documents.context import StageContext
from pipeline_steps.documents.deployment import read_record, write_record
from pipeline_steps.documents.service import ServiceSpec
from pipeline_steps.documents.weights import Weights
from pipeline_steps.errors import BadInputError, InfrastructureError, NotReadyError
from pipeline_steps.steps.deploy import deploy
from pipeline_steps.steps.traffic import rollback, switch
from tests.fakes import FakePlatform

SERVICE = ServiceSpec.minimal("carts")


def ctx(tag: str = "1", service: str = "carts", strategy: str = "blue_green_service") -> StageContext:
    return StageContext(project="sockshop", stage="production", service=service, image="repo/carts", tag=tag,
                        deployment_strategy=strategy)


@pytest.fixture()
def two_versions(tmp_path: Path) -> tuple[FakePlatform, Path]:
    fake = FakePlatform()
    deploy(fake, ctx("1"), SERVICE, tmp_path / "d1.json")
    deploy(fake, ctx("2"), SERVICE, tmp_path / "d2.json")
    return fake, tmp_path / "d2.json"


def test_switch_sets_weights_and_is_idempotent(two_versions: tuple[FakePlatform, Path]) -> None:
    fake, _ = two_versions
    change = switch(fake, ctx(), Weights(90, 10))
    assert change.before == Weights(0, 100) and change.after == Weights(90, 10) and change.changed
    fake.calls.clear()
    again = switch(fake, ctx(), Weights(90, 10))
    assert not again.changed and not [c for c in fake.calls if c[0] == "set_weights"]


def test_switch_refuses_unavailable_colour(two_versions: tuple[FakePlatform, Path]) -> None:
    fake, _ = two_versions
    fake.break_colour(ctx(), "blue", "carts-blue-x: CrashLoopBackOff")
    with pytest.raises(NotReadyError, match="CrashLoopBackOff"):
        switch(fake, ctx(), Weights(10, 90))
    assert fake.status(ctx()).weights == Weights(0, 100)


def test_switch_on_undeployed_service_is_refused() -> None:
    with pytest.raises(NotReadyError, match="no blue/green deployment"):
        switch(FakePlatform(), ctx(), Weights.all_to("green"))


def test_rollback_restores_weights_before(two_versions: tuple[FakePlatform, Path]) -> None:
    fake, out = two_versions
    change = rollback(fake, ctx(), read_record(out))
    assert change.after == Weights(100, 0) and fake.status(ctx()).weights == Weights(100, 0)


def test_rollback_after_half_failed_flip(tmp_path: Path) -> None:
    fake = FakePlatform()
    deploy(fake, ctx("1"), SERVICE, tmp_path / "d1.json")
    fake.fail_set_weights = "after"
    with pytest.raises(InfrastructureError):
        deploy(fake, ctx("2"), SERVICE, tmp_path / "d2.json")
    fake.fail_set_weights = ""
    assert fake.status(ctx()).weights == Weights(0, 100)  # the write landed
    rollback(fake, ctx(), read_record(tmp_path / "d2.json"))
    assert fake.status(ctx()).weights == Weights(100, 0)


def test_rollback_to_colour_and_bad_inputs(two_versions: tuple[FakePlatform, Path]) -> None:
    fake, out = two_versions
    assert rollback(fake, ctx(), to="blue").after == Weights(100, 0)
    with pytest.raises(BadInputError, match="--to"):
        rollback(fake, ctx(), to="red")
    with pytest.raises(BadInputError, match=r"^d2.json: context: is for carts in .*, not orders"):
        rollback(fake, ctx(service="orders"), read_record(out), source="d2.json")


def test_rollback_of_a_direct_or_foreign_record_names_the_file(tmp_path: Path) -> None:
    fake = FakePlatform()
    deploy(fake, ctx("1", service="orders", strategy="direct"), SERVICE, tmp_path / "direct.json")
    deploy(fake, ctx("1"), SERVICE, tmp_path / "d1.json")
    calls = len(fake.calls)
    with pytest.raises(BadInputError, match=r"^direct.json: weights_before: is null"):
        rollback(fake, ctx(service="orders"), read_record(tmp_path / "direct.json"), source="direct.json")
    record = dataclasses.replace(read_record(tmp_path / "d1.json"), platform="kubernetes")
    with pytest.raises(BadInputError, match=r"^d1.json: platform: is 'kubernetes', but this rollback runs on 'fake'"):
        rollback(fake, ctx(), record, source="d1.json")
    assert len(fake.calls) == calls  # refused before asking the platform anything


def test_record_round_trip_and_field_errors(two_versions: tuple[FakePlatform, Path], tmp_path: Path) -> None:
    _, out = two_versions
    record = read_record(out)
    copy = write_record(record, tmp_path / "copy.json")
    assert read_record(copy) == record
    data = json.loads(out.read_text())
    data["weights_before"] = {"blue": 60, "green": 60}
    (tmp_path / "bad.json").write_text(json.dumps(data))
    with pytest.raises(BadInputError, match=r"bad.json: weights_before: must sum to 100"):
        read_record(tmp_path / "bad.json")
    data = json.loads(out.read_text())
    data["colour"] = "red"
    (tmp_path / "bad.json").write_text(json.dumps(data))
    with pytest.raises(BadInputError, match=r"bad.json: colour"):
        read_record(tmp_path / "bad.json")
