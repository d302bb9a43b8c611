"""State of the local platform: atomic JSON files, the per-stage lock, and artifact builds.

Aspects: state files are replaced atomically (no temp file left, old or new content only); the
lock refuses a second live holder (ConflictError naming it), lets the same holder renew, and is
taken over from a dead holder, from a reused pid (start time differs) and after its ttl;
``build`` copies the source with properties overridden and rejects malformed ``--set``.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from pipeline_steps.errors import BadInputError, ConflictError
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


def test_live_lock_record_from_this_process_conflicts(tmp_path: Path) -> None:
    state = StateDir(tmp_path)
    write_json(state.stage_dir(CTX) / "lock.json", {
        "holder": "old-build", "pid": os.getpid(), "start": process_start_time(os.getpid()),
        "since": time.time(), "expires": time.time() + 600, "token": "x"})
    with pytest.raises(ConflictError, match="old-build"), state.lock(CTX, "new-build", 60):
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
