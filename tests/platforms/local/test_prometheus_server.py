"""The real Prometheus child process that tests and the local platform run.

Aspects: a missing binary is an InfrastructureError with the install hint; scrape configs
render to a valid config (promtool agrees) and bad ones are refused; start binds 127.0.0.1 on a
free port and scrapes; reload swaps the jobs without a restart; state()/attach() find the same
process again (a later CLI invocation) and stop() ends it by pid.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from pipeline_steps.errors import InfrastructureError
from pipeline_steps.platforms.local import prometheus_server
from pipeline_steps.platforms.local.procs import pid_alive
from pipeline_steps.platforms.local.prometheus_server import PrometheusServer, render_config
from tests.sources.prom_env import JOB, PromEnv, prom_env

__all__ = ["prom_env"]


def test_missing_binary_names_the_install_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(InfrastructureError, match="apt-get install prometheus"):
        PrometheusServer(tmp_path, binary=str(tmp_path / "no-prometheus")).start()
    monkeypatch.setattr(prometheus_server, "DEFAULT_BINARY", str(tmp_path / "nope"))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(InfrastructureError, match="apt-get install prometheus"):
        prometheus_server.find_binary()


def test_rendered_config_is_valid_and_bad_configs_are_refused(tmp_path: Path) -> None:
    text = render_config([
        {"job_name": "carts-sockshop-dev", "static_configs": [
            {"targets": ["127.0.0.1:1"], "labels": {"colour": "blue"}},
            {"targets": ["127.0.0.1:2"], "labels": {"colour": "green"}}]},
        {"job_name": "envoy", "targets": ["127.0.0.1:3"], "metrics_path": "/stats/prometheus", "scrape_interval": "2s"}])
    config = tmp_path / "prometheus.yml"
    config.write_text(text)
    promtool = shutil.which("promtool")
    assert promtool, "promtool comes with the Debian prometheus package"
    check = subprocess.run([promtool, "check", "config", str(config)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    with pytest.raises(ValueError, match="job_name"):
        render_config([{"targets": ["127.0.0.1:1"]}])


def test_scrapes_reloads_and_is_found_again_by_pid(prom_env: PromEnv) -> None:
    server = prom_env.server
    original = list(server.scrape_configs)
    assert server.url.startswith("http://127.0.0.1:") and server.running()
    up = server.query(f'up{{job="{JOB}"}}')
    assert sorted(r["metric"]["colour"] for r in up) == ["blue", "green"]
    server.reload([*server.scrape_configs, {"job_name": "only-green", "targets": [f"127.0.0.1:{prom_env.green.port}"],
                                           "labels": {"colour": "green"}}])
    server.wait_up("only-green", timeout_s=20)
    state = server.state()
    again = PrometheusServer.attach(state)
    assert again.pid == server.pid and again.url == server.url
    assert [c["job_name"] for c in again.scrape_configs] == [JOB, "only-green"]
    assert again.query('up{job="only-green"} == 1')
    again.reload(original)  # the rig is shared by other test modules


def test_stop_by_pid_from_a_stored_state(tmp_path: Path) -> None:
    server = PrometheusServer(tmp_path / "p").start()
    state = server.state()
    assert pid_alive(state["pid"])
    PrometheusServer.attach(state).stop()
    assert not pid_alive(state["pid"])
