"""The ``pipeline-steps`` command line: a click group whose commands load on first use.

Why lazy: Jenkins calls the CLI many times per pipeline and users type ``--help``; importing
kubernetes or aiohttp for that costs hundreds of milliseconds. ``COMMANDS`` names each command's
module and one-line help, so listing commands imports nothing but click.

Why here: this is the one place where ``PipelineStepsError`` becomes an exit code and a
one-line message on stderr (README: "Exit codes"). Any other exception is a bug in this tool,
not a verdict: it exits 4 (``internal error:`` and the traceback on stderr), never 1, which
Jenkins reads as "the version is bad" and would roll back or stop a good version for.

It is also the edge where output leaves the process: every message printed here is masked
with every secret the process holds (``secrets.registered``), and libraries' log records never
reach stderr as they are (the kubernetes client logs a failing kubeconfig ``exec`` plugin's
stderr, which may hold a token; urllib3 logs URLs): an error a library logs becomes one line
saying which library, without its text.
"""

from __future__ import annotations

import importlib
import logging
import traceback
from typing import Any

import click

from pipeline_steps.errors import ExitCode, PipelineStepsError
from pipeline_steps.secrets import new_run, redact_all, registered

# name -> ("module:attribute", short help). Sorted; one line per command, no import side effects.
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("pipeline_steps.commands.demo:demo", "Play the use case locally: v1, slow v2 stopped, v3 to production."),
    "deploy": ("pipeline_steps.commands.deploy:deploy", "Deploy a version into a stage (direct or blue/green)."),
    "evaluate": ("pipeline_steps.commands.evaluate:evaluate", "Judge a test run by its quality gate."),
    "evaluation-done": (
        "pipeline_steps.commands.evaluation_done:evaluation_done",
        "Act on a verdict: promote, roll back or wait for approval.",
    ),
    "events": ("pipeline_steps.commands.events:events", "Write or inspect Keptn CloudEvents."),
    "history": ("pipeline_steps.commands.history:history", "Migrate, export, import and prune the evaluation history."),
    "jenkins": ("pipeline_steps.commands.jenkins:jenkins", "Create jobs on Jenkins, Build Now and follow a build."),
    "local": ("pipeline_steps.commands.local:local", "Start, inspect and stop the local platform (Envoy, Prometheus)."),
    "report": ("pipeline_steps.commands.report:report", "Write the HTML history report of a service's evaluations."),
    "rollback": ("pipeline_steps.commands.switch:rollback", "Route traffic back to the colour recorded before a flip."),
    "run": ("pipeline_steps.commands.run:run", "Run the whole stage chain for a new version."),
    "run-tests": ("pipeline_steps.commands.run_tests:run_tests", "Health, functional and performance tests."),
    "shipyard": ("pipeline_steps.commands.shipyard:shipyard", "Validate a shipyard and look up stages (next stage, strategies)."),
    "status": ("pipeline_steps.commands.status:status", "Show colours, versions, readiness and weights of a stage."),
    "switch": ("pipeline_steps.commands.switch:switch", "Set traffic weights between blue and green."),
    "testrun": ("pipeline_steps.commands.testrun:testrun", "Merge the testrun.json files of run-tests shards."),
}


class LibraryLogs(logging.Handler):
    """The root logger's only handler: drops library records below ERROR and prints an error as one
    line naming where it came from, never the record's text (it may carry a credential)."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)

    def emit(self, record: logging.LogRecord) -> None:
        origin = record.name if record.name != "root" else record.pathname.rsplit("site-packages/", 1)[-1]
        click.echo(f"warning: {origin} logged an error; its text is not shown (a library's log line can carry "
                   "credentials)", err=True)


def quiet_library_logs() -> None:
    """Route every log record through ``LibraryLogs`` (so Python's last-resort handler, which prints
    warnings and errors verbatim to stderr, never runs)."""
    root = logging.getLogger()
    if not any(isinstance(h, LibraryLogs) for h in root.handlers):
        for handler in list(root.handlers):
            root.removeHandler(handler)
        root.addHandler(LibraryLogs())


def _echo_masked(text: str) -> None:
    click.echo(redact_all(text, list(registered())), err=True)


def _check_argv(argv: list[str]) -> None:
    """Every argument is UTF-8 text. The OS hands bytes that are not over as lone surrogates, and every
    writer failed on them later, after a history row or a traffic flip (exit 4, a bug)."""
    from pipeline_steps.files import check_text  # here, not at the top: ``--help`` never pays for it

    for number, arg in enumerate(argv, start=1):
        flag, eq, value = arg.partition("=") if arg.startswith("--") else ("", "", arg)
        before = argv[number - 2] if number > 1 else ""
        name = flag if eq else before if before.startswith("--") and "=" not in before else f"argument {number}"
        check_text(value if eq else arg, "command line", name)


class LazyGroup(click.Group):
    """A group that imports a command's module only when that command runs, and maps our errors
    to exit codes (so ``CliRunner`` tests see the same codes as a shell)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = COMMANDS.get(cmd_name)
        if entry is None:
            return None
        if ctx.resilient_parsing:
            return click.Command(cmd_name, help=entry[1], short_help=entry[1])
        module_name, attr = entry[0].split(":")
        command = getattr(importlib.import_module(module_name), attr)
        if not isinstance(command, click.Command):  # pragma: no cover - programming error
            raise TypeError(f"{entry[0]} is not a click command")
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """List commands from ``COMMANDS`` without importing them (keeps ``--help`` fast)."""
        with formatter.section("Commands"):
            formatter.write_dl([(name, COMMANDS[name][1]) for name in sorted(COMMANDS)])

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        # Checked in ``invoke``, where it becomes one ``error:`` line and exit 2 like every bad input.
        ctx.meta["pipeline_steps.argv"] = list(args)
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        quiet_library_logs()
        new_run()
        try:
            _check_argv(ctx.meta.get("pipeline_steps.argv", []))
            rv = super().invoke(ctx)
        except PipelineStepsError as err:
            _echo_masked(f"error: {err}")
            ctx.exit(int(err.exit_code))
        except KeyboardInterrupt:
            click.echo("aborted", err=True)
            ctx.exit(int(ExitCode.ABORTED))
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise  # click's own: usage errors (2), --help, ctx.exit
        except Exception as err:
            _echo_masked(f"internal error: {type(err).__name__}: {err}")
            _echo_masked(traceback.format_exc().rstrip())
            ctx.exit(int(ExitCode.INTERNAL))
        if isinstance(rv, int) and rv != 0:
            ctx.exit(int(rv))
        return rv


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(package_name="pipeline-steps")
def cli() -> None:
    """Quality-gated blue/green delivery for Jenkins.

    Each step reads the previous step's JSON (or the same facts as flags or Jenkins
    parameters in the environment), does one thing, writes its own JSON and exits with a
    documented code: 0 pass, 1 fail, 2 bad input, 3 warning, 4 infrastructure error,
    5 approval required, 130 aborted.
    """


def main(argv: list[str] | None = None) -> None:
    """Console-script entry. Commands return an ``ExitCode`` (or None for OK)."""
    cli.main(args=argv, prog_name="pipeline-steps")
