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
between "gate failed" and "weights flipped" finishes the rollback. Exclusive: it acts under the
service's lock with a holder of its own (``lock_holder``), so a second evaluation-done, switch or
deploy of the same service and stage is refused (exit 4, naming the holder) while it acts.

Writes promotion.json (``documents/promotion.py``) and, on a promotion, the ``new-artefact``
event and the ``configuration-changed`` event for the next stage (which ``deploy --event`` accepts).
"""

from __future__ import annotations

from pathlib import Path

from pipeline_steps.documents.context import StageContext
from pipeline_steps.documents.deployment import DeploymentFacts
from pipeline_steps.documents.events import event_path, make_event, write_event
from pipeline_steps.documents.promotion import Decision, write_promotion
from pipeline_steps.documents.shipyard import Stage
from pipeline_steps.documents.vocabulary import Action, Verdict
from pipeline_steps.documents.weights import Weights, other_colour
from pipeline_steps.errors import BadInputError, ExitCode
from pipeline_steps.files import check_writable
from pipeline_steps.platforms.base import Platform, lock_holder

APPROVALS = ("auto", "approve", "reject")


def normalise_verdict(value: str, source: str, field: str | None = "verdict") -> Verdict:
    """Our verdicts, Pitometer's results (pass/warning/fail) and Keptn's ``failed`` (= error); else bad
    input naming ``source`` (the file, event or ``command line``) and ``field``."""
    verdict = Verdict.parse(value)
    if verdict is None:
        raise BadInputError(source, field, f"{value!r} is not one of pass, warning, fail, error")
    return verdict


def evaluation_done(ctx: StageContext, verdict: Verdict, facts: DeploymentFacts, stage: Stage, next_stage: Stage | None,
                    *, platform: Platform, approval: str = "auto", holder: str = "",
                    out_dir: Path | None = None) -> Decision:
    """Decide and act; with ``out_dir`` write promotion.json and the events there. ``holder`` names
    the lock holder (default: a new ``lock_holder``). Raises ``PipelineStepsError`` when the platform
    cannot do it (exit 4), ``ConflictError`` while another pipeline holds the service's lock."""
    if out_dir is not None:  # a folder in the way is bad input before traffic moves
        check_writable([out_dir / "promotion.json", *(event_path(out_dir, n) for n in ("new-artefact", "configuration-changed"))])
    decision = _decide(ctx, verdict, facts, (stage, next_stage), platform, approval=approval,
                       holder=holder or lock_holder(ctx))
    if out_dir is not None:
        write_promotion(out_dir / "promotion.json", decision)
        if decision.action is Action.PROMOTE and next_stage is not None:
            write_event(out_dir, make_event("new-artefact", ctx, "evaluation-done"))
            nxt = ctx.with_stage(next_stage.name, next_stage.deployment_strategy, next_stage.test_strategy)
            write_event(out_dir, make_event("configuration-changed", nxt, "evaluation-done"))
    return decision


def _decide(ctx: StageContext, verdict: Verdict, facts: DeploymentFacts, stages: tuple[Stage, Stage | None],
            platform: Platform, *, approval: str, holder: str) -> Decision:
    stage = stages[0]
    if approval not in APPROVALS:
        raise BadInputError("--approval", None, f"{approval!r} is not one of {', '.join(APPROVALS)}")
    if stage.blue_green and not facts.colour:
        raise BadInputError("deployment", "colour", "a blue/green stage needs the deployed colour (--deployment or --colour)")
    manual = (verdict is Verdict.PASS and stage.approval_pass == "manual") or (
        verdict is Verdict.WARNING and stage.approval_warning == "manual")
    if manual and approval == "auto":
        return Decision(Action.WAIT_APPROVAL, verdict, "", f"{verdict.result} in {stage.name} needs a manual approval "
                        "(re-run with --approval approve or reject)", None, ExitCode.APPROVAL_REQUIRED)
    good = verdict in (Verdict.PASS, Verdict.WARNING)
    # Everything below reads and changes the stage: one holder at a time, for the whole decision.
    with platform.lock(ctx, holder):
        if good and approval != "reject":
            return _promote(ctx, verdict, facts, stages, platform)
        reason = "approval refused" if approval == "reject" and good else f"quality gate: {verdict.result}"
        return _roll_back(ctx, (verdict, reason), facts, stage, platform)


def _promote(ctx: StageContext, verdict: Verdict, facts: DeploymentFacts, stages: tuple[Stage, Stage | None],
             platform: Platform) -> Decision:
    stage, next_stage = stages
    weights = None
    if stage.blue_green:
        target = Weights.all_to(facts.colour)
        current = platform.status(ctx).weights
        weights = current if current == target else platform.set_weights(ctx, target)
        platform.mark(ctx, facts.colour, "passed")
    word = verdict.result
    if next_stage is None:
        return Decision(Action.NONE, verdict, "", f"{word}: {ctx.tag} serves {stage.name} (last stage)", weights, ExitCode.OK)
    return Decision(Action.PROMOTE, verdict, next_stage.name, f"{word}: promote {ctx.tag} to {next_stage.name}", weights,
                    ExitCode.OK)


def _roll_back(ctx: StageContext, why: tuple[Verdict, str], facts: DeploymentFacts, stage: Stage,
               platform: Platform) -> Decision:
    verdict, reason = why
    code = ExitCode.INFRA if verdict is Verdict.ERROR else ExitCode.FAIL
    if not stage.blue_green:
        platform.mark(ctx, None, "failed")
        return Decision(Action.STOP, verdict, "", f"{reason}; direct stage: {ctx.tag} stays deployed, not promoted", None,
                        code)
    target = facts.restore_target()
    current = platform.status(ctx).weights
    if target is None or target.of(facts.colour) == 100:
        platform.mark(ctx, facts.colour, "failed")
        return Decision(Action.ROLLBACK, verdict, "", f"{reason}; no previous version to route back to", current, code)
    moved = current != target
    weights = platform.set_weights(ctx, target) if moved else current
    platform.mark(ctx, facts.colour, "failed")
    back_to = weights.live if weights and weights.live else other_colour(facts.colour)
    where = f"traffic back to {back_to}" if moved else f"traffic stays on {back_to}"
    return Decision(Action.ROLLBACK, verdict, "", f"{reason}; {where} ({weights})", weights, code)
