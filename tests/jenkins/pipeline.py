"""Run Jenkinsfiles and vars/*.groovy with Jenkins' own Groovy (2.4) under the recording harness.

No Jenkins server installs here, so ``tests/jenkins/harness`` plays Declarative Pipeline and the steps
we use the way their plugins do (each behaviour cites its source there) and records what a build did:
which stages ran, every step with its stage, the executors and locks held and the timeouts around it,
the environment each ``sh`` saw, the job paths ``build`` resolved to, and the result.

``play(scenarios)`` runs a list of scenarios in ONE JVM (a JVM start costs about a second, so tests
batch their scenarios per module); a scenario is a dict (see harness/harness/Build.groovy for the
fields); ``Played`` wraps one result.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
HARNESS = ROOT / "tests" / "jenkins" / "harness"
UPSTREAM = "hudson.model.Cause$UpstreamCause"
USER = "hudson.model.Cause$UserIdCause"
BRANCH_EVENT = "jenkins.branch.BranchEventCause"


def java_home() -> str:
    """The JVM groovy runs on: $JAVA_HOME, else Debian's JDK 17 for this machine's architecture (.ci/run installs it)."""
    if os.environ.get("JAVA_HOME"):
        return os.environ["JAVA_HOME"]
    found = sorted(Path("/usr/lib/jvm").glob("java-17-openjdk-*/bin/java"))
    if not found:
        pytest.fail("no JDK 17 under /usr/lib/jvm: apt-get install openjdk-17-jdk-headless (bash .ci/run does)")
    return str(found[0].parents[1])


def groovy() -> str:
    found = shutil.which("groovy")
    if not found:
        pytest.fail("groovy (Debian package `groovy`, 2.4) is needed to run the Jenkinsfiles; bash .ci/run installs it")
    return found


def casc_env(**overrides: str) -> dict[str, str]:
    """The controller environment casc.yaml sets (globalNodeProperties), with its defaults, plus overrides."""
    casc = yaml.safe_load((ROOT / "jenkins" / "casc.yaml").read_text(encoding="utf-8"))
    env = {}
    for entry in casc["jenkins"]["globalNodeProperties"][0]["envVars"]["env"]:
        value = str(entry["value"])
        default = value.split(":-", 1)[1].rstrip("}") if ":-" in value else ""
        env[entry["key"]] = default
    env.update(overrides)
    return env


def upstream(project: str, number: int = 7) -> dict[str, Any]:
    """A cause as RunWrapper.getBuildCauses() serialises it: started by another job's build."""
    return {"_class": UPSTREAM, "shortDescription": f"Started by upstream project \"{project}\" build number {number}",
            "upstreamBuild": number, "upstreamProject": project, "upstreamUrl": f"job/{project.replace('/', '/job/')}/"}


def user(name: str) -> dict[str, Any]:
    return {"_class": USER, "shortDescription": f"Started by user {name}", "userId": name, "userName": name}


@dataclass
class Played:
    """One build as the harness played it."""

    raw: dict[str, Any]
    evidence: str = ""
    """What the gates of this play judged (``gate_evidence``), read before a temporary folder goes."""

    @property
    def result(self) -> str:
        return str(self.raw["result"])

    @property
    def error(self) -> str:
        return str(self.raw.get("error") or "")

    @property
    def events(self) -> list[dict[str, Any]]:
        return list(self.raw["events"])

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.raw["events"] if e["type"] == kind]

    def sh(self, label: str) -> list[dict[str, Any]]:
        return [e for e in self.of("sh") if e["label"] == label]

    def stage(self, name: str) -> str:
        found = [s["status"] for s in self.raw["stages"] if s["name"] == name]
        assert found, f"no stage {name!r}: {[s['name'] for s in self.raw['stages']]}"
        return str(found[0])

    @property
    def log(self) -> str:
        """The console text (unmasked: see harness/Build.groovy)."""
        return str(self.raw.get("log") or "")

    @property
    def stages(self) -> dict[str, str]:
        return {s["name"]: s["status"] for s in self.raw["stages"]}

    def summary(self) -> str:
        return json.dumps({"result": self.result, "error": self.error, "stages": self.stages,
                           "steps": [(e["type"], e.get("label") or e.get("resource") or e.get("message") or "")
                                     for e in self.events]}, indent=1) + (f"\ngates of this play:\n{self.evidence}"
                                                                          if self.evidence else "")


def gate_evidence(folder: Path) -> str:
    """Every evaluation.json a played build left under ``folder``: verdict, window, the deployment's test
    strategy, and each indicator's status, value and reason, so a failed verdict assertion says why the
    gate judged as it did (a "no values" is a monitoring or timing question, a value a latency one)."""
    lines = []
    for path in sorted(folder.rglob("evaluation.json")):
        try:
            doc = json.loads(path.read_text())
        except (OSError, ValueError) as err:
            lines.append(f"{path}: unreadable ({err})")
            continue
        deployment = path.with_name("deployment.json")
        strategy = json.loads(deployment.read_text())["context"].get("test_strategy") if deployment.exists() else "?"
        window = doc.get("window") or {}
        lines.append(f"{path.relative_to(folder)}: {doc.get('verdict')} over {window.get('start_unix')}.."
                     f"{window.get('end_unix')} (deployed with test strategy {strategy!r})")
        lines += [f"  {i.get('id')}: {i.get('status')} value={i.get('value')} values={i.get('values')} "
                  f"reason={i.get('reason')!r} query={i.get('query')}" for i in doc.get("indicators") or []]
    return "\n".join(lines) or f"no evaluation.json under {folder}"


def recorders(folder: Path, programs: tuple[str, ...] = ("pipeline-steps", "docker", "git")) -> Path:
    """A folder of stand-ins for ``programs`` to put first on PATH: each appends the argv it was given (and
    PGPASSWORD, or ``<unset>``) to ``folder/calls`` and exits 0, so a test sees exactly what a shell script
    handed to a command; read them back with ``recorded``. Plain sh, so a replayed step costs milliseconds."""
    bin_dir = folder / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    calls = folder / "calls"
    for name in programs:
        script = bin_dir / name
        script.write_text("#!/bin/sh\n"
                          f"{{ printf 'program=%s\\0' '{name}'; for a in \"$@\"; do printf 'arg=%s\\0' \"$a\"; done\n"
                          f"  printf 'PGPASSWORD=%s\\0\\036' \"${{PGPASSWORD-<unset>}}\"; }} >> '{calls}'\n")
        script.chmod(0o755)
    return bin_dir


def recorded(folder: Path) -> list[dict[str, Any]]:
    """The calls ``recorders`` saw, in order: {program, argv, PGPASSWORD}."""
    calls = folder / "calls"
    found = []
    for record in (calls.read_bytes().split(b"\x1e") if calls.exists() else []):
        if not record:
            continue
        fields = [f.decode("utf-8") for f in record.split(b"\0") if f]
        call: dict[str, Any] = {"argv": []}
        for field in fields:
            key, value = field.split("=", 1)
            if key == "arg":
                call["argv"].append(value)
            else:
                call[key] = value
        found.append(call)
    return found


def play(scenarios: list[dict[str, Any]], workdir: Path | None = None, timeout: float = 600) -> dict[str, Played]:
    """Run every scenario in one Groovy JVM; returns name -> Played."""
    own = workdir is None
    work = Path(tempfile.mkdtemp(prefix="harness-")) if workdir is None else workdir
    try:
        prepared = []
        for n, scenario in enumerate(scenarios):
            item = {"root": str(ROOT), "workspaceRoot": str(work / f"s{n}"), "env": casc_env(), **scenario}
            Path(item["workspaceRoot"]).mkdir(parents=True, exist_ok=True)
            prepared.append(item)
        names = [s["name"] for s in prepared]
        assert len(set(names)) == len(names), "scenario names must be unique"
        source, target = work / "scenarios.json", work / "results.json"
        source.write_text(json.dumps(prepared), encoding="utf-8")
        # The agent's own environment under every sh: this process's, without a password of the machine's.
        env = {**{k: v for k, v in os.environ.items() if k != "PGPASSWORD"},
               "JAVA_HOME": java_home()}
        code, stderr = _run_harness([groovy(), "-cp", str(HARNESS), str(HARNESS / "run.groovy"), str(source), str(target)],
                                    env, timeout)
        assert code == 0 and target.exists(), f"harness failed ({code}):\n{stderr[-STDERR_TAIL:]}"
        results = json.loads(target.read_text(encoding="utf-8"))
        evidence = gate_evidence(work) if any(work.rglob("evaluation.json")) else ""
        return {r["name"]: Played(r, evidence) for r in results}

    finally:
        if own:
            shutil.rmtree(work, ignore_errors=True)


STDERR_TAIL = 6000
"""Characters of the harness's stderr a failure shows: every real script's stderr streams there as
``[sh LABEL] ...`` lines, so its tail names the script that was running."""


def _run_harness(argv: list[str], env: dict[str, str], timeout: float) -> tuple[int | str, str]:
    """Run the harness JVM in its own process group; (exit code, its stdout and stderr). Past ``timeout`` the
    whole group (the JVM and the scripts it runs) is killed and the code is "timed out after Ns". Output goes
    to a file, not a pipe: a process a script left behind holding a pipe cannot keep this waiting."""
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=err, stderr=err,
                                start_new_session=True)
        try:
            code: int | str = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(30)
            code = f"timed out after {timeout:g}s, killed"
        err.seek(0)
        return code, err.read().decode("utf-8", "replace")


def chain_of(played: dict[str, Played], name: str) -> list[Played]:
    """The builds a `chain` scenario played, in order: the first build, then each one it started."""
    return [p for key, p in played.items() if key == name or key.startswith(f"{name}>")]
