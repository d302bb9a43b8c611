"""The demo refuses settings that cannot tell its story, before it touches anything (issue 15).

Aspects: with Prometheus as the gate's source, a ``--test-duration`` shorter than two scrape
intervals exits 2 with one line that names the flag and says why (the gate's rate() needs two
samples of the new version in the window), and the work folder of a previous run is left as it
was (nothing stopped, nothing removed); exactly two intervals is accepted by the check; a
malformed ``--scrape-interval`` is bad input too; with bytecode writing off, the steps cache their
bytecode under the work folder (and nowhere when Python writes it anyway or a prefix is set).
The whole story runs in tests/e2e/test_demo.py.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline_steps.errors import BadInputError
from pipeline_steps.steps.demo import DemoSettings, bytecode_env, check_settings, examples_dir


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


def test_the_steps_cache_bytecode_in_the_workdir_only_when_python_writes_none(tmp_path: Path,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    monkeypatch.setattr(sys, "pycache_prefix", None)
    env = bytecode_env(tmp_path)
    assert env == {"PYTHONPYCACHEPREFIX": str(tmp_path / "pycache"), "PYTHONDONTWRITEBYTECODE": ""}
    # a step started with it writes its cache there, not into the source tree
    probe = subprocess.run([sys.executable, "-c", "import sys; print(sys.dont_write_bytecode, sys.pycache_prefix)"],
                           env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1", **env}, capture_output=True, text=True)
    assert probe.stdout.split() == ["False", str(tmp_path / "pycache")]
    monkeypatch.setattr(sys, "pycache_prefix", str(tmp_path / "theirs"))
    assert bytecode_env(tmp_path) == {}  # the user's own prefix stays
    monkeypatch.setattr(sys, "pycache_prefix", None)
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    assert bytecode_env(tmp_path) == {}  # bytecode is written next to the sources anyway
