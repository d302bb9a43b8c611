"""steps/launch.py: a forked step is a process of its own at its start and at its end, as a new interpreter is.

Its start: signals the parent ignores stay ignored (``nohup``, a background job: execve(2) keeps an
ignored signal ignored), and whatever goes wrong before or after the command never returns into the
parent's code in the child. Its end: the threads, exit handlers and finalizers the step made itself
run, as ``Py_FinalizeEx`` runs them (the kubernetes client removes the kubeconfig's key files in one).
Each test runs the same thing both ways (``exec_cli``, ``fork_cli``) and compares.
"""

from __future__ import annotations

import atexit
import base64
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline_steps.steps.launch import exec_cli, fork_cli

ROOT = Path(__file__).resolve().parents[2]
PROBE = "tests.steps.launch_probe"
ENV = {"LAUNCH_PROBE": "seen", "PYTHONPATH": str(ROOT)}

# Run in a process of its own: before the fix the forked child came back out of fork_cli and went on
# running this script (in pytest it would have gone on running the test session).
ESCAPE = """
import os, sys
from pipeline_steps.steps.launch import exec_cli, fork_cli
parent = os.getpid()
env = {"LAUNCH_PROBE": "seen"}
case = sys.argv[1]
for how in (exec_cli, fork_cli):
    try:
        if case == "env":  # a value exec refuses: the caller gets the same error, from the parent
            result = how(["exit", "0"], {**env, "BAD": "a\\0b"}, module="tests.steps.launch_probe")
        else:  # the step's traceback cannot be written: stderr is a pipe nobody reads any more
            read, write = os.pipe()
            os.close(read)
            saved = os.dup(2)
            os.dup2(write, 2)
            try:
                result = how(["raise"], env, module="tests.steps.launch_probe")
            finally:
                os.dup2(saved, 2)
    except BaseException as err:
        result = f"{type(err).__name__}: {err}"
    print(how.__name__, "parent" if os.getpid() == parent else "CHILD", result, flush=True)
"""


@pytest.mark.parametrize("case", ["env", "broken-stderr"])
def test_a_forked_child_never_returns_into_the_parents_code(tmp_path: Path, case: str) -> None:
    script = tmp_path / "escape.py"
    script.write_text(ESCAPE, encoding="utf-8")
    done = subprocess.run([sys.executable, str(script), case], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith(("exec_cli", "fork_cli"))]
    assert [line.split()[:2] for line in lines] == [["exec_cli", "parent"], ["fork_cli", "parent"]], done.stderr
    assert lines[0].split(maxsplit=2)[2] == lines[1].split(maxsplit=2)[2]  # the same error, or the same status


CLOSED = """
import json, os, sys
from pipeline_steps.steps.launch import exec_cli, fork_cli
fd, results = int(sys.argv[1]), open(sys.argv[2], "w")
os.close(fd)  # as `pipeline-steps run >&-` starts: the interpreter has no stream there
setattr(sys, ("stdin", "stdout", "stderr")[fd], None)
decoy = open(sys.argv[3], "w+b")  # a file the parent opens takes the free number
assert decoy.fileno() == fd
for how in (exec_cli, fork_cli):
    try:
        result = how(["exit", "0"], {"LAUNCH_PROBE": "seen"}, module="tests.steps.launch_probe")
    except BaseException as err:
        result = f"{type(err).__name__}: {err}"
    print(how.__name__, result, file=results, flush=True)
"""


@pytest.mark.parametrize("fd", [0, 1, 2])
def test_a_step_run_with_a_closed_standard_stream_has_none_as_a_new_interpreter(tmp_path: Path, fd: int) -> None:
    """``pipeline-steps run >&-`` (or ``2>&-``, ``<&-``): the parent has no stream there and must still run
    steps, and a file the parent opened since, which took the descriptor's number, is not the step's stream
    (exec closes it: the parent opens files close-on-exec)."""
    script, results, decoy = tmp_path / "closed.py", tmp_path / "results", tmp_path / "decoy"
    script.write_text(CLOSED, encoding="utf-8")
    done = subprocess.run([sys.executable, str(script), str(fd), str(results), str(decoy)], capture_output=True,
                          text=True, timeout=60, env={**os.environ, "PYTHONPATH": str(ROOT)}, check=False)
    assert results.read_text(encoding="utf-8").splitlines() == ["exec_cli 0", "fork_cli 0"], done.stderr
    assert decoy.read_bytes() == b""
    reports = [line for line in (done.stdout + done.stderr).splitlines() if line.startswith("{")]
    assert len(reports) == 2 and reports[0] == reports[1]
    assert json.loads(reports[0])["streams"][fd] is None


@pytest.fixture()
def ignoring() -> Iterator[None]:
    """What a Jenkins ``sh`` step's processes inherit: durable-task starts the script as ``nohup sh -c
    '(SCRIPT) &'`` (BourneShellScript ``scriptLauncherCmd``), so SIGHUP is ignored, and SIGINT and SIGQUIT
    too (POSIX sh: an asynchronous list without job control); and a handler of our own on SIGUSR1."""
    saved = {number: signal.getsignal(number) for number in (signal.SIGHUP, signal.SIGINT, signal.SIGQUIT, signal.SIGUSR1)}
    for number in (signal.SIGHUP, signal.SIGINT, signal.SIGQUIT):
        signal.signal(number, signal.SIG_IGN)
    signal.signal(signal.SIGUSR1, lambda *_: None)
    try:
        yield
    finally:
        for number, handler in saved.items():
            signal.signal(number, handler)


@pytest.mark.usefixtures("ignoring")
def test_signals_the_parent_ignores_stay_ignored_in_the_step(capfd: pytest.CaptureFixture[str]) -> None:
    assert exec_cli(["exit", "0"], ENV, module=PROBE) == 0
    new = capfd.readouterr().out
    assert fork_cli(["exit", "0"], ENV, module=PROBE) == 0
    forked = capfd.readouterr().out
    assert forked == new
    assert '"SIGHUP": "<Handlers.SIG_IGN: 1>"' in new
    assert '"SIGINT": "<Handlers.SIG_IGN: 1>"' in new
    assert '"SIGQUIT": "<Handlers.SIG_IGN: 1>"' in new
    assert '"SIGUSR1": "<Handlers.SIG_DFL: 0>"' in new


def test_the_steps_own_threads_exit_handlers_and_finalizers_run_at_its_end(capfd: pytest.CaptureFixture[str],
                                                                           tmp_path: Path) -> None:
    def parents() -> None:
        print("parent: atexit ran")

    kept = tmp_path / "kept"
    kept.mkdir()
    assert exec_cli(["exit-handlers", str(kept)], ENV, module=PROBE) == 0
    new = capfd.readouterr().out
    assert list(kept.iterdir()) == []
    atexit.register(parents)  # the parent's: never the child's to run
    try:
        assert fork_cli(["exit-handlers", str(kept)], ENV, module=PROBE) == 0
    finally:
        atexit.unregister(parents)
    forked = capfd.readouterr().out
    assert new.splitlines()[1:] == ["probe: thread ended", "probe: atexit ran"]
    assert forked == new
    assert list(kept.iterdir()) == []


def test_a_forked_kubernetes_step_leaves_no_key_files_behind(capfd: pytest.CaptureFixture[str], tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """The kubernetes client writes an HTTPS cluster's ``certificate-authority-data`` and the user's
    ``client-key-data`` to temporary files and removes them in an exit handler (kubernetes/config/
    kube_config.py ``_cleanup_temp_files``): a private key must not stay in the temporary folder after
    every step of ``run --platform kubernetes``, whether the step reached the cluster or not."""
    pem = base64.b64encode(b"-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n").decode()
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setenv("TMPDIR", str(temp))
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    with socket.socket() as closed:  # bound, never listening: every connection is refused at once
        closed.bind(("127.0.0.1", 0))
        config = tmp_path / "kubeconfig"
        config.write_text(
            "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
            f"clusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:{closed.getsockname()[1]}\n"
            f"    certificate-authority-data: {pem}\n"
            f"users:\n- name: c\n  user:\n    client-certificate-data: {pem}\n    client-key-data: {pem}\n"
            "contexts:\n- name: c\n  context:\n    cluster: c\n    user: c\n", encoding="utf-8")
        argv = ["status", "--platform", "kubernetes", "--kubeconfig", str(config), "--project", "sockshop",
                "--stage", "dev", "--service", "carts"]
        for how in (exec_cli, fork_cli):
            code = how(argv, {})
            err = capfd.readouterr().err
            assert (code, list(temp.iterdir())) == (4, []), (how.__name__, err)
