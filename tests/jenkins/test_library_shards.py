"""``runTests(shards: N)`` and run_tests' TEST_SHARDS (issue 15, "beyond one machine", its Jenkins half), played with
Jenkins' Groovy under the harness: scripted `sh` answers by label, plus one build whose every `sh` is real (the
real CLI's shards against a loopback server), all in one JVM.

Aspects: N = 1 (or none) runs exactly the one `run-tests` command of before, with no branch, stash or merge; N = 4
runs four `run-tests --shard I/4` in four `parallel` branches, each on its own agent of the label, and ONE
`testrun merge --shards 4` over exactly the four unstashed files on the original node, then the JUnit of the
shards; a shard that fails (exit 1), is interrupted (130) or does not finish (wrote nothing, so its stash is
empty) fails the step with no merge, after the rollback; a merge that refuses is the step's exit code; a shard
count of 0, 65, 'x', 1.5 or -1, or over 1 for a functional test, is bad input (exit 2, a message naming `shards`)
before any command runs, and run_tests refuses a bad TEST_SHARDS before anything runs; the real CLI's two shards
ran at the same time and the merged testrun.json counts exactly the requests of both. The harness's `parallel`
and `stash`/`unstash` themselves behave as workflow-cps and workflow-api do (see harness/PipelineScript.groovy).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.jenkins.pipeline import Played, casc_env, play, upstream
from tests.load.servers import serve

CONTEXT = {"project": "sockshop", "stage": "staging", "service": "carts", "platform": "local",
           "testStrategy": "performance", "serviceConfig": "svc/service.yaml", "rollbackTo": "blue"}
SERVICE = "name: carts\ntests: tests.yaml\n"
WORKLOAD = ("health: {path: /health, timeout_s: 10}\n"
            "performance:\n  users: 2\n  duration_s: 2\n  think_time_ms: 2\n  requests: [{name: ok, path: /ok}]\n"
            "  limits: {p95_response_time_ms: 5000}\n")
SCRIPT = ("@Library('pipeline-steps') _\nnode('pipeline-steps') {\n"
          "    writeFile(file: 'svc/service.yaml', text: params.SERVICE)\n"
          "    writeFile(file: 'svc/tests.yaml', text: params.WORKLOAD)\n"
          "    runTests(params.ARGS)\n}\n")
RUN = "pipeline-steps run-tests"
MERGE = "pipeline-steps testrun merge"


def shard_label(i: int, n: int) -> str:
    return f"{RUN} (shard {i}/{n})"


def shard_answer(i: int, n: int, code: int = 0, writes: bool = True) -> dict[str, Any]:
    files = {f"out/shard-{i}/testrun.json": json.dumps({"shard": f"{i}/{n}"}),
             f"out/shard-{i}/junit-tests.xml": "<testsuite/>"} if writes else {}
    return {"exit": code, "writes": files}


def library(name: str, args: dict[str, Any], results: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    return {"name": name, "script": SCRIPT, "job": "delivery/staging", "scriptParams": {
        "ARGS": {**CONTEXT, **args}, "SERVICE": SERVICE, "WORKLOAD": WORKLOAD},
        "sh": {"results": {"pipeline-steps rollback": {"exit": 0}, **(results or {})}}, **extra}


def sharded(name: str, n: int, answers: dict[int, dict[str, Any]] | None = None, merge: int = 0,
            **args: Any) -> dict[str, Any]:
    results = {shard_label(i, n): (answers or {}).get(i, shard_answer(i, n)) for i in range(1, n + 1)}
    results[MERGE] = {"exit": merge, "writes": {"out/testrun.json": json.dumps({"result": "pass"})}}
    return library(name, {"shards": n, **args}, results)


BAD_SHARDS = {"0": 0, "65": 65, "x": "x", "1.5": "1.5", "-1": -1, "functional": 4}
CHAIN = {"PROJECT": "sockshop", "STAGE": "staging", "SERVICE": "carts", "IMAGE": "registry/carts", "TAG": "2.0.0",
         "DEPLOYMENTSTRATEGY": "blue_green_service", "TESTSTRATEGY": "performance", "PLATFORM": "local",
         "COLOUR": "green", "PREVIOUS_COLOUR": "blue", "WEIGHTS_BEFORE": "100/0", "SHIPYARD": "shipyard.yaml"}


def run_tests_job(name: str, shards: str, results: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"name": name, "jenkinsfile": "Jenkinsfiles/run_tests", "job": "delivery/run_tests",
            "params": dict(CHAIN, TEST_SHARDS=shards), "causes": [upstream("delivery/deploy")],
            "items": ["delivery/evaluation_done"], "files": {"service/service.yaml": SERVICE},
            "sh": {"results": results or {}}}


HARNESS = """node('a') {
    Map values = parallel(first: { 1 }, second: { sh(label: 'boom', script: 'false') },
                          third: { throw new IllegalStateException('worse') }, fourth: { 4 })
}
"""
STASHES = """node('a') {
    writeFile(file: 'x/one.txt', text: '1')
    stash(name: 'same', includes: 'x/*.txt')
    writeFile(file: 'x/two.txt', text: '2')
    stash(name: 'same', includes: 'x/*.txt', excludes: 'x/one.txt')
    stash(name: 'empty', includes: 'nothing/**', allowEmpty: true)
}
node('b') {
    unstash('same')
    echo("after unstash: ${fileExists('x/one.txt')} ${fileExists('x/two.txt')}")
    try { stash(name: 'none', includes: 'nothing/**') } catch (hudson.AbortException e) { echo("stash: ${e.message}") }
    try { stash(name: 'a/b', includes: '**') } catch (IllegalArgumentException e) { echo("name: ${e.message}") }
    Map values = parallel(left: { 'L' }, right: { 'R' })
    echo("values: ${values.sort()}")
    unstash('never')
}
"""


def scenarios(url: str) -> list[dict[str, Any]]:
    real = library("real shards", {"shards": 2, "target": url}, env=casc_env(TEST_PROCESSES="1"))
    real["sh"] = {"mode": "real"}
    return [
        library("no shards", {}),
        library("shards 1", {"shards": 1}),
        library("shards '1'", {"shards": "1"}),
        sharded("four shards", 4),
        sharded("shard 3 fails", 4, {3: shard_answer(3, 4, code=1)}),
        sharded("shard 3 fails, failBuild false", 4, {3: shard_answer(3, 4, code=1)}, failBuild=False),
        sharded("shard 2 interrupted, 4 failed", 4, {2: shard_answer(2, 4, code=130), 4: shard_answer(4, 4, code=1)}),
        sharded("shard 2 writes nothing", 4, {2: shard_answer(2, 4, writes=False)}),
        sharded("merge refuses", 2, merge=2),
        sharded("service files match nothing", 2, serviceFiles="nothing/**"),
        sharded("other agents", 2, agentLabel="load && linux"),
        *(library(f"bad shards {name}", {"shards": value, **({"testStrategy": "functional"} if name == "functional" else {})},
                  {RUN: {"exit": 0}}) for name, value in BAD_SHARDS.items()),
        library("bad shards, failBuild false", {"shards": "x", "failBuild": False}),
        run_tests_job("run_tests TEST_SHARDS x", "x"),
        run_tests_job("run_tests TEST_SHARDS 65", "65"),
        run_tests_job("run_tests TEST_SHARDS 2", "2", {shard_label(1, 2): shard_answer(1, 2, code=1),
                                                         shard_label(2, 2): shard_answer(2, 2)}),
        {"name": "harness parallel", "script": HARNESS, "sh": {"results": {"boom": {"exit": 1}}}},
        {"name": "harness stashes", "script": STASHES},
        real,
    ]


@pytest.fixture(scope="module")
def played(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    work = tmp_path_factory.mktemp("shards")
    with serve() as server:
        builds = play(scenarios(server.url), work)
        sent = server.state.paths.count("/ok")
    yield {"builds": builds, "work": work, "sent": sent}


def argv(event: dict[str, Any]) -> list[str]:
    env = event["env"]
    return [env[f"PS_ARG_{i}"] for i in range(1, int(env["PS_ARGC"]) + 1)]


def flag(args: list[str], name: str) -> str:
    return args[args.index(name) + 1]


def test_one_shard_runs_exactly_the_one_command_of_before(played: dict[str, Any]) -> None:
    builds: dict[str, Played] = played["builds"]
    before = builds["no shards"]
    expected = ["run-tests", "--platform", "local", "--project", "sockshop", "--stage", "staging", "--service", "carts",
                "--test-strategy", "performance", "--service-config", "svc/service.yaml", "--out-dir", "out"]
    for name in ("no shards", "shards 1", "shards '1'"):
        build = builds[name]
        assert [(e["label"], argv(e)) for e in build.of("sh")] == [(RUN, expected)], build.summary()
        assert not build.of("parallel") and not build.of("stash") and not build.of("unstash")
        assert [e["testResults"] for e in build.of("junit")] == ["out/junit-tests.xml"]
        assert build.result == "SUCCESS" and build.raw["value"]["shards"] == 1
    assert before.sh(RUN)[0]["env"].keys() == builds["shards 1"].sh(RUN)[0]["env"].keys()


def test_four_shards_run_in_four_parallel_branches_on_their_own_agents_then_one_merge(played: dict[str, Any]) -> None:
    build: Played = played["builds"]["four shards"]
    assert build.result == "SUCCESS", build.summary()
    assert build.of("parallel")[0]["branches"] == [f"shard {i}/4" for i in range(1, 5)]
    for i in range(1, 5):
        [run] = build.sh(shard_label(i, 4))
        args = argv(run)
        assert flag(args, "--shard") == f"{i}/4" and flag(args, "--out-dir") == f"out/shard-{i}", args
        assert args[:args.index("--out-dir")] == argv(played["builds"]["no shards"].sh(RUN)[0])[:-2]
        assert run["branch"] == f"shard {i}/4" and run["node"] == "pipeline-steps" and run["executors"] == 2
        [unstash] = [e for e in build.of("unstash") if e["branch"] == f"shard {i}/4"]
        assert unstash["files"] == ["svc/service.yaml", "svc/tests.yaml"], "the shard's agent got the service files"
    workspaces = {e["cwd"] for e in build.of("sh")}
    assert len(workspaces) == 5, "four agents' workspaces and the original one"
    [merge] = build.sh(MERGE)
    files = [f"out/shard-{i}/testrun.json" for i in range(1, 5)]
    assert argv(merge) == ["testrun", "merge", "--shards", "4", "--out-dir", "out", *files]
    assert merge["branch"] is None and merge["executors"] == 1, "the merge runs on the original node"
    unstashed = [e for e in build.of("unstash") if e["branch"] is None]
    assert sorted(f for e in unstashed for f in e["files"] if f.endswith("testrun.json")) == files
    assert build.events.index(merge) > max(build.events.index(e) for e in unstashed)
    assert build.of("junit")[0]["matched"] == [f"out/shard-{i}/junit-tests.xml" for i in range(1, 5)]
    assert not build.sh("pipeline-steps rollback") and build.raw["value"]["shards"] == 4


@pytest.mark.parametrize(("name", "code", "result"), [
    ("shard 3 fails", 1, "FAILURE"), ("shard 2 interrupted, 4 failed", 130, "ABORTED"),
    ("shard 2 writes nothing", 4, "FAILURE"), ("merge refuses", 2, "FAILURE"),
    ("service files match nothing", 4, "FAILURE"),
])
def test_a_shard_that_does_not_pass_fails_the_step_without_a_merge_after_the_rollback(
        played: dict[str, Any], name: str, code: int, result: str) -> None:
    build: Played = played["builds"][name]
    assert build.result == result, build.summary()
    assert build.sh("pipeline-steps rollback") and argv(build.sh("pipeline-steps rollback")[0])[-2:] == ["--to", "blue"]
    assert f"run-tests: exit {code} " in build.of("error")[-1]["message"]
    assert build.events.index(build.sh("pipeline-steps rollback")[0]) < build.events.index(build.of("error")[-1])
    if name != "merge refuses":
        assert not build.sh(MERGE), "part of a test is never merged"
    if name == "shard 2 writes nothing":
        assert "Failed in branch shard 2/4" in build.log and "No files included in stash" in build.log


def test_fail_build_false_returns_the_shards_code(played: dict[str, Any]) -> None:
    build: Played = played["builds"]["shard 3 fails, failBuild false"]
    assert build.result == "SUCCESS" and build.raw["value"]["exitCode"] == 1 and build.raw["value"]["rolledBack"]
    assert "shard 3/4 (exit 1) did not pass" in build.log


def test_shards_go_to_agents_of_the_given_label_or_like_this_one(played: dict[str, Any]) -> None:
    labels = {e["node"] for e in played["builds"]["other agents"].of("sh") if e["branch"]}
    assert labels == {"load && linux"}
    assert {e["node"] for e in played["builds"]["four shards"].of("sh") if e["branch"]} == {"pipeline-steps"}


@pytest.mark.parametrize("name", BAD_SHARDS)
def test_a_bad_shard_count_is_bad_input_before_any_test_runs(played: dict[str, Any], name: str) -> None:
    build: Played = played["builds"][f"bad shards {name}"]
    assert build.result == "FAILURE" and not build.sh(RUN) and not build.of("parallel"), build.summary()
    [error] = build.of("error")
    assert error["message"].startswith("run-tests: exit 2 (bad input, nothing was changed: shards ")
    assert "\n" not in error["message"]
    assert build.sh("pipeline-steps rollback"), "an untested colour never keeps the traffic"
    free = played["builds"]["bad shards, failBuild false"]
    assert free.result == "SUCCESS" and free.raw["value"]["exitCode"] == 2


def test_run_tests_refuses_a_bad_test_shards_before_anything_runs_and_passes_a_good_one_on(played: dict[str, Any]) -> None:
    for name in ("run_tests TEST_SHARDS x", "run_tests TEST_SHARDS 65"):
        build: Played = played["builds"][name]
        assert build.result == "FAILURE" and build.stage("Started by the chain") == "failed", build.summary()
        assert "TEST_SHARDS must be a whole number from 1 to 64" in build.of("error")[0]["message"]
        assert not any(e["label"] in ("service files", RUN) or e["label"].startswith(f"{RUN} (") for e in build.of("sh"))
    two: Played = played["builds"]["run_tests TEST_SHARDS 2"]
    assert [flag(argv(two.sh(shard_label(i, 2))[0]), "--shard") for i in (1, 2)] == ["1/2", "2/2"], two.summary()
    assert {two.sh(shard_label(i, 2))[0]["node"] for i in (1, 2)} == {"pipeline-steps"}
    assert not two.sh(MERGE) and two.stage("Roll back") == "ran" and two.result == "FAILURE"
    assert "run-tests: exit 1 (the version is bad)" in two.error, two.summary()


def test_the_harness_parallel_and_stash_behave_as_jenkins(played: dict[str, Any]) -> None:
    par: Played = played["builds"]["harness parallel"]
    # any exception is more severe than an AbortException, whichever failed first (ThrowableComparator)
    assert par.result == "FAILURE" and par.error == "java.lang.IllegalStateException: worse", par.summary()
    assert all(f"Failed in branch {b}" in par.log for b in ("second", "third"))
    assert [e["label"] for e in par.of("sh")] == ["boom"] and par.of("parallel")[-1]["failed"] == 2
    stashes: Played = played["builds"]["harness stashes"]
    log = stashes.log
    assert "Warning: overwriting stash ‘same’" in log and "after unstash: false true" in log, log
    assert "stash: No files included in stash" in log and "name: ‘/’ is an unsafe character" in log
    assert "values: [left:L, right:R]" in log
    assert stashes.result == "FAILURE" and "No such saved stash ‘never’" in stashes.error


def test_real_shards_run_at_once_and_merge_into_the_sum_of_their_requests(played: dict[str, Any]) -> None:
    build: Played = played["builds"]["real shards"]
    assert build.result == "SUCCESS", build.summary() + build.log[-3000:]
    assert [e["exit"] for e in build.sh(MERGE)] == [0]
    runs = [build.sh(shard_label(i, 2))[0] for i in (1, 2)]
    assert [r["exit"] for r in runs] == [0, 0]
    original = Path(build.sh(MERGE)[0]["cwd"])
    shards = [json.loads((original / f"out/shard-{i}/testrun.json").read_text()) for i in (1, 2)]
    merged = json.loads((original / "out/testrun.json").read_text())
    assert [s["performance"]["shard"] for s in shards] == ["1/2", "2/2"]
    counts = [s["performance"]["requests"] for s in shards]
    assert min(counts) > 0 and merged["performance"]["requests"] == sum(counts) == played["sent"]
    assert max(s["start_unix"] for s in shards) < min(s["end_unix"] for s in shards), "the shards ran at the same time"
    assert {Path(r["cwd"]) for r in runs} & {original} == set() and len({r["cwd"] for r in runs}) == 2
    assert build.raw["value"]["testrun"]["performance"]["requests"] == sum(counts)
