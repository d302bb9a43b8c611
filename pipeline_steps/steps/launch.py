"""Run one ``pipeline-steps`` command as its own process: forked from a warm parent, or a new interpreter.

Why: the chain (``run``) and the demo run every step as its own process, as Jenkins does
(Jenkinsfiles/), so a step cannot leave state behind for the next one and its exit code is the
verdict. A new interpreter pays start-up and imports for every step: 0.11-0.32 s each here
(``python -X importtime``: aiohttp 125 ms in run-tests, requests 85 ms in evaluate, click and our
CLI 30 ms in all), about 5.5 s of the demo's 34 processes. A child forked from a parent that has
imported those modules once (``warm``) starts in a few milliseconds and runs the same command the
same way: ``python -m pipeline_steps ARGV`` is ``runpy.run_module("pipeline_steps")`` with
``sys.argv`` set, which is what the child does. ``bench/demo_runs.py --exec-runs`` measures both.

What the forked child sees is what a new process sees (``_child``):

- ``os.environ``: the parent's plus ``env``; ``sys.argv``: the module's file and ``argv``, as ``-m`` sets it;
- ``sys.stdin``/``stdout``/``stderr``: new text streams on file descriptors 0, 1 and 2 (a parent whose
  ``sys.stdout`` is an in-memory capture, or a masking wrapper, must not hold the child's output),
  line-buffered where a new interpreter would be (stdout on a terminal, stderr always), None where
  it would have none (a closed descriptor, or one ``exec`` closes);
- signal handlers as ``execve`` and CPython leave them: a signal the parent ignores stays ignored
  (``nohup``, a shell's background job; POSIX execve(2)), any other handler is the default again,
  then SIGINT raises ``KeyboardInterrupt`` unless ignored and SIGPIPE and SIGXFSZ are ignored
  (Python/pylifecycle.c ``init_signals``);
- none of the parent's exit handlers or finalizers, but its own: at its end the child waits for the
  threads it started, runs the exit handlers and finalizers it registered (Python/pylifecycle.c
  ``Py_FinalizeEx``: threads, then ``atexit``; the kubernetes client removes a kubeconfig's key
  files in one), flushes its streams and leaves with ``os._exit``, as ``multiprocessing``'s fork
  start method does (Lib/multiprocessing/process.py ``_bootstrap``);
- its exit status as a new interpreter would end: ``SystemExit``'s code (None 0, an int that int,
  anything else printed and 1), an uncaught exception's traceback and 1, and an uncaught
  ``KeyboardInterrupt`` ends it by SIGINT (CPython since 3.8, bpo-1054041). Whatever fails in the
  child, it never returns into the parent's code (that would run the chain twice); an environment
  that ``exec`` refuses (a NUL, a name with ``=``) raises ``ValueError`` in the parent, as ``exec`` does.

Fork is used only where it is safe: on POSIX, when the parent runs one thread, and unless
``PIPELINE_STEPS_STEP_LAUNCH=exec`` asks for a new interpreter per step (to rule the fork out when
something looks odd, and for ``bench/demo_runs.py --exec-runs``). ``fork`` copies
only the calling thread, so a lock another thread holds stays locked in the child for ever
(POSIX fork(2): "the child process shall be created with a single thread"); and a child forked
while the parent handles an exception (the demo's ``finally`` after a failure or a Ctrl-C) would
carry it as the context of its own errors. With more threads, an exception being handled, or no
``os.fork``, the command runs in a new interpreter. The parent waits like ``subprocess.run``: on
Ctrl-C it gives the child 0.25 s (CPython's ``Popen._sigint_wait_secs``), then kills it and re-raises;
a Ctrl-C during the fork itself, or a second one meanwhile, ends the child the same way.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import io
import os
import runpy
import signal
import subprocess
import sys
import threading
import time
import traceback
import weakref
from collections.abc import Iterable, Sequence
from typing import TextIO

WARM_MODULES: tuple[str, ...] = (
    "pipeline_steps.cli",
    "pipeline_steps.commands.deploy", "pipeline_steps.steps.deploy", "pipeline_steps.platforms.local.platform",
    "pipeline_steps.commands.run_tests", "pipeline_steps.steps.run_tests", "pipeline_steps.load.checks",
    "pipeline_steps.load.pool", "aiohttp",
    "pipeline_steps.commands.evaluate", "pipeline_steps.steps.evaluate", "pipeline_steps.sources.http",
    "pipeline_steps.commands.evaluation_done", "pipeline_steps.steps.evaluation_done",
    "yaml",
)
"""What the chain's steps import (by name: warming is a start-up cache, not a dependency of this
module; ``tests/steps/test_launch.py`` checks every name still imports)."""

LAUNCH_ENV = "PIPELINE_STEPS_STEP_LAUNCH"
"""``fork`` (default) or ``exec``: how ``run_cli`` starts a step."""

SIGINT_WAIT_S = 0.25
"""How long a Ctrl-C'd parent waits for the child before killing it (``subprocess.Popen._sigint_wait_secs``)."""


def can_fork() -> bool:
    """True when a step may be forked: ``os.fork`` exists, this process runs one thread, handles no
    exception, and ``PIPELINE_STEPS_STEP_LAUNCH`` is not ``exec``."""
    asked = os.environ.get(LAUNCH_ENV, "fork").strip().lower()
    return (asked != "exec" and hasattr(os, "fork") and threading.active_count() == 1
            and sys.exc_info()[1] is None)


def warm(modules: Sequence[str] = WARM_MODULES) -> None:
    """Import ``modules`` once, so forked children start with them (an ``ImportError`` propagates)."""
    for name in modules:
        importlib.import_module(name)


def run_cli(argv: Sequence[str], env: dict[str, str], *, module: str = "pipeline_steps") -> int:
    """Run ``python -m MODULE ARGV`` (``pipeline-steps ARGV``) with ``env`` added to this environment; its
    output goes to our file descriptors 1 and 2 (progress stays live). Returns its exit status as
    ``subprocess`` reports it (negative: the signal that ended it). Forked where ``can_fork()``."""
    if not can_fork():
        return exec_cli(argv, env, module=module)
    if module == "pipeline_steps":
        warm()
    return fork_cli(argv, env, module=module)


def exec_cli(argv: Sequence[str], env: dict[str, str], *, module: str = "pipeline_steps") -> int:
    """``python -m MODULE ARGV`` in a new interpreter."""
    return subprocess.run([sys.executable, "-m", module, *argv], env={**os.environ, **env}, check=False).returncode


def fork_cli(argv: Sequence[str], env: dict[str, str], *, module: str = "pipeline_steps") -> int:
    """The same command in a child forked from this process (only where ``can_fork()``). ``ValueError``
    for an ``env`` that ``exec`` refuses, before anything is forked."""
    _check_env(env)
    for stream in (sys.stdout, sys.stderr):
        if stream is not None:  # None: run >&- (no stream there)
            stream.flush()  # or the child inherits, and writes again, what the parent has not written yet
    # SIGINT waits (blocked) until the parent waits: a Ctrl-C during fork() reaches the parent only (the
    # kernel restarts the fork after the handler) and would raise before the child was watched.
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        pid = os.fork()
    except BaseException:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        raise
    if pid == 0:  # pragma: no cover - runs in the child, which never returns here (tests observe it)
        code = 1
        try:
            code = _child(module, list(argv), env, mask)
        finally:  # not even a second Ctrl-C while the child ends may take it back into the parent's code
            os._exit(code)
    return _wait(pid, mask)


def _check_env(env: dict[str, str]) -> None:
    """Refuse what ``subprocess`` refuses before its ``exec`` (Lib/subprocess.py ``_execute_child``, and
    ``os.putenv``), so the parent gets the same error either way; the child could only die of it."""
    for key, value in env.items():
        name, text = os.fsencode(key), os.fsencode(value)
        if not name or b"=" in name:
            raise ValueError(f"illegal environment variable name {key!r}")
        if b"\0" in name + text:
            raise ValueError("embedded null byte")


def _wait(pid: int, mask: Iterable[int]) -> int:
    """The child's exit status; on Ctrl-C (or any exception) the child ends too (``_end``) and it re-raises."""
    try:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)  # a Ctrl-C held back since the fork raises here
        _, status = os.waitpid(pid, 0)
    except BaseException:  # the child got the same SIGINT from the terminal: as subprocess.run
        _end(pid)
        raise
    return os.waitstatus_to_exitcode(status)


def _end(pid: int) -> None:
    """Give the child ``SIGINT_WAIT_S`` to finish, then kill it; reaped either way, even when another
    Ctrl-C comes meanwhile (no step runs on unwatched, no zombie)."""
    reaped = False
    try:
        deadline = time.monotonic() + SIGINT_WAIT_S
        while not (reaped := os.waitpid(pid, os.WNOHANG) != (0, 0)) and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        if not reaped:
            os.kill(pid, signal.SIGKILL)  # not reaped yet, so the pid is still this child's
            os.waitpid(pid, 0)


def _child(module: str, argv: list[str], env: dict[str, str],
           mask: Iterable[int]) -> int:  # pragma: no cover - runs in the child
    """Run the command as ``python -m MODULE`` would and return its exit status."""
    code, interrupted = 1, False
    try:
        _fresh_process(argv, env)  # with SIGINT held back (fork_cli)
        code, interrupted = _run(module, mask)
        _finalize()
    except BaseException:  # our own start or end failed (a broken stderr, a second Ctrl-C): say so if we can
        with contextlib.suppress(BaseException):
            traceback.print_exc()
    _flush()
    if interrupted:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
        code = 128 + signal.SIGINT  # only if SIGINT did not end us (Modules/main.c ``exit_sigint``)
    return code


def _run(module: str, mask: Iterable[int]) -> tuple[int, bool]:  # pragma: no cover - runs in the child
    """The command's exit status, and whether an uncaught ``KeyboardInterrupt`` ended it."""
    try:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)  # the parent's, as exec keeps it; a held Ctrl-C raises here
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    except SystemExit as end:
        return _exit_status(end.code), False
    except KeyboardInterrupt:
        traceback.print_exc()
        return 1, True
    except BaseException:
        traceback.print_exc()
        return 1, False
    return 0, False


def _finalize() -> None:  # pragma: no cover - runs in the child
    """What ``Py_FinalizeEx`` does for the child's own: wait for the (non-daemon) threads it started
    (``threading._shutdown``, as multiprocessing's forked children do), then run its exit handlers."""
    shutdown = getattr(threading, "_shutdown", None)
    if shutdown is not None:
        shutdown()
    atexit._run_exitfuncs()


def _fresh_process(argv: list[str], env: dict[str, str]) -> None:  # pragma: no cover - runs in the child
    os.environ.update(env)
    sys.argv = ["-m", *argv]  # as the interpreter sets it until runpy puts the module's file first
    _forget_exit_handlers()
    _fresh_signals()
    sys.stdin = _stream(0, sys.__stdin__)
    sys.stdout = _stream(1, sys.__stdout__)
    sys.stderr = _stream(2, sys.__stderr__)


def _forget_exit_handlers() -> None:  # pragma: no cover - in the child
    """Drop the parent's exit handlers and finalizers from the child's copy; the child's own then
    register as in a new process (``weakref.finalize`` registers its exit hook once per process)."""
    atexit._clear()
    for parents in list(getattr(weakref.finalize, "_registry", {})):
        parents.atexit = False
    weakref.finalize._registered_with_atexit = False  # type: ignore[attr-defined]


IGNORED_AT_START = tuple(getattr(signal, name) for name in ("SIGPIPE", "SIGXFZ", "SIGXFSZ") if hasattr(signal, name))
"""What CPython ignores when it starts (Python/pylifecycle.c ``init_signals``)."""


def _fresh_signals() -> None:  # pragma: no cover - in the child
    """Dispositions as after ``execve`` and CPython's start: ignored stays ignored, a handler is the
    default again; SIGINT raises ``KeyboardInterrupt`` unless ignored (``PyOS_InitInterrupts``)."""
    for number in signal.valid_signals():
        if number in (signal.SIGKILL, signal.SIGSTOP):
            continue
        now = signal.getsignal(number)
        if number in IGNORED_AT_START:
            signal.signal(number, signal.SIG_IGN)
        elif now not in (None, signal.SIG_DFL, signal.SIG_IGN):
            signal.signal(number, signal.SIG_DFL)
    if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def _stream(fd: int, like: TextIO | None) -> TextIO | None:  # pragma: no cover - in the child
    """A new text stream on ``fd`` as CPython's ``create_stdio`` (Python/pylifecycle.c) builds it: the
    encoding, error handler and buffering (``-u``, ``PYTHONUNBUFFERED``) of the interpreter's own
    stream ``like``; written streams unbuffered under ``-u``, else stdout line-buffered on a terminal
    and stderr always line-buffered. None where a new interpreter has no stream (``is_valid_fd``): the
    descriptor is closed (``run >&-``), or is close-on-exec, so ``exec`` would close it (a file the
    parent opened after its own stream was closed took the number; it is not the step's stream)."""
    try:
        if not os.get_inheritable(fd):
            return None
    except OSError:
        return None
    encoding = getattr(like, "encoding", None) or "utf-8"
    errors = getattr(like, "errors", None) or "strict"
    buffered = not isinstance(getattr(like, "buffer", None), io.RawIOBase)
    write = fd != 0
    binary = open(fd, "wb" if write else "rb", buffering=-1 if buffered or not write else 0,  # noqa: SIM115
                  closefd=False)  # the process' own stream, never closed
    line = buffered and (fd == 2 or os.isatty(fd))
    return io.TextIOWrapper(binary, encoding=encoding, errors=errors, line_buffering=line,
                            write_through=write and not buffered)


def _exit_status(code: object) -> int:
    """``SystemExit.code`` as the interpreter turns it into a status (Python/pythonrun.c ``_Py_HandleSystemExit``)."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    if sys.stderr is not None:  # print(file=None) would write it to stdout
        print(code, file=sys.stderr)
    return 1


def _flush() -> None:  # pragma: no cover - runs in the child
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a broken stream: nothing more to say
            if stream is not None:
                stream.flush()
