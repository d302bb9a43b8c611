"""The local platform: a process per colour, a real Envoy per stage, a real Prometheus.

Why: the use case must run on a machine without a cluster, for real. This implements the same
``Platform`` Protocol as Kubernetes (``platforms/base.py``) with local parts:

- a version (``image:tag``) is the folder ``<image>/<tag>/`` made by ``local build``; a colour is
  ``service.local_command`` started there on a free port (``{port}``, ``{python}`` filled in);
- ``apply`` stops the colour's previous process, then starts the new one: blue/green only
  ever applies to the free colour (the deploy step's rule), so the other colour serves traffic
  meanwhile; a direct deployment has a short gap, as it has no second colour;
- each service in each stage gets an Envoy (``envoy.py``): weights through the admin runtime, on
  a listener (the public URL) that never moves; a colour keeps its port across deployments, so
  a new version is a restart behind an unchanged Envoy and an unchanged Prometheus target;
- Prometheus (``monitoring.py``) scrapes every colour as ``job=<service>-<project>-<stage>``;
- all facts live in the state folder (``state.py``) so separate CLI invocations agree.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar

from pipeline_steps.documents.context import StageContext
from pipeline_steps.documents.deployment import Endpoints
from pipeline_steps.documents.service import ServiceSpec
from pipeline_steps.documents.vocabulary import DeploymentStrategy
from pipeline_steps.documents.weights import COLOURS, Weights
from pipeline_steps.errors import BadInputError, InfrastructureError, NotReadyError, PipelineStepsError
from pipeline_steps.platforms import PlatformSettings
from pipeline_steps.platforms.base import ColourState, Option, StageStatus, iter_colours
from pipeline_steps.platforms.local import envoy, monitoring, ports, processes, procs
from pipeline_steps.platforms.local.build import artifact_folder
from pipeline_steps.platforms.local.prometheus_server import duration_seconds
from pipeline_steps.platforms.local.state import StateDir, read_json

MARKS = ("failed", "passed", "")


def _key(colour: str | None) -> str:
    return colour or envoy.DIRECT


def _url(port: int) -> str:
    return f"http://127.0.0.1:{port}"


def _same_port_if_free(port: Any, pick: Callable[[], int]) -> int:
    """A colour keeps its port (or takes the one reserved for it) across deployments, so Prometheus keeps
    one target and one series per colour (see ``monitoring``); a new one from ``pick`` only when
    another program took it meanwhile (``procs.wait_port_free``: the stopped colour's own connections
    may hold it a moment longer)."""
    return int(port) if isinstance(port, int) and procs.wait_port_free(port) else pick()


AUTO_PROMETHEUS_ENV = "PIPELINE_STEPS_LOCAL_PROMETHEUS"
"""Set to ``off`` to keep the first deploy from starting Prometheus (gates that only use the testrun source)."""


SCRAPE_INTERVAL_ENV = "PIPELINE_STEPS_SCRAPE_INTERVAL"


@dataclass(frozen=True)
class LocalSettings:
    """``--state-dir``: the folder every invocation on this machine shares; ``--scrape-interval``: the
    Prometheus scrape interval to start (or reload) with, "" for the running one's or the default."""

    state_dir: str = ".pipeline-steps"
    scrape_interval: str = ""


class LocalPlatform:
    """``Platform`` on this machine; ``auto_prometheus`` starts Prometheus on the first ``apply``."""

    name: ClassVar[str] = "local"
    OPTIONS: ClassVar[tuple[Option, ...]] = (
        ("--state-dir", {"envvar": "PIPELINE_STEPS_STATE_DIR", "default": ".pipeline-steps", "show_default": True,
                         "help": "Local platform: folder holding processes, ports and weights [env PIPELINE_STEPS_STATE_DIR]."}),
        ("--scrape-interval", {"envvar": SCRAPE_INTERVAL_ENV, "default": "",
                               "help": "Local platform: how often Prometheus scrapes every colour and Envoy, e.g. 1s or "
                                       f"15s (default {monitoring.DEFAULT_SCRAPE_INTERVAL}, or what the running one "
                                       f"uses); a gate's window must span two [env {SCRAPE_INTERVAL_ENV}]."}),
    )

    @classmethod
    def settings_from_options(cls, options: Mapping[str, Any]) -> LocalSettings:
        interval = str(options.get("scrape_interval") or "").strip()
        if interval:
            duration_seconds(interval)  # bad input before anything runs
        return LocalSettings(state_dir=options.get("state_dir") or ".pipeline-steps", scrape_interval=interval)

    @classmethod
    def from_settings(cls, settings: PlatformSettings) -> LocalPlatform:
        """The factory ``platforms.make_platform`` calls; ``$PIPELINE_STEPS_LOCAL_PROMETHEUS=off`` keeps
        Prometheus from starting."""
        group: LocalSettings = settings.group(cls.name, LocalSettings())
        auto = os.environ.get(AUTO_PROMETHEUS_ENV, "on").strip().lower() not in ("off", "0", "false", "no")
        return cls(group.state_dir, auto_prometheus=auto, scrape_interval=group.scrape_interval)

    def __init__(self, state_dir: str | Path = ".pipeline-steps", *, auto_prometheus: bool = True,
                 scrape_interval: str = "") -> None:
        self.state = StateDir(state_dir)
        self.auto_prometheus = auto_prometheus
        self.scrape_interval = scrape_interval

    # --- Protocol -----------------------------------------------------------------------------

    def status(self, ctx: StageContext) -> StageStatus:
        data = self.state.load_stage(ctx)
        strategy = data.get("strategy") or ctx.deployment_strategy
        colours = tuple(self._colour_state(name, record) for name, record in sorted(data["colours"].items()))
        weights, invalid = None, ""
        if colours and strategy == DeploymentStrategy.BLUE_GREEN:
            # Envoy's runtime is the truth; its static route (= the recorded weights) until first set
            try:
                weights = self._admin(ctx, data).weights() or Weights.from_dict(
                    data.get("weights") or {"blue": 100, "green": 0}, str(self.state.stage_file(ctx)))
            except envoy.InvalidSplit as err:  # edited through the admin API: shown, and switch can repair it
                invalid = err.found
            except BadInputError as err:  # the recorded weights, edited by hand
                invalid = str(err)
        return StageStatus(context=ctx, strategy=strategy, colours=colours, weights=weights, invalid_route=invalid)

    def apply(self, ctx: StageContext, colour: str | None, service: ServiceSpec) -> None:
        folder = self._check_apply(ctx, colour, service)
        data = self.state.load_stage(ctx)
        stage_dir = self.state.stage_dir(ctx)
        strategy_changed = data.get("strategy") != ctx.deployment_strategy
        if strategy_changed and data["colours"]:
            for record in data["colours"].values():  # the other strategy's colours would be orphans
                processes.stop(record.get("process"))
            data["colours"], data["weights"] = {}, None
        data["strategy"] = ctx.deployment_strategy
        keys = [_key(colour)]
        if ctx.blue_green and not data["colours"]:
            keys, data["weights"] = list(COLOURS), Weights.all_to(str(colour)).to_dict()
        pick = ports.picker(self.state)
        reserved = data.pop("reserved", None) or {}  # reserved ports (see ``ports``) become the colours' own
        for key in keys:
            old = data["colours"].get(key) or {}
            processes.stop(old.get("process"))
            data["colours"][key] = {**old, "port": _same_port_if_free(old.get("port") or reserved.get(key), pick)}
        current = data.get("envoy") or {}
        if not current.get("stats_port"):  # a new stage's Envoy: its ports now, so one reload covers every target
            data["envoy"] = {**current, "listener_port": current.get("listener_port") or pick(), "stats_port": pick()}
        self.state.save_stage(ctx, data)
        # Prometheus learns new addresses (its discovery tick, seconds) while the processes start
        if self.auto_prometheus and monitoring.installed():
            monitoring.ensure_started(self.state, self.scrape_interval)
        monitoring.refresh(self.state)
        for key in keys:
            port = int(data["colours"][key]["port"])
            argv = [a.replace("{port}", str(port)).replace("{python}", sys.executable) for a in service.local_command]
            started = processes.start(argv, cwd=folder, log=stage_dir / "logs" / f"{key}.log", env=service.local_env)
            data["colours"][key] = {"image": ctx.image, "tag": ctx.tag, "folder": str(folder), "port": port,
                                    "health_path": service.health_path, "mark": "", "started_unix": time.time(),
                                    "process": started.to_dict()}
        data["version"] = int(data.get("version") or 0) + 1
        self.state.save_stage(ctx, data)
        self._route(ctx, data)
        self.state.save_stage(ctx, data)
        monitoring.refresh(self.state)  # a no-op unless Envoy's stats port had to move

    def reserve(self, ctx: StageContext) -> dict[str, int]:
        """Give a stage its stable ports before its first deployment and make them Prometheus targets
        (``ports.reserve``: the colours of ``ctx``'s deployment strategy and its Envoy's listener and
        stats listener; ports a stage has keep). Then no address of that stage is new to Prometheus
        when it is deployed, and ``wait_available`` does not wait for a discovery tick. Returns
        ``{colour: port, "envoy_listener": port, "envoy_stats": port}``; ``ConflictError`` when a
        step holds the stage's lock."""
        procs.private_dir(self.state.stage_dir(ctx))
        with self.state.lock(ctx, f"reserve-{os.getpid()}", 60.0):
            reserved = ports.reserve(self.state, ctx)
        monitoring.refresh(self.state)
        return reserved

    def wait_available(self, ctx: StageContext, colour: str | None, timeout_s: float) -> ColourState:
        """Until the colour answers its health path; in a stage with a performance test also until this
        folder's Prometheus scrapes its address (see ``monitoring``: the load test must not start first)."""
        key = _key(colour)
        deadline = time.monotonic() + timeout_s
        while True:
            record = self.state.load_stage(ctx)["colours"].get(key)
            if record is None:
                raise NotReadyError("local", f"{ctx.namespace}/{ctx.service} has no {key} colour deployed")
            state = self._colour_state(key, record)
            if state.available and ctx.test_strategy == "performance":
                problem = monitoring.wait_scraped(self.state, f"{ctx.service}-{ctx.namespace}", key, int(record["port"]),
                                                  max(0.0, deadline - time.monotonic()))
                if problem:
                    raise NotReadyError(f"local {ctx.namespace}/{ctx.service} {key}", problem)
            if state.available:
                return state
            running = processes.is_ours(record.get("process"))
            if not running or time.monotonic() >= deadline:
                # exit_reason already ends with the log tail; a running but unhealthy colour gets it here
                tail = processes.log_tail(record.get("process") or {}) if running else ""
                raise NotReadyError(f"local {ctx.namespace}/{ctx.service} {key}", "; ".join(state.reasons) + tail)
            time.sleep(0.02)

    def set_weights(self, ctx: StageContext, weights: Weights) -> Weights:
        data = self.state.load_stage(ctx)
        if data.get("strategy") != DeploymentStrategy.BLUE_GREEN:
            raise BadInputError("--weights", None, f"{ctx.namespace}/{ctx.service} is not a blue/green deployment here")
        for colour in COLOURS:
            record = data["colours"].get(colour)
            if weights.of(colour) > 0:
                state = self._colour_state(colour, record) if record else None
                if state is None or not state.available:
                    why = "; ".join(state.reasons) if state else "not deployed"
                    raise NotReadyError("local", f"refusing {weights}: {colour} is not available ({why})")
        admin = self._admin(ctx, data)
        admin.set_weights(weights)
        verified = admin.weights()
        if verified != weights:
            raise InfrastructureError("envoy", f"weights read back as {verified}, expected {weights}")
        data["weights"] = weights.to_dict()
        self.state.save_stage(ctx, data)
        return verified

    def mark(self, ctx: StageContext, colour: str | None, mark: str) -> None:
        if mark not in MARKS:
            raise BadInputError("mark", None, f"{mark!r} is not failed, passed or empty")
        data = self.state.load_stage(ctx)
        record = data["colours"].get(_key(colour))
        if record is None:
            raise NotReadyError("local", f"{ctx.namespace}/{ctx.service} has no {_key(colour)} colour to mark")
        record["mark"] = mark
        self.state.save_stage(ctx, data)

    def endpoints(self, ctx: StageContext) -> Endpoints:
        data = self.state.load_stage(ctx)
        if not data["colours"] or not data.get("envoy"):
            raise NotReadyError("local", f"{ctx.namespace}/{ctx.service} is not deployed")
        public = _url(int(data["envoy"]["listener_port"]))
        colour_urls = {k: _url(int(r["port"])) for k, r in data["colours"].items() if k in COLOURS}
        live = Weights.from_dict(data["weights"]).live if data.get("weights") else None
        internal = colour_urls.get(live or "", public)
        return Endpoints(public_url=public, internal_url=internal, colour_urls=colour_urls)

    def lock(self, ctx: StageContext, holder: str, ttl_s: float = 300.0) -> AbstractContextManager[None]:
        return self.state.lock(ctx, holder, ttl_s)

    # --- beyond the Protocol: for `local status|down` and the gate -----------------------------

    def prometheus_url(self) -> str:
        """The running Prometheus' URL ("" if none): ``evaluate --prometheus-url``."""
        return monitoring.url(self.state)

    def contexts(self, unreadable: list[str] | None = None) -> Iterator[StageContext]:
        """Every service and stage that has state in this folder. With ``unreadable``, a corrupt state
        file is described there and skipped (``local down`` must still stop the others); else it raises."""
        for path in self.state.all_stage_files():
            try:
                data = read_json(path)
                if not isinstance(data, dict) or not all(isinstance(data.get(k), str) for k in ("project", "stage", "service")):
                    raise BadInputError(str(path), None, "unreadable local platform state: no project, stage and service")
                ctx = StageContext(project=data["project"], stage=data["stage"], service=data["service"],
                                   deployment_strategy=data.get("strategy") or "direct").validate(str(path))
            except BadInputError as err:
                if unreadable is None:
                    raise
                unreadable.append(str(err))
                continue
            yield ctx

    def revive(self, ctx: StageContext) -> str:
        """Restart the stage's Envoy if it died (same listener port, recorded weights); its public URL.
        Colour processes are not restarted: a crash stays visible in ``status`` until the next deploy."""
        data = self.state.load_stage(ctx)
        if not data["colours"]:
            return ""
        if not processes.is_ours((data.get("envoy") or {}).get("process")):
            data["version"] = int(data.get("version") or 0) + 1
            self._route(ctx, data)
            self.state.save_stage(ctx, data)
            monitoring.refresh(self.state)
        return _url(int(data["envoy"]["listener_port"]))

    def describe(self, ctx: StageContext) -> dict[str, Any]:
        """One stage as a JSON-ready dict for ``local status``; a broken switch is an ``error``, not a crash."""
        data = self.state.load_stage(ctx)
        ports = {("" if k == envoy.DIRECT else k): int(r["port"]) for k, r in data["colours"].items()}
        error, weights, colours = "", None, []
        try:
            status = self.status(ctx)
            colours, weights = list(iter_colours(status)), status.weights
        except PipelineStepsError as err:
            error = str(err)
            colours = [self._colour_state(k, r) for k, r in sorted(data["colours"].items())]
        listener = (data.get("envoy") or {}).get("listener_port")
        return {
            "project": ctx.project, "stage": ctx.stage, "service": ctx.service, "namespace": ctx.namespace,
            "strategy": data.get("strategy", ""), "public_url": _url(int(listener)) if listener else "",
            "weights": weights.to_dict() if weights else None, "error": error, "reserved": dict(data.get("reserved") or {}),
            "colours": [{"colour": c.colour, "image": c.image, "tag": c.tag, "url": _url(ports[c.colour]),
                         "available": c.available, "mark": c.mark, "reasons": list(c.reasons)} for c in colours],
        }

    def stop_stage(self, ctx: StageContext) -> int:
        """Stop the stage's processes (only those still ours) and forget it; returns how many stopped."""
        data = self.state.load_stage(ctx)
        records = [r.get("process") for r in data["colours"].values()] + [(data.get("envoy") or {}).get("process")]
        stopped = sum(processes.stop(r) for r in records)
        self.state.stage_file(ctx).unlink(missing_ok=True)
        return stopped

    # --- helpers ------------------------------------------------------------------------------

    def _check_apply(self, ctx: StageContext, colour: str | None, service: ServiceSpec) -> Path:
        """All input checks before anything changes (bad input changes nothing)."""
        if ctx.blue_green != (colour in COLOURS):
            raise BadInputError("deploy", "colour", f"{colour!r} does not fit strategy {ctx.deployment_strategy}")
        if not service.local_command:
            raise BadInputError(str(Path(service.base_dir) / "service.yaml"), "local.command",
                                "is required by the local platform")
        folder = artifact_folder(ctx.image, ctx.tag) if ctx.image and ctx.tag else None
        if folder is None or not folder.is_dir():
            raise BadInputError("--image", None, f"{ctx.image}:{ctx.tag} is not a built folder ({folder}); make it with "
                                "pipeline-steps local build --source SRC --image IMAGE --tag TAG")
        envoy.find_envoy()
        return folder

    def _route(self, ctx: StageContext, data: dict[str, Any]) -> None:
        """Make the stage's Envoy route to the colours' ports: nothing to do when the running Envoy
        already does (a redeployment behind a stable port); else (re)start it on the same listener port
        with the recorded weights (see ``envoy.py``)."""
        folder = procs.private_dir(self.state.stage_dir(ctx) / "envoy")
        names = list(COLOURS) if ctx.blue_green else [envoy.DIRECT]
        current = data.get("envoy") or {}
        pick = ports.picker(self.state)  # one picker: the ports it hands out differ from each other too
        layout = envoy.Layout(
            listener_port=int(current.get("listener_port") or pick()),
            stats_port=int(current["stats_port"]) if current.get("stats_port") else pick(),
            strategy=str(ctx.deployment_strategy),
            ports={n: (data["colours"].get(n) or {}).get("port") for n in names},
            weights=Weights.from_dict(data["weights"]) if data.get("weights") else None)
        if processes.is_ours(current.get("process")) and current.get("shape") == layout.shape():
            return
        processes.stop(current.get("process"))  # also a survivor of a killed wrapper, which would hold the port
        if not procs.port_is_free(layout.stats_port):
            layout = replace(layout, stats_port=pick())
        started = envoy.start(folder, layout)
        data["envoy"] = {"listener_port": layout.listener_port, "stats_port": layout.stats_port, "shape": layout.shape(),
                         "process": started.to_dict()}
        if layout.weights:
            envoy.Admin(folder).set_weights(layout.weights)  # the runtime is what status reads back

    def _admin(self, ctx: StageContext, data: dict[str, Any]) -> envoy.Admin:
        record = data.get("envoy") or {}
        if not processes.is_ours(record.get("process")):
            why = processes.exit_reason(record["process"]) if record.get("process") else "never started"
            raise InfrastructureError("envoy", f"the traffic switch of {ctx.namespace}/{ctx.service} is not running: {why}")
        if not record.get("stats_port"):
            raise InfrastructureError("envoy", f"the traffic switch of {ctx.namespace}/{ctx.service} was started by an "
                                               "older pipeline-steps with its admin API on TCP; `pipeline-steps local down` "
                                               "and deploy again")
        return envoy.Admin(self.state.stage_dir(ctx) / "envoy")

    def _colour_state(self, key: str, record: dict[str, Any]) -> ColourState:
        proc = record.get("process") or {}
        if processes.is_ours(proc):
            problem = procs.probe(_url(int(record["port"])) + str(record.get("health_path") or "/health"), 2.0)
        else:
            problem = processes.exit_reason(proc)
        return ColourState(colour="" if key == envoy.DIRECT else key, image=str(record.get("image", "")),
                           tag=str(record.get("tag", "")), desired=1, ready=0 if problem else 1, available=not problem,
                           mark=str(record.get("mark", "")), reasons=(problem,) if problem else ())
