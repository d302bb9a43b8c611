"""The Shared Library's steps (vars/*.groovy) and the chain Jenkinsfiles played with Jenkins' Groovy under the
harness, every `sh` answered by label (all scenarios of the module in one JVM).

Aspects: (a) every step and every exit code: the build result is the README's (0 SUCCESS, 1/2/4 FAILURE,
3 UNSTABLE, 5 UNSTABLE unless evaluationDone asks, 130 ABORTED), the steps that judge a live colour
(qualityGate, runTests) roll back before failing on 1, 2, 4 and 130 and never on 0 or 3, evaluationDone's 5
asks the approvers configured on the controller (and an answer from anyone else is refused) before running
again, and with `failBuild: false` the build stays SUCCESS and the returned map carries the code and result;
(b) the supersede rule: every stage lock is taken newest-first (inversePrecedence), and a deploy that gets
the lock after a newer build of the same project/stage/service claimed it ends NOT_BUILT without touching
the stage, while a newer build for another key does not stop it; (c) issue 16: the history location reaches
the CLI as PIPELINE_STEPS_HISTORY and the PostgreSQL password, from the chain folder's credential, only as
PGPASSWORD in the environment of evaluate and report - never in a command line, a script, the log or the
build's variables - and a URL that carries a password is refused without being printed. Hostile values:
test_library_hostile.py; real `sh` against the local platform: test_library_run.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.jenkins.pipeline import Played, casc_env, play, recorded, recorders, upstream

CONTEXT = {"project": "sockshop", "stage": "staging", "service": "carts", "platform": "local"}
STEPS: dict[str, tuple[str, str, dict[str, Any]]] = {
    # name: (step, label of its CLI call, arguments besides CONTEXT)
    "qualityGate": ("qualityGate", "pipeline-steps evaluate",
                    {"spec": "perfspec.json", "testrun": "out/testrun.json", "rollbackTo": "blue"}),
    "runTests": ("runTests", "pipeline-steps run-tests", {"testStrategy": "performance", "rollbackTo": "blue"}),
    "blueGreenDeploy": ("blueGreenDeploy", "pipeline-steps deploy", {"image": "registry/carts", "tag": "2.0.0"}),
    "trafficSwitch": ("trafficSwitch", "pipeline-steps switch", {"weights": "0/100"}),
    "trafficSwitch rollback": ("trafficSwitch", "pipeline-steps rollback", {"rollback": True, "to": "blue"}),
    "evaluationDone": ("evaluationDone", "pipeline-steps evaluation-done",
                       {"verdict": "warning", "shipyard": "shipyard.yaml", "colour": "green", "previousColour": "blue"}),
}
CODES = (0, 1, 2, 3, 4, 5, 130)
README_RESULT = {0: "SUCCESS", 1: "FAILURE", 2: "FAILURE", 3: "UNSTABLE", 4: "FAILURE", 5: "UNSTABLE", 130: "ABORTED"}
ROLLS_BACK = {"qualityGate": {1, 2, 4, 5, 130}, "runTests": {1, 2, 3, 4, 5, 130}}
"""Steps judging a colour that already takes traffic roll back without a verdict they pass on: qualityGate
without PASS or WARNING, runTests without a pass (fail closed; evaluate never exits 5, run-tests never 3 or 5)."""
APPROVER_ANSWERS = [{"user": "mallory", "action": "proceed"}, {"user": "alice", "action": "proceed"}]
USERS = {"mallory": [], "alice": ["release-managers"]}


def groovy_literal(value: Any) -> str:
    """A Groovy literal for a JSON-like value (single-quoted strings: no interpolation)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, dict):
        return "[" + ", ".join(f"{k}: {groovy_literal(v)}" for k, v in value.items()) + "]" if value else "[:]"
    text = str(value).replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n").replace("\r", "\\r")
    return f"'{text}'"


def step_call(step: str, args: dict[str, Any]) -> dict[str, Any]:
    """Scenario fields for a scripted Jenkinsfile calling one library step on an agent with ``args`` (handed in
    as ``params.ARGS``, so every call of a step shares one compiled script); the step's return value is the
    build's value."""
    return {"script": f"@Library('pipeline-steps') _\nnode('pipeline-steps') {{\n    {step}(params.ARGS)\n}}\n",
            "scriptParams": {"ARGS": args}}


def matrix_scenario(name: str, code: int, fail_build: bool) -> dict[str, Any]:
    step, label, extra = STEPS[name]
    args = {**CONTEXT, **extra, **({} if fail_build else {"failBuild": False})}
    results: dict[str, Any] = {label: {"exit": code}, "pipeline-steps rollback": {"exit": 0},
                               "pipeline-steps evaluation-done (approval)": {"exit": 0}}
    if label == "pipeline-steps rollback":
        results[label] = {"exit": code}
    return {"name": f"{name} exit {code}{'' if fail_build else ' failBuild false'}", **step_call(step, args),
            "job": "delivery/staging", "sh": {"results": results}, "users": USERS, "inputAnswers": APPROVER_ANSWERS}


MATRIX = [matrix_scenario(name, code, fail) for name in STEPS for code in CODES for fail in (True, False)]

# (b) the supersede rule: three deliveries of carts to staging wait for the stage lock; whoever gets it runs
# giveWayToNewer against the builds that are newer than itself (their DELIVERY_KEY as `env` recorded it).
KEY = "sockshop/staging/carts"
DEPLOY = {"PROJECT": "sockshop", "STAGE": "staging", "SERVICE": "carts", "IMAGE": "registry/carts",
          "DEPLOYMENTSTRATEGY": "blue_green_service", "TESTSTRATEGY": "performance", "PLATFORM": "local",
          "SHIPYARD": "shipyard.yaml"}
STAGING = {"stdout": '{"name": "staging", "deployment_strategy": "blue_green_service", "test_strategy": "performance"}'}
GATE_STAGE = {"stdout": '{"name": "staging", "deployment_strategy": "blue_green_service", "test_strategy": "performance",'
                        ' "gate": "perfspec.json", "next": "production"}'}


def deploy_build(number: int, newer: list[dict[str, Any]]) -> dict[str, Any]:
    return {"name": f"deploy #{number}", "jenkinsfile": "Jenkinsfiles/deploy", "job": "delivery/deploy",
            "buildNumber": number, "params": dict(DEPLOY, TAG=f"{number}.0.0"), "causes": [upstream("carts/main", number)],
            "items": ["delivery/deploy", "delivery/run_tests", "carts/main"], "newerBuilds": newer,
            "sh": {"results": {"shipyard stage staging": STAGING}}}


def newer_than(number: int) -> list[dict[str, Any]]:
    """Builds #7, #8, #9 all claimed KEY before queueing for the lock; build N sees the ones after it."""
    return [{"number": m, "buildVariables": {"DELIVERY_KEY": KEY}} for m in (7, 8, 9) if m > number]


SUPERSEDE = [
    *(deploy_build(n, newer_than(n)) for n in (7, 8, 9)),
    dict(deploy_build(7, [{"number": 8, "buildVariables": {"DELIVERY_KEY": "sockshop/production/carts"}},
                          {"number": 9, "buildVariables": {}}]), name="deploy #7, newer builds elsewhere"),
    {"name": "run_tests rolls back", "jenkinsfile": "Jenkinsfiles/run_tests", "job": "delivery/run_tests",
     "params": dict(DEPLOY, TAG="2.0.0", COLOUR="green", PREVIOUS_COLOUR="blue"), "causes": [upstream("delivery/deploy")],
     "sh": {"results": {"pipeline-steps run-tests": {"exit": 1}}}},
    {"name": "evaluation_done promotes", "jenkinsfile": "Jenkinsfiles/evaluation_done", "job": "delivery/evaluation_done",
     "params": dict(DEPLOY, TAG="2.0.0", VERDICT="pass"), "causes": [upstream("delivery/run_tests")]},
    # A newer version's deploy to the same stage started after the one this chain build belongs to (its deploy
    # is found through currentBuild.upstreamBuilds): the older verdict must neither flip traffic back to the older
    # colour nor promote it, and the older tests must not judge (or store a history row of) the newer version.
    *({"name": f"{job} overtaken{suffix}", "jenkinsfile": f"Jenkinsfiles/{job}", "job": f"delivery/{job}",
       "params": dict(DEPLOY, TAG="2.0.0", VERDICT="pass", COLOUR="green", PREVIOUS_COLOUR="blue"),
       "causes": [upstream(f"delivery/{'deploy' if job == 'run_tests' else 'run_tests'}")],
       "upstreamBuilds": [*([] if job == "run_tests" else [{"fullProjectName": "delivery/run_tests", "number": 3}]),
                          {"fullProjectName": "delivery/deploy", "number": 7, "buildVariables": {"DELIVERY_KEY": KEY},
                           "newerBuilds": [{"number": 8, "buildVariables": {"DELIVERY_KEY": key}}]},
                          {"fullProjectName": "carts/main", "number": 7}],
       "items": ["delivery/deploy", "delivery/evaluation_done"],
       "sh": {"results": {"shipyard stage staging": GATE_STAGE, "pipeline-steps run-tests": {"exit": 0},
                          "pipeline-steps evaluate": {"exit": 0},
                          "pipeline-steps evaluation-done": {"exit": 0, "writes": {
                              "out/promotion.json": '{"action": "promote", "next_stage": "production"}'}},
                          "shipyard stage production": {"stdout": '{"name": "production", "deployment_strategy":'
                                                                  ' "blue_green_service", "test_strategy": ""}'}}},
       "files": {"service/service.yaml": "name: carts\n"}}
      for job in ("run_tests", "evaluation_done")
      for key, suffix in ((KEY, ""), ("sockshop/production/carts", ", by another stage's delivery"))),
]

# (c) the PostgreSQL history's password, from the chain folder's credential, only in the sh environment.
PASSWORD = "pg-S3cret-7f3a"
DATABASE = "postgresql://pipeline_steps@db.example:5432/pipeline_steps"
HISTORY_CREDENTIALS = {"pipeline-steps-history": {"folder": "delivery", "secret": PASSWORD}}
GATE_CONFIG = {"stdout": '{"name": "staging", "deployment_strategy": "blue_green_service", '
                         '"test_strategy": "performance", "gate": "service/perfspec.json"}'}
RUN_TESTS = {**DEPLOY, "TAG": "2.0.0", "COLOUR": "green", "PREVIOUS_COLOUR": "blue", "WEIGHTS_BEFORE": "100/0",
             "SERVICE_PATH": "svc"}


def history_scenarios(base: Path) -> list[dict[str, Any]]:
    """Each scenario with its own recorders (base/<n>), replaying every sh for real through them."""
    def env(n: int, history: str = DATABASE) -> dict[str, str]:
        return casc_env(PIPELINE_STEPS_HISTORY=history, PATH=f"{recorders(base / str(n))}:/usr/bin:/bin")

    replayed = {"replay": True, "results": {"shipyard stage staging": GATE_CONFIG, "pipeline-steps run-tests": {"exit": 0},
                                            "pipeline-steps evaluate": {"exit": 0}}}
    chain = {"jenkinsfile": "Jenkinsfiles/run_tests", "job": "delivery/run_tests", "params": RUN_TESTS,
             "causes": [upstream("delivery/deploy")], "credentials": HISTORY_CREDENTIALS, "sh": replayed,
             "items": ["delivery/evaluation_done"], "files": {"svc/service.yaml": "name: carts\n"}}
    gate = {"spec": "perfspec.json", "testrun": "out/testrun.json", "report": True, **CONTEXT}
    with_password = DATABASE.replace("pipeline_steps@", f"u:{PASSWORD}@")
    return [
        dict(chain, name=HISTORY[0], env=env(0)),
        dict(chain, name=HISTORY[1], credentials={}, env=env(1, "/var/lib/pipeline-steps/history.sqlite")),
        {"name": HISTORY[2], "job": "carts/main", **step_call("qualityGate", gate),
         "credentials": HISTORY_CREDENTIALS, "env": env(2), "sh": replayed},
        {"name": HISTORY[3], "job": "delivery/run_tests", "credentials": HISTORY_CREDENTIALS,
         **step_call("qualityGate", dict(gate, history=with_password)), "env": env(3), "sh": replayed},
        {"name": HISTORY[4], "job": "delivery/run_tests", "credentials": HISTORY_CREDENTIALS,
         **step_call("qualityGate", dict(gate, history=f"{DATABASE}?password={PASSWORD}")), "env": env(4),
         "sh": replayed},
        # A generated password with a '/' or a '#' left unencoded: no parser finds a user:password part, so
        # an '@' past the user part is refused as well; so is the client key's passphrase (sslpassword).
        *({"name": name, "job": "delivery/run_tests", "credentials": HISTORY_CREDENTIALS,
           **step_call("qualityGate", dict(gate, history=url)), "env": env(n), "sh": replayed}
          for n, (name, url) in enumerate(zip(HISTORY[5:], (
              DATABASE.replace("pipeline_steps@", f"u:{PASSWORD.replace('-', '/')}@"),
              DATABASE.replace("pipeline_steps@", f"u:{PASSWORD.replace('-', '#')}@"),
              f"{DATABASE}?sslmode=verify-full&sslpassword={PASSWORD}"), strict=True), start=5)),
    ]


HISTORY = ("run_tests with a PostgreSQL history", "sqlite history: no credential needed",
           "qualityGate in a service branch: the folder's credential is out of reach",
           "a URL with its password is refused", "a password as a URL parameter is refused",
           "a password with a '/' is refused", "a password with a '#' is refused", "an sslpassword is refused")


@pytest.fixture(scope="module")
def recorders_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("recorders")


@pytest.fixture(scope="module")
def played(recorders_dir: Path) -> dict[str, Played]:
    return play(MATRIX + SUPERSEDE + history_scenarios(recorders_dir))


@pytest.mark.parametrize("name", list(STEPS))
def test_every_exit_code_becomes_the_readme_build_result(played: dict[str, Played], name: str) -> None:
    label = STEPS[name][1]
    for code in CODES:
        build = played[f"{name} exit {code}"]
        rollbacks = [e for e in build.sh("pipeline-steps rollback") if label != "pipeline-steps rollback"]
        expected = README_RESULT[code]
        if name == "evaluationDone" and code == 5:
            asked = build.of("input")
            assert len(asked) == 1 and asked[0]["submitter"] == casc_env()["PIPELINE_STEPS_APPROVERS"], build.summary()
            assert [r["user"] for r in asked[0]["refused"]] == ["mallory"] and asked[0]["answeredBy"] == "alice"
            answered = build.sh("pipeline-steps evaluation-done (approval)")
            assert answered and _flag(answered[0], "--approval") == "approve", build.summary()
            expected = "SUCCESS"  # the second run's exit 0
        else:
            assert not build.of("input"), f"{name} exit {code} asked somebody"
        assert build.result == expected, (code, build.summary())
        if code in ROLLS_BACK.get(name, set()):
            assert rollbacks, f"{name} exit {code}: no rollback\n{build.summary()}"
            types = [e["type"] for e in build.events]
            last = max(i for i, e in enumerate(build.events) if e.get("label") == "pipeline-steps rollback")
            assert "error" not in types or last < types.index("error"), "the rollback runs before the build fails"
        else:
            assert not rollbacks, f"{name} exit {code} rolled back"
        if code == 130:
            assert build.of("setResult")[0]["result"] == "ABORTED"


@pytest.mark.parametrize("name", list(STEPS))
def test_fail_build_false_returns_the_code_and_leaves_the_result_to_the_caller(played: dict[str, Played],
                                                                              name: str) -> None:
    for code in CODES:
        build = played[f"{name} exit {code} failBuild false"]
        value = build.raw.get("value")
        assert build.result == "SUCCESS" and isinstance(value, dict), build.summary()
        final = 0 if name == "evaluationDone" and code == 5 else code
        assert value["exitCode"] == final and value["result"] == README_RESULT[final], value
        if name == "qualityGate":
            assert value["verdict"] == {0: "pass", 1: "fail", 3: "warning"}.get(code, "error")
            assert value["rolledBack"] is (code in ROLLS_BACK[name])


def _flag(event: dict[str, Any], flag: str) -> str:
    env = event["env"]
    argv = [env[f"PS_ARG_{i}"] for i in range(1, int(env["PS_ARGC"]) + 1)]
    return argv[argv.index(flag) + 1]


def test_stage_locks_are_taken_newest_first_and_an_older_delivery_gives_way(played: dict[str, Played]) -> None:
    for name in ("deploy #9", "run_tests rolls back", "evaluation_done promotes"):
        build = played[name]
        locks = [e for e in build.of("lock") if e["phase"] == "acquire"]
        assert locks and all(e["resource"] == f"pipeline-steps/{KEY}" and e["inversePrecedence"] is True for e in locks), \
            build.summary()
    assert played["deploy #9"].raw["buildVariables"]["DELIVERY_KEY"] == KEY, "each build claims its key before it waits"
    # #7, #8 and #9 queued for the lock; whichever order it hands them out in, each build sees the newer ones.
    assert [played[f"deploy #{n}"].result for n in (9, 8, 7)] == ["SUCCESS", "NOT_BUILT", "NOT_BUILT"]
    for n in (8, 7):
        build = played[f"deploy #{n}"]
        assert build.of("lock") and not build.of("sh") and not build.of("build"), build.summary()
        assert "superseded: build #" in build.of("error")[0]["message"]
    assert [e["parameters"]["TAG"] for e in played["deploy #9"].of("build")] == ["9.0.0"], "only the newest is tested"
    other = played["deploy #7, newer builds elsewhere"]
    assert other.result == "SUCCESS" and other.sh("pipeline-steps deploy"), other.summary()


def test_an_overtaken_delivery_neither_judges_nor_promotes_nor_flips(played: dict[str, Played]) -> None:
    tests = played["run_tests overtaken"]
    assert tests.result == "NOT_BUILT" and "superseded: build #8" in tests.of("error")[0]["message"], tests.summary()
    assert not tests.sh("pipeline-steps run-tests") and not tests.sh("pipeline-steps evaluate") and not tests.of("build")
    done = played["evaluation_done overtaken"]
    assert done.result == "NOT_BUILT" and "superseded: build #8" in done.of("error")[0]["message"], done.summary()
    assert not done.sh("pipeline-steps evaluation-done") and not done.of("build"), done.summary()
    assert [e for e in done.of("lock") if e["phase"] == "acquire"], "decided under the stage lock"
    for job in ("run_tests", "evaluation_done"):
        elsewhere = played[f"{job} overtaken, by another stage's delivery"]
        assert elsewhere.result == "SUCCESS", elsewhere.summary()
    assert played["run_tests overtaken, by another stage's delivery"].sh("pipeline-steps evaluate")
    promoted = played["evaluation_done overtaken, by another stage's delivery"]
    assert promoted.sh("pipeline-steps evaluation-done") and promoted.of("build"), promoted.summary()


def test_the_history_password_reaches_only_the_environment_of_evaluate_and_report(
        played: dict[str, Played], recorders_dir: Path) -> None:
    build = played[HISTORY[0]]
    assert build.result == "SUCCESS", build.summary()
    judged = [e for e in build.of("sh") if e["label"] in ("pipeline-steps evaluate", "pipeline-steps report")]
    assert [e["label"] for e in judged] == ["pipeline-steps evaluate", "pipeline-steps report"], build.summary()
    for event in build.of("sh"):
        has = event["env"].get("PGPASSWORD") == PASSWORD
        assert has is (event in judged), event["label"]
        assert event["env"].get("PIPELINE_STEPS_HISTORY") == DATABASE
        assert PASSWORD not in event["script"] and all(PASSWORD not in v for k, v in event["env"].items()
                                                        if k != "PGPASSWORD")
        assert event["replay"]["exit"] == 0, event["replay"]
    binding = [e for e in build.of("withCredentials") if "PGPASSWORD" in e["variables"]]
    assert binding and {i for e in binding for i in e["ids"]} == {"pipeline-steps-history"}
    calls = recorded(recorders_dir / "0")
    cli = [c for c in calls if c["program"] == "pipeline-steps" and c["argv"][:1] in (["evaluate"], ["report"])]
    assert len(cli) >= 2 and all(c["PGPASSWORD"] == PASSWORD for c in cli), "libpq finds the password in PGPASSWORD"
    assert all(c["PGPASSWORD"] == "<unset>" for c in calls if c not in cli)
    assert not any(PASSWORD in arg for c in calls for arg in c["argv"]), "no password on any command line"
    assert not any("--history" in c["argv"] for c in calls), "the history goes by environment"
    everything = [build.log, repr(build.raw["buildVariables"]), repr(build.raw["params"]), build.raw.get("description") or "",
                  repr([e for e in build.events if e["type"] != "sh"])]
    assert build.log and not any(PASSWORD in text for text in everything)

    sqlite = played[HISTORY[1]]
    assert sqlite.result == "SUCCESS" and not [e for e in sqlite.of("withCredentials") if "PGPASSWORD" in e["variables"]]
    assert all(c["PGPASSWORD"] == "<unset>" for c in recorded(recorders_dir / "1")) and recorded(recorders_dir / "1")

    branch = played[HISTORY[2]]
    assert branch.result == "FAILURE" and "Could not find credentials entry with ID 'pipeline-steps-history'" in branch.error
    assert not branch.sh("pipeline-steps evaluate")
    for name in HISTORY[3:]:
        refused = played[name]
        assert refused.result == "FAILURE" and not refused.of("sh"), refused.summary()
        assert "carries a password" in refused.error, refused.summary()
        pieces = [p for p in PASSWORD.split("-") if len(p) > 2]
        assert not [p for p in pieces if p in refused.log + refused.error], refused.error
