"""``pipeline-steps run``: the whole stage chain for a new version, as Jenkins would run it."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import click

from pipeline_steps.commands.options import history_without_password, out_dir_option, platform_argv, platform_options


@click.command("run")
@click.option("--shipyard", "shipyard_file", envvar="SHIPYARD", required=True, type=click.Path(dir_okay=False),
              help="shipyard.yaml: stages in promotion order [env SHIPYARD].")
@click.option("--service-config", envvar="SERVICE_CONFIG", default=None, type=click.Path(dir_okay=False),
              help="The service's service.yaml (how it runs, its tests and gate) [env SERVICE_CONFIG].")
@click.option("--project", envvar="PROJECT", required=True, help="Project [env PROJECT].")
@click.option("--service", envvar="SERVICE", default="", help="Service (default: service.yaml name) [env SERVICE].")
@click.option("--image", envvar="IMAGE", required=True, help="Image repository (local platform: artifact folder) [env IMAGE].")
@click.option("--tag", envvar="TAG", required=True, help="The new version's tag [env TAG].")
@click.option("--keptn-context", envvar="KEPTNCONTEXT", default="", help="Correlation id (default: a new UUID).")
@click.option("--from-stage", default="", help="Start at this stage instead of the first.")
@platform_options
@out_dir_option("Everything goes to OUT/<tag>/<stage>/: events, JUnit, evaluations.")
@click.option("--prometheus-url", envvar="PROMETHEUS_URL", default="", help="Prometheus for the gate [env PROMETHEUS_URL].")
@click.option("--gate", envvar="GATE", default="", type=click.Path(dir_okay=False),
              help="Gate spec for stages without their own (default: service.yaml gate) [env GATE].")
@click.option("--history", envvar="PIPELINE_STEPS_HISTORY", default="",
              help="Evaluation history for every evaluate: a SQLite file or postgresql://user@host:port/database"
                   " (default: evaluate's) [env PIPELINE_STEPS_HISTORY].")
@click.option("--history-password-file", envvar="PIPELINE_STEPS_HISTORY_PASSWORD_FILE", default=None,
              type=click.Path(dir_okay=False), help="Passed on to evaluate [env PIPELINE_STEPS_HISTORY_PASSWORD_FILE].")
@click.option("--require-history", envvar="PIPELINE_STEPS_REQUIRE_HISTORY", default="off", show_default=True,
              type=click.Choice(["off", "warning", "error"]), help="Passed on to evaluate [env PIPELINE_STEPS_REQUIRE_HISTORY].")
@click.option("--approval", type=click.Choice(["auto", "approve", "reject", "prompt"]), default="auto", show_default=True,
              help="Answer to manual approvals; prompt asks on the terminal.")
@click.option("--test-duration", default=None, help="Shorten performance tests (seconds), e.g. for demos.")
@click.option("--users", default=None, help="Override the virtual users of performance tests.")
def run(**options: Any) -> int:
    """Deploy, test, judge and promote a version stage after stage; stop at the first failure.

    Exit code: 0 when the version reached the end of the shipyard, else the failing step's code
    (1 fail, 3 warning, 4 infrastructure, 5 approval required, 2 bad input).
    """
    from pipeline_steps.documents.context import StageContext
    from pipeline_steps.documents.service import load_service
    from pipeline_steps.documents.shipyard import load_shipyard
    from pipeline_steps.steps.chain import ChainSettings, run_chain, summary_lines

    shipyard = load_shipyard(options["shipyard_file"])
    service_path = options.get("service_config")
    service = load_service(service_path) if service_path else None
    name = options["service"] or (service.name if service else "")
    ctx = StageContext(project=options["project"], stage=shipyard.first.name, service=name, image=options["image"],
                       tag=options["tag"], keptn_context=options["keptn_context"] or str(uuid.uuid4())).validate("run")
    overrides: list[str] = []
    if options.get("test_duration"):
        overrides += ["--duration", str(options["test_duration"])]
    if options.get("users"):
        overrides += ["--users", str(options["users"])]
    approval = options["approval"]
    settings = ChainSettings(
        out_dir=Path(options["out_dir"]), service_config=Path(service_path).resolve() if service_path else None,
        platform_args=tuple(platform_argv(options)), history=history_without_password(options["history"]),
        evaluate_extra=(*(("--history-password-file", str(Path(options["history_password_file"]).resolve()))
                          if options["history_password_file"] else ()),
                        "--require-history", options["require_history"]),
        # through the environment, not argv: a URL's credentials must not show in `ps` or a step's log
        evaluate_env={"PROMETHEUS_URL": options["prometheus_url"]} if options["prometheus_url"] else {},
        approval="auto" if approval == "prompt" else approval, test_overrides=tuple(overrides),
        default_gate=str(Path(options["gate"]).resolve()) if options["gate"] else (
            str(service.path(service.gate)) if service and service.gate else ""),
    )

    def ask(stage: str, reason: str) -> str:
        click.echo(f"[{stage}] {reason}")
        return "approve" if click.confirm(f"Promote {ctx.tag} from {stage}?", default=False) else "reject"

    result = run_chain(ctx, shipyard, settings, printer=click.echo, start_stage=options["from_stage"],
                       ask=ask if approval == "prompt" else None)
    for line in summary_lines(result, ctx):
        click.echo(line)
    return result.exit_code
