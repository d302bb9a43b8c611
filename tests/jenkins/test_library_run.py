"""The library steps with every `sh` run for real: the real CLI against the local platform (real Envoy, real
Prometheus, a process per colour), so each exit code below is one the CLI really gave, and the build result
and the traffic afterwards are the README's.

One staging stage of carts, blue v1 and green v2, played as a sequence of builds in one JVM; after each
build `pipeline-steps status` (real) says which version takes the traffic. Aspects, by exit code (0, 1 and 5
through the whole chain: test_jenkinsfiles_run.py):
0  blueGreenDeploy, trafficSwitch, runTests: SUCCESS;
2  trafficSwitch with weights `150/x`, blueGreenDeploy without its service.yaml, evaluationDone without its
   shipyard: FAILURE, traffic unchanged; runTests without its service.yaml and qualityGate with a malformed
   perfspec: FAILURE after the traffic went back to the colour given as `rollbackTo` (fail closed);
3  qualityGate on a real load test's numbers with a perfspec that grades them WARNING: UNSTABLE, no rollback;
4  qualityGate whose Prometheus (real) refuses the query (gate ERROR): FAILURE after the rollback;
   blueGreenDeploy of a version whose process dies at start: FAILURE, traffic stays where it was;
130 runTests whose CLI gets SIGTERM mid load test (what durable-task sends a step's processes when the build
   is aborted): the CLI writes what it measured and exits 130, the step rolls back, the build is ABORTED.
Every process the platform started is stopped afterwards.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.jenkins.pipeline import Played, casc_env, play
from tests.jenkins.test_jenkinsfiles_run import WARNING_PERFSPEC, make_service, processes_using

pytestmark = pytest.mark.slow

CONTEXT = {"project": "sockshop", "stage": "staging", "service": "carts", "platform": "local",
           "strategy": "blue_green_service"}
STATUS = ("pipeline-steps status --platform local --project sockshop --stage staging --service carts --output json")
BROKEN_PERFSPEC = {"spec_version": "1.0", "indicators": "not a list", "objectives": {"pass": 90, "warning": 75}}
BAD_QUERY = {"spec_version": "1.0", "indicators": [{
    "id": "request_latency_seconds", "source": "Prometheus", "query": "rate(requests_latency_seconds_sum[[[",
    "grading": {"type": "Threshold", "thresholds": {"upperSevere": 0.8}, "metricScore": 100}}],
    "objectives": {"pass": 90, "warning": 75}}


def build(name: str, calls: list[tuple[str, dict[str, Any]]], env: dict[str, str], **extra: Any) -> dict[str, Any]:
    """A scripted Jenkinsfile on an agent calling library steps in turn, then (whatever happened) asking the
    platform which version takes the traffic (sh label `live`)."""
    body = "\n".join(f"        {step}(params.A{n})" for n, (step, _) in enumerate(calls))
    script = (f"@Library('pipeline-steps') _\nnode('pipeline-steps') {{\n    try {{\n{body}\n    }} finally {{\n"
              f"        sh(label: 'live', returnStdout: true, script: '{STATUS}')\n    }}\n}}\n")
    return {"name": name, "script": script, "job": "delivery/staging", "env": env,
            "scriptParams": {f"A{n}": args for n, (_, args) in enumerate(calls)}, "sh": {"mode": "real"}, **extra}


def live(build: Played) -> str:
    """The tag taking the traffic after the build, as `pipeline-steps status` printed it."""
    status = json.loads(build.sh("live")[-1]["stdout"])
    return next(c["tag"] for c in status["colours"] if c["colour"] == status["live"])


def cli(*args: str, env: dict[str, str]) -> str:
    done = subprocess.run(["pipeline-steps", *args], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def played(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Played]]:
    tmp = tmp_path_factory.mktemp("library-run")
    state = tmp / "state"
    env = {**os.environ, "PIPELINE_STEPS_STATE_DIR": str(state)}
    try:
        cli("local", "up", env=env)
        prometheus = json.loads(cli("local", "status", "--output", "json", env=env))["prometheus_url"]
        images = str(state / "images" / "carts")
        service = make_service(tmp, "v1", delay_ms=0)
        broken = make_service(tmp, "v9", delay_ms=0)
        (broken / "app.py").write_text("import sys\nsys.exit(3)  # dies before it serves\n")
        for tag, source in (("1.0.0", service), ("2.0.0", service), ("9.0.0", broken)):
            cli("local", "build", "--source", str(source), "--image", images, "--tag", tag, env=env)
        for name, spec in (("warning.json", WARNING_PERFSPEC), ("broken.json", BROKEN_PERFSPEC), ("bad-query.json", BAD_QUERY)):
            (tmp / name).write_text(json.dumps(spec))
        config = str(service / "service.yaml")
        now = int(time.time())
        window = {"start": str(now - 120), "end": str(now)}
        jenkins = casc_env(PIPELINE_STEPS_STATE_DIR=str(state), PIPELINE_STEPS_HISTORY=str(tmp / "history.sqlite"),
                           PROMETHEUS_URL=prometheus)
        deploy = {**CONTEXT, "image": images, "serviceConfig": config, "timeoutSeconds": "30"}
        tests = {**CONTEXT, "tag": "2.0.0", "serviceConfig": config, "testStrategy": "performance", "rollbackTo": "blue"}
        gate = {**CONTEXT, "tag": "2.0.0", "rollbackTo": "blue", "prometheusUrl": prometheus, **window}
        to_green = ("trafficSwitch", {**CONTEXT, "to": "green"})
        sigterm = {"label": "pipeline-steps run-tests", "marker": "performance (", "signal": "TERM"}
        scenarios = [
            build("deploy v1", [("blueGreenDeploy", {**deploy, "tag": "1.0.0"})], jenkins),
            build("deploy v2", [("blueGreenDeploy", {**deploy, "tag": "2.0.0"})], jenkins),
            build("tests terminated", [("runTests", {**tests, "duration": "60", "users": "2"})], jenkins,
                  sh={"mode": "real", "signal": sigterm}),
            build("back to v2 after 130", [to_green], jenkins),
            build("tests pass, gate warns", [("runTests", tests),
                                             ("qualityGate", {**CONTEXT, "tag": "2.0.0", "rollbackTo": "blue",
                                                              "spec": str(tmp / "warning.json"),
                                                              "testrun": "out/testrun.json"})], jenkins),
            build("gate bad input", [("qualityGate", {**gate, "spec": str(tmp / "broken.json")})], jenkins),
            build("back to v2 after 2", [to_green], jenkins),
            build("gate error", [("qualityGate", {**gate, "spec": str(tmp / "bad-query.json")})], jenkins),
            build("back to v2 after 4", [to_green], jenkins),
            build("tests bad input", [("runTests", {**tests, "serviceConfig": str(tmp / "missing.yaml")})], jenkins),
            build("switch bad weights", [("trafficSwitch", {**CONTEXT, "weights": "150/x"})], jenkins),
            build("deploy without service.yaml", [("blueGreenDeploy", {**deploy, "tag": "2.0.0",
                                                                       "serviceConfig": str(tmp / "missing.yaml")})], jenkins),
            build("evaluation without shipyard", [("evaluationDone", {**CONTEXT, "tag": "2.0.0", "verdict": "pass",
                                                                      "shipyard": str(tmp / "missing.yaml")})], jenkins),
            build("deploy a version that dies", [("blueGreenDeploy", {**deploy, "tag": "9.0.0"})], jenkins),
        ]
        yield play(scenarios, tmp / "harness")
    finally:
        subprocess.run(["pipeline-steps", "local", "down", "--state-dir", str(state)], capture_output=True, timeout=120,
                       env=env)
        assert not processes_using(state), "local down left processes of this test running"


def exits(build: Played, label: str) -> list[int]:
    return [e["exit"] for e in build.sh(label)]


def test_0_deploys_switches_and_passing_tests_succeed(played: dict[str, Played]) -> None:
    assert [(played[n].result, live(played[n])) for n in ("deploy v1", "deploy v2")] == [("SUCCESS", "1.0.0"),
                                                                                       ("SUCCESS", "2.0.0")]
    v2 = played["deploy v2"].raw["value"]
    assert v2["colour"] == "green" and v2["previousColour"] == "blue" and v2["exitCode"] == 0
    for name in ("back to v2 after 130", "back to v2 after 2", "back to v2 after 4"):
        assert played[name].result == "SUCCESS" and exits(played[name], "pipeline-steps switch") == [0]
        assert live(played[name]) == "2.0.0"
    assert exits(played["tests pass, gate warns"], "pipeline-steps run-tests") == [0]


def test_2_bad_input_fails_the_build_and_a_judging_step_still_rolls_back(played: dict[str, Played]) -> None:
    unchanged = {"switch bad weights": "pipeline-steps switch", "deploy without service.yaml": "pipeline-steps deploy",
                 "evaluation without shipyard": "pipeline-steps evaluation-done"}
    for name, label in unchanged.items():
        build = played[name]
        assert exits(build, label) == [2] and build.result == "FAILURE", build.summary()
        assert not build.sh("pipeline-steps rollback") and live(build) == "1.0.0", name
    for name, label in (("gate bad input", "pipeline-steps evaluate"), ("tests bad input", "pipeline-steps run-tests")):
        build = played[name]
        assert exits(build, label) == [2] and exits(build, "pipeline-steps rollback") == [0], build.summary()
        assert build.result == "FAILURE" and live(build) == "1.0.0"


def test_3_a_gate_warning_is_unstable_and_keeps_the_traffic(played: dict[str, Played]) -> None:
    build = played["tests pass, gate warns"]
    assert exits(build, "pipeline-steps evaluate") == [3] and build.result == "UNSTABLE", build.summary()
    assert not build.sh("pipeline-steps rollback") and live(build) == "2.0.0"
    assert [e["message"] for e in build.of("unstable")] == ["evaluate: exit 3 (gate WARNING)"]


def test_4_an_infrastructure_error_fails_after_the_rollback_and_a_dead_version_never_gets_traffic(
        played: dict[str, Played]) -> None:
    gate = played["gate error"]
    assert exits(gate, "pipeline-steps evaluate") == [4] and exits(gate, "pipeline-steps rollback") == [0]
    assert gate.result == "FAILURE" and live(gate) == "1.0.0", gate.summary()
    assert "prometheus answered HTTP 400" in gate.log, "the real Prometheus refused the query"
    dead = played["deploy a version that dies"]
    assert exits(dead, "pipeline-steps deploy") == [4] and dead.result == "FAILURE", dead.summary()
    assert live(dead) == "1.0.0" and "exited with code 3" in dead.log


def test_130_a_terminated_cli_aborts_the_build_after_the_rollback(played: dict[str, Played]) -> None:
    build = played["tests terminated"]
    run = build.sh("pipeline-steps run-tests")[0]
    assert run["signalled"] and run["exit"] == 130, build.summary()
    assert "ABORTED (partial results written)" in build.log
    assert exits(build, "pipeline-steps rollback") == [0] and live(build) == "1.0.0"
    assert build.result == "ABORTED", build.summary()
    assert any("out/testrun.json" in e["matched"] for e in build.of("archiveArtifacts")), "what was measured is kept"
