"""The Jenkinsfiles' own shell steps, run against the local platform, so they and the CLI cannot drift.

Each ``sh`` script is taken from the Jenkinsfile exactly as Jenkins would hand it to ``/bin/sh -xe``
(tests/jenkins/groovy.py) and run with the build's parameters as environment variables, in a
fresh workspace per build; the small Groovy glue between the steps (readJSON, the ``when``
conditions, the ``build job:`` parameters) is mirrored here, and the parameters it hands on
must be exactly the ones the Jenkinsfile's ``build(...)`` passes.

Aspects: "Build Now" on the service job builds the artifact and walks v1 through dev
(direct, functional), staging (blue/green, performance, quality gate) to production; a slow v2
passes dev, fails the staging gate, staging's traffic goes back to v1 and production keeps v1; a v3
whose staging run_tests build breaks before the gate is switched back to v1 by the post section; a
v4 whose staging load test fails is rolled back by run_tests itself;
a gate WARNING in a stage with manual approval on warning waits for the input step (exit 5),
and the answer decides (approve promotes to production, reject stops); every run_tests build
leaves JUnit files; every labelled shell step of the Jenkinsfiles is run (except the docker
build, which needs a registry); every process started is stopped afterwards.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.jenkins import groovy
from tests.jenkins.groovy import ROOT

pytestmark = pytest.mark.slow

PERFSPEC = {"spec_version": "1.0", "indicators": [{
    "id": "mean_latency_ms", "source": "testrun", "query": "performance.latency_ms.mean",
    "grading": {"type": "Threshold", "thresholds": {"upperSevere": 150}, "metricScore": 100}}],
    "objectives": {"pass": 90, "warning": 75}}
SHIPYARD = {"stages": [
    {"name": "dev", "deployment_strategy": "direct", "test_strategy": "functional"},
    {"name": "staging", "deployment_strategy": "blue_green_service", "test_strategy": "performance",
     "gate": "perfspec-testrun.json"},
    {"name": "production", "deployment_strategy": "blue_green_service"}]}
MANUAL_ON_WARNING = {"stages": [dict(SHIPYARD["stages"][0]),
                                dict(SHIPYARD["stages"][1], approval_strategy={"pass": "automatic", "warning": "manual"}),
                                dict(SHIPYARD["stages"][2])]}
WARNING_PERFSPEC = {"spec_version": "1.0", "indicators": [
    {"id": "mean_latency_ms", "source": "testrun", "query": "performance.latency_ms.mean",
     "grading": {"type": "Threshold", "thresholds": {"upperSevere": 100000}, "metricScore": 70}},
    {"id": "max_latency_ms", "source": "testrun", "query": "performance.latency_ms.max",
     "grading": {"type": "Threshold", "thresholds": {"upperWarning": 0.001}, "metricScore": 30}}],
    "objectives": {"pass": 90, "warning": 75}}


@dataclass
class Jenkins:
    """Runs builds the way the Jenkinsfiles do; records (job, STAGE, label, exit code) of every step."""

    tmp: Path
    global_env: dict[str, str]
    log: list[tuple[str, str, str, int]] = field(default_factory=list)
    approval_answer: str = "approve"
    """What the person at the ``input`` step answers (a timeout or Abort counts as ``reject``)."""
    workspaces: list[Path] = field(default_factory=list)
    break_gate_stage_in: str = ""
    ran: set[tuple[str, str]] = field(default_factory=set)
    """(Jenkinsfile, label) of every shell step run so far."""
    """STAGE whose run_tests build breaks in the Quality gate stage (a Groovy error, before any verdict)."""

    def workspace(self, job: str) -> Path:
        path = self.tmp / f"ws-{len(self.workspaces):02d}-{job}"
        path.mkdir()
        self.workspaces.append(path)
        return path

    def sh(self, path: str, label: str, env: dict[str, str], ws: Path) -> subprocess.CompletedProcess[str]:
        script = next(s.script for s in groovy.shell_steps(groovy.read(path)) if s.label == label)
        full = {**os.environ, **self.global_env, **groovy.environment(groovy.read(path)), **env}
        done = subprocess.run(["/bin/sh", "-xe", "-c", script], cwd=ws, env=full, capture_output=True, text=True,
                              timeout=120)
        self.log.append((Path(path).name, env.get("STAGE", ""), label, done.returncode))
        self.ran.add((path, label))
        return done

    def ok(self, path: str, label: str, env: dict[str, str], ws: Path) -> str:
        done = self.sh(path, label, env, ws)
        assert done.returncode == 0, f"{path} {label}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"
        return done.stdout

    # -- one method per job, mirroring its Jenkinsfile ----------------------------------------------
    def service(self, params: dict[str, str]) -> dict[str, str]:
        path, ws = "examples/carts/Jenkinsfile", self.workspace("service")
        env = dict(params, VERSION_TAG=params["TAG"])
        self.ok(path, "clean output", env, ws)
        env["ARTIFACT_IMAGE"] = f"{self.global_env['PIPELINE_STEPS_STATE_DIR']}/images/{params['SERVICE']}"
        self.ok(path, "pipeline-steps local build", env, ws)
        first = json.loads(self.ok(path, "first stage", env, ws))
        return passed(path, "deploy", {
            "GITHUBORG": params["GITHUBORG"], "PROJECT": params["PROJECT"], "TESTSTRATEGY": first["test_strategy"],
            "DEPLOYMENTSTRATEGY": first["deployment_strategy"], "STAGE": first["name"], "SERVICE": params["SERVICE"],
            "IMAGE": env["ARTIFACT_IMAGE"], "TAG": env["VERSION_TAG"], "KEPTNCONTEXT": "ctx-" + params["TAG"],
            "PLATFORM": params["PLATFORM"], "SERVICE_REPO": "", "SERVICE_REVISION": "",
            "SERVICE_PATH": params["SERVICE_PATH"], "SHIPYARD": params["SHIPYARD"]})

    def deploy(self, params: dict[str, str]) -> dict[str, str] | None:
        path, ws = "Jenkinsfiles/deploy", self.workspace("deploy")
        self.ok(path, "service files", params, ws)
        stage = json.loads(self.ok(path, "stage config", params, ws))
        after_gate = params["DEPLOYMENTSTRATEGY"] == "blue_green_service" and bool(params["TESTSTRATEGY"]) and \
            stage["switch"] == "after_gate"
        self.ok(path, "pipeline-steps deploy", dict(params, NO_SWITCH="true" if after_gate else ""), ws)
        if not params["TESTSTRATEGY"].strip():
            return None
        deployment = json.loads((ws / "out" / "deployment.json").read_text())
        before = deployment.get("weights_before") or {}
        colour_urls = (deployment.get("endpoints") or {}).get("colour_urls") or {}
        return passed(path, "run_tests", {
            **{k: params[k] for k in ("GITHUBORG", "PROJECT", "TESTSTRATEGY", "DEPLOYMENTSTRATEGY", "STAGE", "SERVICE",
                                      "IMAGE", "TAG", "KEPTNCONTEXT", "PLATFORM", "SERVICE_REPO", "SERVICE_REVISION",
                                      "SERVICE_PATH", "SHIPYARD")},
            "TIMESTAMP": deployment.get("finished_at") or "", "COLOUR": deployment.get("colour") or "",
            "PREVIOUS_COLOUR": deployment.get("previous_colour") or "",
            "WEIGHTS_BEFORE": f"{before['blue']}/{before['green']}" if before else "",
            "TEST_TARGET": colour_urls.get(deployment.get("colour"), "") if after_gate else ""})

    def run_tests(self, params: dict[str, str]) -> dict[str, str] | None:
        path, ws = "Jenkinsfiles/run_tests", self.workspace("run_tests")
        self.ok(path, "service files", params, ws)
        tests_exit = self.sh(path, "pipeline-steps run-tests", params, ws).returncode
        gate_exit = 0
        blue_green = params["DEPLOYMENTSTRATEGY"] == "blue_green_service" and bool(params["PREVIOUS_COLOUR"])
        broken = tests_exit == 0 and params["STAGE"] == self.break_gate_stage_in
        handed_over = False
        if tests_exit != 0 and blue_green:
            self.ok(path, "pipeline-steps rollback", params, ws)
            handed_over = True
        if tests_exit == 0 and not broken:
            stage = json.loads(self.ok(path, "stage config", params, ws))
            service_gate = yaml.safe_load((ws / "service" / "service.yaml").read_text()).get("gate") or ""
            gate = stage["gate"] or (f"service/{service_gate}" if service_gate else "")
            if params["TESTSTRATEGY"] == "performance" or stage["gate"]:
                assert gate, "no gate spec"
                flag = "--slo" if gate.endswith((".yaml", ".yml")) else "--spec"
                gate_exit = self.sh(path, "pipeline-steps evaluate", dict(params, GATE_FLAG=flag, GATE_FILE=gate), ws).returncode
            handed_over = True  # the Trigger evaluation_done stage
        if not handed_over and blue_green:  # post: always
            self.ok(path, "pipeline-steps rollback (unfinished build)", params, ws)
        self.sh(path, "pipeline-steps report", params, ws)  # post: always; its exit code only echoes
        assert list((ws / "out").glob("junit-*.xml")), "run_tests publishes out/junit-*.xml"
        if tests_exit != 0 or broken:
            return None
        verdict = {0: "pass", 1: "fail", 3: "warning"}.get(gate_exit, "error")
        return passed(path, "evaluation_done", {
            **{k: params[k] for k in ("GITHUBORG", "PROJECT", "TESTSTRATEGY", "DEPLOYMENTSTRATEGY", "STAGE", "SERVICE",
                                      "IMAGE", "TAG", "KEPTNCONTEXT", "PLATFORM", "SERVICE_REPO", "SERVICE_REVISION",
                                      "SERVICE_PATH", "SHIPYARD", "COLOUR", "PREVIOUS_COLOUR", "WEIGHTS_BEFORE")},
            "VERDICT": verdict, "EVALUATIONPASSED": "true" if verdict == "pass" else "false"})

    def evaluation_done(self, params: dict[str, str]) -> tuple[int, dict[str, str] | None]:
        path, ws = "Jenkinsfiles/evaluation_done", self.workspace("evaluation_done")
        params = {"APPROVAL_TIMEOUT_MINUTES": "60", **params}
        self.ok(path, "service files", params, ws)
        passed_flag = params["EVALUATIONPASSED"]
        verdict = params["VERDICT"] or (("pass" if passed_flag == "true" else "fail") if passed_flag else "")
        code = self.sh(path, "pipeline-steps evaluation-done", dict(params, VERDICT=verdict, APPROVAL="auto"), ws).returncode
        if code == 5:
            answered = dict(params, VERDICT=verdict, APPROVAL=self.approval_answer)
            code = self.sh(path, "pipeline-steps evaluation-done (approval)", answered, ws).returncode
        promotion = json.loads((ws / "out" / "promotion.json").read_text())
        if code != 0 or promotion["action"] != "promote" or not promotion["next_stage"]:
            return code, None
        nxt = json.loads(self.ok(path, "next stage", dict(params, NEXT_STAGE=promotion["next_stage"]), ws))
        return code, passed(path, "deploy", {
            **{k: params[k] for k in ("GITHUBORG", "PROJECT", "SERVICE", "IMAGE", "TAG", "KEPTNCONTEXT", "PLATFORM",
                                      "SERVICE_REPO", "SERVICE_REVISION", "SERVICE_PATH", "SHIPYARD")},
            "TESTSTRATEGY": nxt["test_strategy"] or "", "DEPLOYMENTSTRATEGY": nxt["deployment_strategy"], "STAGE": nxt["name"]})

    def deliver(self, params: dict[str, str]) -> list[str]:
        """Build Now on the service job, then follow every ``build job:`` until the chain ends."""
        stages = []
        deploy: dict[str, str] | None = self.service(params)
        while deploy is not None:
            stages.append(deploy["STAGE"])
            tests = self.deploy(deploy)
            evaluation = self.run_tests(tests) if tests else None
            deploy = self.evaluation_done(evaluation)[1] if evaluation else None
        return stages


def passed(path: str, job: str, values: dict[str, str]) -> dict[str, str]:
    """The parameters this emulation hands on must be exactly what the Jenkinsfile's build(job:) passes."""
    declared = dict(groovy.builds(groovy.read(path)))[job]
    assert set(values) == set(declared), f"{path} -> {job}: {set(values) ^ set(declared)}"
    return values


@pytest.fixture()
def jenkins(tmp_path: Path) -> Iterator[Jenkins]:
    casc = yaml.safe_load((ROOT / "jenkins" / "casc.yaml").read_text(encoding="utf-8"))
    casc_env = {e["key"] for e in casc["jenkins"]["globalNodeProperties"][0]["envVars"]["env"]}
    state = tmp_path / "state"
    global_env = {key: "" for key in casc_env}
    global_env.update(PIPELINE_STEPS_STATE_DIR=str(state), PIPELINE_STEPS_HISTORY=str(tmp_path / "history.sqlite"))
    assert set(global_env) == casc_env, "the Jenkinsfiles' global settings come from casc.yaml"
    emulator = Jenkins(tmp_path, global_env)
    try:
        yield emulator
    finally:
        subprocess.run(["pipeline-steps", "local", "down", "--state-dir", str(state)], capture_output=True, timeout=60)
    assert not processes_using(state), "local down left processes of this test running"


def processes_using(folder: Path) -> list[str]:
    """Live processes that name ``folder`` (Envoy, Prometheus) or run inside it (the service colours)."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            cwd = os.readlink(proc / "cwd")
        except OSError:
            continue
        if proc.name.isdigit() and (str(folder) in cmdline or cwd.startswith(str(folder))):
            found.append(cmdline)
    return found


def make_service(tmp_path: Path, name: str, delay_ms: int, shipyard: dict[str, Any] = SHIPYARD,
                 perfspec: dict[str, Any] = PERFSPEC, failing_percent: int = 0) -> Path:
    """The carts sample with short tests, the test shipyard and a gate on the load test's own mean latency."""
    svc = tmp_path / name
    svc.mkdir()
    for item in ("app.py", "application.properties", "service.yaml"):
        shutil.copy(ROOT / "examples" / "carts" / item, svc / item)
    props = (svc / "application.properties").read_text()
    (svc / "application.properties").write_text(props.replace("delayInMillis=0", f"delayInMillis={delay_ms}")
                                                .replace("promotionRate=0", f"promotionRate={failing_percent}")
                                                .replace("version=v1", f"version={name}"))
    tests = yaml.safe_load((ROOT / "examples" / "carts" / "tests.yaml").read_text())
    tests["performance"].update(users=2, loops=8, think_time_ms=0, ramp_up_s=0)
    (svc / "tests.yaml").write_text(yaml.safe_dump(tests))
    (svc / "shipyard.yaml").write_text(yaml.safe_dump(shipyard, sort_keys=False))
    (svc / "perfspec-testrun.json").write_text(json.dumps(perfspec))
    return svc


def live_tag(jenkins: Jenkins, stage: str) -> tuple[str, dict[str, str]]:
    """(tag that takes the traffic, colour -> "tag mark") of one stage, read from the platform."""
    out = subprocess.run(["pipeline-steps", "status", "--output", "json", "--project", "sockshop", "--service", "carts",
                          "--stage", stage, "--state-dir", jenkins.global_env["PIPELINE_STEPS_STATE_DIR"]],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    status = json.loads(out.stdout)
    colours = {c["colour"]: c for c in status["colours"]}
    return colours[status["live"]]["tag"], {c: f"{v['tag']} {v['mark']}".strip() for c, v in colours.items()}


def test_jenkinsfile_steps_deliver_a_good_version_and_stop_a_slow_one(jenkins: Jenkins, tmp_path: Path) -> None:
    base = {"GITHUBORG": "sockshop-org", "PROJECT": "sockshop", "SERVICE": "carts", "PLATFORM": "local",
            "SHIPYARD": "shipyard.yaml"}
    v1 = make_service(tmp_path, "v1", delay_ms=0)
    assert jenkins.deliver(dict(base, TAG="1.0.0", SERVICE_PATH=str(v1))) == ["dev", "staging", "production"]
    assert all(code == 0 for job, _, label, code in jenkins.log if label != "pipeline-steps report"), jenkins.log

    v2 = make_service(tmp_path, "v2", delay_ms=400)
    jenkins.log.clear()
    assert jenkins.deliver(dict(base, TAG="2.0.0", SERVICE_PATH=str(v2))) == ["dev", "staging"]
    codes = {(job, stage, label): code for job, stage, label, code in jenkins.log}
    assert codes[("run_tests", "dev", "pipeline-steps run-tests")] == 0
    assert codes[("run_tests", "staging", "pipeline-steps evaluate")] == 1, "the staging gate fails v2"
    assert codes[("evaluation_done", "staging", "pipeline-steps evaluation-done")] == 1, "and rolls it back"

    staging_live, staging_colours = live_tag(jenkins, "staging")
    assert staging_live == "1.0.0", staging_colours
    assert sorted(staging_colours.values()) == ["1.0.0 passed", "2.0.0 failed"]
    assert live_tag(jenkins, "production")[0] == "1.0.0", "production never got v2"

    # v3 is switched to in staging (switch before the tests), then its run_tests build breaks before the gate:
    jenkins.log.clear()
    jenkins.break_gate_stage_in = "staging"
    assert jenkins.deliver(dict(base, TAG="3.0.0", SERVICE_PATH=str(make_service(tmp_path, "v3", delay_ms=0)))) == \
        ["dev", "staging"]
    assert ("run_tests", "staging", "pipeline-steps rollback (unfinished build)", 0) in jenkins.log
    assert live_tag(jenkins, "staging")[0] == "1.0.0", "an unjudged v3 must not keep the staging traffic"

    # v4 answers every add-item with 500: its staging load test fails, run_tests rolls back and the chain ends.
    jenkins.log.clear()
    from_staging = {"stages": SHIPYARD["stages"][1:]}
    v4 = make_service(tmp_path, "v4", delay_ms=0, shipyard=from_staging, failing_percent=100)
    assert jenkins.deliver(dict(base, TAG="4.0.0", SERVICE_PATH=str(v4))) == ["staging"]
    codes = {label: code for _, _, label, code in jenkins.log}
    assert codes["pipeline-steps run-tests"] == 1 and codes["pipeline-steps rollback"] == 0, jenkins.log
    assert "pipeline-steps evaluate" not in codes and "pipeline-steps rollback (unfinished build)" not in codes
    assert live_tag(jenkins, "staging")[0] == "1.0.0", "traffic goes back to v1 when v4's tests fail"

    # Every shell step of the Jenkinsfiles ran, so a new one cannot be added without being run here too.
    elsewhere = {"container image": "needs docker and a registry", "version": "its own test below",
                 "pipeline-steps evaluation-done (approval)": "the approval test below"}
    every = {(path, step.label) for path in ("examples/carts/Jenkinsfile", "Jenkinsfiles/deploy", "Jenkinsfiles/run_tests",
                                             "Jenkinsfiles/evaluation_done")
             for step in groovy.shell_steps(groovy.read(path)) if step.label not in elsewhere}
    assert every - jenkins.ran == set()


@pytest.mark.parametrize(("answer", "reached"), [("approve", ["dev", "staging", "production"]), ("reject", ["dev", "staging"])])
def test_a_warning_waits_for_the_input_step(jenkins: Jenkins, tmp_path: Path, answer: str, reached: list[str]) -> None:
    jenkins.approval_answer = answer
    svc = make_service(tmp_path, "v1", delay_ms=0, shipyard=MANUAL_ON_WARNING, perfspec=WARNING_PERFSPEC)
    params = {"GITHUBORG": "", "PROJECT": "sockshop", "SERVICE": "carts", "PLATFORM": "local", "TAG": "1.0.0",
              "SERVICE_PATH": str(svc), "SHIPYARD": "shipyard.yaml"}
    assert jenkins.deliver(params) == reached
    codes = [(stage, label, code) for _, stage, label, code in jenkins.log if stage == "staging"]
    assert ("staging", "pipeline-steps evaluate", 3) in codes, "the gate's WARNING (exit 3): the build turns UNSTABLE"
    assert ("staging", "pipeline-steps evaluation-done", 5) in codes, "manual approval required (exit 5): input step"
    after = [code for stage, label, code in codes if label == "pipeline-steps evaluation-done (approval)"]
    assert ("Jenkinsfiles/evaluation_done", "pipeline-steps evaluation-done (approval)") in jenkins.ran
    assert after == [0 if answer == "approve" else 1]
    if answer == "approve":
        assert live_tag(jenkins, "production")[0] == "1.0.0"


def test_service_version_step_tags_the_build_with_git_describe(tmp_path: Path) -> None:
    repo = tmp_path / "service-repo"
    repo.mkdir()
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "init.defaultBranch=main"]
    (repo / "README").write_text("carts\n")
    for args in (["init", "-q"], ["add", "README"], ["commit", "-q", "-m", "v1"], ["tag", "1.2.3"]):
        subprocess.run([*git, *args], cwd=repo, check=True, capture_output=True)
    script = next(s.script for s in groovy.shell_steps(groovy.read("examples/carts/Jenkinsfile")) if s.label == "version")
    out = subprocess.run(["/bin/sh", "-xe", "-c", script], cwd=repo, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "1.2.3"  # the Jenkinsfile's VERSION_TAG when the TAG parameter is empty
