"""State of the local platform: atomic JSON files, the per-stage lock, and artifact builds.

Aspects: state files are replaced atomically (no temp file left, old or new content only); the
lock refuses a second live holder (ConflictError naming it), lets the same holder renew, and is
taken over from a dead holder, from a reused pid (start time differs), after its ttl and from a
holder that was killed and is a zombie its parent never reaps; a process stuck holding the lock file's
flock ends the wait after ``FLOCK_WAIT_S`` with a ConflictError naming it;
``build`` copies the source with properties overridden and rejects malformed ``--set``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline_steps.errors import BadInputError, ConflictError
from pipeline_steps.platforms.local import state as state_module
from pipeline_steps.platforms.local.build import build, parse_sets
from pipeline_steps.platforms.local.state import StateDir, process_start_time, write_json
from tests.platforms.local.conftest import CARTS, context

CTX = context("img", "1")


def test_write_json_replaces_atomically(tmp_path: Path) -> None:
    target = tmp_path / "s" / "state.json"
    write_json(target, {"a": 1})
    write_json(target, {"a": 2})
    assert json.loads(target.read_text()) == {"a": 2}
    assert [p.name for p in target.parent.iterdir()] == ["state.json"]


def test_lock_refuses_a_second_holder_and_releases(tmp_path: Path) -> None:
    state = StateDir(tmp_path)
    with state.lock(CTX, "build-1", 60):
        with pytest.raises(ConflictError, match="locked by 'build-1'"), state.lock(CTX, "build-2", 60):
            pass
        with state.lock(CTX, "build-1", 60):  # the same holder renews
            pass
    with state.lock(CTX, "build-2", 60):
        pass
    other = context("img", "1", stage="production")
    with state.lock(CTX, "build-1", 60), state.lock(other, "build-2", 60):
        pass  # stages lock independently


@pytest.mark.parametrize("case", ["dead pid", "reused pid", "expired"])
def test_stale_lock_is_taken_over(tmp_path: Path, case: str) -> None:
    state = StateDir(tmp_path)
    record = {"holder": "old-build", "pid": os.getpid(), "start": process_start_time(os.getpid()),
              "since": time.time() - 10, "expires": time.time() + 600, "token": "x"}
    if case == "dead pid":
        record["pid"] = 2**22 + 12345  # above pid_max's default: never a live process
    elif case == "reused pid":
        record["start"] = "1"  # same pid, another process start
    else:
        record["expires"] = time.time() - 1
    write_json(state.stage_dir(CTX) / "lock.json", record)
    with state.lock(CTX, "new-build", 60):
        assert json.loads((state.stage_dir(CTX) / "lock.json").read_text())["holder"] == "new-build"
    assert not (state.stage_dir(CTX) / "lock.json").exists()


_HOLDER = """
import sys, time
from pipeline_steps.documents.context import StageContext
from pipeline_steps.platforms.local.state import StateDir
ctx = StageContext(project="sockshop", stage="staging", service="carts", image="img", tag="1",
                   deployment_strategy="blue_green_service")
with StateDir(sys.argv[1]).lock(ctx, "killed-build", 600):
    print("locked", flush=True)
    time.sleep(120)
"""
_PARENT = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", sys.argv[1], sys.argv[2]])
print(child.pid, flush=True)
time.sleep(120)  # never waits for the child: once killed it stays a zombie, as under a container's pid 1
"""


def _state_letter(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def test_a_killed_holder_that_is_a_zombie_does_not_keep_the_lock(tmp_path: Path) -> None:
    """The holder is a grandchild whose parent never reaps it, so nothing in this process can reap it
    either (``waitpid`` only works on one's own children): the lock must see the zombie as dead."""
    state = StateDir(tmp_path)
    parent = subprocess.Popen([sys.executable, "-c", _PARENT, _HOLDER, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        holder = int(parent.stdout.readline())
        assert parent.stdout.readline().strip() == "locked"
        with pytest.raises(ConflictError, match="killed-build"), state.lock(CTX, "new-build", 60):
            pass  # alive, it holds the lock
        os.kill(holder, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while _state_letter(holder) != "Z" and time.monotonic() < deadline:
            time.sleep(0.01)
        assert _state_letter(holder) == "Z"  # killed, unreaped: its pid and start time still exist
        assert json.loads((state.stage_dir(CTX) / "lock.json").read_text())["pid"] == holder
        with state.lock(CTX, "new-build", 60):
            assert json.loads((state.stage_dir(CTX) / "lock.json").read_text())["holder"] == "new-build"
    finally:
        parent.kill()
        parent.wait()


def test_live_lock_record_from_this_process_conflicts(tmp_path: Path) -> None:
    state = StateDir(tmp_path)
    write_json(state.stage_dir(CTX) / "lock.json", {
        "holder": "old-build", "pid": os.getpid(), "start": process_start_time(os.getpid()),
        "since": time.time(), "expires": time.time() + 600, "token": "x"})
    with pytest.raises(ConflictError, match="old-build"), state.lock(CTX, "new-build", 60):
        pass


_STUCK = ("import fcntl, sys, time; f = open(sys.argv[1], 'ab'); fcntl.flock(f, fcntl.LOCK_EX); "
          "print('locked', flush=True); time.sleep(120)")


def test_a_stuck_flock_holder_ends_the_wait_with_its_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The lock file's flock is held for milliseconds; a process that keeps it (stopped, hung) must not make
    every later step wait with no end (a Jenkins step would hang): a ConflictError names it within the bound."""
    monkeypatch.setattr(state_module, "FLOCK_WAIT_S", 0.5)
    state = StateDir(tmp_path)
    state.stage_dir(CTX).mkdir(parents=True)
    stuck = subprocess.Popen([sys.executable, "-c", _STUCK, str(state.stage_dir(CTX) / "lock")], stdout=subprocess.PIPE,
                             text=True)
    try:
        assert stuck.stdout is not None and stuck.stdout.readline().strip() == "locked"
        began = time.monotonic()
        with pytest.raises(ConflictError, match=rf"still locked after 0.5s by pid {stuck.pid} \(.*python"), \
                state.lock(CTX, "new-build", 60):
            pass
        assert time.monotonic() - began < 5
    finally:
        stuck.kill()
        stuck.wait()
    with state.lock(CTX, "new-build", 60):  # once it is gone, the lock is free again
        pass


def test_build_overrides_properties(tmp_path: Path) -> None:
    target = build(CARTS, str(tmp_path / "carts"), "0.7.2", parse_sets(["version=v2", "delayInMillis=1000", "extra=x"]))
    assert target == tmp_path / "carts" / "0.7.2"
    props = (target / "application.properties").read_text().splitlines()
    assert "version=v2" in props and "delayInMillis=1000" in props and "extra=x" in props
    assert "version=v1" not in props and "promotionRate=0" in props
    assert (target / "app.py").read_bytes() == (CARTS / "app.py").read_bytes()
    rebuilt = build(CARTS, str(tmp_path / "carts"), "0.7.2", {"version": "v3"})
    assert "version=v3" in (rebuilt / "application.properties").read_text().splitlines()
    assert sorted(p.name for p in (tmp_path / "carts").iterdir()) == ["0.7.2"]


@pytest.mark.parametrize("bad", ["novalue", "=x", "a b=c"])
def test_malformed_set_is_bad_input(bad: str) -> None:
    with pytest.raises(BadInputError, match="--set"):
        parse_sets([bad])
