"""Adding a metric source is one module and one registry line (issue 10).

Aspects: with ``tests/sources/constant_source.py`` and one line added to ``SOURCES`` (nothing else),
the real CLI (its own process) accepts the new source in a perfspec and as ``--sli-provider``,
offers its flags, checks its queries when the spec loads (bad input naming the field), builds it
from its own settings group, judges its numbers, and masks the secret it holds in every output.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
REGISTER = ("import sys\n"
            "from pipeline_steps import sources\n"
            "sources.SOURCES['constant'] = 'tests.sources.constant_source:ConstantSource'  # the one registry line\n"
            "from pipeline_steps.cli import main\n"
            "main(sys.argv[1:])\n")


def _cli(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", REGISTER, *argv], capture_output=True, text=True, check=False, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})


def _perfspec(path: Path, query: str) -> str:
    path.write_text(json.dumps({"indicators": [{"id": "answer", "source": "Constant", "query": query, "grading": {
        "type": "Threshold", "thresholds": {"upperSevere": 50}, "metricScore": 1}}], "objectives": {"pass": 1, "warning": 1}}))
    return str(path)


def test_a_registered_source_works_end_to_end(tmp_path: Path) -> None:
    assert "--constant-value" in _cli("evaluate", "--help").stdout
    spec = _perfspec(tmp_path / "p.json", "const:$SERVICE")
    args = ["evaluate", "--spec", spec, "--start", "0", "--end", "60", "--project", "sockshop", "--stage", "dev",
            "--service", "carts", "--no-history", "--out-dir", str(tmp_path / "out")]
    result = _cli(*args, "--constant-value", "42", "--constant-token-env", "CONST_TOKEN", env={"CONST_TOKEN": "s3cr3t"})
    assert result.returncode == 0, result.stderr
    doc = json.loads((tmp_path / "out" / "evaluation.json").read_text())
    assert doc["verdict"] == "PASS" and doc["indicators"][0]["value"] == 42
    assert doc["indicators"][0]["query"] == "const:carts (token ***)"
    for written in (tmp_path / "out").rglob("*"):
        assert not written.is_file() or "s3cr3t" not in written.read_text()
    missing = _cli(*args)
    assert missing.returncode == 2 and "--constant-value: required" in missing.stderr


def test_its_query_check_runs_when_the_spec_loads(tmp_path: Path) -> None:
    spec = _perfspec(tmp_path / "p.json", "up")
    result = _cli("evaluate", "--spec", spec, "--start", "0", "--end", "60", "--project", "sockshop", "--stage", "dev",
                  "--service", "carts", "--out-dir", str(tmp_path / "out"))
    assert result.returncode == 2 and "indicators[0].query: must start with const:" in result.stderr
    assert not (tmp_path / "out").exists()


def test_it_is_an_sli_provider(tmp_path: Path) -> None:
    (tmp_path / "slo.yaml").write_text("objectives:\n  - sli: rt\n    pass: [{criteria: ['<100']}]\ntotal_score: {pass: '90%'}\n")
    (tmp_path / "sli.yaml").write_text("indicators:\n  rt: const:rt\n")
    result = _cli("evaluate", "--slo", str(tmp_path / "slo.yaml"), "--sli", str(tmp_path / "sli.yaml"), "--sli-provider",
                  "constant", "--constant-value", "7", "--start", "0", "--end", "60", "--project", "sockshop", "--stage",
                  "dev", "--service", "carts", "--no-history", "--out-dir", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
