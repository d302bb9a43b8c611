"""The Jenkinsfiles, the library sources and the job templates, read as text.

Aspects: npm-groovy-lint passes every Jenkinsfile, vars/*.groovy and src/**/*.groovy (and rejects a
broken file, so the check can fail); parameters carry Keptn 0.2's names and each one is used; the job
templates declare the same parameters as the Jenkinsfiles and point at them; the carts Jenkinsfile is
the service template with carts defaults. What the files do when run: test_pipeline_rules.py,
test_library.py, test_library_hostile.py, test_library_run.py, test_readme_library.py, test_jenkinsfiles_run.py.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import click
import pytest

from pipeline_steps.commands.options import context_options
from tests.jenkins import groovy
from tests.jenkins.groovy import PIPELINES, ROOT, SERVICE_FILES

ALL_FILES = [f"Jenkinsfiles/{name}" for name in PIPELINES] + list(SERVICE_FILES)
LIBRARY_FILES = sorted(str(p.relative_to(ROOT)) for p in [*(ROOT / "vars").glob("*.groovy"), *(ROOT / "src").rglob("*.groovy")])
KEPTN_PARAMS = ["GITHUBORG", "PROJECT", "TESTSTRATEGY", "DEPLOYMENTSTRATEGY", "STAGE", "SERVICE", "IMAGE", "TAG",
                "KEPTNCONTEXT"]
SHIPYARD = ROOT / "tests" / "documents" / "fixtures" / "shipyard.yaml"


def _linter() -> str:
    linter = os.environ.get("NPM_GROOVY_LINT") or shutil.which("npm-groovy-lint")
    if not linter:
        pytest.fail("npm-groovy-lint not found: run `cd .ci && npm install --prefix . npm-groovy-lint@16` and set "
                    "NPM_GROOVY_LINT=$PWD/.ci/node_modules/.bin/npm-groovy-lint (bash .ci/run does both)")
    return linter


def _lint(linter: str, files: list[str], cwd: Path) -> dict[str, Any]:
    """One linter run (JSON report) in its own process group, so a hung CodeNarc JVM is killed with it on timeout.
    The files must share ``cwd``: CodeNarc walks its base folder, the common parent of what it is given."""
    proc = subprocess.Popen([linter, "--noserver", "--failon", "warning", "--output", "json", *files], cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=240)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail("npm-groovy-lint did not finish within 240 s")
    try:
        report: dict[str, Any] = json.loads(out)
    except ValueError:
        pytest.fail(f"npm-groovy-lint wrote no JSON report (exit {proc.returncode}): {err[-2000:]}")
    return report


def test_npm_groovy_lint_passes_every_jenkinsfile_and_library_file_and_fails_a_broken_one(tmp_path: Path) -> None:
    """One CodeNarc run (a JVM start is most of its cost) over copies of every file and a broken Jenkinsfile,
    with the repository's .groovylintrc.json; .ci/run lints the tree itself the same way."""
    linter = _linter()
    assert len(LIBRARY_FILES) >= 8, LIBRARY_FILES
    for rel in [*ALL_FILES, *LIBRARY_FILES, ".groovylintrc.json"]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / rel, tmp_path / rel)
    broken = tmp_path / "broken" / "Jenkinsfile"
    broken.parent.mkdir()
    broken.write_text(groovy.read("deploy").replace("stage('Deploy') {", "stage('Deploy') {{", 1))
    report = _lint(linter, [*ALL_FILES, *LIBRARY_FILES, "broken/Jenkinsfile"], tmp_path)
    found = {str(Path(name).resolve().relative_to(tmp_path.resolve())): [(e["severity"], e["rule"], e.get("line"))
                                                                         for e in result.get("errors", [])]
             for name, result in report["files"].items()}
    assert sorted(found) == sorted([*ALL_FILES, *LIBRARY_FILES, "broken/Jenkinsfile"]), sorted(found)
    assert any(severity == "error" for severity, _, _ in found.pop("broken/Jenkinsfile")), \
        "the linter accepted a Jenkinsfile with a syntax error"
    problems = {name: [e for e in errors if e[0] in ("error", "warning")] for name, errors in found.items()}
    assert not any(problems.values()), {k: v for k, v in problems.items() if v}


def _cli_env_names() -> set[str]:
    """Environment variables the CLI reads on its own (context flags and evaluation-done's facts)."""
    from pipeline_steps.commands.evaluation_done import evaluation_done

    probe = context_options(click.command()(lambda **_: None))
    names = {p.envvar for cmd in (probe, evaluation_done) for p in cmd.params if isinstance(p.envvar, str)}
    return names


def test_keptn_parameters_are_declared_as_strings() -> None:
    extra = {"deploy": [], "run_tests": ["TIMESTAMP"], "evaluation_done": ["EVALUATIONPASSED"]}
    for name in PIPELINES:
        params = {p.name: p for p in groovy.parameters(groovy.read(name))}
        for keptn in KEPTN_PARAMS + extra[name]:
            assert keptn in params and params[keptn].kind == "string", f"{name}: {keptn}"
        assert params["PLATFORM"].choices == ("kubernetes", "local"), "PLATFORM defaults to kubernetes in Jenkins"


def test_every_declared_parameter_is_consumed_or_passed_on() -> None:
    cli_env = _cli_env_names()
    assert {"TAG", "STAGE", "VERDICT", "COLOUR", "WEIGHTS_BEFORE"} <= cli_env
    for path in ALL_FILES:
        text = groovy.read(path)
        shell = set().union(*(groovy.shell_variables(s.script) for s in groovy.shell_steps(text)))
        calls_cli = any("pipeline-steps " in s.script for s in groovy.shell_steps(text))
        for param in groovy.parameters(text):
            uses = [param.name in shell, calls_cli and param.name in cli_env, f"params.{param.name}" in text]
            assert any(uses), f"{path}: parameter {param.name} is declared but neither used nor passed on"


def test_job_templates_declare_the_jenkinsfile_parameters() -> None:
    for name in PIPELINES:
        root = ElementTree.parse(ROOT / "jenkins" / "jobs" / f"{name}.xml").getroot()
        xml_params = []
        for definition in root.iter():
            if definition.tag.endswith("ParameterDefinition"):
                choices = tuple(s.text or "" for s in definition.iter("string"))
                xml_params.append((definition.findtext("name"), definition.findtext("defaultValue") or
                                   (choices[0] if choices else ""), choices))
        jenkinsfile = [(p.name, p.default, p.choices) for p in groovy.parameters(groovy.read(name))]
        assert xml_params == jenkinsfile, name
        assert root.findtext(".//scriptPath") == f"Jenkinsfiles/{name}"




def test_carts_jenkinsfile_is_the_service_template_with_carts_defaults() -> None:
    template = groovy.read("Jenkinsfiles/Jenkinsfile.service").splitlines()
    carts = groovy.read("examples/carts/Jenkinsfile").splitlines()
    differing = [(a, b) for a, b in zip(template, carts, strict=True) if a != b]
    assert all(a.startswith("//") or "defaultValue" in a for a, _ in differing), differing
    assert {p.name: p.default for p in groovy.parameters("\n".join(carts))}["SERVICE"] == "carts"
