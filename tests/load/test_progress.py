"""Progress output: a redrawn bar on a terminal, plain periodic lines for Jenkins' console.

Aspects: on a TTY every tick redraws one line (carriage return, bar, percentage, errors,
latency) and close() ends it; elsewhere only one complete line per interval (and at 100 %)
is written, never a carriage return, and the 100 % line only once while the last answers come in.
"""

from __future__ import annotations

import io

from pipeline_steps.load.progress import Progress
from pipeline_steps.load.stats import Snapshot


def test_tty_redraws_one_line_with_a_bar() -> None:
    stream = io.StringIO()
    progress = Progress(total=100, stream=stream, tty=True)
    progress(Snapshot(requests=50, errors=2, recent_mean_ms=12.5, elapsed_s=1.0))
    progress(Snapshot(requests=100, errors=2, recent_mean_ms=11.0, elapsed_s=2.0))
    progress.close()
    text = stream.getvalue()
    assert text.count("\r") == 2 and text.endswith("\n") and text.count("\n") == 1
    assert "[############............]  50% 50 requests, 2 errors, 50 req/s, latency 12.5 ms" in text
    assert "100%" in text and progress.tick_s < 1


def test_plain_lines_every_interval_for_jenkins() -> None:
    stream = io.StringIO()
    progress = Progress(total=None, duration_s=60, stream=stream, tty=False, line_every_s=10)
    for second in range(1, 31):
        progress(Snapshot(requests=second * 10, errors=0, recent_mean_ms=3.0, elapsed_s=float(second)))
    lines = stream.getvalue().splitlines()
    assert "\r" not in stream.getvalue()
    assert [line.split(" ")[1] for line in lines] == ["17%", "33%", "50%"]
    assert lines[0] == "performance: 17% 100 requests, 0 errors, 10 req/s, latency 3.0 ms, 10s"


def test_plain_lines_say_100_percent_once_while_the_last_answers_come_in() -> None:
    stream = io.StringIO()
    progress = Progress(total=None, duration_s=3, stream=stream, tty=False, line_every_s=10)
    for second in range(1, 8):  # a 3 s run whose in-flight requests take until second 7
        progress(Snapshot(requests=second * 3, errors=0, recent_mean_ms=1000.0, elapsed_s=float(second)))
    lines = stream.getvalue().splitlines()
    assert [line.split(" ")[1:3] for line in lines] == [["100%", "9"]], lines
