"""The option groups every command shares, each declared once: context, platform, sources, ``--out-dir``.

Jenkinsfiles pass parameters as environment variables (never interpolated into ``sh``), so
every context option reads the Keptn 0.2 parameter name from the environment when the flag
is absent. ``--event FILE`` (a CloudEvent) fills what neither gives; see ``documents/events.py``.
The platform and source groups come from their registries (``PLATFORMS``, ``SOURCES``): each
backend declares its own flags, so no command names a backend and adding one changes no command.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import click

from pipeline_steps.documents.context import StageContext
from pipeline_steps.documents.vocabulary import DeploymentStrategy

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
        help=f"{' | '.join(DeploymentStrategy.values())} [env DEPLOYMENTSTRATEGY].",
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


def _apply(func: F, options: Iterable[Callable[[F], F]]) -> F:
    for option in reversed(list(options)):
        func = option(func)
    return func


def context_options(func: F) -> F:
    """Add the context flags; the command receives them as keyword arguments."""
    return _apply(func, _CONTEXT_OPTIONS)


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
    values["deployment_strategy"] = values["deployment_strategy"] or DeploymentStrategy.DIRECT
    return StageContext(**values).validate(source)


def declared(flag: str, spec: dict[str, Any]) -> Callable[[F], F]:
    """A click option from a backend's declaration (``platforms.base.Option``, ``sources.base.Option``)."""
    kwargs = {k: v for k, v in spec.items() if k not in ("param", "path")}
    if spec.get("path"):
        kwargs["type"] = click.Path(dir_okay=False)
    names = [flag, spec["param"]] if spec.get("param") else [flag]
    return click.option(*names, **kwargs)


def platform_options(func: F) -> F:
    """Add ``--platform`` (a name in ``PLATFORMS``) and every platform's own option group."""
    from pipeline_steps import platforms

    choice = click.option("--platform", "platform_name", envvar="PIPELINE_STEPS_PLATFORM",
                          type=click.Choice(sorted(platforms.PLATFORMS)), default="local", show_default=True,
                          help="Where versions run [env PIPELINE_STEPS_PLATFORM].")
    return _apply(func, [choice, *(declared(flag, spec) for flag, spec in platforms.options())])


def build_platform(options: dict[str, Any]) -> Any:
    """The platform ``platform_options`` chose, built from its settings group (the one place a command
    builds one)."""
    from pipeline_steps import platforms

    return platforms.make_platform(options["platform_name"], platforms.settings_from_options(options))


def platform_argv(options: dict[str, Any]) -> list[str]:
    """The ``platform_options`` as given, as flags for a child ``pipeline-steps`` command (the chain)."""
    from pipeline_steps import platforms

    argv = ["--platform", options["platform_name"]]
    for flag, spec in platforms.options():
        value = options.get(spec.get("param") or flag.lstrip("-").replace("-", "_"))
        if value:
            argv += [flag, str(value)]
    return argv


def source_options(func: F) -> F:
    """Add every metric source's own option group (``SOURCES``)."""
    from pipeline_steps import sources

    return _apply(func, [declared(flag, spec) for flag, spec in sources.options()])


def out_dir_option(what: str) -> Callable[[F], F]:
    """``--out-dir`` (env ``OUT_DIR``, default ``out``); ``what`` says what the command writes there."""
    return click.option("--out-dir", envvar="OUT_DIR", default="out", show_default=True, help=f"{what} [env OUT_DIR].")
