"""A one-shot timer with microsecond precision for the open model's arrival schedule.

Why not ``loop.call_at`` / ``asyncio.sleep``: uvloop (libuv) keeps timers in whole milliseconds,
so an arrival due 0.3 ms from now fires up to 1 ms late; the open model measures latency from
the intended send time, so that lateness was reported as the service's (p90 0.7-1.0 ms on a
server whose closed-model p90 is 0.17 ms, issue 15). A Linux ``timerfd`` armed with an absolute
``CLOCK_MONOTONIC`` time (the clock of ``time.perf_counter`` here) wakes the event loop's
``epoll`` at that time, to the kernel's timer slack (50 µs by default; set to 1 µs for this
process when ``prctl`` is available), and costs one ``read`` per wake. Python 3.13 has
``os.timerfd_create``; before that it is called through libc with ctypes. Elsewhere (not Linux)
the ticker falls back to ``loop.call_at`` and says so in ``precise``.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import time
from collections.abc import Callable

_CLOCK_MONOTONIC = 1
_TFD_NONBLOCK_CLOEXEC = os.O_NONBLOCK | os.O_CLOEXEC  # TFD_NONBLOCK, TFD_CLOEXEC share the O_ values
_TFD_TIMER_ABSTIME = 1
_PR_SET_TIMERSLACK = 29


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class _Itimerspec(ctypes.Structure):
    _fields_ = [("it_interval", _Timespec), ("it_value", _Timespec)]


def _libc() -> ctypes.CDLL | None:
    if time.get_clock_info("perf_counter").implementation != "clock_gettime(CLOCK_MONOTONIC)":
        return None  # the timer's clock must be the one latencies are measured with
    try:
        # the process's own symbols, libc's among them (ctypes.util.find_library would run ldconfig and gcc)
        libc = ctypes.CDLL(None, use_errno=True)
        libc.timerfd_create  # noqa: B018 - AttributeError where there is no timerfd
        libc.timerfd_settime  # noqa: B018
    except (OSError, AttributeError):
        return None
    return libc


class Ticker:
    """Calls ``callback()`` on the running loop at the ``perf_counter`` time given to ``arm``."""

    def __init__(self, loop: asyncio.AbstractEventLoop, callback: Callable[[], None]) -> None:
        self.loop = loop
        self.callback = callback
        self.fd = -1
        self._handle: asyncio.TimerHandle | None = None
        self._libc = None if hasattr(os, "timerfd_create") else _libc()
        if hasattr(os, "timerfd_create"):
            self.fd = os.timerfd_create(time.CLOCK_MONOTONIC, flags=os.TFD_NONBLOCK | os.TFD_CLOEXEC)  # type: ignore[attr-defined]
        elif self._libc is not None:
            self.fd = self._libc.timerfd_create(_CLOCK_MONOTONIC, _TFD_NONBLOCK_CLOEXEC)
            with_slack = getattr(self._libc, "prctl", None)
            if with_slack is not None:
                with_slack(_PR_SET_TIMERSLACK, ctypes.c_ulong(1000), 0, 0, 0)  # 1 µs instead of 50 µs
        if self.fd >= 0:
            loop.add_reader(self.fd, self._fired)

    @property
    def precise(self) -> bool:
        return self.fd >= 0

    def arm(self, when: float) -> None:
        """Fire once at ``when`` (``time.perf_counter()`` seconds); re-arming replaces the previous time."""
        if self.fd < 0:
            if self._handle is not None:
                self._handle.cancel()
            self._handle = self.loop.call_later(max(0.0, when - time.perf_counter()), self.callback)
            return
        when = max(when, 1e-9)  # an all-zero it_value would disarm the timer
        if self._libc is None:
            os.timerfd_settime(self.fd, flags=os.TFD_TIMER_ABSTIME, initial=when)  # type: ignore[attr-defined]
            return
        sec = int(when)
        spec = _Itimerspec(_Timespec(0, 0), _Timespec(sec, int((when - sec) * 1e9)))
        if self._libc.timerfd_settime(self.fd, _TFD_TIMER_ABSTIME, ctypes.byref(spec), None) != 0:
            raise OSError(ctypes.get_errno(), "timerfd_settime failed")

    def _fired(self) -> None:
        try:
            os.read(self.fd, 8)
        except BlockingIOError:
            return  # re-armed to a later time after it became readable
        self.callback()

    def close(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
        if self.fd >= 0:
            self.loop.remove_reader(self.fd)
            os.close(self.fd)
            self.fd = -1
