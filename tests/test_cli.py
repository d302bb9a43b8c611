"""The CLI shell: lazy command loading, exit codes, and the shared context options.

Aspects: --help lists every command without importing heavy modules; errors become the
documented exit codes; context flags fall back to Jenkins parameter names in the environment.
"""

from __future__ import annotations

import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from pipeline_steps import cli as cli_module
from pipeline_steps.commands.options import context_from_options, context_options
from pipeline_steps.errors import BadInputError, ExitCode


def test_help_lists_every_command_without_importing_heavy_modules() -> None:
    code = (
        "import sys; from pipeline_steps.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit as e:\n    assert e.code == 0, e.code\n"
        "heavy = [m for m in ('kubernetes', 'requests', 'aiohttp', 'yaml') if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    for name in cli_module.COMMANDS:
        assert name in out
    assert "HEAVY []" in out


def test_pipeline_steps_error_becomes_its_exit_code(monkeypatch: pytest.MonkeyPatch) -> None:
    @click.command()
    def broken() -> None:
        raise BadInputError("perfspec.json", "indicators[0].source", "unknown source 'Foo'")

    monkeypatch.setitem(cli_module.COMMANDS, "broken", ("tests.test_cli:_broken", "x"))
    monkeypatch.setattr(sys.modules[__name__], "_broken", broken, raising=False)
    result = CliRunner().invoke(cli_module.cli, ["broken"])
    assert result.exit_code == ExitCode.BAD_INPUT
    assert "perfspec.json: indicators[0].source: unknown source 'Foo'" in result.output


def test_command_returning_a_code_exits_with_it(monkeypatch: pytest.MonkeyPatch) -> None:
    @click.command()
    def warn() -> int:
        return int(ExitCode.WARNING)

    monkeypatch.setitem(cli_module.COMMANDS, "warn", ("tests.test_cli:_warn", "x"))
    monkeypatch.setattr(sys.modules[__name__], "_warn", warn, raising=False)
    assert CliRunner().invoke(cli_module.cli, ["warn"]).exit_code == ExitCode.WARNING


def test_context_options_read_jenkins_parameters_from_env() -> None:
    seen = {}

    @click.command()
    @context_options
    def show(**options: str) -> None:
        seen["ctx"] = context_from_options(options)

    env = {"PROJECT": "sockshop", "STAGE": "staging", "SERVICE": "carts", "TAG": "0.7.2",
           "DEPLOYMENTSTRATEGY": "blue_green_service", "TESTSTRATEGY": "performance"}
    result = CliRunner().invoke(show, [], env=env)
    assert result.exit_code == 0, result.output
    ctx = seen["ctx"]
    assert ctx.namespace == "sockshop-staging"
    assert ctx.blue_green and ctx.test_strategy == "performance" and ctx.tag == "0.7.2"


@pytest.mark.parametrize(
    ("field", "value", "needle"),
    [("stage", "Staging", "stage"), ("deployment_strategy", "canary", "deployment_strategy"),
     ("test_strategy", "load", "test_strategy"), ("service", "", "service"),
     # a Jenkins parameter whose bytes are not UTF-8 reaches us as a lone surrogate (os.environ)
     ("tag", "v\udcff", "tag"), ("image", "carts\udcff", "image"), ("keptn_context", "\udcff", "keptn_context")],
)
def test_context_rejects_bad_names(field: str, value: str, needle: str) -> None:
    options = {"project": "sockshop", "stage": "dev", "service": "carts", field: value}
    with pytest.raises(BadInputError) as err:
        context_from_options(options)
    assert err.value.field == needle
