"""promotion.json: what evaluation-done decided, with a schema name, written atomically.

Aspects: the document names its schema (``pipeline-steps/promotion/v1``) and carries the action,
the verdict as Pitometer's word, the next stage, the reason, the weights and the exit code; it is
replaced by a rename (no temporary file is left, a reader never sees half of it); the step writes
it itself, with the events of a promotion.
"""

from __future__ import annotations

import json
from pathlib import Path

from pipeline_steps.documents.promotion import SCHEMA, Decision, write_promotion
from pipeline_steps.documents.vocabulary import Action, Verdict
from pipeline_steps.documents.weights import Weights
from pipeline_steps.errors import ExitCode


def test_schema_and_fields(tmp_path: Path) -> None:
    decision = Decision(Action.ROLLBACK, Verdict.FAIL, "", "quality gate: fail; traffic back to blue", Weights(100, 0),
                        ExitCode.FAIL)
    path = write_promotion(tmp_path / "out" / "promotion.json", decision)
    assert json.loads(path.read_text()) == {
        "schema": SCHEMA, "action": "rollback", "verdict": "fail", "next_stage": "",
        "reason": "quality gate: fail; traffic back to blue", "weights": {"blue": 100, "green": 0}, "exit_code": 1}
    assert SCHEMA == "pipeline-steps/promotion/v1"
    assert [p.name for p in path.parent.iterdir()] == ["promotion.json"]  # the temporary file was renamed


def test_rewrite_replaces_the_file_by_rename(tmp_path: Path) -> None:
    path = tmp_path / "promotion.json"
    first = Decision(Action.WAIT_APPROVAL, Verdict.WARNING, "", "needs approval", None, ExitCode.APPROVAL_REQUIRED)
    write_promotion(path, first)
    inode = path.stat().st_ino
    write_promotion(path, Decision(Action.PROMOTE, Verdict.WARNING, "production", "approved", None, ExitCode.OK))
    assert path.stat().st_ino != inode  # a new file renamed over the old one, not the old one rewritten in place
    assert json.loads(path.read_text())["action"] == "promote"
