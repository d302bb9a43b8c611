"""evaluation-done: act on a verdict — promote, roll back, or wait for a manual approval.

Keptn 0.2 did this in its ``evaluation_done`` Jenkinsfile: a pass re-sent new-artefact so the
next stage deployed the version; a fail swapped the VirtualService weights back. We keep that
contract and make it safe to repeat:

* **pass** — in a blue/green stage the new colour is (or becomes) live, then it is marked
  ``passed``; the version is handed to the next stage (none after the last one).
* **fail** — traffic goes back to the weights recorded before the flip, the new colour is marked
  ``failed`` (``status`` shows it); the version is not handed on.
* **error** (the gate could not judge) — treated like a fail: fail closed, never promoted.
* **warning** — as the stage's ``approval_strategy.warning`` says: automatic promotes; manual
  needs ``--approval approve`` (Jenkins ``input``) or ends with exit 5 and changes nothing.
* A manual ``approval_strategy.pass`` needs the same approval for a pass.

Idempotent: every traffic change compares with what the platform reports now, so running it
twice for the same event changes nothing the second time, and re-running it after a crash
between "gate failed" and "weights flipped" finishes the rollback.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline_steps.documents.context import StageContext
from pipeline_steps.documents.shipyard import Stage
from pipeline_steps.errors import BadInputError, ExitCode
from pipeline_steps.files import read_json
from pipeline_steps.platforms.base import Platform, Weights, other_colour

VERDICTS = ("pass", "warning", "fail", "error")
APPROVALS = ("auto", "approve", "reject")


@dataclass(frozen=True)
class DeploymentFacts:
    """What evaluation-done needs from the deploy step: which colour is new and what to restore."""

    colour: str = ""
    previous_colour: str = ""
    weights_before: Weights | None = None

    @classmethod
    def from_json(cls, data: Any, source: str) -> DeploymentFacts:
        if not isinstance(data, dict):
            raise BadInputError(source, None, "must be a JSON object")
        colour = data.get("colour") or ""
        previous = data.get("previous_colour") or ""
        for key, value in (("colour", colour), ("previous_colour", previous)):
            if value not in ("", "blue", "green"):
                raise BadInputError(source, key, f"must be blue, green or empty, got {value!r}")
        before = data.get("weights_before")
        weights = Weights.from_dict(before, f"{source}: weights_before") if before is not None else None
        return cls(colour=colour, previous_colour=previous, weights_before=weights)

    @classmethod
    def from_file(cls, path: str | Path) -> DeploymentFacts:
        return cls.from_json(read_json(path), str(path))

    def to_json(self) -> dict[str, Any]:
        return {
            "colour": self.colour,
            "previous_colour": self.previous_colour,
            "weights_before": self.weights_before.to_dict() if self.weights_before else None,
        }

    def restore_target(self) -> Weights | None:
        """Weights to go back to: those recorded before the flip, else all to the previous colour."""
        if self.weights_before is not None:
            return self.weights_before
        return Weights.all_to(self.previous_colour) if self.previous_colour else None


@dataclass(frozen=True)
class Decision:
    """What evaluation-done did, written to ``promotion.json`` for Jenkins and the chain."""

    action: str
    """``promote`` (hand on to next_stage), ``none`` (passed, last stage), ``rollback``,
    ``stop`` (failed in a direct stage: nothing to route back) or ``wait_approval``."""
    verdict: str
    next_stage: str
    reason: str
    weights: Weights | None
    exit_code: ExitCode

    def to_json(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "verdict": self.verdict,
            "next_stage": self.next_stage,
            "reason": self.reason,
            "weights": self.weights.to_dict() if self.weights else None,
            "exit_code": int(self.exit_code),
        }


def normalise_verdict(value: str, source: str) -> str:
    """Our verdicts, Pitometer's results (pass/warning/fail) and Keptn's ``failed`` (= error)."""
    verdict = value.strip().lower()
    verdict = {"failed": "error", "passed": "pass"}.get(verdict, verdict)
    if verdict not in VERDICTS:
        raise BadInputError(source, "verdict", f"{value!r} is not one of {', '.join(VERDICTS)}")
    return verdict


def evaluation_done(ctx: StageContext, verdict: str, facts: DeploymentFacts, stage: Stage, next_stage: Stage | None,
                    platform: Platform, approval: str = "auto", holder: str = "evaluation-done") -> Decision:
    """Decide and act. Raises ``PipelineStepsError`` when the platform cannot do it (exit 4)."""
    if approval not in APPROVALS:
        raise BadInputError("--approval", None, f"{approval!r} is not one of {', '.join(APPROVALS)}")
    if stage.blue_green and not facts.colour:
        raise BadInputError("deployment", "colour", "a blue/green stage needs the deployed colour (--deployment or --colour)")
    manual = (verdict == "pass" and stage.approval_pass == "manual") or (
        verdict == "warning" and stage.approval_warning == "manual")
    if manual and approval == "auto":
        return Decision("wait_approval", verdict, "", f"{verdict} in {stage.name} needs a manual approval "
                        "(re-run with --approval approve or reject)", None, ExitCode.APPROVAL_REQUIRED)
    if verdict in ("pass", "warning") and approval != "reject":
        return _promote(ctx, verdict, facts, stage, next_stage, platform, holder)
    reason = "approval refused" if approval == "reject" and verdict in ("pass", "warning") else f"quality gate: {verdict}"
    return _roll_back(ctx, verdict, facts, stage, platform, holder, reason)


def _promote(ctx: StageContext, verdict: str, facts: DeploymentFacts, stage: Stage, next_stage: Stage | None,
             platform: Platform, holder: str) -> Decision:
    weights = None
    if stage.blue_green:
        target = Weights.all_to(facts.colour)
        with platform.lock(ctx, holder):
            current = platform.status(ctx).weights
            weights = current if current == target else platform.set_weights(ctx, target)
            platform.mark(ctx, facts.colour, "passed")
    if next_stage is None:
        return Decision("none", verdict, "", f"{verdict}: {ctx.tag} serves {stage.name} (last stage)", weights, ExitCode.OK)
    return Decision("promote", verdict, next_stage.name, f"{verdict}: promote {ctx.tag} to {next_stage.name}", weights,
                    ExitCode.OK)


def _roll_back(ctx: StageContext, verdict: str, facts: DeploymentFacts, stage: Stage, platform: Platform, holder: str,
               reason: str) -> Decision:
    code = ExitCode.INFRA if verdict == "error" else ExitCode.FAIL
    if not stage.blue_green:
        platform.mark(ctx, None, "failed")
        return Decision("stop", verdict, "", f"{reason}; direct stage: {ctx.tag} stays deployed, not promoted", None, code)
    target = facts.restore_target()
    with platform.lock(ctx, holder):
        current = platform.status(ctx).weights
        if target is None or target.of(facts.colour) == 100:
            platform.mark(ctx, facts.colour, "failed")
            return Decision("rollback", verdict, "", f"{reason}; no previous version to route back to", current, code)
        moved = current != target
        weights = platform.set_weights(ctx, target) if moved else current
        platform.mark(ctx, facts.colour, "failed")
    back_to = weights.live if weights and weights.live else other_colour(facts.colour)
    where = f"traffic back to {back_to}" if moved else f"traffic stays on {back_to}"
    return Decision("rollback", verdict, "", f"{reason}; {where} ({weights})", weights, code)
