"""Shipyard loading: Keptn 0.2 files load unchanged, additions validate, errors name file and field.

Aspects: the real onboarding-carts shipyard; next-stage order; approval/switch/gate additions;
a table of malformed shipyards each giving BadInputError with the field; the CLI lookups.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline_steps.cli import cli
from pipeline_steps.documents.shipyard import load_shipyard
from pipeline_steps.errors import BadInputError, ExitCode

FIXTURE = Path(__file__).resolve().parent / "fixtures/shipyard.yaml"


def test_keptn_02_shipyard_loads_with_keptn_defaults() -> None:
    shipyard = load_shipyard(FIXTURE)
    assert [s.name for s in shipyard.stages] == ["dev", "staging", "production"]
    dev, staging, production = shipyard.stages
    assert (dev.deployment_strategy, dev.test_strategy) == ("direct", "functional")
    assert staging.blue_green and staging.test_strategy == "performance"
    assert production.blue_green and production.test_strategy == ""
    assert staging.approval_warning == "automatic" and staging.switch == "before_tests"
    assert shipyard.registry == "sockshop"


def test_next_stage_follows_file_order_and_ends_after_last() -> None:
    shipyard = load_shipyard(FIXTURE)
    assert shipyard.next_stage("dev").name == "staging"  # type: ignore[union-attr]
    assert shipyard.next_stage("staging").name == "production"  # type: ignore[union-attr]
    assert shipyard.next_stage("production") is None


def test_additions_are_read(tmp_path: Path) -> None:
    (tmp_path / "perfspec.json").write_text("{}")
    path = tmp_path / "shipyard.yaml"
    path.write_text(
        "stages:\n"
        "  - name: staging\n    deployment_strategy: blue_green_service\n    test_strategy: performance\n"
        "    approval_strategy: {pass: automatic, warning: manual}\n    switch: after_gate\n    gate: perfspec.json\n"
    )
    stage = load_shipyard(path).stage("staging")
    assert stage.approval_warning == "manual" and stage.approval_pass == "automatic"
    assert stage.switch == "after_gate"
    assert stage.gate == str((tmp_path / "perfspec.json").resolve())


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("stages: []\n", "stages"),
        ("stages:\n  - name: dev\n    deployment_strategy: canary\n", "stages[0].deployment_strategy"),
        ("stages:\n  - name: dev\n", "stages[0].deployment_strategy"),
        ("stages:\n  - name: Dev\n    deployment_strategy: direct\n", "stages[0].name"),
        ("stages:\n  - name: dev\n    deployment_strategy: direct\n    test_strategy: load\n", "stages[0].test_strategy"),
        ("stages:\n  - {name: dev, deployment_strategy: direct}\n  - {name: dev, deployment_strategy: direct}\n",
         "stages[1].name"),
        ("stages:\n  - {name: dev, deployment_strategy: direct, approval_strategy: {warning: sometimes}}\n",
         "stages[0].approval_strategy.warning"),
        ("stages:\n  - {name: dev, deployment_strategy: direct, gate: missing.json}\n", "stages[0].gate"),
        ("stages: [\n", None),
        ("apiVersion: spec.keptn.sh/0.2.0\nkind: Shipyard\n", "apiVersion"),
    ],
)
def test_malformed_shipyards_name_file_and_field(tmp_path: Path, text: str, field: str | None) -> None:
    path = tmp_path / "shipyard.yaml"
    path.write_text(text)
    with pytest.raises(BadInputError) as err:
        load_shipyard(path)
    assert err.value.source == str(path)
    assert err.value.field == field
    assert "\n" not in str(err.value)


def test_unknown_stage_lists_the_valid_ones() -> None:
    with pytest.raises(BadInputError, match="stages: dev, staging, production"):
        load_shipyard(FIXTURE).stage("qa")


def test_cli_lookups_for_jenkinsfiles() -> None:
    runner = CliRunner()
    first = runner.invoke(cli, ["shipyard", "next-stage", "--shipyard", str(FIXTURE)])
    assert first.exit_code == 0 and first.output.strip() == "dev"
    last = runner.invoke(cli, ["shipyard", "next-stage", "--shipyard", str(FIXTURE), "--stage", "production"])
    assert last.exit_code == 0 and last.output.strip() == ""
    stage = runner.invoke(cli, ["shipyard", "stage", "--shipyard", str(FIXTURE), "--name", "staging", "--output", "json"])
    assert '"deployment_strategy": "blue_green_service"' in stage.output
    bad = runner.invoke(cli, ["shipyard", "stage", "--shipyard", str(FIXTURE), "--name", "qa"])
    assert bad.exit_code == ExitCode.BAD_INPUT and "no stage named 'qa'" in bad.output
