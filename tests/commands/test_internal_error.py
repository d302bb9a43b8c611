"""A bug is not a verdict: an unexpected exception exits 4 with ``internal error:`` and the traceback.

Aspects: through the real CLI in its own process (``python -m pipeline_steps``), an exception no
step raises on purpose ends with exit 4 (never 1, which Jenkins reads as "the version is bad"),
one ``internal error:`` line naming it and the traceback on stderr; our own errors keep their
codes; click's usage errors keep 2.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from pipeline_steps.errors import ExitCode

ROOT = Path(__file__).resolve().parents[2]

# The real CLI, with one step function replaced by a bug (the patch is the only thing -c adds).
BUGGY = (
    "import sys\n"
    "import pipeline_steps.documents.shipyard as shipyard\n"
    "def load_shipyard(path):\n"
    "    return {}['stages']  # a bug: KeyError\n"
    "shipyard.load_shipyard = load_shipyard\n"
    "from pipeline_steps.cli import main\n"
    "main(sys.argv[1:])\n"
)


def _run(*argv: str, code: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-c", code, *argv] if code else [sys.executable, "-m", "pipeline_steps", *argv]
    return subprocess.run(command, capture_output=True, text=True, env=env, check=False, timeout=60)


def test_an_unexpected_exception_exits_4_with_the_traceback(tmp_path: Path) -> None:
    result = _run("shipyard", "validate", str(tmp_path / "shipyard.yaml"), code=BUGGY)
    assert result.returncode == ExitCode.INTERNAL == 4, result.stderr
    lines = result.stderr.splitlines()
    assert lines[0] == "internal error: KeyError: 'stages'"
    assert "Traceback (most recent call last):" in result.stderr and 'load_shipyard' in result.stderr
    assert result.stdout == ""


def test_our_errors_and_usage_errors_keep_their_codes(tmp_path: Path) -> None:
    missing = _run("shipyard", "validate", str(tmp_path / "nope.yaml"))
    assert missing.returncode == ExitCode.BAD_INPUT and missing.stderr.startswith("error: ")
    assert "internal error" not in missing.stderr and "Traceback" not in missing.stderr
    usage = _run("shipyard", "validate")
    assert usage.returncode == 2 and "Missing argument" in usage.stderr
    assert _run("--help").returncode == 0
