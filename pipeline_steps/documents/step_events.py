"""The event each step leaves behind, built from the document it just wrote.

deploy, run-tests and evaluate each end with one call here, so their Keptn 0.2 events
(``deployment-finished``, ``tests-finished``, ``evaluation-done``) are made one way, from the
same JSON the next step reads, and always carry what a later step needs to be re-run by hand
from the event alone: the context, and the deployment facts (colour, colour live before,
weights before the flip) that evaluation-done and rollback act on.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pipeline_steps.documents.context import StageContext
from pipeline_steps.documents.events import make_event, write_event

_FACTS = ("colour", "previous_colour", "weights_before", "weights_after", "switched", "namespace", "platform")


def _doc(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _context(doc: dict[str, Any], source: str) -> StageContext:
    return StageContext.from_dict(doc.get("context", {}), source)


def _deployment(out_dir: Path) -> dict[str, Any] | None:
    doc = _doc(out_dir / "deployment.json")
    return {k: doc.get(k) for k in _FACTS} if doc else None


def deployment_finished(out_dir: str | Path) -> Path | None:
    """``sh.keptn.events.deployment-finished`` from OUT/deployment.json (None when deploy wrote none)."""
    out = Path(out_dir)
    doc = _doc(out / "deployment.json")
    if doc is None:
        return None
    ctx = _context(doc, str(out / "deployment.json"))
    return write_event(out, make_event("deployment-finished", ctx, "deploy", deployment=_deployment(out)))


def tests_finished(out_dir: str | Path) -> Path | None:
    """``sh.keptn.events.tests-finished`` from OUT/testrun.json; ``startedat`` is the test start (the gate's window)."""
    out = Path(out_dir)
    doc = _doc(out / "testrun.json")
    if doc is None:
        return None
    ctx = _context(doc, str(out / "testrun.json"))
    return write_event(out, make_event("tests-finished", ctx, "run-tests", startedat=doc.get("start", ""),
                                       finishedat=doc.get("end", ""), result=doc.get("result", ""),
                                       deployment=_deployment(out)))


def evaluation_done(out_dir: str | Path) -> Path | None:
    """``sh.keptn.events.evaluation-done`` from OUT/evaluation.json.

    ``evaluationpassed`` follows Keptn 0.2's pitometer-service (pass or warning); ``evaluationdetails``
    is the Pitometer/lighthouse-shaped result; ``verdict`` is ours (PASS|WARNING|FAIL|ERROR).
    """
    out = Path(out_dir)
    doc = _doc(out / "evaluation.json")
    if doc is None:
        return None
    ctx = _context(doc, str(out / "evaluation.json"))
    verdict = str(doc.get("verdict", "ERROR"))
    details = {k: v for k, v in doc.items() if k in ("options", "totalScore", "objectives", "indicatorResults", "result",
                                                      "timeStart", "timeEnd", "score")}
    return write_event(out, make_event("evaluation-done", ctx, "evaluate", evaluationpassed=verdict in ("PASS", "WARNING"),
                                       evaluationdetails=details, verdict=verdict, deployment=_deployment(out)))
