"""CloudEvents 1.0 events are checked against the spec's required attributes and formats; Keptn 0.2 envelopes are not.

Aspects (issue 18): ``events show`` (and every ``--event``) accepted 1.0 events without ``id``, with
an empty ``id``, without ``source`` or with a ``time`` that is not RFC 3339; now each is bad input
(exit 2) naming the file and the attribute, with families around each case (other types, empty
strings, URI-references with spaces, every way a timestamp can miss RFC 3339: no offset, no
``T``, basic format, out-of-range fields, a 30th of February) and the valid forms beside them
(lower-case ``t``/``z``, offsets, fractions, a leap second). Keptn 0.2's documented examples,
which have no id or source and a non-RFC 3339 time, still parse; our own events pass.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from pipeline_steps.cli import cli
from pipeline_steps.documents.context import StageContext
from pipeline_steps.documents.events import make_event, read_event, write_event
from pipeline_steps.errors import BadInputError

FIXTURES = Path(__file__).resolve().parent / "fixtures/events"
GOOD: dict[str, Any] = {"specversion": "1.0", "id": "e-1", "source": "pipeline-steps/run-tests",
                        "type": "sh.keptn.events.tests-finished", "time": "2026-11-26T10:00:00Z",
                        "datacontenttype": "application/json", "shkeptncontext": "k",
                        "data": {"project": "sockshop", "service": "carts", "stage": "dev"}}


def without(key: str) -> dict[str, Any]:
    return {k: v for k, v in GOOD.items() if k != key}


BAD = [
    ("no id", without("id"), "id"), ("empty id", {**GOOD, "id": ""}, "id"), ("numeric id", {**GOOD, "id": 5}, "id"),
    ("null id", {**GOOD, "id": None}, "id"),
    ("no source", without("source"), "source"), ("empty source", {**GOOD, "source": ""}, "source"),
    ("source with a space", {**GOOD, "source": "my source"}, "source"), ("list source", {**GOOD, "source": ["a"]}, "source"),
    ("source with a newline", {**GOOD, "source": "a\nb"}, "source"),
    ("Keptn 0.2 time", {**GOOD, "time": "20190325-15:22:50.560"}, "time"),
    ("date only", {**GOOD, "time": "2026-11-26"}, "time"),
    ("no offset", {**GOOD, "time": "2026-11-26T10:00:00"}, "time"),
    ("space for T", {**GOOD, "time": "2026-11-26 10:00:00Z"}, "time"),
    ("offset without colon", {**GOOD, "time": "2026-11-26T10:00:00+0100"}, "time"),
    ("basic format", {**GOOD, "time": "20261126T100000Z"}, "time"),
    ("month 13", {**GOOD, "time": "2026-13-01T10:00:00Z"}, "time"),
    ("30 February", {**GOOD, "time": "2026-02-30T10:00:00Z"}, "time"),
    ("hour 24", {**GOOD, "time": "2026-11-26T24:00:00Z"}, "time"),
    ("second 61", {**GOOD, "time": "2026-11-26T10:00:61Z"}, "time"),
    ("offset 24h", {**GOOD, "time": "2026-11-26T10:00:00+24:00"}, "time"),
    ("unix seconds", {**GOOD, "time": 1795687260}, "time"), ("empty time", {**GOOD, "time": ""}, "time"),
    ("upper-case attribute", {**GOOD, "Id2": "x"}, "Id2"), ("attribute with a dash", {**GOOD, "x-a": "1"}, "x-a"),
    ("empty datacontenttype", {**GOOD, "datacontenttype": ""}, "datacontenttype"),
]


@pytest.mark.parametrize(("case", "event", "field"), BAD, ids=[b[0] for b in BAD])
def test_cloudevents_1_0_violations_are_bad_input(tmp_path: Path, case: str, event: dict[str, Any], field: str) -> None:
    path = tmp_path / "event.json"
    path.write_text(json.dumps(event))
    with pytest.raises(BadInputError) as info:
        read_event(path)
    assert (info.value.source, info.value.field) == (str(path), field)
    shown = CliRunner().invoke(cli, ["events", "show", str(path)])
    assert shown.exit_code == 2 and shown.output.startswith(f"error: {path}: {field}: ")


@pytest.mark.parametrize("time", ["2026-11-26T10:00:00Z", "2026-11-26t10:00:00z", "2026-11-26T10:00:00.123456Z",
                                  "2026-11-26T10:00:00+05:30", "2026-11-26T10:00:00-00:00", "2016-12-31T23:59:60Z",
                                  "2024-02-29T00:00:00Z"])
def test_valid_rfc3339_times_pass(tmp_path: Path, time: str) -> None:
    path = tmp_path / "event.json"
    path.write_text(json.dumps({**GOOD, "time": time}))
    assert read_event(path).time == time


@pytest.mark.parametrize("event", [without("time"), without("datacontenttype"), {**GOOD, "source": "https://ci.example/job/1"},
                                   {**GOOD, "source": "urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66"}])
def test_optional_attributes_may_be_absent_and_sources_may_be_any_uri_reference(tmp_path: Path, event: dict[str, Any]) -> None:
    path = tmp_path / "event.json"
    path.write_text(json.dumps(event))
    assert read_event(path).id == "e-1"


def test_our_own_events_and_keptn_0_2_examples_pass(tmp_path: Path) -> None:
    ctx = StageContext("sockshop", "dev", "carts", "reg/carts", "1.0", "direct", "functional", "k")
    for name in ("new-artefact", "configuration-changed", "tests-finished", "evaluation-done"):
        assert read_event(write_event(tmp_path, make_event(name, ctx, "test"))).name == name
    for fixture in FIXTURES.glob("*.jsonc"):  # no id, no source, Keptn's own time format: 0.2 stays lenient
        assert read_event(fixture).data["project"] == "sockshop"
