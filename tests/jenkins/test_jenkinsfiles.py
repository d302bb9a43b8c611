"""The Jenkinsfiles, the job templates and the controller config, checked without a Jenkins.

Aspects: npm-groovy-lint passes every Jenkinsfile (and rejects a broken one, so the check can
fail); parameters carry Keptn 0.2's names and each one is consumed (shell, CLI environment,
Groovy) or passed on, and every ``build job:`` hands the downstream job exactly the parameters
it declares; every ``sh`` is a single-quoted script, so running all of them with hostile
parameter values executes nothing injected; exit codes map to build results the README's
way; pipelines that produce test results publish JUnit and all archive their documents;
credentials come through ``withCredentials`` with the ids casc.yaml defines; a run_tests build that
ends before handing its verdict on rolls a blue/green switch back in ``post``; the ``build job:``
chain walks the shipyard's stages in order; the job templates declare the same parameters
as the Jenkinsfiles; the carts Jenkinsfile is the service template with carts defaults.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import stat
import subprocess
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import click
import pytest
import yaml

from pipeline_steps.commands.options import context_options
from pipeline_steps.errors import ExitCode
from tests.jenkins import groovy
from tests.jenkins.groovy import PIPELINES, ROOT, SERVICE_FILES

ALL_FILES = [f"Jenkinsfiles/{name}" for name in PIPELINES] + list(SERVICE_FILES)
KEPTN_PARAMS = ["GITHUBORG", "PROJECT", "TESTSTRATEGY", "DEPLOYMENTSTRATEGY", "STAGE", "SERVICE", "IMAGE", "TAG",
                "KEPTNCONTEXT"]
SETTINGS = {"APPROVAL_TIMEOUT_MINUTES", "APPROVERS"}
"""Parameters that configure one job (with a default) rather than describe the delivery; not passed on."""
SHIPYARD = ROOT / "tests" / "documents" / "fixtures" / "shipyard.yaml"


def _linter() -> str:
    linter = os.environ.get("NPM_GROOVY_LINT") or shutil.which("npm-groovy-lint")
    if not linter:
        pytest.fail("npm-groovy-lint not found: run `cd .ci && npm install --prefix . npm-groovy-lint@16` and set "
                    "NPM_GROOVY_LINT=$PWD/.ci/node_modules/.bin/npm-groovy-lint (bash .ci/run does both)")
    return linter


def _lint(linter: str, files: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """One linter run in its own process group, so a hung CodeNarc JVM is killed with it on timeout."""
    proc = subprocess.Popen([linter, "--noserver", "--failon", "error", "--output", "txt", *files], cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail("npm-groovy-lint did not finish within 120 s")
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, "")


def test_npm_groovy_lint_passes_every_jenkinsfile_and_fails_a_broken_one(tmp_path: Path) -> None:
    linter = _linter()
    good = _lint(linter, ALL_FILES, ROOT)
    assert good.returncode == 0, good.stdout
    broken = tmp_path / "Jenkinsfile"
    broken.write_text(groovy.read("deploy").replace("stage('Deploy') {", "stage('Deploy') {{", 1))
    shutil.copy(ROOT / ".groovylintrc.json", tmp_path)
    assert _lint(linter, [str(broken)], tmp_path).returncode != 0, "the linter accepted a Jenkinsfile with a syntax error"


# -- parameters ------------------------------------------------------------------------------------
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
        passed = {value for _, params in groovy.builds(text) for value in params.values()}
        for param in groovy.parameters(text):
            uses = [param.name in shell, calls_cli and param.name in cli_env, f"params.{param.name}" in text,
                    any(f"params.{param.name}" in value for value in passed)]
            assert any(uses), f"{path}: parameter {param.name} is declared but neither used nor passed on"


def test_build_job_passes_exactly_the_downstream_parameters() -> None:
    declared = {name: {p.name for p in groovy.parameters(groovy.read(name))} for name in PIPELINES}
    seen = set()
    for path in ALL_FILES:
        for job, params in groovy.builds(groovy.read(path)):
            seen.add((path, job))
            assert set(params) <= declared[job], f"{path} -> {job}: unknown {set(params) - declared[job]}"
            assert declared[job] - set(params) <= SETTINGS, f"{path} -> {job}: missing {declared[job] - set(params)}"
    assert {(f"Jenkinsfiles/{a}", b) for a, b in [("deploy", "run_tests"), ("run_tests", "evaluation_done"),
                                                   ("evaluation_done", "deploy")]} <= seen
    assert ("Jenkinsfiles/Jenkinsfile.service", "deploy") in seen


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


# -- shell steps -------------------------------------------------------------------------------------
def sh_violations(text: str) -> list[str]:
    """Why a Jenkinsfile's ``sh`` calls are unsafe: not all readable as single-quoted scripts, or Groovy
    values spliced into them."""
    problems = []
    steps = groovy.shell_steps(text)
    if len(steps) != groovy.sh_call_count(text):
        problems.append(f"{groovy.sh_call_count(text) - len(steps)} sh call(s) not written as sh(..., script: '...')")
    for step in steps:
        if re.search(r"\$\{?(params|env|currentBuild)\.", step.script):
            problems.append(f"{step.stage}: Groovy expression in a shell script")
    return problems


def test_every_sh_is_a_single_quoted_script() -> None:
    for path in ALL_FILES:
        assert sh_violations(groovy.read(path)) == [], path
    text = groovy.read("deploy")
    assert sh_violations(text.replace("sh(label: 'service files', script: '''", 'sh(label: "x", script: """', 1)
                         .replace("\"$OUT_DIR\"\n                ''')", "\"$OUT_DIR\"\n                \"\"\")", 1))
    assert sh_violations(text + '\nsh "echo ${params.TAG}"\n')
    assert sh_violations(text + "\nsh 'echo ${params.TAG}'\n")


STUB = """#!/bin/sh
printf '%s\\0' "$(basename "$0")" "$@" >> "$STUB_LOG"; printf '\\n' >> "$STUB_LOG"
if [ "$1 $2" = "shipyard next-stage" ]; then echo dev; fi
if [ "$1 $2" = "shipyard stage" ]; then echo '{"name": "dev"}'; fi
exit 0
"""


def test_hostile_parameter_values_run_nothing(tmp_path: Path) -> None:
    """Every shell step of every Jenkinsfile, with every variable it reads set to an injection attempt."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("pipeline-steps", "git", "docker"):
        (bin_dir / tool).write_text(STUB)
        (bin_dir / tool).chmod(stat.S_IRWXU)
    marker = tmp_path / "pwned"
    hostile = f"$(touch {marker}) `touch {marker}` ; touch {marker} && echo"
    log = tmp_path / "calls.log"
    ran = 0
    for path in ALL_FILES:
        text = groovy.read(path)
        constants = groovy.environment(text)
        for step in groovy.shell_steps(text):
            workspace = tmp_path / f"ws{ran}"
            workspace.mkdir()
            env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "STUB_LOG": str(log), **constants}
            env.update({name: hostile for name in groovy.shell_variables(step.script) if name not in constants})
            subprocess.run(["/bin/sh", "-ec", step.script], cwd=workspace, env=env, capture_output=True, timeout=30)
            ran += 1
    assert ran >= 15
    assert not marker.exists(), "a parameter value was executed by the shell"
    calls = [line.split("\0")[:-1] for line in log.read_text().splitlines()]
    assert any(hostile in args for args in calls), "the hostile value should reach the CLI as one literal argument"


# -- results, credentials, artifacts ------------------------------------------------------------------
def _function(text: str, name: str) -> str:
    match = re.search(rf"^\w[^\n]*\b{name}\([^\n]*\{{\n.*?^\}}", text, re.S | re.M)
    assert match, name
    return match.group(0)


def test_exit_codes_map_to_build_results_as_the_readme_says() -> None:
    bodies = {name: _function(groovy.read(name), "applyExitCode") for name in PIPELINES}
    assert len(set(bodies.values())) == 1, "applyExitCode differs between the Jenkinsfiles"
    body = bodies["deploy"]
    assert "code == 3 || code == 5" in body and "unstable(" in body
    assert "code == 130" in body and "currentBuild.result = 'ABORTED'" in body and "error(" in body
    meanings = _function(groovy.read("deploy"), "exitMeaning")
    assert {int(k) for k in re.findall(r"(\d+): '", meanings)} == {int(c) for c in ExitCode if c != ExitCode.OK}
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for code, result in [(3, "UNSTABLE"), (1, "FAILURE"), (130, "ABORTED")]:
        assert re.search(rf"^\| {code} \|.*\| {result}", readme, re.M), (code, result)
    for name in PIPELINES:
        text = groovy.read(name)
        statuses = re.findall(r"(\w+) = sh\(label: '[^']*', returnStatus: true", text)
        assert statuses, name
        for var in set(statuses):
            assert re.search(rf"applyExitCode\('[^']+', {var}\)", text), f"{name}: exit status {var} is never mapped"
    evaluation_done = groovy.read("evaluation_done")
    assert "code == 5" in evaluation_done and "input(" in evaluation_done and "timeout(time: params.APPROVAL" in evaluation_done
    assert '--approval "$APPROVAL"' in evaluation_done
    ask = _function(evaluation_done, "askApproval")
    assert "submitter: params.APPROVERS" in ask, "who may approve is configurable (input's submitter)"


def test_results_are_published_and_documents_archived() -> None:
    for name in PIPELINES:
        text = groovy.read(name)
        post = text[text.index("\n    post {"):]
        produces_tests = any(re.search(r"pipeline-steps (run-tests|evaluate)\b", s.script) for s in groovy.shell_steps(text))
        assert ("junit(testResults: 'out/junit-*.xml'" in post) == produces_tests, name
        assert "archiveArtifacts(artifacts: 'out/**/*.json" in post, name
    assert "out/**/*.html" in groovy.read("run_tests")


def test_credentials_come_through_with_credentials_with_the_casc_ids() -> None:
    casc = yaml.safe_load((ROOT / "jenkins" / "casc.yaml").read_text(encoding="utf-8"))
    creds = {kind: item["id"] for entry in casc["credentials"]["system"]["domainCredentials"]
             for item_map in entry["credentials"] for kind, item in item_map.items()}
    assert creds == {"file": "kubeconfig", "string": "dynatrace-api-token"}
    platform_steps = ("deploy", "run-tests", "rollback", "evaluate", "evaluation-done")
    for name in PIPELINES:
        text = groovy.read(name)
        assert "file(credentialsId: 'kubeconfig', variable: 'KUBECONFIG')" in text
        for step in groovy.shell_steps(text):
            if any(f"pipeline-steps {cmd} " in step.script for cmd in platform_steps):
                assert "withCredentials(credentialBindings())" in groovy.stage_text(text, step.stage), (name, step.stage)
    run_tests = groovy.read("run_tests")
    assert "string(credentialsId: 'dynatrace-api-token', variable: 'DT_API_TOKEN')" in run_tests
    assert "--dynatrace-token-env DT_API_TOKEN" in run_tests  # the name, never the value, on the command line


def test_lock_per_service_and_stage_around_traffic_changes() -> None:
    lock = 'lock(resource: "pipeline-steps/${params.PROJECT}/${params.STAGE}/${params.SERVICE}")'
    for name, stage in [("deploy", "Deploy"), ("run_tests", "Roll back"), ("run_tests", groovy.POST),
                        ("evaluation_done", "Evaluation done")]:
        assert lock in groovy.stage_text(groovy.read(name), stage), name


def test_run_tests_undoes_the_switch_when_it_ends_before_handing_the_verdict_on() -> None:
    text = groovy.read("run_tests")
    post = groovy.stage_text(text, groovy.POST)
    guard = "if (!handedOver && params.DEPLOYMENTSTRATEGY == 'blue_green_service' && params.PREVIOUS_COLOUR) {"
    rollback = next(s for s in groovy.shell_steps(text) if s.label == "pipeline-steps rollback (unfinished build)")
    assert rollback.stage == groovy.POST and "--to \"$PREVIOUS_COLOUR\"" in rollback.script
    assert guard in post and post.index(guard) < post.index("pipeline-steps rollback (unfinished build)")
    assert "always {" in post.split(guard)[0], "the safety net must run whatever the result (failure, abort)"
    assert text.count("handedOver = true") == 2
    handed_on = groovy.stage_text(text, "Trigger evaluation_done")
    assert handed_on.index("build(job: 'evaluation_done'") < handed_on.index("handedOver = true")
    rolled_back = groovy.stage_text(text, "Roll back")
    assert rolled_back.index("pipeline-steps rollback") < rolled_back.index("handedOver = true")


def test_carts_jenkinsfile_is_the_service_template_with_carts_defaults() -> None:
    template = groovy.read("Jenkinsfiles/Jenkinsfile.service").splitlines()
    carts = groovy.read("examples/carts/Jenkinsfile").splitlines()
    differing = [(a, b) for a, b in zip(template, carts, strict=True) if a != b]
    assert all(a.startswith("//") or "defaultValue" in a for a, _ in differing), differing
    assert {p.name: p.default for p in groovy.parameters("\n".join(carts))}["SERVICE"] == "carts"


# -- the chain ---------------------------------------------------------------------------------------
def _shell_stdout(script: str, env: dict[str, str], cwd: Path) -> str:
    full_env = {**os.environ, **env}
    return subprocess.run(["/bin/sh", "-ec", script], cwd=cwd, env=full_env, capture_output=True, text=True,
                          check=True, timeout=60).stdout


def _step(path: str, label: str) -> str:
    return next(s.script for s in groovy.shell_steps(groovy.read(path)) if s.label == label)


def _walk_chain(shipyard: Path, tmp_path: Path) -> list[dict[str, Any]]:
    """Follow the build(job:) chain as Jenkins would, running the Jenkinsfiles' own shipyard steps."""
    (tmp_path / "svc").mkdir(exist_ok=True)
    shutil.copy(shipyard, tmp_path / "svc" / "shipyard.yaml")
    (tmp_path / "service").unlink(missing_ok=True)
    (tmp_path / "service").symlink_to(tmp_path / "svc")
    first_stage = _step("Jenkinsfiles/Jenkinsfile.service", "first stage")
    first = json.loads(_shell_stdout(first_stage, {"SERVICE_PATH": "svc", "SHIPYARD": "shipyard.yaml"}, tmp_path))
    service_build = dict(groovy.builds(groovy.read("Jenkinsfiles/Jenkinsfile.service")))["deploy"]
    assert (service_build["STAGE"], service_build["TESTSTRATEGY"]) == ("first.name", "first.test_strategy ?: ''")
    visited = [first]
    promote = dict(groovy.builds(groovy.read("evaluation_done")))["deploy"]
    assert (promote["STAGE"], promote["DEPLOYMENTSTRATEGY"]) == ("next.name", "next.deployment_strategy")
    trigger_tests = groovy.stage_text(groovy.read("deploy"), "Trigger run_tests")
    assert "when { expression { params.TESTSTRATEGY?.trim() as boolean } }" in trigger_tests
    while visited[-1]["test_strategy"]:  # deploy -> run_tests -> evaluation_done only with a test strategy
        # what evaluation-done writes into promotion.json's next_stage:
        nxt = subprocess.run(["pipeline-steps", "shipyard", "next-stage", "--shipyard", str(shipyard), "--stage",
                              visited[-1]["name"]], capture_output=True, text=True, check=True).stdout.strip()
        if not nxt:
            break
        visited.append(json.loads(_shell_stdout(_step("Jenkinsfiles/evaluation_done", "next stage"),
                                                {"NEXT_STAGE": nxt, "SHIPYARD": "shipyard.yaml"}, tmp_path)))
    return visited


def test_build_job_chain_follows_the_shipyard_stage_order(tmp_path: Path) -> None:
    stages = yaml.safe_load(SHIPYARD.read_text(encoding="utf-8"))["stages"]
    visited = _walk_chain(SHIPYARD, tmp_path)
    assert [s["name"] for s in visited] == [s["name"] for s in stages] == ["dev", "staging", "production"]
    assert [s["deployment_strategy"] for s in visited] == [s["deployment_strategy"] for s in stages]
    assert [s["test_strategy"] for s in visited] == [s.get("test_strategy", "") for s in stages]

    reordered = tmp_path / "other.yaml"
    reordered.write_text(yaml.safe_dump({"stages": [
        {"name": "qa", "deployment_strategy": "blue_green_service", "test_strategy": "performance"},
        {"name": "canary", "deployment_strategy": "direct", "test_strategy": "functional"},
        {"name": "live", "deployment_strategy": "blue_green_service", "test_strategy": "functional"}]}))
    assert [s["name"] for s in _walk_chain(reordered, tmp_path)] == ["qa", "canary", "live"]


# -- the controller ----------------------------------------------------------------------------------
STEP_PLUGINS = {
    "readJSON(": "pipeline-utility-steps", "readYaml(": "pipeline-utility-steps", "lock(": "lockable-resources",
    "junit(": "junit", "withCredentials(": "credentials-binding", "string(credentialsId": "plain-credentials",
    "input(": "pipeline-input-step", "$class: 'GitSCM'": "git", "build(job:": "workflow-aggregator",
    "pipeline {": "pipeline-model-definition",
}
JENKINS_ENV = {"GIT_URL", "GIT_COMMIT", "WORKSPACE", "BUILD_NUMBER"}
"""Set by Jenkins itself (git plugin, core)."""


def test_every_step_used_has_its_plugin_in_plugins_txt() -> None:
    lines = (ROOT / "jenkins" / "plugins.txt").read_text(encoding="utf-8").splitlines()
    plugins = {line.split(":")[0].strip() for line in lines if line.strip() and not line.startswith("#")}
    assert "configuration-as-code" in plugins and "workflow-multibranch" in plugins
    used = {plugin for path in ALL_FILES for step, plugin in STEP_PLUGINS.items() if step in groovy.read(path)}
    assert used == set(STEP_PLUGINS.values()), "a step table entry is no longer used; keep the table honest"
    assert used <= plugins, used - plugins


def test_environment_the_jenkinsfiles_read_is_set_by_casc_jenkins_or_the_file_itself() -> None:
    casc = yaml.safe_load((ROOT / "jenkins" / "casc.yaml").read_text(encoding="utf-8"))
    casc_env = {e["key"] for e in casc["jenkins"]["globalNodeProperties"][0]["envVars"]["env"]}
    for path in ALL_FILES:
        text = groovy.read(path)
        own = set(re.findall(r"env\.([A-Z_]+) = ", text)) | set(groovy.environment(text))
        own |= {name for names in re.findall(r"withEnv\(\[([^\]]*)\]", text) for name in re.findall(r"([A-Z_]+)=", names)}
        read = set(re.findall(r"env\.([A-Z_]+)\b(?! = )", text))
        scripts = [s.script for s in groovy.shell_steps(text)]
        shell = set().union(*(groovy.shell_variables(script) for script in scripts))
        own |= {name for script in scripts for name in re.findall(r"^\s*([A-Z_]+)=", script, re.M)}
        declared = {p.name for p in groovy.parameters(text)}
        unknown = (read | shell) - own - casc_env - JENKINS_ENV - declared - {"KUBECONFIG", "DT_API_TOKEN"}
        assert unknown == set(), f"{path}: {unknown}"


def test_carts_sample_defaults_find_service_and_shipyard(tmp_path: Path) -> None:
    """With the carts Jenkinsfile's defaults, the jobs find examples/carts and the project shipyard."""
    defaults = {p.name: p.default for p in groovy.parameters(groovy.read("examples/carts/Jenkinsfile"))}
    env = {"SERVICE_PATH": defaults["SERVICE_PATH"], "SHIPYARD": defaults["SHIPYARD"], "SERVICE_REPO": "", "OUT_DIR": "out"}
    first = json.loads(_shell_stdout(_step("examples/carts/Jenkinsfile", "first stage"), env, ROOT))
    assert first["name"] == "dev"
    (tmp_path / "examples").symlink_to(ROOT / "examples")  # a deploy job's workspace: a checkout of this repository
    _shell_stdout(_step("Jenkinsfiles/deploy", "service files"), env, tmp_path)
    staging = json.loads(_shell_stdout(_step("Jenkinsfiles/deploy", "stage config"), dict(env, STAGE="staging"), tmp_path))
    assert staging["deployment_strategy"] == "blue_green_service"
    assert (tmp_path / "service" / "service.yaml").is_file()
