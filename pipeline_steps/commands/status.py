"""``pipeline-steps status``: one screen per service and stage (or JSON for machines).

Shows what the platform reports *now*: each colour's version, ready replicas, availability and
verdict mark, the route weights and which colour is live, plus why a colour is not available.
"""

from __future__ import annotations

from typing import Any

import click

from pipeline_steps.commands.options import build_platform, context_from_options, context_options, platform_options
from pipeline_steps.files import to_json


def status_document(status: Any, platform: str) -> dict[str, Any]:
    """The JSON form of a ``StageStatus`` (stable keys; see README)."""
    from pipeline_steps.platforms.base import iter_colours

    ctx = status.context
    return {
        "project": ctx.project, "stage": ctx.stage, "service": ctx.service, "namespace": ctx.namespace,
        "platform": platform, "strategy": status.strategy, "deployed": status.deployed,
        "weights": status.weights.to_dict() if status.weights else None, "live": status.live,
        "invalid_route": status.invalid_route,
        "colours": [{"colour": c.colour, "image": c.image, "tag": c.tag, "desired": c.desired, "ready": c.ready,
                     "available": c.available, "mark": c.mark, "reasons": list(c.reasons),
                     "weight": status.weights.of(c.colour) if status.weights and c.colour else None}
                    for c in iter_colours(status)],
    }


def render_text(doc: dict[str, Any]) -> str:
    head = f"{doc['service']} in {doc['namespace']} ({doc['platform']}, {doc['strategy']})"
    if not doc["deployed"]:
        return f"{head}\n  not deployed"
    lines = [head, f"  {'COLOUR':<8} {'VERSION':<44} {'READY':<7} {'AVAILABLE':<10} {'WEIGHT':<7} MARK"]
    for c in doc["colours"]:
        version = f"{c['image']}:{c['tag']}" if c["tag"] else c["image"]
        weight = "-" if c["weight"] is None else str(c["weight"])
        live = "  <- live" if doc["live"] and c["colour"] == doc["live"] else ""
        lines.append(f"  {c['colour'] or 'direct':<8} {version:<44} {c['ready']}/{c['desired']:<5} "
                     f"{'yes' if c['available'] else 'NO':<10} {weight:<7} {c['mark'] or '-'}{live}")
        lines.extend(f"      {reason}" for reason in c["reasons"])
    if doc["weights"] is not None:
        lines.append(f"  live: {doc['live'] or 'none (traffic is split: ' + str(doc['weights']) + ')'}")
    elif doc.get("invalid_route"):
        lines.append(f"  live: none: the route is no valid split: {doc['invalid_route']} "
                     "(set it with switch --weights blue|green, or rollback)")
    return "\n".join(lines)


@click.command("status")
@context_options
@platform_options
@click.option("--output", type=click.Choice(["text", "json"]), default="text", show_default=True)
def status(output: str, **options: Any) -> int:
    """Show colours, versions, ready replicas, weights and the live colour of a service in a stage."""
    ctx = context_from_options(options)
    platform = build_platform(options)
    doc = status_document(platform.status(ctx), platform.name)
    click.echo(to_json(doc) if output == "json" else render_text(doc))
    return 0
