"""Click options shared by the step commands, each bound to its Jenkins parameter name.

Jenkinsfiles pass parameters as environment variables (never interpolated into ``sh``), so
every context option reads the Keptn 0.2 parameter name from the environment when the flag
is absent. ``--event FILE`` (a CloudEvent) fills what neither gives; see ``pipeline_steps.documents.events``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from pipeline_steps.documents.context import DEPLOYMENT_STRATEGIES, StageContext

F = TypeVar("F", bound=Callable[..., Any])

_CONTEXT_OPTIONS = [
    click.option("--project", envvar="PROJECT", default="", help="Project [env PROJECT]."),
    click.option("--stage", envvar="STAGE", default="", help="Stage name [env STAGE]."),
    click.option("--service", envvar="SERVICE", default="", help="Service name [env SERVICE]."),
    click.option("--image", envvar="IMAGE", default="", help="Image repository without tag [env IMAGE]."),
    click.option("--tag", envvar="TAG", default="", help="Image tag / version [env TAG]."),
    click.option(
        "--deployment-strategy",
        envvar="DEPLOYMENTSTRATEGY",
        default="",
        help=f"{' | '.join(DEPLOYMENT_STRATEGIES)} [env DEPLOYMENTSTRATEGY].",
    ),
    click.option(
        "--test-strategy", envvar="TESTSTRATEGY", default="", help="functional | performance [env TESTSTRATEGY]."
    ),
    click.option("--keptn-context", envvar="KEPTNCONTEXT", default="", help="shkeptncontext [env KEPTNCONTEXT]."),
    click.option(
        "--event",
        "event_file",
        envvar="EVENT_FILE",
        default=None,
        type=click.Path(dir_okay=False),
        help="A Keptn CloudEvent JSON that fills context fields not given by flags/env [env EVENT_FILE].",
    ),
]


def context_options(func: F) -> F:
    """Add the context flags; the command receives them as keyword arguments."""
    for option in reversed(_CONTEXT_OPTIONS):
        func = option(func)
    return func


def context_from_options(options: dict[str, Any], source: str = "command line") -> StageContext:
    """Build and validate a ``StageContext`` from the values of ``context_options``.

    Flags and environment win; an ``--event`` file fills the fields they leave empty, so a step
    can be re-run by hand from the event a failed run left behind.
    """
    fields = ("project", "stage", "service", "image", "tag", "deployment_strategy", "test_strategy", "keptn_context")
    values = {name: options.get(name) or "" for name in fields}
    event_file = options.get("event_file")
    if event_file:
        from pipeline_steps.documents.events import read_event  # json/re only; keeps --help import-light

        event = read_event(event_file)
        from_event = event.context(str(event_file)) if event.name != "problem" else None
        if from_event is not None:
            for name in fields:
                values[name] = values[name] or getattr(from_event, name)
            source = f"{source} + {event_file}"
    values["deployment_strategy"] = values["deployment_strategy"] or "direct"
    return StageContext(**values).validate(source)


def platform_options(func: F) -> F:
    """Add ``--platform`` and the settings each platform needs."""
    options = [
        click.option(
            "--platform",
            "platform_name",
            envvar="PIPELINE_STEPS_PLATFORM",
            type=click.Choice(["kubernetes", "local"]),
            default="local",
            show_default=True,
            help="Where versions run [env PIPELINE_STEPS_PLATFORM].",
        ),
        click.option(
            "--state-dir",
            envvar="PIPELINE_STEPS_STATE_DIR",
            default=".pipeline-steps",
            show_default=True,
            help="Local platform: folder holding processes, ports and weights [env PIPELINE_STEPS_STATE_DIR].",
        ),
        click.option("--kubeconfig", envvar="KUBECONFIG", default=None, help="Kubernetes: kubeconfig file [env KUBECONFIG]."),
        click.option("--context", "kube_context", default=None, help="Kubernetes: kubeconfig context."),
    ]
    for option in reversed(options):
        func = option(func)
    return func
