"""Local child processes (Prometheus, Envoy, service colours) started, watched and stopped safely.

The local platform and the tests start real servers; each one must bind to 127.0.0.1 on a free
port, be reported when it crashes (not ignored), and be stopped by its own pid and process group
so nothing else on the machine is touched. Everything this package reads from ``/proc``
(proc(5): ``stat`` fields, ``cmdline``) and every HTTP readiness probe goes through here.

Whatever a started process writes (its log, Prometheus' TSDB, Envoy's admin socket) is private to
the user who runs the platform: logs are created 0600 in folders made 0700, and every child runs
with umask 077, so no other local user can read a log or reach a control socket.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import time
from collections.abc import Collection, Iterator, Mapping, Sequence
from pathlib import Path
from urllib.error import HTTPError, URLError
from urllib.request import urlopen

from pipeline_steps.errors import NotReadyError

PRIVATE_UMASK = 0o077
"""The umask of every started process: what it creates is readable and writable by its owner only."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


STABLE_PORTS_FROM = 10000
"""Ports a process keeps across restarts come from here up to the kernel's ephemeral range."""


def stable_port(avoid: Collection[int] = ()) -> int:
    """A free port on 127.0.0.1 for a server that keeps it across restarts (a colour, an Envoy), other
    than those in ``avoid`` (ports the state folder gave to a server that is not listening yet):
    below the kernel's ephemeral range (``/proc/sys/net/ipv4/ip_local_port_range``), where no
    outgoing connection is given a port, so a busy machine's clients cannot take it while the
    server restarts (measured: with load tests running beside, a colour's ephemeral port was taken
    within a redeployment). ``free_port()`` when that range is too small to pick from."""
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 0
    if low - STABLE_PORTS_FROM >= 1000:
        for _ in range(100):
            port = random.randrange(STABLE_PORTS_FROM, low)
            if port not in avoid and port_is_free(port):
                return port
    for _ in range(100):
        port = free_port()
        if port not in avoid:
            return port
    raise NotReadyError("local", "no free TCP port on 127.0.0.1 outside the ports already given out")


def port_is_free(port: int) -> bool:
    """True when a server could bind 127.0.0.1:``port`` now. ``SO_REUSEADDR`` as servers set it
    (Python's ``http.server``, Go's ``net.Listen``, Envoy): connections of a stopped process that
    linger in TIME_WAIT do not block the port, a listening socket does."""
    if not 0 < port < 65536:
        return False
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


PORT_RELEASE_S = 2.0
"""How long a just-stopped server's port may stay unbindable (``wait_port_free``)."""


def wait_port_free(port: int, timeout_s: float = PORT_RELEASE_S) -> bool:
    """True once a server could bind ``port`` (``port_is_free``), polled every 20 ms for ``timeout_s``.

    Why wait: a server stopped while clients held keep-alive connections (Envoy's upstream pool,
    Prometheus' scrape) leaves its side of each in FIN_WAIT until the client closes its own, and
    until then Linux refuses the bind even with ``SO_REUSEADDR`` (measured on 6.18: False at once,
    True within milliseconds of the clients' close, when those sockets reach TIME_WAIT). Checked at
    once, a colour's port looked taken in 1 of 5 demos and moved, so Prometheus had a new target
    to discover (a 5 s wait in ``wait_available``) and the colour a new series."""
    deadline = time.monotonic() + timeout_s
    while not port_is_free(port):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)
    return True


def private_dir(path: Path) -> Path:
    """Create ``path`` and its missing parents with mode 0700 (existing folders are left as they are)."""
    missing = []
    probe = path
    while not probe.exists():
        missing.append(probe)
        probe = probe.parent
    for folder in reversed(missing):
        folder.mkdir(mode=0o700, exist_ok=True)
        folder.chmod(0o700)  # mkdir's mode is filtered by the caller's umask; 0700 must hold regardless
    return path


def open_private(path: Path, flags: int = os.O_WRONLY | os.O_APPEND) -> int:
    """A file descriptor on ``path`` created 0600 if absent (an existing file keeps its mode)."""
    private_dir(path.parent)
    return os.open(path, flags | os.O_CREAT, 0o600)


JENKINS_KILL_COOKIES = ("JENKINS_NODE_COOKIE", "BUILD_ID")
"""What Jenkins' ProcessTreeKiller looks for in a process's environment: at the end of a ``node``
block (Pipeline: ``JENKINS_NODE_COOKIE``; freestyle: ``BUILD_ID``) it kills every process still
carrying the build's value. Jenkins' documented way to leave a daemon running is another value
(``dontKillMe``: wiki.jenkins.io ProcessTreeKiller)."""
DURABLE_TASK_COOKIE = "JENKINS_SERVER_COOKIE"
"""durable-task's per-``sh`` cookie: stopping that step (an abort) kills every process carrying it."""


def daemon_env(base: Mapping[str, str]) -> dict[str, str]:
    """``base`` for a process that must outlive the Jenkins step that started it (a colour, an Envoy,
    Prometheus: the local platform *is* the cluster): without the step's cookies, so neither the end
    of the ``node`` block nor an abort of the ``sh`` step takes the stage's services down."""
    env = {k: v for k, v in base.items() if k != DURABLE_TASK_COOKIE}
    for name in JENKINS_KILL_COOKIES:
        if name in env:
            env[name] = "dontKillMe"
    return env


def spawn(argv: Sequence[str], *, log_path: Path, cwd: Path | None = None,
          env: Mapping[str, str] | None = None) -> subprocess.Popen[bytes]:
    """Start ``argv`` as a daemon: its own session (so a stop reaches its children), umask 077,
    output to ``log_path`` (created 0600), without the Jenkins step's kill cookies (``daemon_env``)."""
    full_env = daemon_env(os.environ)
    if env:
        full_env.update(env)
    with os.fdopen(open_private(log_path), "ab") as log:
        return subprocess.Popen(
            list(argv), cwd=cwd, env=full_env, stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True, umask=PRIVATE_UMASK,
        )


# --- /proc ----------------------------------------------------------------------------------

def proc_stat(pid: int) -> list[str]:
    """``/proc/<pid>/stat`` fields after the parenthesised command name (which may contain spaces):
    index 0 is the state (``Z`` zombie), 2 the process group, 19 the start time; [] when gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return []


def proc_cmdline(pid: int) -> list[bytes]:
    """``/proc/<pid>/cmdline`` as its arguments ([] when gone, or for a moment during ``execve``)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return raw.rstrip(b"\0").split(b"\0") if raw else []


def all_pids() -> Iterator[int]:
    """Every pid in ``/proc`` right now."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            yield int(entry.name)


def members(pgid: int) -> list[int]:
    """Live (not zombie) processes of process group ``pgid``."""
    found = []
    for pid in all_pids():
        stat = proc_stat(pid)
        if len(stat) > 2 and int(stat[2]) == pgid and stat[0] != "Z":
            found.append(pid)
    return found


def live_start_time(pid: int) -> str:
    """The kernel's start time of ``pid`` (clock ticks since boot, proc(5) field 22) while it runs;
    "" when it does not exist or is dead: a zombie (state ``Z``, killed but not yet reaped by its
    parent, which a container without an init process never does) or exiting (``X``)."""
    stat = proc_stat(pid)
    if len(stat) <= 19 or stat[0] in ("Z", "X"):
        return ""
    return stat[19]


def pid_alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie (one of our children is reaped here)."""
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
    return proc_stat(pid)[:1] != ["Z"]  # a dead process whose parent (not us) has not reaped it yet


# --- stopping ---------------------------------------------------------------------------------

def stop_pid(pid: int, timeout_s: float = 5.0, *, group: bool = True) -> None:
    """SIGTERM the process group led by ``pid`` (``group=False``: ``pid`` alone), wait until every
    member is gone, SIGKILL what is left after ``timeout_s``.

    Waiting for the leader alone is not enough: a wrapper dies at once, while the service under it
    (Envoy draining, a service that ignores SIGTERM) would outlive the stop.
    """
    if pid <= 0:
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            if group:
                os.killpg(pid, sig)
            else:
                os.kill(pid, sig)
        except ProcessLookupError:
            return
        except PermissionError:
            os.kill(pid, sig)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            alive = pid_alive(pid)  # also reaps the leader when it is our own child
            if not (members(pid) if group else alive):
                return
            time.sleep(0.05)


# --- HTTP readiness ---------------------------------------------------------------------------

def probe(url: str, timeout_s: float = 2.0, expect: int = 200) -> str:
    """"" if ``url`` answers ``expect``, else a short reason (HTTP status or connection error)."""
    try:
        with urlopen(url, timeout=timeout_s) as resp:
            return "" if resp.status == expect else f"{url} answered HTTP {resp.status}"
    except HTTPError as err:
        return "" if err.code == expect else f"{url} answered HTTP {err.code}"
    except (URLError, OSError) as err:
        return f"{url}: {getattr(err, 'reason', err)}"


def wait_http(url: str, *, timeout_s: float, what: str, proc: subprocess.Popen[bytes] | None = None,
              log_path: Path | None = None, expect: int = 200) -> None:
    """Poll ``url`` until it answers ``expect``; fail fast if ``proc`` exits, naming its log."""
    deadline = time.monotonic() + timeout_s
    last = "no answer"
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise NotReadyError(what, f"exited with code {proc.returncode} before answering {url}{log_tail(log_path)}")
        last = probe(url, 2.0, expect)
        if not last:
            return
        time.sleep(0.05)
    raise NotReadyError(what, f"{url} did not answer {expect} within {timeout_s:.0f}s (last: {last}){log_tail(log_path)}")


def log_tail(log_path: Path | str | None, lines: int = 5) -> str:
    """``; log PATH: line | line`` with the last ``lines`` lines of a log ("" without one), for messages."""
    if not log_path:
        return ""
    path = Path(log_path)
    try:
        text = path.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-lines:]
    except OSError:
        return ""
    return f"; log {path}: " + " | ".join(text) if text else ""
