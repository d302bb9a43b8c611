"""Identifiers that become names or paths are checked once, where they enter, on the whole string.

Aspects (issue 12.2, 12.3): every identifier of a context (project, stage, service, tag, Keptn
context; a control character in the image deploy is given) with every hostile spelling — ``..``, ``../../escaped``,
an absolute path, a slash, a trailing or embedded newline, CR/LF, NUL, a space, non-ASCII
look-alikes — is bad input naming its field, whichever way it arrives: flags, Jenkins parameters
(environment), a CloudEvent, deployment.json, testrun.json; the shipyard's stage names, service.yaml's
name and the local platform's state files are held to the same grammar; ``report`` checks its
flags. No regular expression in the package is anchored with ``$`` under ``match``/``search``
(where ``$`` also matches before a final newline).
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from pipeline_steps.cli import cli
from pipeline_steps.documents.context import StageContext
from pipeline_steps.documents.deployment import DeploymentRecord
from pipeline_steps.documents.events import read_event
from pipeline_steps.documents.names import DNS_LABEL, TAG, TOKEN
from pipeline_steps.documents.service import load_service
from pipeline_steps.documents.shipyard import parse_shipyard
from pipeline_steps.errors import BadInputError, ExitCode
from pipeline_steps.platforms.local.platform import LocalPlatform

PACKAGE = Path(__file__).resolve().parents[2] / "pipeline_steps"

HOSTILE = {
    "traversal": "../../escaped",
    "parent": "..",
    "dot": ".",
    "absolute": "/tmp/escaped",
    "slash": "a/b",
    "trailing newline": "carts\n",
    "embedded newline": "car\nts",
    "crlf": "carts\r\n",
    "nul": "carts\x00",
    "leading space": " carts",
    "arabic digit": "carts\u0661",
    "fullwidth": "\uff43arts",
    "leading dash": "-carts",
}
"""Refused as every identifier (label, tag, id)."""
LABEL_ONLY = {"upper case": "Carts", "underscore": "my_cart", "dot inside": "car.ts", "too long": "a" * 64}
"""Refused as a label (project, stage, service) though a tag or id may carry them (except length)."""
FIELDS = ("project", "stage", "service", "tag", "keptn_context")
GOOD = {"project": "sockshop", "stage": "staging", "service": "carts", "image": "docker.io/keptnexamples/carts",
        "tag": "0.7.2", "keptn_context": "db51be80-4fee-41af-bb53-1b093d2b694c",
        "deployment_strategy": "blue_green_service", "test_strategy": "performance"}


def cases() -> list[tuple[str, str]]:
    found = [(f, v) for f in FIELDS for v in HOSTILE.values()]
    found += [(f, v) for f in ("project", "stage", "service") for v in LABEL_ONLY.values()]
    return found


CASES = cases()
IDS = [f"{field}={value!r}" for field, value in CASES]


@pytest.mark.parametrize(("field", "value"), CASES, ids=IDS)
def test_the_context_refuses_it_naming_the_field(field: str, value: str) -> None:
    with pytest.raises(BadInputError) as caught:
        StageContext(**{**GOOD, field: value}).validate("command line")
    assert caught.value.field == field
    assert "\n" not in str(caught.value)  # one line, the value shown escaped


@pytest.mark.parametrize(("field", "value"), CASES, ids=IDS)
def test_every_way_in_refuses_it(tmp_path: Path, field: str, value: str) -> None:
    """deployment.json (rollback), a CloudEvent (--event) and testrun.json carry the same context."""
    bad = {**GOOD, field: value}
    record = {"schema": "pipeline-steps/deployment/v1", "context": bad, "platform": "local", "namespace": "x",
              "colour": "green", "started_unix": 1.0}
    with pytest.raises(BadInputError, match=field):
        DeploymentRecord.from_dict(record, "deployment.json")

    data = {"project": bad["project"], "stage": bad["stage"], "service": bad["service"], "image": bad["image"],
            "tag": bad["tag"], "deploymentstrategy": bad["deployment_strategy"], "teststrategy": bad["test_strategy"]}
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"specversion": "1.0", "type": "sh.keptn.events.configuration-changed",
                                 "shkeptncontext": bad["keptn_context"], "data": data}))
    with pytest.raises(BadInputError):
        read_event(event).context(str(event))

    testrun = tmp_path / "testrun.json"
    testrun.write_text(json.dumps({"context": bad, "start_unix": 1, "end_unix": 2}))
    result = CliRunner().invoke(cli, ["evaluate", "--spec", str(tmp_path / "none.json"), "--testrun", str(testrun),
                                      "--out-dir", str(tmp_path / "out")])
    assert result.exit_code == ExitCode.BAD_INPUT, result.output


ENV_NAMES = {"project": "PROJECT", "stage": "STAGE", "service": "SERVICE", "tag": "TAG", "keptn_context": "KEPTNCONTEXT",
             "image": "IMAGE"}


# An environment variable cannot hold NUL (execve); test_nul_in_a_flag_is_refused covers it as a flag.
# IMAGE is a repository (Kubernetes: the OCI grammar) or a folder (local): deploy refuses a control character in it.
ENV_CASES = [(f, v) for f, v in [*CASES, *(("image", v) for v in ("repo\n", "re\npo", "repo\r", "repo\x7f"))]
             if "\x00" not in v]


@pytest.mark.parametrize(("field", "value"), ENV_CASES, ids=[f"{f}={v!r}" for f, v in ENV_CASES])
def test_jenkins_parameters_are_refused_before_anything_is_created(tmp_path: Path, field: str, value: str) -> None:
    """``SERVICE=$'carts\\n'`` (issue 12.3) made a state folder ``carts\\n``; now exit 2 and no state at all."""
    env = {ENV_NAMES[k]: v for k, v in GOOD.items() if k in ENV_NAMES}
    env.update({"DEPLOYMENTSTRATEGY": GOOD["deployment_strategy"], ENV_NAMES[field]: value})
    state = tmp_path / "state"
    result = CliRunner().invoke(cli, ["deploy", "--platform", "local", "--state-dir", str(state),
                                      "--out-dir", str(tmp_path / "out")], env=env)
    assert result.exit_code == ExitCode.BAD_INPUT, result.output
    assert f"{field}:" in result.output
    assert not state.exists() and not (tmp_path / "out").exists()


KUBE_COMMANDS = [["deploy", "--image", "repo/carts", "--tag", "1"], ["status"], ["switch", "--weights", "blue"]]


@pytest.mark.parametrize("command", KUBE_COMMANDS, ids=[c[0] for c in KUBE_COMMANDS])
def test_on_kubernetes_a_trailing_newline_is_bad_input_not_an_api_error(tmp_path: Path, command: list[str]) -> None:
    """``SERVICE=$'carts\\n'`` gave a four-line API error on Kubernetes; it is refused before any request."""
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(json.dumps({"apiVersion": "v1", "kind": "Config", "current-context": "x",
                                      "clusters": [{"name": "c", "cluster": {"server": "http://127.0.0.1:9"}}],
                                      "users": [{"name": "u", "user": {"token": "t"}}],
                                      "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}]}))
    env = {"PROJECT": "sockshop", "STAGE": "staging", "SERVICE": "carts\n", "DEPLOYMENTSTRATEGY": "blue_green_service"}
    result = CliRunner().invoke(cli, [*command, "--platform", "kubernetes", "--kubeconfig", str(kubeconfig),
                                      "--out-dir", str(tmp_path / "out")] if command[0] == "deploy" else
                                [*command, "--platform", "kubernetes", "--kubeconfig", str(kubeconfig)], env=env)
    assert result.exit_code == ExitCode.BAD_INPUT, result.output
    assert result.output == "error: command line: service: 'carts\\n' is not a DNS-1123 label (a-z, 0-9, '-', at most " \
                            "63 characters, starting and ending with a letter or digit)\n"


def test_nul_in_a_flag_is_refused(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["status", "--platform", "local", "--state-dir", str(tmp_path / "s"),
                                      "--project", "sockshop", "--stage", "dev", "--service", "carts\x00"])
    assert result.exit_code == ExitCode.BAD_INPUT and "service:" in result.output
    assert not (tmp_path / "s").exists()


@pytest.mark.parametrize("value", [*HOSTILE.values(), *LABEL_ONLY.values()], ids=[*HOSTILE, *LABEL_ONLY])
def test_documents_naming_things_hold_the_same_grammar(tmp_path: Path, value: str) -> None:
    """Shipyard stage names, service.yaml's name, report's flags and the local platform's state files."""
    with pytest.raises(BadInputError, match=r"stages\[0\]\.name"):
        parse_shipyard({"stages": [{"name": value, "deployment_strategy": "direct"}]}, "shipyard.yaml", tmp_path)

    service = tmp_path / "service.yaml"
    service.write_text(json.dumps({"name": value}))  # JSON is YAML: the value arrives exactly as written
    with pytest.raises(BadInputError, match="name"):
        load_service(service)

    result = CliRunner().invoke(cli, ["report", "--project", "sockshop", "--service", value, "--stage", "dev",
                                      "--history", str(tmp_path / "h.sqlite"), "--out", str(tmp_path / "r.html")])
    assert result.exit_code == ExitCode.BAD_INPUT and "--service" in result.output

    state = tmp_path / "state"
    folder = state / "stages" / "sockshop-dev" / "x"
    folder.mkdir(parents=True)
    (folder / "state.json").write_text(json.dumps({"schema": "pipeline-steps/local-stage/v1", "project": "sockshop",
                                                   "stage": "dev", "service": value, "colours": {}}))
    unreadable: list[str] = []
    assert list(LocalPlatform(state, auto_prometheus=False).contexts(unreadable)) == []
    assert len(unreadable) == 1 and "service" in unreadable[0]


@pytest.mark.parametrize("value", ["../../x", "carts\n", "Carts", "a/b"], ids=repr)
def test_sync_jobs_refuses_a_service_that_is_no_label(tmp_path: Path, value: str) -> None:
    """``--service`` names a Jenkins job and the path ``examples/<service>/Jenkinsfile``."""
    result = CliRunner().invoke(cli, ["jenkins", "sync-jobs", "--dry-run", "--repo-url", "https://git.example/r.git",
                                      "--jobs-dir", str(PACKAGE.parent / "jenkins" / "jobs"), "--service", value])
    assert result.exit_code == ExitCode.BAD_INPUT and result.output.startswith("error: --service: "), result.output


@pytest.mark.parametrize("value", ["carts", "a", "a" * 63, "v1-2", "0"])
def test_labels_that_fit_are_kept(value: str) -> None:
    assert DNS_LABEL.fullmatch(value)
    assert StageContext(**{**GOOD, "service": value}).validate().service == value


@pytest.mark.parametrize("value", ["0.7.2", "v1", "1.0.0-rc.1", "latest", "A_b.c-d", "x" * 128])
def test_tags_that_fit_the_reference_grammar_are_kept(value: str) -> None:
    assert TAG.fullmatch(value) and TOKEN.fullmatch(value)
    assert StageContext(**{**GOOD, "tag": value}).validate().tag == value


def _anchored_at_end(pattern: str) -> bool:
    """Whether ``pattern`` ends with a ``$`` that is an anchor (not ``\\$``)."""
    if not pattern.endswith("$"):
        return False
    backslashes = len(pattern[:-1]) - len(pattern[:-1].rstrip("\\"))
    return backslashes % 2 == 0


def _patterns(tree: ast.AST) -> dict[str, str]:
    """Module-level ``NAME = re.compile("...")`` -> the pattern text."""
    found: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
            call = node.value
            if isinstance(call.func, ast.Attribute) and call.func.attr == "compile" and call.args and \
                    isinstance(call.args[0], ast.Constant) and isinstance(call.args[0].value, str):
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        found[target.id] = call.args[0].value
    return found


def test_no_pattern_anchored_with_dollar_is_used_with_match_or_search() -> None:
    """``re.match("^...$")`` passes ``"carts\\n"``; whole-string checks use ``fullmatch`` (or ``\\Z``)."""
    offenders: list[str] = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        compiled = _patterns(tree)
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in ("match", "search")):
                continue
            owner: Any = node.func.value
            pattern = None
            if isinstance(owner, ast.Name) and owner.id in compiled:
                pattern = compiled[owner.id]
            elif isinstance(owner, ast.Name) and owner.id == "re" and node.args and isinstance(node.args[0], ast.Constant):
                pattern = node.args[0].value if isinstance(node.args[0].value, str) else None
            if pattern is not None and _anchored_at_end(pattern):
                offenders.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno} {pattern!r}")
    assert offenders == []


def test_the_check_itself_sees_the_pattern_of_the_issue() -> None:
    tree = ast.parse('import re\nNAME = re.compile(r"^[a-z]+$")\nNAME.match(x)\nre.search("^a$", y)\n')
    assert _patterns(tree) == {"NAME": "^[a-z]+$"}
    assert _anchored_at_end("^[a-z]+$") and not _anchored_at_end(r"price \$") and _anchored_at_end("a\\\\$")
    assert re.match("^[a-z]+$", "carts\n") and not DNS_LABEL.fullmatch("carts\n")
