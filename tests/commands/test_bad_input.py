"""Bad input to the chain's commands changes nothing: exit 2, one line naming file and field.

Aspects (issue 5): a shipyard with an unknown strategy, an event missing ``service``, a stage
name not in the shipyard — for ``run``, ``deploy --event`` and ``evaluation-done`` — each give
the bad-input exit code before the platform is asked to do anything.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline_steps.cli import cli
from pipeline_steps.errors import ExitCode
from tests.fakes import FakePlatform

FIXTURES = Path(__file__).resolve().parents[1] / "documents" / "fixtures"


@pytest.fixture
def platform(monkeypatch: pytest.MonkeyPatch) -> FakePlatform:
    fake = FakePlatform()
    monkeypatch.setattr("pipeline_steps.platforms.make_platform", lambda name, settings: fake)
    return fake


def _files(tmp_path: Path) -> dict[str, str]:
    bad_shipyard = tmp_path / "shipyard.yaml"
    bad_shipyard.write_text("stages:\n  - name: dev\n    deployment_strategy: canary\n")
    no_service = tmp_path / "event.json"
    no_service.write_text(json.dumps({"specversion": "1.0", "type": "sh.keptn.events.configuration-changed",
                                      "data": {"project": "sockshop", "stage": "dev", "tag": "1"}}))
    return {"bad_shipyard": str(bad_shipyard), "no_service": str(no_service), "good_shipyard": str(FIXTURES / "shipyard.yaml")}


CASES = [
    ("run: unknown strategy",
     ["run", "--shipyard", "{bad_shipyard}", "--project", "sockshop", "--service", "carts", "--image", "i", "--tag", "1"],
     "stages[0].deployment_strategy: 'canary' is not one of"),
    ("deploy: event without service",
     ["deploy", "--event", "{no_service}", "--image", "i"],
     "data.service: is required"),
    ("evaluation-done: stage not in shipyard",
     ["evaluation-done", "--shipyard", "{good_shipyard}", "--project", "sockshop", "--stage", "qa", "--service", "carts",
      "--verdict", "fail", "--colour", "green", "--weights-before", "100/0"],
     "stages: no stage named 'qa'"),
    ("evaluation-done: event without service",
     ["evaluation-done", "--shipyard", "{good_shipyard}", "--event", "{no_service}", "--verdict", "fail"],
     "data.service: is required"),
    ("evaluation-done: unknown verdict",
     ["evaluation-done", "--shipyard", "{good_shipyard}", "--project", "sockshop", "--stage", "staging", "--service", "carts",
      "--verdict", "great", "--colour", "green"],
     "verdict: 'great' is not one of"),
]


@pytest.mark.parametrize(("name", "argv", "message"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_exits_2_and_touches_nothing(tmp_path: Path, platform: FakePlatform, name: str, argv: list[str],
                                               message: str) -> None:
    files = _files(tmp_path)
    args = [a.format(**files) for a in argv] + ["--out-dir", str(tmp_path / "out")]
    result = CliRunner().invoke(cli, args, env={})
    assert result.exit_code == ExitCode.BAD_INPUT, result.output
    assert message in result.output
    error_lines = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 1
    assert platform.calls == []
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("*.json"))
