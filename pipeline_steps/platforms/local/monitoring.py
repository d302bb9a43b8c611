"""The local platform's Prometheus: one server per state folder, scraping every colour and Envoy.

The carts perfspec asks for ``job='carts-$ENVIRONMENT'`` with ``$ENVIRONMENT`` = ``<project>-<stage>``,
and the gate must tell colours apart, so each colour process is its own scrape target with the
labels ``job=<service>-<project>-<stage>`` and ``colour=<colour>`` (a static ``job`` label wins
over the scrape config's name, which must be unique per target group). Each stage's Envoy is
scraped on ``/stats/prometheus`` as ``job=envoy-<service>-<project>-<stage>``.

The scrape configuration is derived from all stage states every time a process moves, then the
server reloads; Prometheus picks new targets up on its ~5 s discovery tick.
"""

from __future__ import annotations

from typing import Any

from pipeline_steps.errors import BadInputError, InfrastructureError
from pipeline_steps.platforms.local import processes
from pipeline_steps.platforms.local.procs import proc_cmdline
from pipeline_steps.platforms.local.prometheus_server import PrometheusServer, find_binary
from pipeline_steps.platforms.local.state import StateDir, read_json, write_json


def installed() -> bool:
    try:
        find_binary()
    except InfrastructureError:
        return False
    return True


def attached(state_dir: StateDir) -> PrometheusServer | None:
    """The running Prometheus of this state folder, or None (never started, stopped or crashed)."""
    record = read_json(state_dir.prometheus_file)
    if not isinstance(record, dict) or not processes.is_ours(record.get("process")):
        return None
    return PrometheusServer.attach(record["server"])


def problem(state_dir: StateDir) -> str:
    """Why the Prometheus started for this folder is not running ("" when it runs or was never started or
    was stopped by ``local down``): a crash is reported, not shown as a plain "stopped"."""
    record = read_json(state_dir.prometheus_file)
    if not isinstance(record, dict) or processes.is_ours(record.get("process")):
        return ""
    return processes.exit_reason(record.get("process") or {})


def url(state_dir: StateDir) -> str:
    """Prometheus' URL for the gate, "" when it is not running."""
    server = attached(state_dir)
    return server.url if server else ""


def ensure_started(state_dir: StateDir) -> PrometheusServer:
    """Start Prometheus for this state folder unless it runs already; scrape every known target."""
    server = attached(state_dir)
    if server is not None:
        return server
    server = PrometheusServer(state_dir.prometheus_dir, scrape_configs(state_dir))
    server.start()
    argv = [a.decode() for a in proc_cmdline(server.pid)]
    write_json(state_dir.prometheus_file, {"server": server.state(), "process": {"pid": server.pid, "argv": argv,
                                                                                  "log": str(server.log_path)}})
    return server


def refresh(state_dir: StateDir) -> None:
    """Rewrite the scrape targets from every stage's state and reload (no-op when not running)."""
    server = attached(state_dir)
    if server is not None:
        server.reload(scrape_configs(state_dir))


def stop(state_dir: StateDir) -> bool:
    record = read_json(state_dir.prometheus_file)
    stopped = isinstance(record, dict) and processes.stop(record.get("process"))
    state_dir.prometheus_file.unlink(missing_ok=True)
    return bool(stopped)


def scrape_configs(state_dir: StateDir) -> list[dict[str, Any]]:
    configs: list[dict[str, Any]] = []
    for path in state_dir.all_stage_files():
        try:
            stage = read_json(path) or {}
        except BadInputError:
            continue  # `local status` reports it; one corrupt stage must not stop another stage's deploy
        namespace = f"{stage.get('project')}-{stage.get('stage')}"
        job = f"{stage.get('service')}-{namespace}"
        for colour, record in sorted((stage.get("colours") or {}).items()):
            if record.get("port"):
                configs.append({"job_name": f"{job}-{colour}", "targets": [f"127.0.0.1:{record['port']}"],
                                "labels": {"job": job, "colour": colour}})
        envoy = stage.get("envoy") or {}
        if envoy.get("admin_port"):
            configs.append({"job_name": f"envoy-{job}", "targets": [f"127.0.0.1:{envoy['admin_port']}"],
                            "metrics_path": "/stats/prometheus"})
    return configs
