"""The closed vocabularies the documents carry, as enums: verdicts, indicator statuses, the
evaluation-done action and the deployment strategy.

Why one module: a word that crosses a step boundary is written into a document by one step and
read by another, so its spelling is a contract (docs/documents.md). Each enum is a ``str`` whose
value is that spelling, so it goes into JSON, SQLite and f-strings as the word itself, and a
table keyed by one of them (summary marks, report colours, the JUnit mapping, exit codes) is
tested to cover every member (tests/documents/test_vocabulary.py).
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from pipeline_steps.errors import ExitCode


class Word(str, Enum):
    """A member reads, formats and serialises as its value (Python 3.11 formats mixed-in enums as
    ``Class.MEMBER`` otherwise)."""

    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self.value), spec)

    @classmethod
    def values(cls) -> tuple[str, ...]:
        return tuple(str(m.value) for m in cls)

    @classmethod
    def member(cls, value: Any) -> Any:
        """The member spelled ``value``, or ``value`` unchanged when it is none (left for validation to refuse)."""
        return cls(value) if value in cls.values() else value


class Verdict(Word):
    """The gate's closed verdict set (SLO-style quality gates, Argo Rollouts' analysis phases):
    ``ERROR`` (the gate could not judge) is kept apart from ``FAIL`` (the version is bad)."""

    PASS = "PASS"
    WARNING = "WARNING"
    FAIL = "FAIL"
    ERROR = "ERROR"

    @property
    def exit_code(self) -> ExitCode:
        return VERDICT_EXIT_CODES[self]

    @property
    def result(self) -> str:
        """Pitometer's and lighthouse's result word (``pass``, ``warning``, ``fail``; ``error``)."""
        return str(self.value).lower()

    @classmethod
    def parse(cls, value: Any) -> Verdict | None:
        """Our verdicts, Pitometer's results (pass/warning/fail) and Keptn's ``failed`` (= error,
        lighthouse's result when the evaluation itself failed) and ``passed``; None for anything else."""
        word = str(value).strip().upper()
        word = {"FAILED": "ERROR", "PASSED": "PASS"}.get(word, word)
        return cls(word) if word in cls.values() else None


VERDICT_EXIT_CODES: dict[Verdict, ExitCode] = {
    Verdict.PASS: ExitCode.OK, Verdict.WARNING: ExitCode.WARNING,
    Verdict.FAIL: ExitCode.FAIL, Verdict.ERROR: ExitCode.INFRA,
}
"""README "Exit codes": a gate ERROR is an infrastructure error, never a pass."""


class IndicatorStatus(Word):
    """One indicator's outcome, as evaluation.json, JUnit, the summary, the history and the report show it."""

    PASS = "pass"
    WARNING = "warning"
    FAIL = "fail"
    NO_DATA = "no_data"
    """The source answered but had no finite value (Pitometer: "The indicator returned no values")."""
    ERROR = "error"
    """The source was down or answered an error: the verdict becomes ERROR."""
    INFO = "info"
    """An SLO objective without pass criteria: shown, never scored (lighthouse)."""


class Action(Word):
    """What evaluation-done did (promotion.json ``action``)."""

    PROMOTE = "promote"
    """Hand the version on to ``next_stage``."""
    NONE = "none"
    """Passed in the last stage: nothing to hand on."""
    ROLLBACK = "rollback"
    """Traffic went back to the weights recorded before the flip."""
    STOP = "stop"
    """Failed in a direct stage: nothing to route back, not promoted."""
    WAIT_APPROVAL = "wait_approval"
    """A manual approval is required and was not given (exit 5)."""


class DeploymentStrategy(Word):
    """Keptn's shipyard names for how a stage deploys."""

    BLUE_GREEN = "blue_green_service"
    DIRECT = "direct"
