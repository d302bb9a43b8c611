"""The run-tests step as its own process: signals and terminals.

Aspects: 130 on SIGTERM or SIGINT (Ctrl-C) with partial results written (the checks that finished
are kept, the load's measurements too); progress is a redrawn bar on a terminal and has no
redraws when the output is a pipe (Jenkins' console).
"""

from __future__ import annotations

import json
import os
import pty
import re
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.load.servers import serve
from tests.steps.test_run_tests import CONTEXT, FUNCTIONAL, PERFORMANCE, junit, workload


@contextmanager
def cli_process(*args: str, **popen: Any) -> Iterator[subprocess.Popen[str]]:
    """``pipeline-steps run-tests`` as its own process (signals, terminals); killed if a test fails midway."""
    proc = subprocess.Popen([sys.executable, "-m", "pipeline_steps", "run-tests", *CONTEXT, *args], text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"}, **popen)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_stops_cleanly_and_writes_what_was_measured(tmp_path: Path, sig: signal.Signals) -> None:
    out = tmp_path / "out"
    long_run = {**PERFORMANCE, "loops": 0, "duration_s": 60, "requests": [{"name": "slow", "path": "/slow?ms=5"}]}
    path = workload(tmp_path, performance=long_run)
    with serve() as server, cli_process("--test-strategy", "performance", "--workload", str(path), "--target", server.url,
                                        "--out-dir", str(out), stdout=subprocess.PIPE, stderr=subprocess.STDOUT) as proc:
        deadline = time.monotonic() + 20
        while server.state.paths.count("/slow") < 50 and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(sig)
        output, _ = proc.communicate(timeout=15)
        sent = server.state.paths.count("/slow")
    assert proc.returncode == 130, output
    doc = json.loads((out / "testrun.json").read_text())
    assert doc["aborted"] is True and doc["result"] == "fail"
    assert sent - 2 <= doc["performance"]["requests"] <= sent  # at most the 2 in-flight requests are cancelled
    assert doc["performance"]["duration_s"] < 30
    failure = next(c for c in junit(out) if c.get("name") == "performance").find("failure")
    assert failure is not None
    assert "ABORTED (partial results written)" in output
    assert "Traceback" not in output


def test_sigterm_during_the_health_wait_is_an_abort(tmp_path: Path) -> None:
    out = tmp_path / "out"
    path = workload(tmp_path, functional=FUNCTIONAL)
    with serve(healthy_after_s=60) as server, cli_process(
            "--test-strategy", "functional", "--workload", str(path), "--target", server.url, "--out-dir", str(out),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT) as proc:
        deadline = time.monotonic() + 20
        while server.state.requests < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=15)
    assert proc.returncode == 130, output
    doc = json.loads((out / "testrun.json").read_text())
    assert doc["aborted"] is True and doc["checks"] == [] and doc["result"] == "fail"
    assert all(c.find("skipped") is not None for c in junit(out))
    assert "/carts/1/items" not in server.state.paths


def test_sigterm_during_functional_checks_keeps_those_that_finished(tmp_path: Path) -> None:
    out = tmp_path / "out"
    checks = [{"name": "first", "path": "/ok"}, {"name": "hangs", "path": "/hang"}, {"name": "third", "path": "/ok"}]
    path = workload(tmp_path, functional=checks)
    with serve() as server, cli_process("--test-strategy", "functional", "--workload", str(path), "--target", server.url,
                                        "--out-dir", str(out), stdout=subprocess.PIPE, stderr=subprocess.STDOUT) as proc:
        deadline = time.monotonic() + 20
        while "/hang" not in server.state.paths and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=15)
    assert proc.returncode == 130, output
    doc = json.loads((out / "testrun.json").read_text())
    assert doc["aborted"] is True and doc["result"] == "fail"
    assert [(c["name"], c["passed"]) for c in doc["checks"]] == [("health", True), ("first", True)]
    cases = {c.get("name"): c for c in junit(out)}
    assert list(cases) == ["health", "first", "hangs", "third"]
    assert cases["first"].find("failure") is None and cases["first"].find("skipped") is None
    assert cases["hangs"].find("skipped") is not None and cases["third"].find("skipped") is not None


def _output_on_a_terminal(args: list[str]) -> str:
    """Everything the command wrote to a pseudo-terminal (its stdout and stderr)."""
    main, child = pty.openpty()
    chunks: list[bytes] = []
    try:
        with cli_process(*args, stdout=child, stderr=child) as proc:
            os.close(child)
            child = -1
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                if not select.select([main], [], [], 0.5)[0]:
                    continue
                try:
                    data = os.read(main, 4096)
                except OSError:  # EIO: the command ended and closed the terminal
                    break
                if not data:
                    break
                chunks.append(data)
            proc.wait(10)
    finally:
        os.close(main)
        if child >= 0:
            os.close(child)
    return b"".join(chunks).decode("utf-8", "replace")


def test_progress_is_a_redrawn_bar_on_a_terminal_and_never_redrawn_in_a_log(tmp_path: Path) -> None:
    run = {**PERFORMANCE, "loops": 0, "duration_s": 1.5, "requests": [{"name": "slow", "path": "/slow?ms=5"}]}
    path = workload(tmp_path, performance=run)
    with serve() as server:
        args = ["--test-strategy", "performance", "--workload", str(path), "--target", server.url]
        on_terminal = _output_on_a_terminal([*args, "--out-dir", str(tmp_path / "tty")])
        with cli_process(*args, "--out-dir", str(tmp_path / "log"), stdout=subprocess.PIPE, stderr=subprocess.STDOUT) as proc:
            in_log, _ = proc.communicate(timeout=30)
    redraws = re.findall(r"\r\x1b\[2K\[[#.]{24}\] +\d+% \d+ requests, 0 errors, \d+ req/s, latency [\d.]+ ms", on_terminal)
    assert len(redraws) >= 3, on_terminal  # a tick every 0.25 s for 1.5 s
    assert "run-tests: PASS" in on_terminal
    assert proc.returncode == 0, in_log
    assert "\r" not in in_log and "\x1b" not in in_log and "[#" not in in_log and "[." not in in_log, in_log
    assert "run-tests: PASS" in in_log
