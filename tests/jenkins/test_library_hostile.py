"""Hostile values in every library step's arguments and every Jenkinsfile parameter run nothing.

Each value below tries another way into a shell - `$(...)`, backticks, `;`, a newline, a closing single or
double quote, `&&` and `|`, `${VAR}` - and would create its own file in a canary folder if any shell ever
interpreted it. Every library step (vars/*.groovy) and every Jenkinsfile (the chain's three and the
service's two) is played with Jenkins' Groovy, each argument or parameter holding one of them (rotated so
each argument gets each kind), `sh` answered by label so every stage runs, and EVERY `sh` script also
replayed for real by /bin/sh with the step's environment, `pipeline-steps`, `docker` and `git` being
recorders on PATH (tests/jenkins/pipeline.py `recorders`).

Aspects: the canary folder stays empty; every replayed script exits 0 (no quote broke its syntax); no script
text carries a value (only the environment does); every value reaches the commands as exactly one argument
(or inside one, e.g. `service/<SHIPYARD>`), unexpanded, and each value did reach a command; every argument
of every step (the README's table, which must list what the step reads) and every declared parameter of every
Jenkinsfile was given a hostile value; a hostile credentials id finds no credential and runs nothing.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.jenkins import groovy
from tests.jenkins.pipeline import Played, casc_env, play, recorded, recorders, upstream
from tests.jenkins.test_library import groovy_literal, step_call

ROOT = groovy.ROOT
BOOLEANS = {"noSwitch", "failBuild", "report", "rollback"}
"""Arguments that steer a step with true/false (never text for a command)."""
COUNTS = {"shards"}
"""A number 1..64 or bad input before any command (test_library_shards.py plays 0, 65, 'x', 1.5, -1)."""
CREDENTIAL_IDS = {"kubeconfigCredentialsId", "dynatraceTokenCredentialsId", "historyCredentialsId"}
STEP_ARGS: dict[str, list[str]] = {
    "blueGreenDeploy": ["project", "stage", "service", "image", "tag", "strategy", "platform", "serviceConfig",
                        "timeoutSeconds", "testStrategy", "keptnContext", "outDir"],
    "runTests": ["project", "stage", "service", "image", "tag", "strategy", "testStrategy", "keptnContext", "platform",
                 "serviceConfig", "target", "users", "loops", "duration", "rollbackTo", "colour", "outDir"],
    "runTests sharded": ["project", "stage", "service", "image", "tag", "platform", "serviceConfig", "target", "users",
                         "rollbackTo", "outDir", "agentLabel", "serviceFiles"],
    "qualityGate": ["spec", "testrun", "prometheusUrl", "dynatraceUrl", "project", "stage", "service", "image", "tag",
                    "strategy", "testStrategy", "keptnContext", "colour", "history", "rollbackTo", "shipyard", "outDir",
                    "platform"],
    "qualityGate slo": ["slo", "sli", "start", "end"],
    "trafficSwitch": ["project", "stage", "service", "image", "tag", "strategy", "testStrategy", "keptnContext",
                      "platform", "weights", "to"],
    "trafficSwitch rollback": ["project", "stage", "service", "platform", "to", "outDir"],
    "evaluationDone": ["project", "stage", "service", "image", "tag", "strategy", "testStrategy", "keptnContext",
                       "platform", "shipyard", "verdict", "evaluation", "deployment", "colour", "previousColour",
                       "weightsBefore", "outDir"],
    "approval": ["message"],
}
FIXED: dict[str, dict[str, Any]] = {
    # what keeps each call going through all its `sh` steps (booleans, and the mode of the approval)
    "qualityGate": {"report": True}, "qualityGate slo": {"project": "p", "service": "s"},
    "trafficSwitch rollback": {"rollback": True}, "blueGreenDeploy": {"noSwitch": True},
    "runTests sharded": {"shards": 2, "testStrategy": "performance"},
}
ANSWERS = {"pipeline-steps evaluate": {"exit": 1}, "pipeline-steps run-tests": {"exit": 1},
           "pipeline-steps evaluation-done": {"exit": 5}}
APPROVERS = {"users": {"alice": ["release-managers"]}, "inputAnswers": [{"user": "alice", "action": "proceed"}]}
DEEPEST = {  # the last CLI call each played step or Jenkinsfile must have made (the flow went all the way)
    "qualityGate": "pipeline-steps report", "qualityGate slo": "pipeline-steps evaluate",
    "runTests": "pipeline-steps rollback", "runTests sharded": "pipeline-steps rollback",
    "blueGreenDeploy": "pipeline-steps deploy",
    "trafficSwitch": "pipeline-steps switch", "trafficSwitch rollback": "pipeline-steps rollback",
    "evaluationDone": "pipeline-steps evaluation-done (approval)", "deliveryChain": "shipyard stage",
}


def payloads(canary: Path) -> list[str]:
    c = str(canary)
    return [f"$(touch {c}/dollar-paren)", f"`touch {c}/backtick`", f"x; touch {c}/semicolon",
            f"x\ntouch {c}/newline", f"x' ; touch {c}/single-quote ; '", f'x" ; touch {c}/double-quote ; "',
            f"x && touch {c}/and | touch {c}/pipe", "${PATH}$HOME"]


def assign(names: list[str], values: list[str], turn: int) -> dict[str, str]:
    return {name: values[(i + turn) % len(values)] for i, name in enumerate(names)}


def library_scenarios(values: list[str], env: dict[str, str]) -> list[dict[str, Any]]:
    scenarios = []
    for turn in range(len(values)):
        for name, names in STEP_ARGS.items():
            step = name.split()[0]
            args = {**FIXED.get(name, {}), **assign(names, values, turn)}
            scenarios.append({"name": f"{name} #{turn}", **step_call(step, args), "job": "delivery/x", "env": env,
                              "hostile": {f"{step}.{k}": v for k, v in args.items() if k in names},
                              "sh": {"replay": True, "results": ANSWERS}, **APPROVERS})
        chain = assign(["SERVICE_REPO", "SERVICE_REVISION", "SERVICE_PATH", "SHIPYARD", "key", "stage", "job"], values, turn)
        script = ("@Library('pipeline-steps') _\nnode('pipeline-steps') {\n"
                  f"    deliveryChain.claim({groovy_literal(chain['key'])})\n"
                  "    deliveryChain.checkoutService()\n"
                  f"    deliveryChain.job({groovy_literal(chain['job'])})\n"
                  f"    deliveryChain.stageConfig({groovy_literal(chain['stage'])})\n}}\n")
        scenarios.append({"name": f"deliveryChain #{turn}", "script": script, "job": "delivery/x", "env": env,
                          "scriptParams": {k: chain[k] for k in ("SERVICE_REPO", "SERVICE_REVISION", "SERVICE_PATH", "SHIPYARD")},
                          "hostile": {f"deliveryChain.{k}": v for k, v in chain.items()},
                          "sh": {"replay": True, "results": {f"shipyard stage {chain['stage']}": {"stdout": "{}"}}}})
    return scenarios


STAGE_JSON = '{"name": "staging", "deployment_strategy": "blue_green_service", "test_strategy": "performance", ' \
             '"gate": "service/perfspec.json"}'
PROMOTED = json.dumps({"action": "promote", "next_stage": "production"})


def service_files(params: dict[str, str]) -> dict[str, str]:
    """service.yaml where the chain's checkout puts it for these (hostile) SERVICE_PATH/SERVICE_REPO values."""
    path = params.get("SERVICE_PATH", ".")
    return {f"{path}/service.yaml": "name: carts\n", f".service-repo/{path}/service.yaml": "name: carts\n"}


CHAIN_JOBS = {"Jenkinsfiles/deploy": ("delivery/deploy", "carts/main"),
              "Jenkinsfiles/run_tests": ("delivery/run_tests", "delivery/deploy"),
              "Jenkinsfiles/evaluation_done": ("delivery/evaluation_done", "delivery/run_tests")}
"""Chain Jenkinsfile -> (its job, the job that starts it)."""
SERVICE_CAUSE = {"_class": "jenkins.branch.BranchEventCause"}


def hostile(path: str, values: list[str], turn: int, fixed: dict[str, str] | None = None) -> dict[str, str]:
    """Every declared parameter of the Jenkinsfile at ``path`` a hostile value, but those in ``fixed``."""
    fixed = fixed or {}
    declared = [p.name for p in groovy.parameters(groovy.read(path)) if p.name not in fixed]
    return {**assign(declared, values, turn), **fixed}


def build_of(name: str, path: str, params: dict[str, str], answers: dict[str, Any], env: dict[str, str],
             **extra: Any) -> dict[str, Any]:
    """A build of the Jenkinsfile at ``path``, started as the chain or a push would start it."""
    job, caller = CHAIN_JOBS.get(path, ("carts/main", ""))
    answers = {f"shipyard stage {params.get('STAGE')}": {"stdout": STAGE_JSON}, "first stage": {"stdout": STAGE_JSON},
               "version": {"stdout": "1.0.0"}, **answers}
    return {"name": name, "jenkinsfile": path, "job": job, "branch": None if caller else "main", "params": params,
            "causes": [upstream(caller) if caller else SERVICE_CAUSE], "files": service_files(params),
            "sh": {"replay": True, "results": answers}, "env": env,
            "items": ["delivery/deploy", "delivery/run_tests", "delivery/evaluation_done", "carts/main"], **APPROVERS,
            **extra}


def jenkinsfile_scenarios(values: list[str], env: dict[str, str]) -> list[dict[str, Any]]:
    deploy, tests, done = CHAIN_JOBS
    local = {"PLATFORM": "local"}
    blue_green = {**local, "DEPLOYMENTSTRATEGY": "blue_green_service"}
    # TEST_SHARDS is a count refused before anything runs unless 1..64: hostile only in the "all hostile" builds
    one = {"TEST_SHARDS": "1"}
    approved = {"pipeline-steps evaluation-done": {"exit": 5}, "shipyard stage production": {"stdout": STAGE_JSON},
                "pipeline-steps evaluation-done (approval)": {"writes": {"out/promotion.json": PROMOTED}}}
    scenarios = []
    for turn in range(len(values)):
        scenarios += [
            build_of(f"deploy #{turn}", deploy, hostile(deploy, values, turn, local), {}, env),
            build_of(f"run_tests #{turn}", tests, hostile(tests, values, turn, {**local, **one}), {}, env),
            build_of(f"run_tests rolls back #{turn}", tests, hostile(tests, values, turn, {**blue_green, **one}),
                     {"pipeline-steps run-tests": {"exit": 1}}, env),
            build_of(f"run_tests post #{turn}", tests, hostile(tests, values, turn, {**blue_green, **one}), {}, env,
                     hangOn="pipeline-steps run-tests"),
            build_of(f"evaluation_done #{turn}", done, hostile(done, values, turn, local), approved, env),
        ]
        for path in groovy.SERVICE_FILES:
            scenarios += [build_of(f"{path} local #{turn}", path, hostile(path, values, turn, local), {}, env),
                          build_of(f"{path} kubernetes #{turn}", path,
                                   hostile(path, values, turn, {"PLATFORM": "kubernetes", "TAG": ""}), {}, env)]
    # PLATFORM is a choice, but `build` hands a chain job every value as a string: each file once all hostile.
    for path in (*CHAIN_JOBS, *groovy.SERVICE_FILES):
        scenarios.append(build_of(f"{path} all hostile", path, hostile(path, values, 3), {}, env))
    return scenarios


def credential_scenarios(values: list[str], env: dict[str, str]) -> list[dict[str, Any]]:
    found = []
    for n, (step, arg) in enumerate([("blueGreenDeploy", "kubeconfigCredentialsId"),
                                     ("qualityGate", "dynatraceTokenCredentialsId"),
                                     ("qualityGate", "historyCredentialsId")]):
        args = {"platform": "kubernetes", "stage": "staging", arg: values[n],
                "history": "postgresql://u@db:5432/h" if arg == "historyCredentialsId" else ""}
        found.append({"name": f"{step} with a hostile {arg}", "job": "delivery/x", "env": env, **step_call(step, args),
                      "credentials": {"kubeconfig-staging": {"folder": "delivery", "secret": "k"}},
                      "sh": {"replay": True}})
    return found


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    base = tmp_path_factory.mktemp("hostile")
    canary = base / "canary"
    canary.mkdir()
    bin_dir = recorders(base / "rec")
    env = casc_env(PATH=f"{bin_dir}:/usr/bin:/bin", PIPELINE_STEPS_STATE_DIR=str(base / "state"))
    values = payloads(canary)
    scenarios = library_scenarios(values, env) + jenkinsfile_scenarios(values, env) + credential_scenarios(values, env)
    played = play(scenarios, base / "work")
    return {"played": played, "canary": canary, "values": values, "calls": recorded(base / "rec"),
            "scenarios": {s["name"]: s for s in scenarios}}


def test_no_hostile_value_ran_and_every_script_still_parsed(world: dict[str, Any]) -> None:
    played: dict[str, Played] = world["played"]
    assert sorted(p.name for p in world["canary"].iterdir()) == []
    replays = [(name, e) for name, b in played.items() for e in b.of("sh")]
    assert len(replays) > 300, len(replays)
    broken = [(name, e["label"], e["replay"]["stderr"][-300:]) for name, e in replays if e["replay"]["exit"] != 0]
    assert not broken, broken[:3]
    spliced = [(name, e["label"]) for name, e in replays if any(v in e["script"] for v in world["values"])]
    assert not spliced, f"a value became part of a script: {spliced[:3]}"


def test_each_value_reaches_the_commands_intact_as_one_argument(world: dict[str, Any]) -> None:
    values: list[str] = world["values"]
    args = [a for call in world["calls"] for a in call["argv"]]
    assert len(world["calls"]) > 300
    split = [a for a in args if ("touch" in a or "PATH" in a) and not any(v in a for v in values)]
    assert not split, f"a value was split or expanded by a shell: {split[:5]}"
    for value in values:
        assert value in args, f"{value!r} never reached a command as one argument"
    assert "${PATH}$HOME" in args, "a variable reference arrives unexpanded"


def test_every_argument_and_parameter_was_hostile_and_every_flow_went_through(world: dict[str, Any]) -> None:
    played: dict[str, Played] = world["played"]
    given = {key for s in world["scenarios"].values() for key in s.get("hostile", {})}
    for step, names in readme_args().items():
        wanted = {f"{step}.{n}" for n in names if n not in BOOLEANS | COUNTS | CREDENTIAL_IDS | {"approval"}}
        assert wanted <= given, sorted(wanted - given)
    for path in ("Jenkinsfiles/deploy", "Jenkinsfiles/run_tests", "Jenkinsfiles/evaluation_done", *groovy.SERVICE_FILES):
        declared = {p.name for p in groovy.parameters(groovy.read(path))}
        hostile = {k for s in world["scenarios"].values() if s.get("jenkinsfile") == path
                   for k, v in s["params"].items() if v in world["values"]}
        assert declared == hostile, (path, declared - hostile)
    for name, build in played.items():
        kind = name.rsplit(" #", 1)[0]
        if kind in DEEPEST:
            assert any(e["label"].startswith(DEEPEST[kind]) for e in build.of("sh")), build.summary()
    deepest = {"deploy": "pipeline-steps deploy", "run_tests": "pipeline-steps report",
               "run_tests rolls back": "pipeline-steps rollback", "run_tests post": "pipeline-steps rollback",
               "evaluation_done": "shipyard stage production"}
    for turn in range(len(world["values"])):
        for kind, label in deepest.items():
            build = played[f"{kind} #{turn}"]
            assert build.sh(label) or build.sh(label.replace("report", "evaluate")), (kind, build.summary())
        for path in groovy.SERVICE_FILES:
            assert played[f"{path} local #{turn}"].sh("pipeline-steps local build")
            assert played[f"{path} kubernetes #{turn}"].sh("container image")
            assert played[f"{path} kubernetes #{turn}"].sh("first stage")


def test_a_hostile_credentials_id_finds_nothing_and_runs_nothing(world: dict[str, Any]) -> None:
    for name, build in world["played"].items():
        if " with a hostile " in name and name.endswith("CredentialsId"):
            assert build.result == "FAILURE" and "Could not find credentials entry" in build.error, build.summary()
            assert not build.of("sh")


LIBRARY_STEPS = ("blueGreenDeploy", "runTests", "qualityGate", "trafficSwitch", "evaluationDone", "approval")
CONTEXT_ARGS = ["project", "stage", "service", "image", "tag", "strategy", "testStrategy", "keptnContext", "platform",
                "kubeconfigCredentialsId", "outDir", "failBuild"]


def readme_args() -> dict[str, list[str]]:
    """The parameters column of the README's library table, per step (`context` is the sentence above it)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    context = re.search(r"takes the stage \*context\*:(.*?):\n", readme, re.S)
    assert context, "the README's sentence naming the context arguments"
    named = set(re.findall(r"`(\w+)`", context.group(1))) - {"kubernetes", "local", "out"}
    assert named == set(CONTEXT_ARGS), named ^ set(CONTEXT_ARGS)
    table = {}
    for step, params in re.findall(r"^\| `(\w+)` \| ([^|]+) \|", readme, re.M):
        if step in LIBRARY_STEPS:
            words = re.sub(r"\([^)]*\)", "", params).replace(" or ", ",").replace(" + ", ",").replace(" / ", ",")
            names = [w.strip() for w in words.split(",") if w.strip()]
            table[step] = [n for n in names if n != "context"] + (CONTEXT_ARGS if "context" in names else [])
    assert sorted(table) == sorted(LIBRARY_STEPS), table
    return table



def test_the_readme_table_lists_every_argument_each_step_reads() -> None:
    cli = (ROOT / "src" / "io" / "pipelinesteps" / "Cli.groovy").read_text()
    shared = set(re.findall(r"\bargs\.(\w+)", cli))
    assert {"project", "stage", "tag", "kubeconfigCredentialsId", "history", "rollbackTo"} <= shared
    for step in LIBRARY_STEPS:
        source = (ROOT / "vars" / f"{step}.groovy").read_text()
        read = set(re.findall(r"\bargs\.(\w+)", source))
        if "Cli.contextFlags(" in source:
            read |= {"project", "stage", "service", "image", "tag", "strategy", "testStrategy", "keptnContext"}
        if "cli.credentials(" in source:
            read |= {"platform", "kubeconfigCredentialsId"}
        if "cli.history" in source:
            read |= {"history", "historyCredentialsId"}
        listed = set(readme_args()[step])
        assert read <= listed, (step, sorted(read - listed))
