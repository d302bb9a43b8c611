"""Local child processes (Prometheus, Envoy, service colours) started, watched and stopped safely.

The local platform and the tests start real servers; each one must bind to 127.0.0.1 on a free
port, be reported when it crashes (not ignored), and be stopped by its own pid and process group
so nothing else on the machine is touched.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from urllib.error import URLError
from urllib.request import urlopen

from pipeline_steps.errors import NotReadyError


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def spawn(argv: Sequence[str], *, log_path: Path, cwd: Path | None = None,
          env: Mapping[str, str] | None = None) -> subprocess.Popen[bytes]:
    """Start ``argv`` in its own session (so a stop reaches its children), output to ``log_path``."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            list(argv), cwd=cwd, env=full_env, stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )


def pid_alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie we could reap."""
    if pid <= 0:
        return False
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not _zombie(pid)


def _zombie(pid: int) -> bool:
    """A dead process whose parent (another process than us) has not reaped it yet."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[:1] == ["Z"]


def stop_pid(pid: int, timeout_s: float = 5.0) -> None:
    """SIGTERM the process group led by ``pid``, then SIGKILL after ``timeout_s``."""
    if not pid_alive(pid):
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        except PermissionError:
            os.kill(pid, sig)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not pid_alive(pid):
                return
            time.sleep(0.05)


def wait_http(url: str, *, timeout_s: float, what: str, proc: subprocess.Popen[bytes] | None = None,
              log_path: Path | None = None, expect: int = 200) -> None:
    """Poll ``url`` until it answers ``expect``; fail fast if ``proc`` exits, naming its log."""
    deadline = time.monotonic() + timeout_s
    last = "no answer"
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise NotReadyError(what, f"exited with code {proc.returncode} before answering {url}{_tail(log_path)}")
        try:
            with urlopen(url, timeout=2) as resp:
                if resp.status == expect:
                    return
                last = f"HTTP {resp.status}"
        except URLError as err:
            last = str(err.reason)
        except OSError as err:
            last = str(err)
        time.sleep(0.05)
    raise NotReadyError(what, f"{url} did not answer {expect} within {timeout_s:.0f}s (last: {last}){_tail(log_path)}")


def _tail(log_path: Path | None, lines: int = 5) -> str:
    if log_path is None or not log_path.exists():
        return ""
    text = log_path.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-lines:]
    return ("; log " + str(log_path) + ": " + " | ".join(text)) if text else ""
