"""A real Prometheus server run as a local child process, for the local platform and the tests.

Why: the quality gate must be judged against real PromQL over real samples, and the local
platform needs a Prometheus that scrapes each colour. This module starts
``/usr/bin/prometheus`` (Debian package) bound to 127.0.0.1 on a free port with its own data
folder (0700, and Prometheus runs with umask 077), rewrites its scrape configuration and reloads
it, and stops it by pid.

Who can control it: Prometheus serves HTTP on TCP only (``--web.listen-address``), where every
local user can connect. Its control endpoints are therefore left off: no ``--web.enable-lifecycle``
(``/-/reload``, ``/-/quit``) and no ``--web.enable-admin-api`` (deleting series, snapshots), so
both answer 403 to anyone. A reload is ``SIGHUP``, which only the owner (or root) may send
(kill(2)), confirmed by the server's own ``prometheus_config_last_reload_success_timestamp_seconds``.
What stays open on TCP is reading: queries and the UI (metrics of the services, no secrets).

Stable API (also used by the local platform, issue 6)::

    server = PrometheusServer(data_dir, scrape_configs=[{"job_name": "carts-sockshop-dev",
                                                         "targets": ["127.0.0.1:8080"],
                                                         "labels": {"colour": "blue"}}])
    server.start()                 # spawns, waits for /-/ready; raises InfrastructureError if no binary
    server.url                     # "http://127.0.0.1:<port>"
    server.wait_up("carts-sockshop-dev", timeout_s=15)   # until up{job=...} == 1 (first scrape ~5 s)
    server.reload([...])           # rewrite prometheus.yml, SIGHUP, wait for the reload to succeed
    state = server.state()         # {"pid", "port", "data_dir", "config_path", "url"}: store it
    ...                            # a later CLI invocation:
    server = PrometheusServer.attach(state)   # same process, by pid and port
    server.stop()                  # SIGTERM then SIGKILL, by pid/process group only

A scrape config is a dict with ``job_name`` (required), ``targets`` (list of ``host:port``,
required), and optionally ``labels`` (dict), ``metrics_path`` (default ``/metrics``) and
``scrape_interval`` (default: the server's ``scrape_interval=``, 1 s unless given). Several
target groups with their own labels in one job (blue and green in job ``carts-sockshop-dev``,
told apart by a ``colour`` label): give ``static_configs: [{"targets": [...], "labels": {...}}, ...]``
instead of ``targets``/``labels``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.error import URLError
from urllib.parse import urlencode
from urllib.request import urlopen

from pipeline_steps.errors import BadInputError, InfrastructureError, NotReadyError
from pipeline_steps.files import read_json, to_json, write_text
from pipeline_steps.platforms.local.procs import free_port, log_tail, pid_alive, private_dir, spawn, stop_pid, wait_http

DEFAULT_BINARY = "/usr/bin/prometheus"
_INSTALL_HINT = "install it with apt-get install prometheus"


def find_binary(binary: str | None = None) -> str:
    """The Prometheus executable to run; ``InfrastructureError`` with the install hint when absent."""
    if binary:
        if Path(binary).is_file():
            return binary
        raise InfrastructureError("prometheus", f"{binary} was not found; {_INSTALL_HINT}")
    for candidate in (DEFAULT_BINARY, shutil.which("prometheus")):
        if candidate and Path(candidate).is_file():
            return candidate
    raise InfrastructureError("prometheus", f"the prometheus binary was not found; {_INSTALL_HINT}")


_DURATION = re.compile(r"([0-9]+)(ms|s|m|h)")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_RELOADED = "prometheus_config_last_reload_success_timestamp_seconds"
_RELOAD_OK = "prometheus_config_last_reload_successful"


def duration_seconds(text: str, field: str = "--scrape-interval") -> float:
    """``"15s"`` -> 15.0: one number and a unit of Prometheus' duration format (``ms``, ``s``, ``m``,
    ``h``; prometheus.io/docs/prometheus/latest/configuration/configuration/ ``<duration>``);
    anything else, or zero, is bad input naming ``field``."""
    match = _DURATION.fullmatch(text.strip()) if isinstance(text, str) else None
    if not match or int(match.group(1)) == 0:
        raise BadInputError(field, None, f"{text!r} is not a duration such as 500ms, 15s or 1m")
    return int(match.group(1)) * _UNIT_S[match.group(2)]


def render_config(scrape_configs: Sequence[Mapping[str, Any]], *, scrape_interval: str = "1s") -> str:
    """``prometheus.yml`` text for the given scrape configs (JSON is valid YAML, so no yaml import)."""
    jobs = []
    for cfg in scrape_configs:
        groups = cfg.get("static_configs") or [{"targets": cfg.get("targets"), "labels": cfg.get("labels")}]
        if not cfg.get("job_name") or not all(isinstance(g.get("targets"), (list, tuple)) for g in groups):
            raise ValueError(f"a scrape config needs job_name and a list of targets: {dict(cfg)!r}")
        job: dict[str, Any] = {
            "job_name": str(cfg["job_name"]),
            "metrics_path": str(cfg.get("metrics_path") or "/metrics"),
            "static_configs": [{"targets": [str(t) for t in g["targets"]],
                                "labels": {str(k): str(v) for k, v in (g.get("labels") or {}).items()}} for g in groups],
        }
        if cfg.get("scrape_interval"):
            job["scrape_interval"] = str(cfg["scrape_interval"])
            job["scrape_timeout"] = str(cfg["scrape_interval"])
        jobs.append(job)
    config = {"global": {"scrape_interval": scrape_interval, "scrape_timeout": scrape_interval,
                         "evaluation_interval": scrape_interval},
              "scrape_configs": jobs}
    return to_json(config) + "\n"


class PrometheusServer:
    """One Prometheus process on 127.0.0.1; see the module docstring for the life cycle."""

    def __init__(self, data_dir: Path | str, scrape_configs: Sequence[Mapping[str, Any]] = (), *,
                 port: int | None = None, binary: str | None = None, scrape_interval: str = "1s",
                 retention: str = "2d") -> None:
        self.data_dir = Path(data_dir)
        self.scrape_configs = [dict(c) for c in scrape_configs]
        self.port = port or 0
        self.binary = binary
        self.scrape_interval = scrape_interval
        self.retention = retention
        self.pid = 0

    @property
    def url(self) -> str:
        """Base URL of the HTTP API, e.g. ``http://127.0.0.1:39411``."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def config_path(self) -> Path:
        return self.data_dir / "prometheus.yml"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "prometheus.log"

    def start(self, timeout_s: float = 30.0) -> PrometheusServer:
        """Write the config, spawn Prometheus and wait until ``/-/ready`` answers."""
        binary = find_binary(self.binary)
        duration_seconds(self.scrape_interval)
        private_dir(self.data_dir)
        write_text(self.config_path, render_config(self.scrape_configs, scrape_interval=self.scrape_interval))
        self.port = self.port or free_port()
        argv = [binary, f"--config.file={self.config_path}", f"--storage.tsdb.path={self.data_dir / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                f"--storage.tsdb.retention.time={self.retention}", "--log.level=warn"]
        proc = spawn(argv, log_path=self.log_path, cwd=self.data_dir)
        self.pid = proc.pid
        try:
            wait_http(f"{self.url}/-/ready", timeout_s=timeout_s, what="prometheus", proc=proc, log_path=self.log_path)
        except NotReadyError:
            self.stop()
            raise
        return self

    def wait_ready(self, timeout_s: float = 30.0) -> None:
        """Block until ``/-/ready`` answers 200 (raises ``NotReadyError``)."""
        wait_http(f"{self.url}/-/ready", timeout_s=timeout_s, what="prometheus", log_path=self.log_path)

    def reload(self, scrape_configs: Sequence[Mapping[str, Any]], *, scrape_interval: str | None = None,
               timeout_s: float = 10.0) -> None:
        """Replace the scrape configs (and the interval, if given): rewrite ``prometheus.yml`` atomically,
        send ``SIGHUP`` and wait until the server reports a successful reload after it
        (``InfrastructureError`` with the log tail if it reports a failure or does not answer)."""
        if scrape_interval is not None:
            duration_seconds(scrape_interval)
            self.scrape_interval = scrape_interval
        self.scrape_configs = [dict(c) for c in scrape_configs]
        write_text(self.config_path, render_config(self.scrape_configs, scrape_interval=self.scrape_interval))
        before = self._reload_metrics().get(_RELOADED, 0.0)
        try:
            os.kill(self.pid, signal.SIGHUP)
        except OSError as err:
            raise InfrastructureError("prometheus", f"reload (SIGHUP to pid {self.pid}) failed: {err}") from err
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            seen = self._reload_metrics()
            if seen.get(_RELOADED, 0.0) > before:
                return
            if seen.get(_RELOAD_OK) == 0.0:
                break
            time.sleep(0.02)
        raise InfrastructureError("prometheus", f"reload of {self.config_path} did not succeed within {timeout_s:g}s"
                                                f"{log_tail(self.log_path)}")

    def config_text(self, scrape_configs: Sequence[Mapping[str, Any]]) -> str:
        """``prometheus.yml`` as it would be for these scrape configs at this server's interval."""
        return render_config(scrape_configs, scrape_interval=self.scrape_interval)

    def loaded_text(self) -> str:
        """The configuration file the server last loaded ("" when unreadable)."""
        try:
            return self.config_path.read_text(encoding="utf-8")
        except OSError:
            return ""

    def _reload_metrics(self) -> dict[str, float]:
        """The reload gauges from the server's own ``/metrics`` ({} while it does not answer)."""
        try:
            with urlopen(f"{self.url}/metrics", timeout=5) as resp:
                text = resp.read().decode("utf-8", "replace")
        except (URLError, OSError):
            return {}
        found = {}
        for line in text.splitlines():
            name, _, value = line.partition(" ")
            if name in (_RELOADED, _RELOAD_OK):
                found[name] = float(value)
        return found

    def query(self, expr: str, at: float | None = None) -> list[dict[str, Any]]:
        """Instant query; the ``data.result`` list (a small helper for readiness checks and tests)."""
        params = {"query": expr}
        if at is not None:
            params["time"] = f"{at:.3f}"
        try:
            with urlopen(f"{self.url}/api/v1/query?{urlencode(params)}", timeout=5) as resp:
                body = json.loads(resp.read())
        except (URLError, OSError, ValueError) as err:
            raise InfrastructureError("prometheus", f"query {expr!r} failed: {err}") from err
        return list(body.get("data", {}).get("result", []))

    def wait_up(self, job: str, timeout_s: float = 15.0, *, targets: int = 1) -> None:
        """Block until at least ``targets`` targets of ``job`` have been scraped successfully.

        Prometheus applies new targets on its discovery tick (up to ~6 s measured), so a fresh job needs
        that long.
        """
        escaped = job.replace("\\", "\\\\").replace('"', '\\"')
        expr = f'up{{job="{escaped}"}} == 1'
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                if len(self.query(expr)) >= targets:
                    return
            except InfrastructureError:
                pass
            time.sleep(0.2)
        raise NotReadyError("prometheus", f"job {job!r} did not have {targets} target(s) up within {timeout_s:.0f}s")

    def running(self) -> bool:
        return pid_alive(self.pid)

    def stop(self) -> None:
        """Stop the process (by its pid and process group only)."""
        if self.pid:
            stop_pid(self.pid)
            self.pid = 0

    def state(self) -> dict[str, Any]:
        """What a caller stores to find this server again in a later invocation (``attach``)."""
        return {"pid": self.pid, "port": self.port, "data_dir": str(self.data_dir),
                "config_path": str(self.config_path), "url": self.url, "scrape_interval": self.scrape_interval}

    @classmethod
    def attach(cls, state: Mapping[str, Any]) -> PrometheusServer:
        """A handle on a server started earlier (``state()``); reload/stop act on that process and keep
        its scrape interval (recorded, else read back from its configuration)."""
        server = cls(Path(str(state["data_dir"])), port=int(state["port"]))
        server.pid = int(state["pid"])
        config_path = Path(str(state.get("config_path") or server.config_path))
        loaded: Any = None
        if config_path.exists():
            try:
                loaded = read_json(config_path)
                server.scrape_configs = [
                    {"job_name": j["job_name"], "static_configs": j["static_configs"], "metrics_path": j.get("metrics_path"),
                     "scrape_interval": j.get("scrape_interval")}
                    for j in loaded.get("scrape_configs", [])
                ]
            except (BadInputError, AttributeError, KeyError, IndexError, TypeError):
                server.scrape_configs = []
        recorded = state.get("scrape_interval")
        if not recorded and isinstance(loaded, dict) and isinstance(loaded.get("global"), dict):
            recorded = loaded["global"].get("scrape_interval")
        if recorded:
            server.scrape_interval = str(recorded)
        return server

    def __enter__(self) -> PrometheusServer:
        return self.start() if not self.pid else self

    def __exit__(self, *exc: object) -> None:
        self.stop()
