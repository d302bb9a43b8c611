"""Every wait of the load pool on its worker processes ends, whatever happens to a worker.

The hang this pins (CI, tests/jenkins/test_library_run.py, "tests terminated"): Jenkins' abort sends
SIGTERM to the step's whole process tree the moment `performance (` is printed, which is while the
workers are still starting; a worker that has not yet run its first instruction (``signal(SIGTERM,
SIG_IGN)``) dies. Its lost ``ready`` was reported to ``started()`` only, and ``finished()`` then waited
for a message from a dead process forever: the CLI never exited, the harness never ended.

Aspects, each with the run itself bounded by ``asyncio.wait_for`` so a regression fails instead of hanging:
a worker dead before ``ready`` while stopping; a worker dead before ``ready`` with no stop (a failure, not
an abort, and not a hang); a worker that ignores ``stop`` is killed after ``STOP_GRACE_S``; the whole
CLI run under SIGTERM to its tree right at the marker, repeated, always exits 130.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from pipeline_steps.load import pool
from pipeline_steps.load.engine import LoadOutcome
from pipeline_steps.load.pool import LoadPool
from pipeline_steps.load.workload import PerformanceSpec, parse_workload
from tests.load.servers import serve

BOUND_S = 40.0


def spec(**performance: Any) -> PerformanceSpec:
    data = {"users": 4, "loops": 0, "duration_s": 30, "requests": [{"name": "ok", "path": "/ok"}], **performance}
    result = parse_workload({"performance": data}, "test.yaml").performance
    assert result is not None
    return result


def run_with(monkeypatch: pytest.MonkeyPatch, url: str, on_worker: Any, *, stop_after_s: float | None = None) -> LoadOutcome:
    """A two-worker run; ``on_worker(worker, index, stop)`` is called as each worker process starts."""
    original = pool._Worker.__init__
    made: list[Any] = []

    async def main() -> LoadOutcome:
        stop = asyncio.Event()

        def init(self: Any, *args: Any) -> None:
            original(self, *args)
            made.append(self)
            on_worker(self, len(made) - 1, stop)

        monkeypatch.setattr(pool._Worker, "__init__", init)
        if stop_after_s is not None:
            asyncio.get_running_loop().call_later(stop_after_s, stop.set)
        return await asyncio.wait_for(LoadPool(url, spec(), {}, processes=2).run(stop), BOUND_S)

    return asyncio.run(main())


def test_a_worker_killed_before_ready_while_stopping_ends_the_run_aborted(monkeypatch: pytest.MonkeyPatch) -> None:
    def kill_first(worker: Any, index: int, stop: asyncio.Event) -> None:
        if index == 0:  # what a SIGTERM to the tree does to a worker that has not yet ignored it
            os.kill(worker.proc.pid, signal.SIGKILL)
            stop.set()

    with serve() as server:
        began = time.monotonic()
        out = run_with(monkeypatch, server.url, kill_first)
    assert out.aborted
    assert time.monotonic() - began < BOUND_S


def test_a_worker_dead_before_ready_without_a_stop_is_a_failure_not_a_hang(monkeypatch: pytest.MonkeyPatch) -> None:
    def kill_first(worker: Any, index: int, stop: asyncio.Event) -> None:
        if index == 0:
            os.kill(worker.proc.pid, signal.SIGKILL)

    with serve() as server, pytest.raises(RuntimeError, match=r"load worker failed: worker \d+ exited \(-9\)"):
        run_with(monkeypatch, server.url, kill_first)


def test_a_worker_that_ignores_stop_is_killed_after_the_grace(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pool, "STOP_GRACE_S", 1.0)

    with serve() as server:
        def on_worker(worker: Any, index: int, stop: asyncio.Event) -> None:
            if index == 0:
                frozen = worker.proc.pid

                async def later() -> None:  # once load flows, the first worker stops answering (SIGSTOP), then stop
                    while server.state.requests < 50:
                        await asyncio.sleep(0.02)
                    os.kill(frozen, signal.SIGSTOP)
                    stop.set()
                asyncio.get_running_loop().create_task(later())

        began = time.monotonic()
        out = run_with(monkeypatch, server.url, on_worker)
    assert out.aborted and out.result.requests > 0  # the other worker's numbers are kept
    assert time.monotonic() - began < BOUND_S


def test_sigterm_to_the_tree_at_the_marker_always_exits_130(tmp_path: Path) -> None:
    """What durable-task does on an abort (the process and every descendant, whatever their session),
    timed as the harness does: at the line that announces the load, when the workers are starting."""
    workload = tmp_path / "workload.yaml"
    workload.write_text(yaml.safe_dump({"performance": {"users": 2, "loops": 0, "duration_s": 60,
                                                        "requests": [{"name": "ok", "path": "/ok"}]}}))
    with serve() as server:
        for attempt in range(4):
            out = tmp_path / f"out{attempt}"
            proc = subprocess.Popen([sys.executable, "-m", "pipeline_steps", "run-tests", "--project", "sockshop",
                                     "--stage", "staging", "--service", "carts", "--test-strategy", "performance",
                                     "--workload", str(workload), "--target", server.url, "--out-dir", str(out),
                                     "--processes", "2"],
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                    env={**os.environ, "PYTHONUNBUFFERED": "1"})
            try:
                assert proc.stdout is not None
                lines = []
                for line in proc.stdout:
                    lines.append(line)
                    if "performance (" in line:
                        tree = [proc.pid, *children(proc.pid)]
                        for pid in tree:
                            os.kill(pid, signal.SIGTERM)
                        break
                rest, _ = proc.communicate(timeout=BOUND_S)
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait(10)
            assert proc.returncode == 130, "".join(lines) + rest


def children(pid: int) -> list[int]:
    """Descendants of ``pid`` as /proc shows them (by parent, across sessions, as Jenkins' ProcessTree does)."""
    found, queue = [], [pid]
    while queue:
        parent = queue.pop()
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                except (OSError, IndexError, ValueError):
                    continue
                if ppid == parent:
                    found.append(int(entry.name))
                    queue.append(int(entry.name))
    return found


def test_workers_run_this_package_whatever_folder_they_start_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``python -c`` puts the working folder first on ``sys.path``: a worker started where another
    ``pipeline_steps`` lies (a Jenkins workspace holding an older checkout) imported that one, whose
    histograms the parent could not unpickle. The worker now puts the parent's package first."""
    decoy = tmp_path / "pipeline_steps"
    decoy.mkdir()
    (decoy / "__init__.py").write_text("raise ImportError('the decoy package was imported')\n")
    monkeypatch.chdir(tmp_path)

    async def main() -> LoadOutcome:
        return await asyncio.wait_for(LoadPool(server.url, spec(loops=3, duration_s=0), {}, processes=2)
                                      .run(asyncio.Event()), BOUND_S)

    with serve() as server:
        out = asyncio.run(main())
    assert out.result.requests == 4 * 3 and out.result.errors == 0


@pytest.mark.parametrize(("users", "think_ms", "cores", "wanted"), [
    (10, 0, 2, 1), (100, 0, 2, 1), (199, 0, 8, 1), (400, 0, 8, 2), (1000, 0, 2, 2), (5000, 0, 16, 16),
    (5000, 0, 1, 1), (5000, 100, 8, 1)])
def test_auto_processes_are_one_per_200_busy_users_and_at_most_one_per_core(
        monkeypatch: pytest.MonkeyPatch, users: int, think_ms: int, cores: int, wanted: int) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: set(range(cores)))
    assert pool.default_processes(spec(users=users, think_time_ms=think_ms)) == wanted
