"""No path made from a value leaves its base folder (issue 12.2).

Aspects: ``files.under`` refuses an absolute part, ``..`` (alone or inside a part), an empty part,
NUL and line breaks, and a symbolic link that leads out, and keeps what stays inside; every place a
value becomes a path goes through it — ``run``'s ``OUT/<tag>/<stage>`` and ``OUT/<tag>/chain.json``,
the local platform's ``<state>/stages/<project>-<stage>/<service>`` and ``<image>/<tag>`` (deploy and
``local build``), the files service.yaml and the shipyard name. The issue's inputs
(``run --tag ../../escaped``, ``deploy --platform local --tag ../elsewhere``) exit 2 and write
nothing, and each place refuses a context that skipped validation (a second line of defence).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline_steps.cli import cli
from pipeline_steps.documents.context import StageContext
from pipeline_steps.documents.service import ServiceSpec, load_service
from pipeline_steps.documents.shipyard import parse_shipyard
from pipeline_steps.errors import BadInputError, ExitCode
from pipeline_steps.files import under
from pipeline_steps.platforms.local.build import artifact_folder, build
from pipeline_steps.platforms.local.state import StateDir
from pipeline_steps.steps.chain import stage_out

CARTS = Path(__file__).resolve().parents[1] / "examples" / "carts"
SHIPYARD = Path(__file__).resolve().parents[1] / "examples" / "shipyard.yaml"
ESCAPES = ["../../escaped", "..", "a/../../b", "/tmp/escaped", "", "a\x00b", "a\nb", "a\rb"]


def files_in(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")} if folder.exists() else set()


@pytest.mark.parametrize("part", ESCAPES, ids=repr)
def test_under_refuses_every_way_out(tmp_path: Path, part: str) -> None:
    with pytest.raises(BadInputError) as caught:
        under(tmp_path / "base", "ok", part, source="--tag")
    assert str(caught.value).startswith("--tag: ")
    assert "\n" not in str(caught.value)


def test_under_follows_symbolic_links(tmp_path: Path) -> None:
    base = tmp_path / "base"
    (base / "inside").mkdir(parents=True)
    (tmp_path / "outside").mkdir()
    os.symlink(tmp_path / "outside", base / "out-link")
    os.symlink(base / "inside", base / "in-link")
    with pytest.raises(BadInputError, match="symbolic link"):
        under(base, "out-link", "chain.json")
    assert under(base, "in-link", "chain.json") == base / "in-link" / "chain.json"
    assert under(base, "v1", "staging") == base / "v1" / "staging"
    assert under("relative", "a.b", "c") == Path("relative/a.b/c")


def unvalidated(**changes: str) -> StageContext:
    """A context built without ``validate``: what a bug or a future entry point might hand over."""
    values = {"project": "sockshop", "stage": "staging", "service": "carts", "image": "img", "tag": "1"}
    return StageContext(**{**values, **changes})


@pytest.mark.parametrize("tag", ["../../escaped", "/tmp/escaped", "..", "1\n"], ids=repr)
def test_run_refuses_a_tag_that_leaves_out_dir(tmp_path: Path, tag: str) -> None:
    out = tmp_path / "work" / "out"
    result = CliRunner().invoke(cli, ["run", "--shipyard", str(SHIPYARD), "--service-config", str(CARTS / "service.yaml"),
                                      "--project", "sockshop", "--image", str(tmp_path / "img"), "--tag", tag,
                                      "--out-dir", str(out), "--state-dir", str(tmp_path / "state")])
    assert result.exit_code == ExitCode.BAD_INPUT, result.output
    assert "run: tag:" in result.output
    assert files_in(tmp_path) == set()


@pytest.mark.parametrize("field", ["tag", "stage"])
def test_the_chain_folder_refuses_an_unvalidated_context(tmp_path: Path, field: str) -> None:
    with pytest.raises(BadInputError):
        stage_out(tmp_path / "out", unvalidated(**{field: "../../escaped"}))
    assert stage_out(tmp_path / "out", unvalidated()) == tmp_path / "out" / "1" / "staging"


@pytest.mark.parametrize("tag", ["../elsewhere", "/tmp/elsewhere", "..", "1/../../x"], ids=repr)
def test_local_deploy_and_build_refuse_a_tag_outside_the_image(tmp_path: Path, tag: str) -> None:
    image = tmp_path / "images" / "carts"
    (tmp_path / "elsewhere").mkdir()  # the folder the deploy ran
    result = CliRunner().invoke(cli, ["deploy", "--platform", "local", "--state-dir", str(tmp_path / "state"),
                                      "--project", "sockshop", "--stage", "dev", "--service", "carts",
                                      "--image", str(image), "--tag", tag, "--out-dir", str(tmp_path / "out")])
    assert result.exit_code == ExitCode.BAD_INPUT, result.output
    assert not (tmp_path / "state").exists() and not (tmp_path / "out").exists()

    built = CliRunner().invoke(cli, ["local", "build", "--source", str(CARTS), "--image", str(image), "--tag", tag])
    assert built.exit_code == ExitCode.BAD_INPUT, built.output
    assert files_in(tmp_path) == {"elsewhere"}
    with pytest.raises(BadInputError):
        artifact_folder(str(image), tag)


def test_local_build_refuses_a_property_line_break(tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match="--set: version"):
        build(CARTS, str(tmp_path / "carts"), "1", {"version": "v1\nadmin=true"})
    result = CliRunner().invoke(cli, ["local", "build", "--source", str(CARTS), "--image", str(tmp_path / "carts"),
                                      "--tag", "1", "--set", "version=v1\radmin=true"])
    assert result.exit_code == ExitCode.BAD_INPUT, result.output
    assert not (tmp_path / "carts").exists()


UNVALIDATED = [{"service": "../../x"}, {"project": "/abs"}, {"stage": "x/../../../y"}, {"service": "c\x00"}]


@pytest.mark.parametrize("changes", UNVALIDATED, ids=repr)
def test_the_state_folder_refuses_an_unvalidated_context(tmp_path: Path, changes: dict[str, str]) -> None:
    with pytest.raises(BadInputError):
        StateDir(tmp_path / "state").stage_dir(unvalidated(**changes))


@pytest.mark.parametrize("name", ["../outside.yaml", "/etc/passwd", "sub/../../outside.yaml", "a\x00b"], ids=repr)
def test_files_named_in_documents_stay_in_their_folder(tmp_path: Path, name: str) -> None:
    folder = tmp_path / "repo"
    folder.mkdir()
    (tmp_path / "outside.yaml").write_text("stages: []\n")
    for key in ("tests", "gate"):
        (folder / "service.yaml").write_text(json.dumps({"name": "carts", key: name}))
        with pytest.raises(BadInputError) as caught:
            load_service(folder / "service.yaml")
        assert caught.value.field == key
    with pytest.raises(BadInputError) as caught:
        parse_shipyard({"stages": [{"name": "dev", "deployment_strategy": "direct", "gate": name}]},
                       str(folder / "shipyard.yaml"), folder)
    assert caught.value.field == "stages[0].gate"
    with pytest.raises(BadInputError):
        ServiceSpec(name="carts", base_dir=str(folder)).path(name)
    (folder / "gates").mkdir()
    assert ServiceSpec(name="carts", base_dir=str(folder)).path("gates/p.json") == folder / "gates" / "p.json"


def test_a_linked_document_names_files_of_the_folder_it_really_lives_in(tmp_path: Path) -> None:
    """A checkout may link service.yaml and its files into a workspace: they resolve in the repository's
    folder; a file linked from there to elsewhere (a repository's symlink to an agent file) is refused."""
    repo, workspace = tmp_path / "repo", tmp_path / "ws"
    repo.mkdir()
    workspace.mkdir()
    (repo / "service.yaml").write_text(json.dumps({"name": "carts", "tests": "tests.yaml"}))
    (repo / "tests.yaml").write_text("health: {path: /health}\n")
    for name in ("service.yaml", "tests.yaml"):
        os.symlink(repo / name, workspace / name)
    service = load_service(workspace / "service.yaml")
    assert service.path(service.tests) == repo / "tests.yaml"
    (tmp_path / "agent-secret.yaml").write_text("token: x\n")
    (repo / "tests.yaml").unlink()
    os.symlink(tmp_path / "agent-secret.yaml", repo / "tests.yaml")
    with pytest.raises(BadInputError, match="symbolic link") as caught:
        load_service(workspace / "service.yaml")
    assert caught.value.field == "tests"
