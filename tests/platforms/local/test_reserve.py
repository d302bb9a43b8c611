"""A stage's stable ports reserved before its first deployment (issue 15: no target is new when a load test follows).

Aspects: ports reserved before Prometheus starts are scrape targets from its first configuration
(scraped while down); the stage's first deployment then takes exactly those ports, for both colours
and Envoy's stats listener, so Prometheus' configuration does not change (no reload, no new
target) and ``wait_available`` finds the colour scraped; a reserved port is never handed to another
stage's colour or Envoy even though nothing listens on it (the state records it); reserving again
keeps every port, also those of a deployed stage; ``local up --shipyard --project --service``
reserves each stage of the shipyard and ``local status`` shows them, ``local down`` forgets them;
the three flags come together or the command is bad input (exit 2) that reserves and starts nothing.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from pipeline_steps.documents.context import StageContext
from pipeline_steps.documents.service import ServiceSpec
from pipeline_steps.platforms.local import monitoring, ports, procs
from pipeline_steps.platforms.local.platform import LocalPlatform
from tests.platforms.local.conftest import context

JOB = "carts-sockshop-staging"
SHIPYARD = Path(__file__).resolve().parents[3] / "examples" / "shipyard.yaml"


def _up_values(platform: LocalPlatform, port: int) -> list[str]:
    server = monitoring.attached(platform.state)
    assert server is not None
    return [r["value"][1] for r in server.query(f'up{{job="{JOB}",instance="127.0.0.1:{port}"}}')]


def test_a_reserved_stage_is_scraped_before_its_first_deployment_which_adds_no_target(
        make_platform: Callable[..., LocalPlatform], carts_image: str, carts_service: ServiceSpec) -> None:
    platform = make_platform("reserved", auto_prometheus=True, scrape_interval="1s")
    ctx = context(carts_image, "1")
    reserved = platform.reserve(ctx)
    assert set(reserved) == {"blue", "green", "envoy_listener", "envoy_stats"}
    server = monitoring.ensure_started(platform.state, "1s")
    deadline = time.monotonic() + 30
    while not _up_values(platform, reserved["blue"]):  # the discovery tick after start
        assert time.monotonic() < deadline, "Prometheus never scraped the reserved port"
        time.sleep(0.2)
    assert _up_values(platform, reserved["blue"]) == ["0"]  # scraped while nothing listens
    config, reloads = server.config_path.read_text(), server._reload_metrics()

    platform.apply(ctx, "blue", carts_service)
    stage = json.loads(platform.state.stage_file(ctx).read_text())
    assert {k: stage["colours"][k]["port"] for k in ("blue", "green")} == {k: reserved[k] for k in ("blue", "green")}
    assert stage["envoy"]["stats_port"] == reserved["envoy_stats"]
    assert stage["envoy"]["listener_port"] == reserved["envoy_listener"]
    assert "reserved" not in stage  # the ports are the colours' own now
    assert server.config_path.read_text() == config and server._reload_metrics() == reloads  # no new target
    assert platform.wait_available(ctx, "blue", 30).available
    deadline = time.monotonic() + 10
    while _up_values(platform, reserved["blue"]) != ["1"]:  # the same target now samples the colour
        assert time.monotonic() < deadline, "the reserved target never sampled the deployed colour"
        time.sleep(0.2)


def test_a_reserved_port_is_not_handed_to_another_stage(make_platform: Callable[..., LocalPlatform], carts_image: str,
                                                        carts_service: ServiceSpec, monkeypatch: pytest.MonkeyPatch) -> None:
    platform = make_platform("taken")
    reserved = platform.reserve(context(carts_image, "1"))
    assert all(procs.port_is_free(p) for p in reserved.values())  # nothing listens: only the state knows
    # every pick lands on a reserved port first, as a random pick may
    picks = iter(list(reserved.values()) * 400)
    monkeypatch.setattr(procs.random, "randrange", lambda low, high: next(picks))
    dev = context(carts_image, "1", stage="dev", strategy="direct")
    platform.apply(dev, None, carts_service)
    stage = json.loads(platform.state.stage_file(dev).read_text())
    given = {stage["colours"]["direct"]["port"], stage["envoy"]["listener_port"], stage["envoy"]["stats_port"]}
    assert len(given) == 3 and not given & set(reserved.values())
    assert set(reserved.values()) | given <= ports.recorded_ports(platform.state)


def test_reserving_again_keeps_every_port(make_platform: Callable[..., LocalPlatform], carts_image: str,
                                          carts_service: ServiceSpec) -> None:
    platform = make_platform("again")
    ctx = context(carts_image, "1")
    first = platform.reserve(ctx)
    assert platform.reserve(ctx) == first
    platform.apply(ctx, "blue", carts_service)
    assert platform.reserve(ctx) == first  # a deployed stage keeps its ports and gets no reservation
    assert not json.loads(platform.state.stage_file(ctx).read_text()).get("reserved")


def test_local_up_reserves_every_stage_of_the_shipyard(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    platform = LocalPlatform(state_dir)
    try:
        up = subprocess.run([sys.executable, "-m", "pipeline_steps", "local", "up", "--state-dir", str(state_dir),
                             "--shipyard", str(SHIPYARD), "--project", "sockshop", "--service", "carts"],
                            capture_output=True, text=True, timeout=60)
        assert up.returncode == 0, up.stderr
        expected = {"dev": {"direct"}, "staging": {"blue", "green"}, "production": {"blue", "green"}}
        for stage, colours in expected.items():
            data = platform.state.load_stage(StageContext("sockshop", stage, "carts"))
            assert set(data["reserved"]) == colours and data["colours"] == {}
            assert data["envoy"]["listener_port"] and data["envoy"]["stats_port"]
        if monitoring.installed():
            targets = {t["targets"][0] for t in monitoring.scrape_configs(platform.state)}
            assert len(targets) == 5 + 3  # every colour and every Envoy stats listener
        status = subprocess.run([sys.executable, "-m", "pipeline_steps", "local", "status", "--state-dir", str(state_dir)],
                                capture_output=True, text=True, timeout=60)
        assert status.returncode == 0, status.stderr
        lines = {line.split(":", 1)[0]: line for line in status.stdout.splitlines()}
        for stage, colours in expected.items():
            data = platform.state.load_stage(StageContext("sockshop", stage, "carts"))
            line = lines[f"sockshop-{stage}/carts"]  # one line: not deployed, its ports, no strategy or weights yet
            assert line.startswith(f"sockshop-{stage}/carts: not deployed yet; ports reserved: "), status.stdout
            assert all(f"{colour} {data['reserved'][colour]}" in line for colour in colours), line
            assert line.endswith(f"Envoy listener http://127.0.0.1:{data['envoy']['listener_port']}"), line
            assert "()" not in line and "weights" not in line, line
    finally:
        down = subprocess.run([sys.executable, "-m", "pipeline_steps", "local", "down", "--state-dir", str(state_dir)],
                              capture_output=True, text=True, timeout=60)
    assert down.returncode == 0 and platform.state.all_stage_files() == []


@pytest.mark.parametrize("flags, missing", [
    (["--shipyard", str(SHIPYARD), "--project", "sockshop"], "--service"),
    (["--project", "sockshop", "--service", "carts"], "--shipyard"),
    (["--shipyard", str(SHIPYARD), "--project", "Not_A_Label", "--service", "carts"], "project"),
])
def test_local_up_without_all_three_flags_is_bad_input_and_does_nothing(tmp_path: Path, flags: list[str],
                                                                         missing: str) -> None:
    state_dir = tmp_path / "state"
    up = subprocess.run([sys.executable, "-m", "pipeline_steps", "local", "up", "--state-dir", str(state_dir), *flags],
                        capture_output=True, text=True, timeout=60)
    assert up.returncode == 2, up.stderr
    assert missing in up.stderr and len(up.stderr.strip().splitlines()) == 1
    assert not (state_dir / "stages").exists() and not (state_dir / "prometheus.json").exists()


def test_one_picker_never_hands_out_a_port_twice(make_platform: Callable[..., LocalPlatform],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Envoy's listener and stats listener come from one picker: even when the random draw repeats,
    the second port differs from the first (two pickers each avoid only what the state records)."""
    platform = make_platform("picker")
    draws = iter([23456, 23456, 23456, 24567] * 50)
    monkeypatch.setattr(procs.random, "randrange", lambda low, high: next(draws))
    monkeypatch.setattr(procs, "port_is_free", lambda port: True)
    pick = ports.picker(platform.state)
    first, second = pick(), pick()
    assert first == 23456 and second == 24567
