"""``pipeline-steps local ...`` as separate processes, the way Jenkins and a shell call it.

Aspects: ``local build`` makes IMAGE/TAG; state written by one process (a deploy) is what
``local status`` in another process shows (versions, weights, URLs; after a flip the new
weights); a crashed colour shows as NOT AVAILABLE with its exit code; ``local up`` starts
Prometheus and ``status --output json`` names its URL; a Prometheus that died is reported as
crashed (not "stopped") and ``up`` starts it again; ``local down`` stops every recorded
process (none left alive) and a second ``down`` finds nothing; a corrupt state file does not stop
``status`` from showing the other stages nor ``down`` from stopping everything (the lost
records' processes are found by their wrapper), while a process started elsewhere survives.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pipeline_steps.documents.service import ServiceSpec
from pipeline_steps.documents.weights import Weights
from pipeline_steps.platforms.local import processes
from pipeline_steps.platforms.local.platform import LocalPlatform
from pipeline_steps.platforms.local.procs import pid_alive
from tests.platforms.local.conftest import CARTS, context, recorded_processes


def cli(*args: str, state_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pipeline_steps", "local", *args, "--state-dir", str(state_dir)]
                          if args[0] != "build" else [sys.executable, "-m", "pipeline_steps", "local", *args],
                          capture_output=True, text=True, timeout=60)


def status_json(state_dir: Path) -> dict[str, Any]:
    result = cli("status", "--output", "json", state_dir=state_dir)
    assert result.returncode == 0, result.stderr
    doc: dict[str, Any] = json.loads(result.stdout)
    return doc


def test_build_then_state_is_shared_across_invocations(make_platform: Callable[..., LocalPlatform], tmp_path: Path,
                                                       carts_service: ServiceSpec) -> None:
    image = str(tmp_path / "images" / "carts")
    for tag, version in (("1", "v1"), ("3", "v3")):
        built = cli("build", "--source", str(CARTS), "--image", image, "--tag", tag, "--set", f"version={version}",
                    state_dir=tmp_path)
        assert built.returncode == 0, built.stderr
        assert Path(built.stdout.strip()) == Path(image) / tag
    platform = make_platform("cli")
    state_dir = platform.state.root
    assert status_json(state_dir)["stages"] == []

    platform.apply(context(image, "1"), "blue", carts_service)
    platform.wait_available(context(image, "1"), "green", 15)
    platform.apply(context(image, "3"), "green", carts_service)
    platform.wait_available(context(image, "3"), "green", 15)
    (stage,) = status_json(state_dir)["stages"]
    assert stage["namespace"] == "sockshop-staging" and stage["weights"] == {"blue": 100, "green": 0}
    assert [(c["colour"], c["tag"], c["available"]) for c in stage["colours"]] == [("blue", "1", True), ("green", "3", True)]

    platform.set_weights(context(image, "3"), Weights(0, 100))
    (stage,) = status_json(state_dir)["stages"]
    assert stage["weights"] == {"blue": 0, "green": 100}

    blue = json.loads(platform.state.stage_file(context(image, "1")).read_text())["colours"]["blue"]["process"]
    processes.stop(blue)
    text = cli("status", state_dir=state_dir).stdout
    assert "blue   1" in text and "NOT AVAILABLE" in text and "is gone" in text

    records = recorded_processes(platform)
    assert len(records) == 3  # green, envoy (blue was stopped above but is still recorded)
    down = cli("down", state_dir=state_dir)
    assert down.returncode == 0 and "2 process(es) stopped" in down.stdout, down.stdout + down.stderr
    assert not any(processes.is_ours(r) for r in records)
    assert status_json(state_dir)["stages"] == []
    assert "0 process(es) stopped" in cli("down", state_dir=state_dir).stdout


def test_up_starts_prometheus_and_down_stops_it(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    try:
        up = cli("up", state_dir=state_dir)
        assert up.returncode == 0, up.stderr
        doc = status_json(state_dir)
        assert doc["prometheus"] == "running" and str(doc["prometheus_url"]).startswith("http://127.0.0.1:")
        assert f"prometheus: {doc['prometheus_url']}" in up.stdout
        record = json.loads((state_dir / "prometheus.json").read_text())["process"]
        assert processes.is_ours(record)
        assert cli("up", state_dir=state_dir).returncode == 0
        assert json.loads((state_dir / "prometheus.json").read_text())["process"] == record  # not a second one

        os.kill(record["pid"], signal.SIGKILL)  # a crash, not a `local down`
        deadline = time.monotonic() + 10
        while pid_alive(record["pid"]) and time.monotonic() < deadline:
            time.sleep(0.05)
        doc = status_json(state_dir)
        assert doc["prometheus"] == "crashed" and doc["prometheus_url"] == "", doc
        assert f"process {record['pid']} is gone" in doc["prometheus_error"]
        assert "crashed: process" in cli("status", state_dir=state_dir).stdout
        again = cli("up", state_dir=state_dir)
        assert again.returncode == 0 and "prometheus had stopped on its own" in again.stderr, again.stderr
        record = json.loads((state_dir / "prometheus.json").read_text())["process"]
        assert processes.is_ours(record) and status_json(state_dir)["prometheus"] == "running"
    finally:
        down = cli("down", state_dir=state_dir)
    assert "stopped prometheus" in down.stdout
    assert not processes.is_ours(record)
    doc = status_json(state_dir)
    assert doc["prometheus"] == "stopped" and doc["prometheus_error"] == ""


def test_a_corrupt_state_file_does_not_keep_down_from_stopping_everything(
        make_platform: Callable[..., LocalPlatform], carts_image: str, carts_service: ServiceSpec, tmp_path: Path) -> None:
    platform = make_platform("corrupt", auto_prometheus=True)
    dev, staging = context(carts_image, "1", stage="dev", strategy="direct"), context(carts_image, "1")
    platform.apply(dev, None, carts_service)
    platform.apply(staging, "blue", carts_service)
    platform.wait_available(dev, None, 15)
    platform.wait_available(staging, "green", 15)
    records = recorded_processes(platform)
    assert len(records) == 6  # dev: carts + envoy; staging: blue, green, envoy; prometheus
    # the same wrapper, started outside this state folder: not ours to stop
    stranger = processes.start([sys.executable, "-c", "import time; time.sleep(60)"], cwd=tmp_path,
                               log=tmp_path / "elsewhere" / "stranger.log").to_dict()
    try:
        dev_file = platform.state.stage_file(dev)
        dev_file.write_text('{"schema": "pipeline-steps/local-stage/v1", "proj', encoding="utf-8")
        state_dir = platform.state.root

        text = cli("status", state_dir=state_dir)
        assert text.returncode == 0, text.stderr
        assert f"! {dev_file}: unreadable local platform state" in text.stdout
        assert "sockshop-staging/carts (blue_green_service)" in text.stdout
        assert status_json(state_dir)["unreadable"][0].startswith(str(dev_file))

        down = cli("down", state_dir=state_dir)
        assert down.returncode == 0, down.stderr
        assert f"warning: {dev_file}: unreadable" in down.stderr
        assert "stopped sockshop-staging/carts" in down.stdout and "stopped prometheus" in down.stdout
        assert down.stdout.count("stopped unrecorded process") == 2, down.stdout  # dev's carts and Envoy
        assert "6 process(es) stopped" in down.stdout, down.stdout
        assert not any(processes.is_ours(r) or processes.orphans_of(r) for r in records)
        assert processes.started_under(state_dir) == []
        assert processes.is_ours(stranger), "a process started outside the state folder was stopped"
    finally:
        processes.stop(stranger)
