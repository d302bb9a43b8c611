"""The local platform's Prometheus: one server per state folder, scraping every colour and Envoy.

The carts perfspec asks for ``job='carts-$ENVIRONMENT'`` with ``$ENVIRONMENT`` = ``<project>-<stage>``,
and the gate must tell colours apart, so each colour process is its own scrape target with the
labels ``job=<service>-<project>-<stage>`` and ``colour=<colour>`` (a static ``job`` label wins
over the scrape config's name, which must be unique per target group). Each stage's Envoy is
scraped on its stats listener's ``/stats/prometheus`` as ``job=envoy-<service>-<project>-<stage>``.

**A new colour is judged only on samples Prometheus has.** The gate reads ``rate(...[window])``
over the load test's window, which needs two samples of the colour inside it. Prometheus applies
a changed target list on its discovery tick (up to ~6 s measured, hard-coded in Prometheus 2.x),
so a load test that starts at once can end before the new colour was ever scraped: the right
version judged wrong (issue 15). Two ways out were weighed, and both are taken:

- **Stable targets**: a colour keeps its port across deployments (a new one only when another
  program took it), and so does Envoy's stats listener. After a stage's first deployment no
  target appears or disappears: a new version is a restart behind the same target, Prometheus
  scrapes it on its next interval, and each colour is one continuous series (``rate`` handles
  the counter reset), which is also what a user's dashboard wants. A stage's ports can be
  **reserved** before its first deployment (``ports.py``, ``local up --shipyard``): they are
  targets from then on, scraped as down until a process listens, and the first deployment takes
  them, so it adds no target either. What that cannot cover is a port another program took
  meanwhile, and a Prometheus started moments ago: its discovery ticks run every 5 s from its
  own start, so even a target in its first configuration is scraped ~5 s after it starts.
- **Wait where it matters**: for a stage whose next step is a load test judged over Prometheus
  (test strategy ``performance``), ``LocalPlatform.wait_available`` returns only once Prometheus
  scrapes the colour's address (``wait_scraped``). From then on every interval samples the new
  process, so a window of two intervals holds two of its samples. So ``deployment-finished``
  means "serving and observed", for run-tests and for any load tool a user triggers from that
  event. Behind a stable target this costs nothing; a new target waits for the discovery tick.
  Other stages do not wait: nothing reads their metrics at once, and a first deployment would
  pay the discovery tick for nothing.

Why not only one of them: stable targets alone leave the first deployment of a stage (unless
reserved long enough before) to chance (that was the demo's v1 in staging); the wait alone would
pay the discovery tick on every deployment, because every deployment was a new port. The wait
holds for a reserved target as for a redeployed one: a scrape of the address while it was down
counts, since every interval from then on samples whatever listens there.

**Scrape interval.** One interval for every target, set when Prometheus starts (``local up
--scrape-interval``, any step's ``--scrape-interval``, env ``PIPELINE_STEPS_SCRAPE_INTERVAL``) and
kept in ``prometheus.json`` and the server's configuration across invocations. The default
(``DEFAULT_SCRAPE_INTERVAL``) keeps an idle service at or below 0.25 % of a core, measured by
``bench/local_idle_footprint.py``; a gate's window must span at least two intervals
(``MIN_INTERVALS_PER_WINDOW``), which the demo enforces for ``--test-duration``.
"""

from __future__ import annotations

import time
from typing import Any

from pipeline_steps.errors import BadInputError, InfrastructureError
from pipeline_steps.platforms.local import processes
from pipeline_steps.platforms.local.procs import private_dir, proc_cmdline
from pipeline_steps.platforms.local.prometheus_server import PrometheusServer, duration_seconds, find_binary
from pipeline_steps.platforms.local.state import StateDir, read_json, write_json

DEFAULT_SCRAPE_INTERVAL = "3s"
MIN_INTERVALS_PER_WINDOW = 2
"""``rate()`` needs two samples inside the window; with the target already scraped before the window
opens, a window of two intervals always holds them."""


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


def ensure_started(state_dir: StateDir, scrape_interval: str = "") -> PrometheusServer:
    """Start Prometheus for this state folder unless it runs already; scrape every known target.
    A given ``scrape_interval`` that differs from the running server's is applied by a reload;
    empty keeps the running one's, or ``DEFAULT_SCRAPE_INTERVAL`` for a new server."""
    if scrape_interval:
        duration_seconds(scrape_interval)
    server = attached(state_dir)
    if server is not None:
        if scrape_interval and scrape_interval != server.scrape_interval:
            server.reload(scrape_configs(state_dir), scrape_interval=scrape_interval)
            _record(state_dir, server)
        return server
    private_dir(state_dir.root)
    server = PrometheusServer(state_dir.prometheus_dir, scrape_configs(state_dir),
                              scrape_interval=scrape_interval or DEFAULT_SCRAPE_INTERVAL)
    server.start()
    _record(state_dir, server)
    return server


def _record(state_dir: StateDir, server: PrometheusServer) -> None:
    argv = [a.decode() for a in proc_cmdline(server.pid)]
    write_json(state_dir.prometheus_file, {"server": server.state(), "process": {"pid": server.pid, "argv": argv,
                                                                                  "log": str(server.log_path)}})


def interval_seconds(state_dir: StateDir) -> float | None:
    """The running Prometheus' scrape interval in seconds, None when none runs."""
    server = attached(state_dir)
    return duration_seconds(server.scrape_interval) if server else None


def wait_scraped(state_dir: StateDir, job: str, colour: str, port: int, timeout_s: float) -> str:
    """Block until this folder's Prometheus scrapes ``colour`` of ``job`` at ``127.0.0.1:port``: its
    ``up`` series for that address has a sample from the last two intervals (a scrape happened,
    whatever it found; a target Prometheus dropped has a staleness marker instead). "" when it does,
    or when no Prometheus runs (nothing to wait for); else why not, after ``timeout_s``.

    For a target Prometheus already scrapes (a redeployment behind a stable port) this holds at once,
    and every interval from now on samples the new process; a new target waits for the discovery tick."""
    server = attached(state_dir)
    if server is None:
        return ""
    fresh_s = MIN_INTERVALS_PER_WINDOW * duration_seconds(server.scrape_interval) + 1.0
    expr = f'timestamp(up{{job="{_escape(job)}",colour="{_escape(colour)}",instance="127.0.0.1:{int(port)}"}})'
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if any(float(r["value"][1]) >= time.time() - fresh_s for r in server.query(expr)):
                return ""
        except (InfrastructureError, KeyError, IndexError, TypeError, ValueError):
            pass
        if time.monotonic() >= deadline:
            return (f"Prometheus ({server.url}, scrape interval {server.scrape_interval}) did not scrape 127.0.0.1:{port} "
                    f"within {timeout_s:.0f}s; a load test now could be judged on no samples")
        time.sleep(0.1)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def refresh(state_dir: StateDir) -> None:
    """Rewrite the scrape targets from every stage's state and reload, unless they are what the server
    has (a redeployment behind a stable target) or no server runs."""
    server = attached(state_dir)
    if server is not None:
        configs = scrape_configs(state_dir)
        if server.config_text(configs) != server.loaded_text():
            server.reload(configs)


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
        # a reserved port (``ports``) is the same target the colour will be: deploying it changes no configuration
        targets = {**(stage.get("reserved") or {}),
                   **{colour: record.get("port") for colour, record in (stage.get("colours") or {}).items()}}
        for colour, port in sorted(targets.items()):
            if isinstance(port, int):
                configs.append({"job_name": f"{job}-{colour}", "targets": [f"127.0.0.1:{port}"],
                                "labels": {"job": job, "colour": colour}})
        envoy = stage.get("envoy") or {}
        if envoy.get("stats_port"):
            configs.append({"job_name": f"envoy-{job}", "targets": [f"127.0.0.1:{envoy['stats_port']}"],
                            "metrics_path": "/stats/prometheus"})
    return configs
