"""steps/launch.py: a forked step starts as a process of its own, as a new interpreter does.

Signals the parent ignores stay ignored (``nohup``, a background job: execve(2) keeps an ignored
signal ignored). Each test runs the same thing both ways (``exec_cli``, ``fork_cli``) and compares.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline_steps.steps.launch import exec_cli, fork_cli

ROOT = Path(__file__).resolve().parents[2]
PROBE = "tests.steps.launch_probe"
ENV = {"LAUNCH_PROBE": "seen", "PYTHONPATH": str(ROOT)}

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
