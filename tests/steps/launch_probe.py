"""A program for tests/steps/test_launch.py: reports what a process sees, then ends as asked.

Run as ``python -m tests.steps.launch_probe WHAT [ARG]`` (a new interpreter) or forked by
``steps.launch.fork_cli(module="tests.steps.launch_probe")``; the tests compare the two.
"""

from __future__ import annotations

import atexit
import json
import os
import signal
import sys
import tempfile
import threading
import time


def seen() -> dict[str, object]:
    return {
        "argv": [os.path.basename(sys.argv[0]), *sys.argv[1:]],
        "name": __name__,
        "env": os.environ.get("LAUNCH_PROBE", ""),
        "signals": {name: repr(signal.getsignal(getattr(signal, name)))
                    for name in ("SIGINT", "SIGTERM", "SIGPIPE", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGXFSZ")},
        "streams": [s.fileno() if s else None for s in (sys.stdin, sys.stdout, sys.stderr)],  # None: fd closed
        "stdout_line_buffered": getattr(sys.stdout, "line_buffering", None),
        "stderr_line_buffered": getattr(sys.stderr, "line_buffering", None),
        "write_through": [getattr(s, "write_through", None) for s in (sys.stdout, sys.stderr)],
        "errors": [getattr(s, "errors", None) for s in (sys.stdin, sys.stdout, sys.stderr)],
        "encodings": [getattr(s, "encoding", None) for s in (sys.stdout, sys.stderr)],
    }


def main() -> None:
    what = sys.argv[1]
    print(json.dumps(seen(), sort_keys=True), file=sys.stdout or sys.stderr)  # stdout may be closed
    print("probe: on stderr", file=sys.stderr)
    if what == "exit":
        sys.exit(int(sys.argv[2]))
    if what == "message":
        sys.exit("probe: the message of a SystemExit")
    if what == "raise":
        raise RuntimeError("probe: a bug")
    if what == "interrupt":
        raise KeyboardInterrupt
    if what == "sleep":  # writes its pid, then ignores Ctrl-C for a minute
        with open(sys.argv[2], "w", encoding="utf-8") as pid_file:
            pid_file.write(str(os.getpid()))
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        time.sleep(60)
    if what == "which":  # a forked child holds the parent's modules; a new interpreter does not
        print("forked" if "pipeline_steps.steps.launch" in sys.modules else "new interpreter")
    if what == "unflushed":  # block-buffered output must still reach the pipe
        sys.stdout.write("probe: unflushed tail")
    if what == "exit-handlers":  # what a new interpreter does at its end: join threads, atexit, finalizers
        atexit.register(print, "probe: atexit ran")
        threading.Thread(target=lambda: (time.sleep(0.2), print("probe: thread ended"))).start()
        KEPT.append(tempfile.TemporaryDirectory(dir=sys.argv[2]))  # removed by its finalizer at exit


KEPT: list[tempfile.TemporaryDirectory[str]] = []


if __name__ == "__main__":
    main()
