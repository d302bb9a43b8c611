"""steps/launch.py: a step forked from a warm parent ends, prints and sees what a new interpreter would.

The probe (tests/steps/launch_probe.py) reports what a process sees and ends as asked; each test
runs it both ways (``exec_cli``: ``python -m``, ``fork_cli``: forked) and compares.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from pipeline_steps.steps.launch import LAUNCH_ENV, WARM_MODULES, can_fork, exec_cli, fork_cli, run_cli, warm

ROOT = Path(__file__).resolve().parents[2]
PROBE = "tests.steps.launch_probe"
ENV = {"LAUNCH_PROBE": "seen", "PYTHONPATH": str(ROOT)}


def _without_frames(stderr: str) -> list[str]:
    """stderr without a traceback's frame lines (runpy's frames differ from ``-m``'s; the rest may not)."""
    return [line for line in stderr.splitlines() if not line.startswith("  ")]


@pytest.mark.parametrize(("argv", "status"), [
    (["exit", "0"], 0), (["exit", "3"], 3), (["exit", "300"], 300 & 0xFF), (["message"], 1), (["raise"], 1),
    (["interrupt"], -signal.SIGINT), (["unflushed"], 0),
])
def test_a_forked_step_ends_and_prints_as_a_new_interpreter_would(capfd: pytest.CaptureFixture[str], argv: list[str],
                                                                   status: int) -> None:
    new_status = exec_cli(argv, ENV, module=PROBE)
    new_out, new_err = capfd.readouterr()
    forked_status = fork_cli(argv, ENV, module=PROBE)
    forked_out, forked_err = capfd.readouterr()
    assert (new_status, forked_status) == (status, status)
    assert forked_out == new_out
    assert json.loads(forked_out.splitlines()[0])["env"] == "seen"
    assert _without_frames(forked_err) == _without_frames(new_err)
    assert "probe: on stderr" in forked_err


def test_the_child_gets_none_of_the_parents_streams_handlers_finalizers_or_env(capfd: pytest.CaptureFixture[str],
                                                                               monkeypatch: pytest.MonkeyPatch,
                                                                               tmp_path: Path) -> None:
    exec_cli(["exit", "0"], ENV, module=PROBE)
    new = json.loads(capfd.readouterr().out)
    captured = io.StringIO()  # what capsys, CliRunner or a masking wrapper leave on sys.stdout
    monkeypatch.setattr(sys, "stdout", captured)
    handlers = {number: signal.signal(number, lambda *_: None) for number in (signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1)}
    kept = tempfile.TemporaryDirectory(dir=tmp_path)  # its finalizer would remove it at the child's exit
    try:
        assert fork_cli(["exit", "0"], ENV, module=PROBE) == 0
    finally:
        for number, handler in handlers.items():
            signal.signal(number, handler)
    forked = json.loads(capfd.readouterr().out)
    assert forked == new
    assert captured.getvalue() == ""
    assert Path(kept.name).is_dir()
    assert "LAUNCH_PROBE" not in os.environ
    kept.cleanup()


def test_ctrl_c_gives_the_child_a_quarter_second_then_kills_it(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    pid_file = tmp_path / "pid"

    def interrupt(*_: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, 1.0)
    started = time.monotonic()
    try:
        with pytest.raises(KeyboardInterrupt):
            fork_cli(["sleep", str(pid_file)], ENV, module=PROBE)  # the probe ignores SIGINT and sleeps 60 s
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert time.monotonic() - started < 30, "the parent waited for the child instead of killing it"
    with pytest.raises(ProcessLookupError):
        os.kill(int(pid_file.read_text()), 0)  # killed and reaped


def _gone(pid_file: Path) -> bool:
    """True when the probe whose pid is in ``pid_file`` was killed and reaped (else kill it: no stray sleeper)."""
    for _ in range(500):  # the probe writes its pid first thing
        if pid_file.exists() and pid_file.read_text():
            break
        time.sleep(0.01)
    pid = int(pid_file.read_text())
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)
    return False


FORK_THEN_CTRL_C = """
import os, signal, sys
from pipeline_steps.steps.launch import fork_cli
fork = os.fork

def fork_then_ctrl_c():
    pid = fork()
    if pid:
        os.kill(os.getpid(), signal.SIGINT)
    return pid

os.fork = fork_then_ctrl_c
try:
    fork_cli(["sleep", sys.argv[1]], {"LAUNCH_PROBE": "seen"}, module="tests.steps.launch_probe")
except KeyboardInterrupt:
    print("interrupted")
"""


def test_a_ctrl_c_as_the_child_is_forked_still_ends_it(tmp_path: Path) -> None:
    """A SIGINT that comes while ``fork`` runs reaches the parent only (Linux restarts the fork after the
    handler), and raised ``KeyboardInterrupt`` before the parent waited: the step ran on unwatched. In a
    process of its own, with one thread as ``can_fork`` requires (pytest's may run servers' threads, and a
    process-directed signal goes to a thread that does not block it)."""
    pid_file, script = tmp_path / "pid", tmp_path / "fork_then_ctrl_c.py"
    script.write_text(FORK_THEN_CTRL_C, encoding="utf-8")
    done = subprocess.run([sys.executable, str(script), str(pid_file)], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, check=False)
    assert done.stdout.splitlines()[-1:] == ["interrupted"], done.stderr
    assert _gone(pid_file), "the child went on running after the parent was interrupted"


def test_a_second_ctrl_c_while_the_parent_waits_still_ends_the_child(tmp_path: Path,
                                                                     capfd: pytest.CaptureFixture[str]) -> None:
    pid_file = tmp_path / "pid"
    presses = []

    def interrupt(*_: object) -> None:
        presses.append(1)
        if len(presses) == 2:
            signal.setitimer(signal.ITIMER_REAL, 0)
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, 1.0, 0.1)  # Ctrl-C, and again 0.1 s later (inside the 0.25 s grace)
    try:
        with pytest.raises(KeyboardInterrupt):
            fork_cli(["sleep", str(pid_file)], ENV, module=PROBE)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert _gone(pid_file), "the child went on running after a second Ctrl-C"


def test_steps_are_forked_unless_threads_run_or_exec_is_asked_for(capfd: pytest.CaptureFixture[str],
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(LAUNCH_ENV, raising=False)
    alone = threading.active_count
    monkeypatch.setattr(threading, "active_count", lambda: 1)  # earlier tests may leave idle servers' threads
    assert can_fork()
    assert run_cli(["which"], ENV, module=PROBE) == 0
    assert capfd.readouterr().out.splitlines()[-1] == "forked"

    monkeypatch.setenv(LAUNCH_ENV, "exec")
    assert run_cli(["which"], ENV, module=PROBE) == 0
    assert capfd.readouterr().out.splitlines()[-1] == "new interpreter"

    monkeypatch.delenv(LAUNCH_ENV)
    monkeypatch.setattr(threading, "active_count", alone)
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        assert not can_fork()  # fork copies one thread: a lock the other holds would stay held in the child
        assert run_cli(["which"], ENV, module=PROBE) == 0
        assert capfd.readouterr().out.splitlines()[-1] == "new interpreter"
    finally:
        stop.set()
        other.join()


def test_a_step_started_while_the_parent_handles_an_exception_does_not_inherit_it(
        capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """The demo stops its platform in a ``finally`` after a failure or a Ctrl-C: a forked child would carry
    the parent's exception as the context of its own (its traceback then shows the parent's error)."""
    monkeypatch.delenv(LAUNCH_ENV, raising=False)
    monkeypatch.setattr(threading, "active_count", lambda: 1)
    seen = []
    for how in (exec_cli, run_cli):
        try:
            try:
                raise KeyboardInterrupt("the parent's own")
            finally:
                seen.append((how(["raise"], ENV, module=PROBE), *capfd.readouterr()))
        except KeyboardInterrupt:
            pass
    new, launched = seen
    assert launched[0] == new[0] == 1
    assert _without_frames(launched[2]) == _without_frames(new[2])
    assert "the parent's own" not in launched[2]


def test_every_warm_module_still_imports() -> None:
    warm()
    assert all(name in sys.modules for name in WARM_MODULES)


def test_a_forked_pipeline_steps_command_matches_a_new_one(capfd: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad = tmp_path / "shipyard.yaml"
    bad.write_text("stages: [{name: dev, deployment_strategy: sideways}]\n", encoding="utf-8")
    for argv in (["--help"], ["shipyard", "stage", "--shipyard", str(bad), "--stage", "dev"], ["no-such-command"]):
        new = (exec_cli(argv, {}), *capfd.readouterr())
        forked = (fork_cli(argv, {}), *capfd.readouterr())
        assert forked == new
        assert new[0] in (0, 2)
