"""Detached local processes (a colour of a service, an Envoy) that later CLI invocations can judge.

A process started by ``deploy`` is checked by ``status`` minutes later in another process, so
nothing can ``wait()`` for it. Three facts make that safe:

- the recorded command line: a pid whose ``/proc/<pid>/cmdline`` differs is someone else's
  (pids are reused), so it is neither reported as ours nor ever signalled;
- an exit file: the command runs under ``sh``, which writes the exit code when the service
  ends by itself, so a crash is reported with its code, not just as "gone";
- the log file, whose tail goes into every "not ready" message.
"""

from __future__ import annotations

import os
import shlex
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline_steps.platforms.local.procs import all_pids, members, open_private, pid_alive, proc_cmdline, spawn, stop_pid
from pipeline_steps.platforms.local.procs import log_tail as procs_log_tail

_WRAPPER = 'exit_file="$1"; shift; "$@"; code=$?; echo "$code" > "$exit_file"; exit "$code"'


@dataclass(frozen=True)
class Started:
    """What is recorded about a started process (``to_dict`` goes into state.json)."""

    pid: int
    argv: tuple[str, ...]
    """The full command line as /proc shows it (wrapper included): the identity check."""
    log: str
    exit_file: str

    def to_dict(self) -> dict[str, Any]:
        return {"pid": self.pid, "argv": list(self.argv), "log": self.log, "exit_file": self.exit_file}


def start(command: Sequence[str], *, cwd: Path, log: Path, env: Mapping[str, str] | None = None) -> Started:
    """Start ``command`` detached (own session, umask 077) in ``cwd``; its exit code lands next to
    ``log`` (both private to the owner, see ``procs.spawn``)."""
    exit_file = log.with_suffix(".exit")
    exit_file.unlink(missing_ok=True)
    argv = ("sh", "-c", _WRAPPER, "sh", str(exit_file), *command)
    with os.fdopen(open_private(log), "ab") as out:
        out.write(f"--- {time.strftime('%Y-%m-%dT%H:%M:%S')} start: {shlex.join(command)}\n".encode())
    proc = spawn(argv, log_path=log, cwd=cwd, env=env)
    # Popen returns during execve, when /proc/<pid>/cmdline can still be empty for a moment:
    # wait for it, or the identity check right after the start would call our process a stranger.
    deadline = time.monotonic() + 2.0
    while not proc_cmdline(proc.pid) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.001)
    return Started(proc.pid, argv, str(log), str(exit_file))


def is_ours(record: Mapping[str, Any] | None) -> bool:
    """True while the recorded pid is alive and still runs the recorded command line."""
    if not record or not record.get("pid"):
        return False
    pid = int(record["pid"])
    if not pid_alive(pid):
        return False
    return proc_cmdline(pid) == [a.encode() for a in record.get("argv", [])]


def stop(record: Mapping[str, Any] | None, timeout_s: float = 5.0) -> bool:
    """Stop the recorded process group if it is still ours; True if something was stopped.

    If the wrapper was killed on its own, the service may live on in the wrapper's process
    group; it is stopped too, but only a member whose command line is the recorded command.
    """
    if not record or not record.get("pid"):
        return False
    if is_ours(record):
        stop_pid(int(record["pid"]), timeout_s)
        return True
    orphans = orphans_of(record)
    for pid in orphans:
        stop_pid(pid, timeout_s, group=False)  # only these: the leader whose command line vouched for the group is gone
    return bool(orphans)


def orphans_of(record: Mapping[str, Any]) -> list[int]:
    """Processes still in the recorded (wrapper's) process group that run the recorded command."""
    pgid, command = int(record.get("pid") or 0), [a.encode() for a in list(record.get("argv", []))[5:]]
    if pgid <= 0 or not command:
        return []
    return [pid for pid in members(pgid) if proc_cmdline(pid) == command]


def started_under(root: Path) -> list[int]:
    """Live wrappers started by ``start`` whose exit file lies under ``root``: ours even when their
    record is lost (a corrupt or deleted state file), because no one else runs this wrapper there."""
    root = root.resolve()
    found = []
    for pid in all_pids():
        argv = proc_cmdline(pid)
        if len(argv) > 5 and argv[:4] == [b"sh", b"-c", _WRAPPER.encode(), b"sh"] \
                and Path(os.fsdecode(argv[4])).is_relative_to(root):
            found.append(pid)
    return found


def exit_reason(record: Mapping[str, Any]) -> str:
    """Why a recorded process is not running: its exit code if it ended by itself, plus the log tail."""
    try:
        code = Path(str(record["exit_file"])).read_text().strip()  # only processes started by ``start`` have one
        reason = f"process {record.get('pid')} exited with code {code}"
    except (KeyError, OSError):
        reason = f"process {record.get('pid')} is gone (killed, or its pid now runs something else)"
    return reason + log_tail(record)


def log_tail(record: Mapping[str, Any], lines: int = 5) -> str:
    """The last lines of a recorded process's log, for messages."""
    return procs_log_tail(record.get("log"), lines)
