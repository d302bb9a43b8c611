"""One exception tree for the whole tool, with the process exit code on each class.

Jenkinsfiles map exit codes to build results (FAILURE, UNSTABLE, ...), so the codes are a
public contract: they are listed in the README and must never be reused for something else.
Third-party exceptions (requests, kubernetes, aiohttp, yaml) are wrapped into these classes
where the third party is called, so nothing above that edge needs to know the library.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit codes; the README's table is generated from the same meanings."""

    OK = 0
    """The step did its job; for a gate: PASS."""
    FAIL = 1
    """The version is bad: gate FAIL, tests failed, build FAILURE."""
    BAD_INPUT = 2
    """A file, flag or event is malformed; nothing was changed. Also click's usage errors."""
    WARNING = 3
    """Gate WARNING (promote only if the stage's approval strategy allows); build UNSTABLE."""
    INFRA = 4
    """A backend is down or answered an error (Prometheus, Dynatrace, Kubernetes, Envoy, Jenkins);
    for a gate: verdict ERROR. Never treated as a pass."""
    INTERNAL = 4
    """A bug in this tool (an unexpected exception): like an infrastructure error, never a verdict;
    ``internal error:`` and the traceback go to stderr. An alias of ``INFRA`` (same code)."""
    APPROVAL_REQUIRED = 5
    """A warning waits for a manual approval that has not been given (or was refused)."""
    ABORTED = 130
    """Interrupted (Ctrl-C, SIGTERM from a Jenkins abort); partial results were written."""


class PipelineStepsError(Exception):
    """Base of every error this tool raises on purpose. ``exit_code`` says how the CLI exits."""

    exit_code: ExitCode = ExitCode.INFRA


class BadInputError(PipelineStepsError):
    """Malformed input. ``source`` names the file (or flag/event) and ``field`` the path in it,
    so the message reads ``perfspec.json: indicators[2].grading.thresholds.upperWarning: must be a number``.
    """

    exit_code = ExitCode.BAD_INPUT

    def __init__(self, source: str, field: str | None, message: str) -> None:
        self.source = source
        self.field = field
        self.message = " ".join(message.split())  # one line, whatever the parser said
        message = self.message
        where = f"{source}: {field}" if field else source
        super().__init__(f"{where}: {message}")


def parser_problem(err: Exception) -> str:
    """A parser error (YAML, JSON) as one short phrase with its line, for ``BadInputError``."""
    mark = getattr(err, "problem_mark", None)
    problem = getattr(err, "problem", None)
    if mark is not None and problem:
        return f"{problem} at line {mark.line + 1}, column {mark.column + 1}"
    lineno = getattr(err, "lineno", None)
    msg = getattr(err, "msg", None)
    if lineno is not None and msg:
        return f"{msg} at line {lineno}"
    return " ".join(str(err).split())


class InfrastructureError(PipelineStepsError):
    """A backend could not be reached or answered an error. ``backend`` names it (e.g. ``prometheus``)."""

    exit_code = ExitCode.INFRA

    def __init__(self, backend: str, message: str) -> None:
        self.backend = backend
        self.message = message
        super().__init__(f"{backend}: {message}")


class NotReadyError(InfrastructureError):
    """A colour or process did not become available in time; the message names the reasons."""


class ConflictError(InfrastructureError):
    """Someone else changed the object (or holds the lock) and retries did not resolve it."""


class VerdictError(PipelineStepsError):
    """Raised by steps to end the process with a verdict code (FAIL, WARNING, ...) and a message."""

    def __init__(self, exit_code: ExitCode, message: str) -> None:
        self.exit_code = exit_code
        super().__init__(message)


class AbortedError(PipelineStepsError):
    """The run was interrupted; what was measured so far has been written."""

    exit_code = ExitCode.ABORTED
