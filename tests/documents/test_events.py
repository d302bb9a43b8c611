"""Events: Keptn 0.2 fixtures parse, our CloudEvents 1.0 round-trip, bad events name the field.

Aspects: every documented Keptn 0.2 example (with its // comments and string booleans);
write/read round trip; --event fills the context of any step; malformed events.
"""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from pipeline_steps.commands.options import context_from_options, context_options
from pipeline_steps.documents.context import StageContext
from pipeline_steps.documents.events import make_event, read_event, truthy, write_event
from pipeline_steps.errors import BadInputError

EVENTS = Path(__file__).resolve().parent / "fixtures/events"


@pytest.mark.parametrize("name", ["configuration-changed", "deployment-finished", "tests-finished", "new-artefact",
                                  "evaluation-done-pass", "evaluation-done-fail"])
def test_keptn_02_examples_parse(name: str) -> None:
    event = read_event(EVENTS / f"{name}.jsonc")
    ctx = event.context()
    assert (ctx.project, ctx.service, ctx.tag) == ("sockshop", "carts", "0.6.7-16")
    assert event.keptn_context == "db51be80-4fee-41af-bb53-1b093d2b694c"
    if name.startswith("evaluation-done"):
        assert event.data["evaluationdetails"]["result"] == name.rsplit("-", 1)[1]


def test_round_trip_is_cloudevents_1_0_with_keptn_type(tmp_path: Path) -> None:
    ctx = StageContext("sockshop", "staging", "carts", "reg/carts", "0.7.2", "blue_green_service", "performance", "abc")
    path = write_event(tmp_path, make_event("tests-finished", ctx, "run-tests", startedat="2026-11-26T10:00:00Z"))
    raw = json.loads(path.read_text())
    assert raw["specversion"] == "1.0" and raw["type"] == "sh.keptn.events.tests-finished"
    assert raw["shkeptncontext"] == "abc" and raw["data"]["startedat"] == "2026-11-26T10:00:00Z"
    assert raw["data"]["deploymentstrategy"] == "blue_green_service"
    assert read_event(path).context() == ctx


def test_event_fills_what_flags_and_env_leave_empty() -> None:
    seen = {}

    @click.command()
    @context_options
    def show(**options: str) -> None:
        seen["ctx"] = context_from_options(options)

    result = CliRunner().invoke(show, ["--event", str(EVENTS / "deployment-finished.jsonc"), "--tag", "9.9.9"], env={})
    assert result.exit_code == 0, result.output
    assert seen["ctx"].stage == "dev" and seen["ctx"].tag == "9.9.9"
    assert seen["ctx"].keptn_context == "db51be80-4fee-41af-bb53-1b093d2b694c"


@pytest.mark.parametrize(
    ("event", "field"),
    [
        ({"specversion": "1.0", "type": "sh.keptn.events.deployment-finished", "data": {"project": "p"}}, "data.service"),
        ({"specversion": "1.0", "type": "sh.keptn.events.deployed", "data": {}}, "type"),
        ({"specversion": "3", "type": "sh.keptn.events.new-artefact", "data": {}}, "specversion"),
        ({"specversion": "1.0", "type": "sh.keptn.events.new-artefact", "data": []}, "data"),
        ([], None),
    ],
)
def test_malformed_events(tmp_path: Path, event: object, field: str | None) -> None:
    path = tmp_path / "e.json"
    path.write_text(json.dumps(event))
    with pytest.raises(BadInputError) as err:
        read_event(path)
    assert err.value.field == field and err.value.source == str(path)


def test_keptn_string_booleans() -> None:
    assert truthy("true") and truthy(True) and not truthy("false") and not truthy("")


def test_cli_writes_and_shows_a_new_artefact(tmp_path: Path) -> None:
    from pipeline_steps.cli import cli

    runner = CliRunner()
    made = runner.invoke(cli, ["events", "new-artefact", "--project", "sockshop", "--service", "carts", "--image", "reg/carts",
                               "--tag", "0.7.3", "--keptn-context", "k9", "--out-dir", str(tmp_path)])
    assert made.exit_code == 0, made.output
    raw = json.loads((tmp_path / "events/new-artefact.json").read_text())
    assert raw["type"] == "sh.keptn.events.new-artefact" and raw["data"]["stage"] == "" and raw["data"]["tag"] == "0.7.3"
    shown = runner.invoke(cli, ["events", "show", str(tmp_path / "events/new-artefact.json")])
    assert shown.exit_code == 0 and "sh.keptn.events.new-artefact (shkeptncontext k9" in shown.output
    (tmp_path / "bad.json").write_text('{"specversion": "1.0", "type": "sh.keptn.events.new-artefact", "data": {}}')
    bad = runner.invoke(cli, ["events", "show", str(tmp_path / "bad.json")])
    assert bad.exit_code == 2 and "data.project: is required" in bad.output
