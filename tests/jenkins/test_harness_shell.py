"""The harness's real `sh` can never hang a test run silently (tests/jenkins/harness/harness/Shell.groovy).

Aspects, all in one JVM:
- a script past its deadline is stopped with every process it started (SIGTERM, then SIGKILL for one that
  ignores it), its stdout and stderr so far reach the console and the harness's stderr, and the step counts
  as one that never ended: HUNG without a timeout around it, the timeout's ABORTED inside one;
- a process a script leaves behind holding its stdout does not hold up the step (durable-task ends a step
  with its script's exit status, not when the output closes), and is named;
- a stop (the `signal` marker) reaches a descendant in its own session, by the step's cookie, as
  durable-task's ProcessTree.killAll does;
- stderr streams to the harness's stderr as it arrives, labelled;
- `play()` fails with the harness's stderr tail, also when the harness itself runs past its timeout.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

from tests.jenkins.pipeline import Played, _run_harness, play

pytestmark = pytest.mark.slow


def scripted(name: str, body: str, *, deadline: int = 3, **extra: Any) -> dict[str, Any]:
    return {"name": name, "script": f"node {{\n{body}\n}}\n", "sh": {"mode": "real", "deadlineSeconds": deadline, **extra}}


@pytest.fixture(scope="module")
def played(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("harness-shell")
    stubborn = tmp / "stubborn.pid"
    session = tmp / "session.pid"
    held = tmp / "held.pid"
    scenarios = [
        scripted("overrun", "sh(label: 'slow', script: 'echo started; echo warming up >&2; sleep 600')"),
        scripted("overrun in a timeout", "timeout(time: 1, unit: 'MINUTES') {\n"
                 "  sh(label: 'slow', script: 'echo started; sleep 600')\n}"),
        scripted("stubborn child", "sh(label: 'stubborn', script: '''sh -c 'trap \"\" TERM; echo $$ > "
                 f"{stubborn}; while :; do sleep 1; done' & wait''')"),
        scripted("pipe held", "sh(label: 'detach', script: '''(setsid sh -c 'echo $$ > "
                 f"{held}; sleep 30' &); echo detached''')", deadline=60),
        # a double fork: the process is init's child, out of the script's tree; only the cookie finds it
        scripted("signal by cookie", "sh(label: 'tree', script: '''(setsid sh -c 'echo $$ > "
                 f"{session}; sleep 60' > /dev/null 2>&1 &)\nsleep 1; echo marker; sleep 60''')",
                 deadline=60, signal={"label": "tree", "marker": "marker", "signal": "TERM"}),
    ]
    began = time.monotonic()
    result = play(scenarios, tmp / "work", timeout=300)
    return {"played": result, "seconds": time.monotonic() - began, "stubborn": stubborn, "session": session, "held": held}


def build(played: dict[str, Any], name: str) -> Played:
    found: Played = played["played"][name]
    return found


def alive(pid_file: Path) -> bool:
    pid = int(pid_file.read_text().strip())
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def test_a_script_past_its_deadline_is_stopped_and_reported(played: dict[str, Any]) -> None:
    run = build(played, "overrun")
    assert run.result == "HUNG", run.summary()
    sh = run.sh("slow")[0]
    assert sh["overran"]["seconds"] == 3 and any("sleep 600" in p for p in sh["overran"]["stopped"])
    assert "started" in sh["stdout"] and "warming up" in sh["stderr"]
    assert "still running after 3s (harness deadline)" in run.log and "warming up" in run.log


def test_a_deadline_inside_a_timeout_fires_that_timeout(played: dict[str, Any]) -> None:
    run = build(played, "overrun in a timeout")
    assert run.result == "ABORTED", run.summary()
    assert run.of("timeoutFired"), run.summary()


def test_a_child_that_ignores_sigterm_is_killed(played: dict[str, Any]) -> None:
    assert build(played, "stubborn child").result == "HUNG"
    assert not alive(played["stubborn"])


def test_a_process_holding_the_output_does_not_hold_the_step(played: dict[str, Any]) -> None:
    run = build(played, "pipe held")
    sh = run.sh("detach")[0]
    assert sh["exit"] == 0 and "detached" in sh["stdout"]
    assert sh["seconds"] < 20, sh
    # When the script exits, the JDK's process reaper drains and closes a pipe no reader is blocked on at that
    # instant (ProcessImpl's ProcessPipeInputStream.processExited), so whether the holder is still seen is a race;
    # what must hold either way is that the step ended. When it is seen, it is named.
    held = sh.get("pipesHeldBy")
    assert held is None or any("sleep 30" in p or "sh -c" in p for p in held), sh
    os.kill(int(played["held"].read_text()), 9)


def test_a_stop_reaches_a_descendant_in_its_own_session(played: dict[str, Any]) -> None:
    run = build(played, "signal by cookie")
    sh = run.sh("tree")[0]
    assert sh["signalled"] and sh["exit"] != 0, sh
    deadline = time.monotonic() + 5
    while alive(played["session"]) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(played["session"])


def test_the_whole_module_is_bounded(played: dict[str, Any]) -> None:
    assert played["seconds"] < 120


def test_stderr_streams_labelled_and_a_harness_timeout_shows_it(tmp_path: Path) -> None:
    script = tmp_path / "slow.groovy"
    script.write_text("System.err.println('[sh slow] + sleep 600'); System.err.flush(); Thread.sleep(600000)\n")
    from tests.jenkins.pipeline import groovy, java_home
    began = time.monotonic()
    code, stderr = _run_harness([groovy(), str(script)], {**os.environ, "JAVA_HOME": java_home()}, timeout=8)
    assert code == "timed out after 8s, killed"
    assert "[sh slow] + sleep 600" in stderr
    assert time.monotonic() - began < 40
