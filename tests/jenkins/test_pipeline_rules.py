"""Issue 14's findings, each pinned by playing the Jenkinsfiles with Jenkins' Groovy under the harness.

All scenarios run in one JVM (module fixture); `sh` answers are scripted by label. Aspects, by finding:
(1) a chain job started by a person is refused before it touches a stage, and an approval answered by
someone outside the controller's approvers is refused; (2) a service branch cannot read the chain's
kubeconfig and every build runs on a `pipeline-steps` agent; (3) only the delivery branch starts a
delivery; (4) after a stage timeout fires, the rollback in `post` runs under its own timeout; (5) on a
branch's first build every `sh` sees the parameters' defaults; (6) a skipped rollback stage takes no lock
and no lock or approval wait holds an executor; (7) `build` names chain jobs by absolute path, so a
branch called `deploy` cannot trigger itself; (8) run_tests publishes the report with publishHTML;
(9) an approval timeout that is not a number rejects (and rolls back) instead of crashing; (14) every
Jenkinsfile runs with Declarative script splitting turned on.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.jenkins.pipeline import Played, casc_env, play, upstream, user

ITEMS = ["delivery/deploy", "delivery/run_tests", "delivery/evaluation_done", "carts/main", "carts/deploy",
         "carts/feature-x"]
CHAIN = {"PROJECT": "sockshop", "STAGE": "staging", "SERVICE": "carts", "IMAGE": "registry/carts", "TAG": "2.0.0",
         "DEPLOYMENTSTRATEGY": "blue_green_service", "TESTSTRATEGY": "performance", "PLATFORM": "kubernetes",
         "COLOUR": "green", "PREVIOUS_COLOUR": "blue", "WEIGHTS_BEFORE": "100/0", "SHIPYARD": "shipyard.yaml"}
CREDENTIALS = {f"kubeconfig-{s}": {"folder": "delivery", "secret": f"kubeconfig of {s}"}
               for s in ("dev", "staging", "production")}
STAGE_CONFIG = {"stdout": '{"name": "staging", "deployment_strategy": "blue_green_service", '
                          '"test_strategy": "performance", "gate": "/svc/perfspec.json", "switch": "before_tests"}'}
FIRST_STAGE = {"stdout": '{"name": "dev", "deployment_strategy": "direct", "test_strategy": "functional"}'}


def chain_job(name: str, job: str, caused_by: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"name": name, "jenkinsfile": f"Jenkinsfiles/{job}", "job": f"delivery/{job}", "params": dict(CHAIN),
            "causes": [caused_by], "items": ITEMS, "credentials": CREDENTIALS,
            "sh": {"results": {"shipyard stage staging": STAGE_CONFIG}},
            "files": {"service/service.yaml": "gate: perfspec.json\n"}, **extra}


def service_job(name: str, branch: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "jenkinsfile": "Jenkinsfiles/Jenkinsfile.service", "job": f"carts/{branch}", "branch": branch,
            "params": {}, "causes": [{"_class": "jenkins.branch.BranchEventCause"}], "items": ITEMS,
            "credentials": CREDENTIALS, "sh": {"results": {"first stage": FIRST_STAGE}}, **extra}


APPROVERS = casc_env(PIPELINE_STEPS_APPROVERS="release-managers")
SCENARIOS = [
    chain_job("deploy by a person", "deploy", user("mallory")),
    chain_job("evaluation_done by a person", "evaluation_done", user("mallory"), params=dict(CHAIN, VERDICT="pass")),
    chain_job("deploy by the service", "deploy", upstream("carts/main")),
    chain_job("deploy by a feature branch", "deploy", upstream("carts/feature-x")),
    chain_job("approval", "evaluation_done", upstream("delivery/run_tests"), env=APPROVERS,
              params=dict(CHAIN, VERDICT="warning", APPROVERS="mallory"), users={"mallory": [], "alice": ["release-managers"]},
              inputAnswers=[{"user": "mallory", "action": "proceed"}, {"user": "alice", "action": "proceed"}],
              sh={"results": {"pipeline-steps evaluation-done": {"exit": 5}}}),
    chain_job("approval timeout 2h", "evaluation_done", upstream("delivery/run_tests"),
              env=casc_env(PIPELINE_STEPS_APPROVERS="release-managers", PIPELINE_STEPS_APPROVAL_TIMEOUT_MINUTES="2h"),
              params=dict(CHAIN, VERDICT="warning"),
              sh={"results": {"pipeline-steps evaluation-done": {"exit": 5},
                              "pipeline-steps evaluation-done (approval)": {"exit": 1}}}),
    chain_job("tests hang", "run_tests", upstream("delivery/deploy"), hangOn="pipeline-steps run-tests"),
    chain_job("tests pass", "run_tests", upstream("delivery/deploy"), sh={"results": {
        "shipyard stage staging": STAGE_CONFIG, "pipeline-steps evaluate": {"exit": 0}}}),
    chain_job("tests fail", "run_tests", upstream("delivery/deploy"), sh={"results": {"pipeline-steps run-tests": {"exit": 1}}}),
    service_job("main branch", "main"),
    service_job("feature branch", "feature-x"),
    service_job("branch named deploy", "deploy"),
    service_job("first build", "main", firstBuild=True),
    {"name": "branch reads a kubeconfig", "job": "carts/feature-x", "branch": "feature-x", "items": ITEMS,
     "credentials": CREDENTIALS, "script": "node('pipeline-steps') { withCredentials([file(credentialsId: "
     "'kubeconfig-production', variable: 'K')]) { sh(label: 'steal', script: 'cat \"$K\"') } }"},
]
SPLIT = [dict(s, name=f"split: {s['name']}", splitting=True) for s in SCENARIOS
         if s["name"] in ("deploy by the service", "tests pass", "approval", "main branch")]


@pytest.fixture(scope="module")
def played() -> dict[str, Played]:
    return play(SCENARIOS + SPLIT)


def test_1_a_person_cannot_start_a_chain_job_or_approve_without_being_an_approver(played: dict[str, Played]) -> None:
    for name in ("deploy by a person", "evaluation_done by a person", "deploy by a feature branch"):
        build = played[name]
        assert build.result == "FAILURE" and not build.of("sh") and not build.of("lock"), build.summary()
        assert "runs only as part of the delivery chain" in build.of("error")[0]["message"]
    assert played["deploy by the service"].result == "SUCCESS", played["deploy by the service"].summary()
    asked = played["approval"].of("input")[0]
    # Approvers come from the controller (casc), not from the APPROVERS value a starter passed:
    assert asked["submitter"] == "release-managers"
    assert asked["refused"] == [{"user": "mallory", "message": "You need to be release-managers to submit this."}]
    assert asked["answeredBy"] == "alice" and asked["outcome"] == "proceeded"
    assert "APPROVERS" not in played["approval"].raw["params"], "approvers are no build parameter"


def test_2_a_service_branch_cannot_read_the_chain_credentials_and_builds_run_on_agents(played: dict[str, Played]) -> None:
    stolen = played["branch reads a kubeconfig"]
    assert stolen.result == "FAILURE" and "Could not find credentials entry with ID 'kubeconfig-production'" in stolen.error
    assert not stolen.sh("steal")
    deploy = played["deploy by the service"]
    assert deploy.of("withCredentials")[0]["ids"] == ["kubeconfig-staging"], "a kubeconfig per stage"
    for name, build in played.items():
        labels = {e["label"] for e in build.of("node") if e["phase"] == "allocated"}
        assert labels <= {"pipeline-steps"}, (name, labels)


def test_3_only_the_delivery_branch_delivers(played: dict[str, Played]) -> None:
    assert [e["resolved"] for e in played["main branch"].of("build")] == ["delivery/deploy"]
    assert played["feature branch"].of("build") == [] and played["feature branch"].result == "SUCCESS"
    assert played["main branch"].of("milestone"), "an older commit's build gives way to a newer one"


def test_4_the_rollback_after_a_stage_timeout_runs_under_its_own_timeout(played: dict[str, Played]) -> None:
    build = played["tests hang"]
    assert build.of("timeoutFired") and build.result == "ABORTED", build.summary()
    rollback = [e for e in build.of("sh") if e["label"].startswith("pipeline-steps rollback")]
    assert rollback, build.summary()
    assert rollback[0]["timeouts"] and not any(t["fired"] for t in rollback[0]["timeouts"]), rollback[0]["timeouts"]


def test_5_a_branchs_first_build_hands_the_parameter_defaults_to_the_shell(played: dict[str, Played]) -> None:
    build = played["first build"]
    image = build.sh("container image")[0]["env"]
    assert image.get("IMAGE") == "registry.example.com/my-org/my-service" and image.get("SERVICE_PATH") == ".", image
    first = build.sh("first stage")[0]["env"]
    assert first.get("SHIPYARD") == "shipyard.yaml" and first.get("SERVICE_PATH") == "."
    assert "IMAGE" not in {k for e in build.of("sh") for k in e["env"] if k == "TAG"}, "no build parameter reached env"


def test_6_no_lock_for_a_skipped_rollback_and_no_executor_while_waiting(played: dict[str, Played]) -> None:
    passed = played["tests pass"]
    assert passed.stage("Roll back") == "skipped: when" and not [e for e in passed.of("lock") if e["stage"] == "Roll back"]
    failed = played["tests fail"]
    assert failed.stage("Roll back") == "ran" and [e for e in failed.of("lock") if e["stage"] == "Roll back"]
    waits = [e for b in played.values() for e in b.of("lock") + b.of("input") if e.get("phase", "acquire") == "acquire"]
    assert waits and all(e["executors"] == 0 for e in waits), [(e["type"], e["stage"]) for e in waits if e["executors"]]


def test_7_jobs_are_triggered_by_absolute_path(played: dict[str, Played]) -> None:
    triggers = [e for b in played.values() for e in b.of("build")]
    assert triggers and all(e["job"].startswith("/delivery/") for e in triggers), [e["job"] for e in triggers]
    assert played["branch named deploy"].of("build") == []
    assert {e["resolved"] for e in triggers} <= {"delivery/deploy", "delivery/run_tests", "delivery/evaluation_done"}


def test_8_run_tests_publishes_the_report_and_archives_it(played: dict[str, Played]) -> None:
    build = played["tests pass"]
    report = build.of("publishHTML")
    assert report and report[0]["target"]["reportFiles"] == "report.html", build.summary()
    assert any("report" in e["artifacts"] for e in build.of("archiveArtifacts"))


def test_9_an_unreadable_approval_timeout_rejects_and_rolls_back(played: dict[str, Played]) -> None:
    build = played["approval timeout 2h"]
    answered = build.sh("pipeline-steps evaluation-done (approval)")
    assert answered, build.summary()
    args = answered[0]["env"]
    flags = [args[f"PS_ARG_{i}"] for i in range(1, int(args["PS_ARGC"]) + 1)]
    assert flags[flags.index("--approval") + 1] == "reject" and build.result == "FAILURE"
    assert not build.of("input"), "a bad setting asks nobody"


def test_14_every_jenkinsfile_runs_with_declarative_script_splitting(played: dict[str, Played]) -> None:
    for scenario in SPLIT:
        build = played[scenario["name"]]
        assert "JENKINS-37984" not in build.error and build.result == played[scenario["name"][7:]].result, build.summary()
