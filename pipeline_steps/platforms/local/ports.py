"""The local platform's stable ports: which ones the state folder gave out, and a stage's ports before its first deployment.

Why: Prometheus scrapes every colour and every stage's Envoy at an address that stays across
deployments (``monitoring``), and an address it has not seen yet is picked up only on its
discovery tick (seconds). A stage's *first* deployment used to bring new addresses by
definition, so its load test had to wait for that tick. ``reserve`` gives a stage its ports
before the stage is first deployed (``LocalPlatform.reserve``, ``pipeline-steps local up
--shipyard``): they are scrape targets from then on (down, until a process listens), so the
first deployment is a start behind an address Prometheus already scrapes, as every later one is.

A reserved port has no listener, so the kernel does not know it is taken. Within the state folder
nothing else is given it: a new port for any colour, Envoy or stage is picked outside
``recorded_ports`` (colours, reservations, Envoy listeners and stats listeners of every stage).
Another program may still bind it meanwhile; then the deployment picks a new port
(``platform._same_port_if_free``) and that colour waits for discovery like any new target.

In the stage's ``state.json``: ``reserved`` maps a colour not deployed yet (``blue``/``green``, or
``direct``) to its port, and ``envoy`` holds ``listener_port`` and ``stats_port`` before Envoy runs
(no ``process`` yet). A deployment moves a colour's port from ``reserved`` into ``colours``.
"""

from __future__ import annotations

from collections.abc import Callable

from pipeline_steps.documents.context import StageContext
from pipeline_steps.documents.weights import COLOURS
from pipeline_steps.errors import BadInputError
from pipeline_steps.platforms.local import envoy, procs
from pipeline_steps.platforms.local.state import StateDir, read_json


def colour_keys(ctx: StageContext) -> list[str]:
    """The colours a stage of this strategy runs: ``blue`` and ``green``, or ``direct``."""
    return list(COLOURS) if ctx.blue_green else [envoy.DIRECT]


def recorded_ports(state: StateDir) -> set[int]:
    """Every port a stage file of this folder records (a corrupt file is skipped: ``local status`` names it)."""
    found: set[object] = set()
    for path in state.all_stage_files():
        try:
            data = read_json(path)
        except BadInputError:
            continue
        if not isinstance(data, dict):
            continue
        found.update((record or {}).get("port") for record in (data.get("colours") or {}).values())
        found.update((data.get("reserved") or {}).values())
        current = data.get("envoy") or {}
        found.update((current.get("listener_port"), current.get("stats_port")))
    return {port for port in found if isinstance(port, int)}


def picker(state: StateDir) -> Callable[[], int]:
    """A function returning a new stable port each call, never one the folder records or it returned before."""
    taken = recorded_ports(state)

    def pick() -> int:
        port = procs.stable_port(avoid=taken)
        taken.add(port)
        return port

    return pick


def reserve(state: StateDir, ctx: StageContext) -> dict[str, int]:
    """Record ports for the colours of ``ctx``'s strategy that have none, and for the stage's Envoy
    (listener and stats listener) if it has none; ports already recorded stay. Saves the stage and
    returns ``{colour: port, "envoy_listener": port, "envoy_stats": port}``. The caller holds the
    stage's lock and refreshes Prometheus."""
    data = state.load_stage(ctx)
    pick = picker(state)
    reserved = {str(k): int(v) for k, v in (data.get("reserved") or {}).items() if isinstance(v, int)}
    for key in colour_keys(ctx):
        if key not in data["colours"] and key not in reserved:
            reserved[key] = pick()
    data["reserved"] = reserved
    current = data.get("envoy") or {}
    if not current.get("stats_port"):
        data["envoy"] = {**current, "listener_port": current.get("listener_port") or pick(), "stats_port": pick()}
    state.save_stage(ctx, data)
    ports = {**reserved, **{k: int(r["port"]) for k, r in data["colours"].items() if isinstance(r.get("port"), int)}}
    return {**ports, "envoy_listener": int(data["envoy"]["listener_port"]), "envoy_stats": int(data["envoy"]["stats_port"])}
