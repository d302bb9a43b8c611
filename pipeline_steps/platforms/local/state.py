"""The local platform's memory between CLI invocations: JSON files in a state folder, and the lock.

Jenkins runs ``deploy``, ``run-tests`` and ``evaluation-done`` as separate processes, and a user
runs ``switch`` or ``status`` from another shell; all of them must see which colour runs which
version on which port. Each service in each stage has one ``state.json`` (written atomically:
temp file + rename, so a reader never sees half a document) next to its logs and Envoy files::

    <state-dir>/prometheus.json                       the Prometheus process (pid, port, url)
    <state-dir>/stages/<project>-<stage>/<service>/   state.json, lock, envoy/, logs/

The lock is a record (holder, pid, process start time, expiry) guarded by ``fcntl.flock``: a
holder that died or outlived its ttl is taken over; a pid reused by another process does not
count as the holder, because its start time differs; a killed holder that is still a zombie
(its parent has not reaped it: a container without an init process never does) is dead too.
The same holder name may take it again (a re-run of the same Jenkins build), as a Kubernetes
Lease lets its holder renew.

The ``flock`` itself is held only while a record is read or written (milliseconds), so its wait is
bounded (``FLOCK_WAIT_S``): a process that holds it longer is stuck (stopped with SIGSTOP, hung on a
dead file system), and a step run from Jenkins must end with a message naming it (from
``/proc/locks``, proc(5)), never wait with no end.

The folder holds pids, command lines, ports and logs, and its lock decides who may change
traffic, so it is the owner's alone: folders are created 0700 and files 0600 (``procs.private_dir``,
``procs.open_private``, the atomic writer's ``mkstemp``), whatever the caller's umask.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pipeline_steps import files
from pipeline_steps.documents.context import StageContext
from pipeline_steps.errors import BadInputError, ConflictError
from pipeline_steps.files import write_json  # atomic: temp file + rename
from pipeline_steps.platforms.local.procs import live_start_time, open_private, private_dir, proc_cmdline

SCHEMA = "pipeline-steps/local-stage/v1"
FLOCK_WAIT_S = 30.0
"""Seconds to wait for the lock file's ``flock``, which a live process holds for milliseconds."""


def read_json(path: Path) -> Any:
    """The document at ``path`` or None when absent; a corrupt file is bad input naming it as state."""
    try:
        return files.read_json(path, missing_ok=True)
    except BadInputError as err:
        raise BadInputError(str(path), None, f"unreadable local platform state: {err.message}") from err


def process_start_time(pid: int) -> str:
    """The kernel's start time of a running ``pid`` (clock ticks since boot, proc(5) field 22), ""
    when it does not exist or is a zombie (``procs.live_start_time``)."""
    return live_start_time(pid)


class StateDir:
    """Paths inside one state folder."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).resolve()

    @property
    def prometheus_file(self) -> Path:
        return self.root / "prometheus.json"

    @property
    def prometheus_dir(self) -> Path:
        return self.root / "prometheus"

    def stage_dir(self, ctx: StageContext) -> Path:
        """``<root>/stages/<project>-<stage>/<service>``; never outside the state folder (``files.under``)."""
        return files.under(self.root, "stages", ctx.namespace, ctx.service, source="context")

    def stage_file(self, ctx: StageContext) -> Path:
        return self.stage_dir(ctx) / "state.json"

    def load_stage(self, ctx: StageContext) -> dict[str, Any]:
        """The stage's state, or an empty one (not deployed)."""
        data = read_json(self.stage_file(ctx))
        if data is None:
            return {"schema": SCHEMA, "project": ctx.project, "stage": ctx.stage, "service": ctx.service,
                    "strategy": "", "colours": {}, "weights": None, "envoy": None}
        if not isinstance(data, dict) or data.get("schema") != SCHEMA:
            raise BadInputError(str(self.stage_file(ctx)), "schema", f"expected {SCHEMA}")
        return data

    def save_stage(self, ctx: StageContext, data: dict[str, Any]) -> None:
        private_dir(self.stage_dir(ctx))
        write_json(self.stage_file(ctx), data)

    def all_stage_files(self) -> list[Path]:
        return sorted((self.root / "stages").glob("*/*/state.json"))

    @contextmanager
    def lock(self, ctx: StageContext, holder: str, ttl_s: float) -> Iterator[None]:
        """Hold the service-and-stage lock; ``ConflictError`` names a live holder."""
        folder = self.stage_dir(ctx)
        record_path = folder / "lock.json"
        token = f"{os.getpid()}-{time.monotonic_ns()}"
        with _flocked(folder / "lock"):
            current = read_json(record_path)
            if isinstance(current, dict) and _holds(current) and current.get("holder") != holder:
                raise ConflictError(
                    "local", f"{ctx.namespace}/{ctx.service} is locked by {current.get('holder')!r} "
                    f"(pid {current.get('pid')}, since {time.strftime('%H:%M:%S', time.localtime(current.get('since', 0)))})")
            write_json(record_path, {"holder": holder, "pid": os.getpid(), "start": process_start_time(os.getpid()),
                                     "since": time.time(), "expires": time.time() + ttl_s, "token": token})
        try:
            yield
        finally:
            with _flocked(folder / "lock"):
                current = read_json(record_path)
                if isinstance(current, dict) and current.get("token") == token:
                    record_path.unlink(missing_ok=True)


def _holds(record: dict[str, Any]) -> bool:
    """A lock record still binds while its process lives (same start time) and its ttl runs."""
    pid = int(record.get("pid") or 0)
    start = process_start_time(pid) if pid > 0 else ""
    alive = bool(start) and start == record.get("start")
    return alive and float(record.get("expires") or 0) > time.time()


@contextmanager
def _flocked(path: Path) -> Iterator[None]:
    """Hold ``path``'s exclusive ``flock``; ``ConflictError`` naming the holder after ``FLOCK_WAIT_S``."""
    with os.fdopen(open_private(path), "ab") as handle:
        deadline = time.monotonic() + FLOCK_WAIT_S
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise ConflictError("local", f"{path} is still locked after {FLOCK_WAIT_S:g}s by "
                                                 f"{flock_holders(os.fstat(handle.fileno()))} (it is held for "
                                                 "milliseconds: that process is stuck; stop it)") from None
                time.sleep(0.01)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def flock_holders(stat: os.stat_result) -> str:
    """Who holds a ``flock`` on the file ``stat`` describes, from ``/proc/locks`` (proc(5): ``N: FLOCK
    ADVISORY WRITE PID MAJOR:MINOR:INODE ...``, device numbers in hex): "pid N (command)" or "an unknown process"."""
    device = f"{os.major(stat.st_dev):02x}:{os.minor(stat.st_dev):02x}:{stat.st_ino}"
    try:
        lines = Path("/proc/locks").read_text().splitlines()
    except OSError:
        lines = []
    pids = sorted({int(f[4]) for f in (line.split() for line in lines)
                   if len(f) > 5 and f[1] == "FLOCK" and f[5] == device and f[4].isdigit()})
    if not pids:
        return "an unknown process"
    return ", ".join(f"pid {pid} ({b' '.join(proc_cmdline(pid)).decode(errors='replace')[:120] or 'gone'})" for pid in pids)
