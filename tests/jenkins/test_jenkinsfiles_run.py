"""The Jenkinsfiles and the library's vars/*.groovy, played by Jenkins' Groovy with every `sh` run for
real against the local platform, so the Jenkins side and the CLI cannot drift apart.

The harness (tests/jenkins/pipeline.py) plays "Build Now" on the service's main branch and then every
build the chain starts (deploy -> run_tests -> evaluation_done -> deploy of the next stage), each
started by its upstream job, each stage's work on a fresh agent workspace.

Aspects: the demo's story through the library steps: v1 goes dev -> staging (gate PASS) -> production;
a slow v2 passes dev, fails the staging gate and staging's traffic goes back to v1 while production
keeps v1; v3 reaches production. A v4 whose staging load test fails is rolled back by run_tests; a
gate WARNING in a stage with manual approval waits for the approval step outside any agent, and an
answer from someone outside the controller's approvers is refused while an approver's answer promotes.
Every run_tests build published JUnit and archived its documents; every process started is stopped.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.jenkins.pipeline import ROOT, Played, casc_env, chain_of, gate_evidence, play

pytestmark = pytest.mark.slow

JOBS = {"delivery/deploy": "Jenkinsfiles/deploy", "delivery/run_tests": "Jenkinsfiles/run_tests",
        "delivery/evaluation_done": "Jenkinsfiles/evaluation_done"}
ITEMS = [*JOBS, "carts/main"]

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


def live_tag(state: Path, stage: str) -> tuple[str, dict[str, str]]:
    """(tag that takes the traffic, colour -> "tag mark") of one stage, read from the platform."""
    out = subprocess.run(["pipeline-steps", "status", "--output", "json", "--project", "sockshop", "--service", "carts",
                          "--stage", stage, "--state-dir", str(state)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    status = json.loads(out.stdout)
    colours = {c["colour"]: c for c in status["colours"]}
    return colours[status["live"]]["tag"], {c: f"{v['tag']} {v['mark']}".strip() for c, v in colours.items()}




@pytest.fixture()
def state(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "state"
    try:
        yield folder
    finally:
        subprocess.run(["pipeline-steps", "local", "down", "--state-dir", str(folder)], capture_output=True, timeout=60)
    assert not processes_using(folder), "local down left processes of this test running"


def delivery(name: str, tmp: Path, state: Path, service: Path, tag: str, answers: list[dict[str, str]] | None = None,
             approvers: str = "release-managers") -> dict[str, Any]:
    """Build Now on carts/main with the carts Jenkinsfile, followed through the whole chain."""
    env = casc_env(PIPELINE_STEPS_STATE_DIR=str(state), PIPELINE_STEPS_HISTORY=str(tmp / "history.sqlite"),
                   PIPELINE_STEPS_APPROVERS=approvers)
    return {"name": name, "jenkinsfile": "examples/carts/Jenkinsfile", "job": "carts/main", "branch": "main",
            "params": {"PLATFORM": "local", "TAG": tag, "SERVICE_PATH": str(service), "SHIPYARD": "shipyard.yaml"},
            "causes": [{"_class": "jenkins.branch.BranchEventCause", "shortDescription": "Push event to branch main"}],
            "env": env, "items": ITEMS, "scm": str(ROOT), "sh": {"mode": "real"}, "users": {"alice": ["release-managers"]},
            "chain": {"jobs": JOBS, "inputAnswers": answers or []}}


def stages_reached(builds: list[Played]) -> list[str]:
    return [next(e["parameters"]["STAGE"] for e in b.of("build")) for b in builds
            if any(e["resolved"] == "delivery/deploy" for e in b.of("build"))]


def codes(builds: list[Played]) -> dict[tuple[str, str, str], int]:
    found = {}
    for build in builds:
        stage = build.raw["params"].get("STAGE", "")
        for step in build.of("sh"):
            found[(build.raw["name"].rsplit(":", 1)[-1], stage, step["label"])] = step["exit"]
    return found


def test_library_steps_deliver_v1_stop_a_slow_v2_in_staging_and_deliver_v3(tmp_path: Path, state: Path) -> None:
    services = {tag: make_service(tmp_path, f"v{tag[0]}", delay_ms=400 if tag.startswith("2") else 0)
                for tag in ("1.0.0", "2.0.0", "3.0.0")}
    played = play([delivery(f"v{tag[0]}", tmp_path, state, svc, tag) for tag, svc in services.items()], tmp_path / "h")
    v1, v2, v3 = (chain_of(played, name) for name in ("v1", "v2", "v3"))
    for build in v1 + v2 + v3:
        assert not build.raw.get("hung"), build.summary()
    assert stages_reached(v1[:1]) == ["dev"]
    assert [b.result for b in v1] == ["SUCCESS"] * len(v1), ([b.summary() for b in v1 if b.result != "SUCCESS"],
                                                            gate_evidence(tmp_path / "h"))
    assert [b.raw["params"].get("STAGE") for b in v1 if b.raw["job"] == "delivery/deploy"] == ["dev", "staging", "production"]

    v2_codes = codes(v2)
    assert v2_codes[("delivery/run_tests", "staging", "pipeline-steps evaluate")] == 1, (
        "the staging gate fails v2\n" + gate_evidence(tmp_path / "h"))
    assert v2_codes[("delivery/evaluation_done", "staging", "pipeline-steps evaluation-done")] == 1, "and rolls it back"
    assert [b.raw["params"].get("STAGE") for b in v2 if b.raw["job"] == "delivery/deploy"] == ["dev", "staging"]
    judged = next(b for b in v2 if b.raw["job"] == "delivery/evaluation_done" and b.raw["params"]["STAGE"] == "staging")
    assert judged.result == "FAILURE", judged.summary()
    assert [b.raw["params"].get("STAGE") for b in v3 if b.raw["job"] == "delivery/deploy"] == ["dev", "staging", "production"], (
        gate_evidence(tmp_path / "h"))
    assert live_tag(state, "production")[0] == "3.0.0"

    for build in v1 + v2 + v3:  # JUnit published and documents archived from real files
        if build.raw["job"] == "delivery/run_tests" and build.stages.get("Test and judge") == "ran":
            assert any(e["matched"] for e in build.of("junit")), build.summary()
            assert any("out/testrun.json" in e["matched"] for e in build.of("archiveArtifacts"))
    staged = next(b for b in v1 if b.raw["job"] == "delivery/run_tests" and b.raw["params"]["STAGE"] == "staging")
    report = staged.of("publishHTML")
    assert report and report[0]["present"] == ["report.html"], staged.summary()


def test_failing_load_test_rolls_back_and_a_warning_waits_for_an_approver(tmp_path: Path, state: Path) -> None:
    from_staging = {"stages": SHIPYARD["stages"][1:]}
    v1 = make_service(tmp_path, "v1", delay_ms=0, shipyard=from_staging)
    v4 = make_service(tmp_path, "v4", delay_ms=0, shipyard=from_staging, failing_percent=100)
    manual = make_service(tmp_path, "v5", delay_ms=0, shipyard={"stages": MANUAL_ON_WARNING["stages"][1:]},
                          perfspec=WARNING_PERFSPEC)
    answers = [{"user": "mallory", "action": "proceed"}, {"user": "alice", "action": "proceed"}]
    played = play([delivery("v1", tmp_path, state, v1, "1.0.0"), delivery("v4", tmp_path, state, v4, "4.0.0"),
                   delivery("v5", tmp_path, state, manual, "5.0.0", answers)], tmp_path / "h")
    v4_builds = chain_of(played, "v4")
    tests = next(b for b in v4_builds if b.raw["job"] == "delivery/run_tests")
    assert tests.sh("pipeline-steps run-tests")[0]["exit"] == 1
    assert tests.stage("Roll back") == "ran" and tests.sh("pipeline-steps rollback")[0]["exit"] == 0
    assert tests.result == "FAILURE" and not any(b.raw["job"] == "delivery/evaluation_done" for b in v4_builds)
    assert live_tag(state, "staging")[0] != "4.0.0", "traffic goes back when v4's tests fail"

    done = next(b for b in chain_of(played, "v5") if b.raw["job"] == "delivery/evaluation_done")
    asked = done.of("input")[0]
    assert asked["executors"] == 0 and asked["refused"][0]["user"] == "mallory", done.summary()
    assert asked["answeredBy"] == "alice" and done.sh("pipeline-steps evaluation-done")[0]["exit"] == 5
    assert done.sh("pipeline-steps evaluation-done (approval)")[0]["exit"] == 0 and done.result == "SUCCESS", (
        gate_evidence(tmp_path / "h"))
    assert live_tag(state, "production")[0] == "5.0.0"
