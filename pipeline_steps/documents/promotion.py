"""``promotion.json``: what evaluation-done decided, for Jenkins (the next stage to deploy) and the chain.

Schema ``pipeline-steps/promotion/v1`` (docs/documents.md); written atomically like every
document, so the Jenkinsfile's ``readJSON`` never sees half of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline_steps.documents.vocabulary import Action, Verdict
from pipeline_steps.documents.weights import Weights
from pipeline_steps.errors import ExitCode
from pipeline_steps.files import write_json

SCHEMA = "pipeline-steps/promotion/v1"


@dataclass(frozen=True)
class Decision:
    """What evaluation-done did and how the process exits."""

    action: Action
    verdict: Verdict
    next_stage: str
    """The stage the version goes to next (``promote`` only)."""
    reason: str
    weights: Weights | None
    """The weights now live in this stage (blue/green), None for direct or when nothing was read."""
    exit_code: ExitCode

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "action": self.action.value,
            "verdict": self.verdict.result,
            "next_stage": self.next_stage,
            "reason": self.reason,
            "weights": self.weights.to_dict() if self.weights else None,
            "exit_code": int(self.exit_code),
        }


def write_promotion(path: str | Path, decision: Decision) -> Path:
    """Write promotion.json atomically."""
    return write_json(path, decision.to_json())
