"""The demo refuses settings that cannot tell its story, before it touches anything (issue 15).

Aspects: with Prometheus as the gate's source, a ``--test-duration`` shorter than two scrape
intervals exits 2 with one line that names the flag and says why (the gate's rate() needs two
samples of the new version in the window), and the work folder of a previous run is left as it
was (nothing stopped, nothing removed); exactly two intervals is accepted by the check; a
malformed ``--scrape-interval`` is bad input too. The whole story runs in tests/e2e/test_demo.py.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline_steps.errors import BadInputError
from pipeline_steps.steps.demo import DemoSettings, check_settings, examples_dir


def _demo(workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pipeline_steps", "demo", "--workdir", str(workdir), *args],
                          capture_output=True, text=True, timeout=60)


def test_a_test_shorter_than_two_scrape_intervals_is_refused_and_changes_nothing(tmp_path: Path) -> None:
    assert shutil.which("prometheus"), "Prometheus is required: apt-get install -y prometheus (.ci/run does)"
    previous = tmp_path / "demo-run"
    (previous / "state").mkdir(parents=True)
    (previous / "history.sqlite").write_text("a previous run's history")
    result = _demo(previous, "--test-duration", "5", "--scrape-interval", "3s")
    assert result.returncode == 2, result.stdout + result.stderr
    message = result.stderr.strip()
    assert len(message.splitlines()) == 1 and message.startswith("error: --test-duration: 5s is shorter than 2 scrape"), message
    assert "rate()" in message and "two Prometheus samples" in message and "--test-duration 6" in message
    assert result.stdout == ""
    assert sorted(p.name for p in previous.iterdir()) == ["history.sqlite", "state"]
    assert (previous / "history.sqlite").read_text() == "a previous run's history"


def test_the_rule_is_two_intervals_and_only_with_prometheus() -> None:
    examples = examples_dir()
    settings = DemoSettings(workdir=Path("unused"), source=examples / "carts", shipyard=examples / "shipyard.yaml",
                            test_duration=4, scrape_interval="2s")
    check_settings(settings, prometheus=True)  # 4 s spans two 2 s intervals
    with pytest.raises(BadInputError, match="--test-duration"):
        check_settings(DemoSettings(**{**settings.__dict__, "scrape_interval": "2001ms"}), prometheus=True)
    check_settings(DemoSettings(**{**settings.__dict__, "scrape_interval": "1m"}), prometheus=False)  # the testrun gate


def test_a_malformed_scrape_interval_is_bad_input(tmp_path: Path) -> None:
    result = _demo(tmp_path / "w", "--scrape-interval", "fast")
    assert result.returncode == 2
    assert result.stderr.strip() == "error: --scrape-interval: 'fast' is not a duration such as 500ms, 15s or 1m"
    assert not (tmp_path / "w").exists()


def test_a_local_up_that_fails_is_followed_by_local_down(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``local up`` may have started Prometheus before it failed (a broken pipe while it printed):
    the demo stops what it started, as after any later failure."""
    from pipeline_steps.errors import InfrastructureError
    from pipeline_steps.steps import demo

    calls: list[list[str]] = []

    def fake(argv: list[str], env: dict[str, str]) -> int:
        calls.append(list(argv[:2]))
        return 1 if argv[:2] == ["local", "up"] else 0

    monkeypatch.setattr(demo, "run_cli", fake)
    monkeypatch.setattr(demo.shutil, "which", lambda name: f"/usr/bin/{name}")  # local up runs where Prometheus is
    examples = examples_dir()
    settings = DemoSettings(workdir=tmp_path / "demo", source=examples / "carts", shipyard=examples / "shipyard.yaml",
                            test_duration=5)
    with pytest.raises(InfrastructureError, match="local up failed"):
        demo.play(settings, printer=lambda _: None)
    assert calls == [["local", "up"], ["local", "down"]]
