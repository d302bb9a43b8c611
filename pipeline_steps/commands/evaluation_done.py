"""``pipeline-steps evaluation-done``: parse the verdict and deployment facts; the step acts and writes promotion.json."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from pipeline_steps.commands.options import (
    build_platform,
    context_from_options,
    context_options,
    out_dir_option,
    platform_options,
)
from pipeline_steps.errors import BadInputError


@click.command("evaluation-done")
@context_options
@platform_options
@click.option("--shipyard", "shipyard_file", envvar="SHIPYARD", required=True, type=click.Path(dir_okay=False),
              help="shipyard.yaml [env SHIPYARD].")
@click.option("--evaluation", "evaluation_file", default=None, type=click.Path(dir_okay=False),
              help="evaluation.json written by evaluate (its verdict is used).")
@click.option("--verdict", envvar="VERDICT", default=None, help="pass | warning | fail | error [env VERDICT].")
@click.option("--deployment", "deployment_file", default=None, type=click.Path(dir_okay=False),
              help="deployment.json written by deploy (colour, weights before the flip).")
@click.option("--colour", envvar="COLOUR", default=None, help="The deployed colour, instead of --deployment [env COLOUR].")
@click.option("--previous-colour", envvar="PREVIOUS_COLOUR", default=None, help="The colour live before [env PREVIOUS_COLOUR].")
@click.option("--weights-before", envvar="WEIGHTS_BEFORE", default=None,
              help="Weights before the flip as BLUE/GREEN, e.g. 100/0 [env WEIGHTS_BEFORE].")
@click.option("--approval", envvar="APPROVAL", default="auto", show_default=True,
              type=click.Choice(["auto", "approve", "reject"]), help="Manual approval answer [env APPROVAL].")
@out_dir_option("Where promotion.json and the events go.")
def evaluation_done(**options: Any) -> int:
    """Promote the version, roll traffic back, or wait for a manual approval.

    Exit 0: promoted (or passed in the last stage); 1: rolled back; 4: the gate could not judge
    (rolled back); 5: a manual approval is required; 2: bad input (nothing changed).
    """
    from pipeline_steps.documents.deployment import DeploymentFacts
    from pipeline_steps.documents.events import read_event, truthy
    from pipeline_steps.documents.shipyard import load_shipyard
    from pipeline_steps.documents.weights import Weights
    from pipeline_steps.steps.evaluation_done import evaluation_done as act
    from pipeline_steps.steps.evaluation_done import normalise_verdict

    ctx = context_from_options(options)
    shipyard = load_shipyard(options["shipyard_file"])
    stage = shipyard.stage(ctx.stage)
    ctx = ctx.with_stage(stage.name, stage.deployment_strategy, ctx.test_strategy or stage.test_strategy)
    next_stage = shipyard.next_stage(stage.name)
    event = read_event(options["event_file"]) if options.get("event_file") else None

    verdict = normalise_verdict(*_verdict(options, event, truthy))
    if options.get("deployment_file"):
        facts = DeploymentFacts.from_file(options["deployment_file"])
    elif options.get("colour"):
        before = Weights.parse(options["weights_before"], "--weights-before") if options.get("weights_before") else None
        facts = DeploymentFacts.from_json({"colour": options["colour"], "previous_colour": options.get("previous_colour") or "",
                                           "weights_before": before.to_dict() if before else None}, "--colour")
    elif event is not None and isinstance(event.data.get("deployment"), dict):
        facts = DeploymentFacts.from_json(event.data["deployment"], f"{options['event_file']}: data.deployment")
    else:
        facts = DeploymentFacts()

    decision = act(ctx, verdict, facts, stage, next_stage, platform=build_platform(options), approval=options["approval"],
                   out_dir=Path(options["out_dir"]))
    click.echo(f"evaluation-done {ctx.service} {ctx.tag} in {ctx.stage}: {decision.action} — {decision.reason}")
    return int(decision.exit_code)


def _verdict(options: dict[str, Any], event: Any, truthy: Any) -> tuple[str, str, str]:
    """``(verdict, source, field)``: --verdict, else the evaluation file's verdict, else the event's,
    with where it came from, so a bad one names that; missing is bad input (fail closed)."""
    if options.get("verdict"):
        return str(options["verdict"]), "command line", "--verdict"
    path = options.get("evaluation_file")
    if path:
        from pipeline_steps.files import read_json

        data = read_json(path)
        field = "verdict" if isinstance(data, dict) and data.get("verdict") else "result"
        value = data.get(field) if isinstance(data, dict) else None
        if not isinstance(value, str):
            raise BadInputError(path, "verdict", "missing: expected PASS, WARNING, FAIL or ERROR")
        return value, str(path), field
    if event is not None and event.name == "evaluation-done":
        data, where = event.data, str(options["event_file"])
        if isinstance(data.get("verdict"), str):
            return str(data["verdict"]), where, "data.verdict"
        details = data.get("evaluationdetails")
        if isinstance(details, dict) and isinstance(details.get("result"), str):
            return str(details["result"]), where, "data.evaluationdetails.result"
        if "evaluationpassed" in data:
            return ("pass" if truthy(data["evaluationpassed"]) else "fail"), where, "data.evaluationpassed"
    raise BadInputError("evaluation-done", "verdict", "no verdict: give --verdict, --evaluation or an evaluation-done --event")


