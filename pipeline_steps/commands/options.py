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
from pipeline_steps.errors import BadInputError
from pipeline_steps.finite import DAY_S, LARGEST, number, parse_number

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


def history_without_password(location: str, source: str = "--history") -> str:
    """``location`` when it carries no password; else ``BadInputError`` showing it without the password.

    The URL's userinfo is split off before anything prints it (``secrets.split_url``): a password
    written with an unencoded ``/`` or ``@`` (``postgresql://u:p/w@host/db``) is still found, and
    joins the run's secrets, so no message can repeat it."""
    from pipeline_steps.errors import BadInputError
    from pipeline_steps.secrets import split_url

    given = split_url(location)
    if "://" in location and given.password is not None:
        raise BadInputError(source, None, f"the history URL {given.shown} carries a password; remove it from the URL "
                                          "and give it in PGPASSWORD, a .pgpass file (PGPASSFILE) or "
                                          "--history-password-file FILE (a URL lands in logs and process lists)")
    return location


def _flag(param: click.Parameter | None) -> str:
    return param.opts[0] if param is not None and param.opts else "value"


class Number(click.ParamType):
    """A numeric flag through the one number check (``finite.number``): ``--timeout nan``,
    ``--retry-budget inf`` and ``--duration 1e400`` are bad input naming the flag (click's
    ``float`` and ``FloatRange`` let NaN and infinity through: NaN fails every comparison)."""

    name = "number"

    def __init__(self, *, minimum: float = 0.0, maximum: float = LARGEST, integer: bool = False,
                 above: float | None = None) -> None:
        self.limits: dict[str, Any] = {"minimum": minimum, "maximum": maximum, "integer": integer, "above": above}

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        flag = _flag(param)
        if isinstance(value, str):
            text = value.strip()
            if self.limits["integer"]:
                if not text.lstrip("+-").isdigit() or len(text) > 20:
                    raise BadInputError("command line", flag, f"{value[:40]!r} is not an integer")
                value = int(text)
            else:
                value = parse_number(text, "command line", flag, **{k: v for k, v in self.limits.items() if k != "integer"})
        return number(value, "command line", flag, **self.limits)

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return "INTEGER" if self.limits["integer"] else "SECONDS" if self.limits["maximum"] == DAY_S else "NUMBER"


class UnixTime(click.ParamType):
    """``--start``/``--end``: unix seconds or ISO-8601 (``documents.evaluation.parse_time``), 1970..9999."""

    name = "time"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        from pipeline_steps.documents.evaluation import parse_time

        return value if isinstance(value, float) else parse_time(str(value), "command line", _flag(param))


class OutDir(click.ParamType):
    """``--out-dir``: a folder that exists or can be made. A path naming a file (or under one) is bad
    input found when the flags are read, before anything is queried, deployed or stored (it used
    to fail after the history row of an evaluation was written)."""

    name = "directory"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        import os
        from pathlib import Path

        path = Path(str(value))
        for ancestor in (path, *path.parents):
            if ancestor.exists():
                if not ancestor.is_dir():
                    what = "is a file" if ancestor == path else f"is under {ancestor}, which is a file"
                    raise BadInputError("command line", _flag(param), f"{str(value)!r} {what}, not a folder; nothing was written")
                if not os.access(ancestor, os.W_OK | os.X_OK):
                    raise BadInputError("command line", _flag(param), f"cannot write in {ancestor}; nothing was written")
                break
        return str(value)


def out_dir_option(what: str) -> Callable[[F], F]:
    """``--out-dir`` (env ``OUT_DIR``, default ``out``); ``what`` says what the command writes there."""
    return click.option("--out-dir", envvar="OUT_DIR", default="out", show_default=True, type=OutDir(),
                        help=f"{what} [env OUT_DIR].")


def history_options(func: F) -> F:
    """Add ``--history`` (a SQLite path or a ``postgresql://`` URL without password) and
    ``--history-password-file``; the command receives ``history`` and ``history_password_file``."""
    from pipeline_steps.history import DEFAULT_LOCATION

    return _apply(func, [
        click.option("--history", "history", envvar="PIPELINE_STEPS_HISTORY", default=DEFAULT_LOCATION, show_default=True,
                     help="Evaluation history: a SQLite file, or postgresql://user@host:port/database with no password in"
                          " it (the password comes from PGPASSWORD, .pgpass/PGPASSFILE or --history-password-file)"
                          " [env PIPELINE_STEPS_HISTORY]."),
        click.option("--history-password-file", envvar="PIPELINE_STEPS_HISTORY_PASSWORD_FILE", default=None,
                     type=click.Path(dir_okay=False),
                     help="File whose first line is the PostgreSQL history's password"
                          " [env PIPELINE_STEPS_HISTORY_PASSWORD_FILE]."),
    ])


def history_from_options(options: dict[str, Any]) -> Any:
    """The ``History`` the ``history_options`` name (nothing connected yet); a URL with a password,
    an unknown scheme or an unreadable or empty password file is bad input."""
    from pipeline_steps.errors import BadInputError
    from pipeline_steps.history import open_history
    from pipeline_steps.secrets import read_secret

    ctx = click.get_current_context(silent=True)
    from_env = ctx is not None and ctx.get_parameter_source("history") is click.core.ParameterSource.ENVIRONMENT
    source = "PIPELINE_STEPS_HISTORY" if from_env else "--history"
    password_file = options.get("history_password_file")
    password = read_secret(file=password_file, what="history password") if password_file else None
    if password_file and not password:
        raise BadInputError(str(password_file), None, "the history password file is empty")
    return open_history(history_without_password(str(options["history"]), source), password=password, source=source)
