"""Live progress of a load test: a redrawn bar on a terminal, plain periodic lines elsewhere.

Why two forms: a person at a terminal wants one line that moves; Jenkins' console (not a TTY)
keeps every byte, so carriage-return redraws would become thousands of lines. There it prints
one complete line every ``line_every_s`` seconds instead.
"""

from __future__ import annotations

import sys
from typing import TextIO

from pipeline_steps.load.stats import Snapshot

_BAR = 24


class Progress:
    """Callable with a ``Snapshot``; ``total`` (when known) draws a bar and a percentage."""

    def __init__(self, total: int | None, duration_s: float = 0.0, stream: TextIO | None = None,
                 tty: bool | None = None, line_every_s: float = 10.0) -> None:
        self.total = total
        self.duration_s = duration_s
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.line_every_s = line_every_s
        self._last_line = 0.0
        self._drawn = False
        self._full = False

    @property
    def tick_s(self) -> float:
        """How often the engine should call: often for a bar, rarely for lines."""
        return 0.25 if self.tty else min(1.0, self.line_every_s)

    def fraction(self, snap: Snapshot) -> float | None:
        if self.total:
            return min(1.0, snap.requests / self.total)
        if self.duration_s:
            return min(1.0, snap.elapsed_s / self.duration_s)
        return None

    def text(self, snap: Snapshot) -> str:
        rate = snap.requests / snap.elapsed_s if snap.elapsed_s > 0 else 0.0
        stats = (f"{snap.requests} requests, {snap.errors} errors, {rate:.0f} req/s, "
                 f"latency {snap.recent_mean_ms:.1f} ms, {snap.elapsed_s:.0f}s")
        fraction = self.fraction(snap)
        if fraction is None:
            return stats
        if self.tty:
            filled = int(fraction * _BAR)
            return f"[{'#' * filled}{'.' * (_BAR - filled)}] {fraction:4.0%} {stats}"
        return f"{fraction:.0%} {stats}"

    def __call__(self, snap: Snapshot) -> None:
        if self.tty:
            self.stream.write("\r\x1b[2K" + self.text(snap))
            self._drawn = True
        elif snap.elapsed_s - self._last_line >= self.line_every_s or (self.fraction(snap) == 1.0 and not self._full):
            # 100 % once: the last answers of a duration-bound run can take up to the request timeout
            self._last_line, self._full = snap.elapsed_s, self.fraction(snap) == 1.0
            self.stream.write("performance: " + self.text(snap) + "\n")
        self.stream.flush()

    def close(self) -> None:
        """End the redrawn line so later output starts on its own line."""
        if self.tty and self._drawn:
            self.stream.write("\n")
            self.stream.flush()
