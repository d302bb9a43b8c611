"""The ``evaluate`` step: judge one test window by its quality gate and write the evidence.

Flow (each query was already checked by its source when the spec loaded): reach the history and
read the comparison pool (a history that is down is an ``InfrastructureError``, exit 4, before any
query runs) -> fill placeholders -> query all indicators concurrently -> the spec's dialect judges
(Pitometer perfspec in ``gate/pitometer.py``, lighthouse SLO in ``gate/lighthouse.py``; any source
error makes the verdict ERROR, never PASS) -> history (not when a source failed: nothing was
measured) -> evaluation.json, junit-evaluation.xml, evaluation-summary.txt and the
``evaluation-done`` event, every secret masked.

Collaborators are passed in (sources, history store), so tests use the real Prometheus or a
stand-in the same way the CLI does.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pipeline_steps.documents.context import StageContext
from pipeline_steps.documents.evaluation import (
    IndicatorReport,
    Judgement,
    Sample,
    Window,
    evaluation_document,
    write_evaluation,
)
from pipeline_steps.documents.events import after_evaluation, event_path
from pipeline_steps.documents.vocabulary import Verdict
from pipeline_steps.errors import BadInputError
from pipeline_steps.files import check_writable, to_json, write_text
from pipeline_steps.gate import lighthouse, pitometer
from pipeline_steps.gate.perfspec import PerfSpec
from pipeline_steps.gate.placeholders import context_values, duration_values, fill_queries
from pipeline_steps.gate.slo import REQUIRE_HISTORY, SloSpec
from pipeline_steps.history import History, HistoryEntry
from pipeline_steps.report.gate_summary import render_summary, write_gate_junit
from pipeline_steps.secrets import Secret, redact_all
from pipeline_steps.sources import MetricSource, SourceSettings, build
from pipeline_steps.sources.base import MAX_WORKERS, Fetched


@dataclass
class EvaluationOutcome:
    verdict: Verdict
    document: dict[str, Any]
    indicators: list[IndicatorReport]
    summary: str
    paths: dict[str, Path] = field(default_factory=dict)
    history_id: int | None = None
    notes: list[str] = field(default_factory=list)
    """What the sources said while waiting for the window's data (``MetricSource.settle``), for the log."""


@dataclass(frozen=True)
class GateRun:
    """What every evaluation needs besides the spec."""

    context: StageContext
    window: Window
    settings: SourceSettings
    out_dir: Path
    history: History | None = None
    require_history: str = "off"
    """off | warning | error: the ``--require-history`` flag; the SLO's own setting is combined with it."""
    keptn_minutes: bool = False
    deployment: str = ""
    sources: dict[str, MetricSource] = field(default_factory=dict)
    """Pre-built sources by name (tests); the rest are built from ``settings``."""


def evaluate(spec: PerfSpec | SloSpec, run: GateRun) -> EvaluationOutcome:
    """Judge ``run.window`` by ``spec`` (Pitometer 1.0.x or lighthouse 0.8 semantics; docs/gate.md)."""
    check_writable(outputs(run.out_dir).values())  # a folder in the way: bad input before anything is queried
    filters, queries_file = (spec.filters, spec.sli_path) if isinstance(spec, SloSpec) else (None, spec.path)
    values = {**context_values(run.context, filters, deployment=run.deployment),
              **duration_values(run.window, keptn_minutes=run.keptn_minutes)}
    pool = _comparison_pool(spec, run) if isinstance(spec, SloSpec) else []
    if run.history is not None and not isinstance(spec, SloSpec):
        run.history.check()  # the write at the end must not be the first time we learn it is down
    items = spec.queries()
    queries = fill_queries(queries_file, items, values)
    sources = _sources_for(run, {source for _, source, _ in items})
    try:
        # The data first, then the queries: a window that ended moments ago may miss its last scrape.
        notes = [note for source in sources.values() if (note := source.settle(run.window))]
        fetched = _fetch_all([(sources[source], query) for (_, source, _), query in zip(items, queries, strict=True)],
                             run.window)
        described = [sources[source].describe(query) for (_, source, _), query in zip(items, queries, strict=True)]
    finally:
        for source in sources.values():
            source.close()
    secrets = [*run.settings.secrets(), *(s for source in sources.values() for s in source.secrets())]
    # What a backend answered is masked where it enters, so nothing built from it (the judgement,
    # the history, every document) can carry a credential the backend quoted back.
    fetched = [_masked(f, secrets) for f in fetched]
    described = [redact_all(d, secrets) for d in described]
    if isinstance(spec, SloSpec):
        levels = (run.require_history, spec.comparison.require_history)
        judgement = lighthouse.judge(spec, run.window, fetched, described, pool,
                                     require_history=max(levels, key=REQUIRE_HISTORY.index))
    else:
        judgement = pitometer.judge(spec, run.window, fetched, described)
    outcome = _record(run, judgement, secrets)
    outcome.notes = [redact_all(note, secrets) for note in notes]
    return outcome


def outputs(out: Path) -> dict[str, Path]:
    """Every file the step writes under ``out``."""
    return {"evaluation": out / "evaluation.json", "junit": out / "junit-evaluation.xml",
            "summary": out / "evaluation-summary.txt", "event": event_path(out, "evaluation-done")}


def _sources_for(run: GateRun, names: set[str]) -> dict[str, MetricSource]:
    built = dict(run.sources)
    for name in sorted(names - set(built)):
        built[name] = build(name, run.settings)
    return built


def _fetch_all(jobs: list[tuple[MetricSource, Any]], window: Window) -> list[Fetched]:
    """All queries at once (Pitometer's Promise.all); the order of ``jobs`` is kept."""

    def one(job: tuple[MetricSource, Any]) -> Fetched:
        try:
            return job[0].fetch(job[1], window)
        except Exception as err:  # a source bug must still end as ERROR, not as a crash without evidence
            return Fetched(error=f"{type(err).__name__}: {err}")

    if len(jobs) <= 1:
        return [one(j) for j in jobs]
    with ThreadPoolExecutor(max_workers=min(MAX_WORKERS, len(jobs))) as pool:
        return list(pool.map(one, jobs))


def _masked(fetched: Fetched, secrets: list[Secret | None]) -> Fetched:
    """``fetched`` with every secret masked in its error and its series' keys (labels, entity names),
    the dropped ones included."""
    return replace(fetched, error=redact_all(fetched.error, secrets) if fetched.error else fetched.error,
                   samples=[Sample(redact_all(s.key, secrets), s.value) for s in fetched.samples],
                   dropped_keys=[redact_all(k, secrets) for k in fetched.dropped_keys])


def _comparison_pool(spec: SloSpec, run: GateRun) -> list[HistoryEntry]:
    """The stored evaluations relative SLO criteria compare with (newest first; none without a history).
    One snapshot; the store is created (or its schema checked) first, so a later write cannot be refused."""
    if run.history is None:
        return []
    run.history.check()
    ctx = run.context
    return run.history.previous(ctx.project, ctx.stage, ctx.service, limit=spec.comparison.pool_size,
                                results=lighthouse.INCLUDED_RESULTS[spec.comparison.include_result_with_score])


def _record(run: GateRun, judgement: Judgement, secrets: list[Secret | None]) -> EvaluationOutcome:
    """Store the judgement (unless a source failed: nothing was measured) and write every document of the step."""
    history_id = None
    # Everything that can make the outputs unwritable is found before the history row is: the
    # folder (a row must never describe an evaluation whose evidence was not written) and the
    # document itself (to_json refuses a non-finite number: a bug, exit 4, nothing stored).
    try:
        run.out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise BadInputError(str(run.out_dir), None, f"cannot write the evaluation here: {err.strerror or err}; "
                                                    "nothing was stored") from err
    to_json(evaluation_document(judgement, run.context, run.window, None))
    if run.history is not None and judgement.measured:
        history_id = run.history.add(context=run.context.to_dict(), kind=judgement.kind, verdict=judgement.verdict.value,
                                     result=judgement.result, score=judgement.achieved, max_score=judgement.maximum,
                                     indicators=judgement.reports)
    document = evaluation_document(judgement, run.context, run.window, history_id)
    out = run.out_dir
    paths = outputs(out)
    del paths["event"]  # written below when there is one
    # Sources mask secrets in what they report; masking again here covers whatever else could carry
    # one (an exception text from a source bug, a query that embeds a credential).
    write_evaluation(paths["evaluation"], document, secrets)
    write_gate_junit(paths["junit"], document, judgement.reports, secrets=secrets)
    summary = redact_all(render_summary(document, judgement.reports), secrets)
    write_text(paths["summary"], summary + "\n")
    event = after_evaluation(out)
    if event is not None:
        paths["event"] = event
    return EvaluationOutcome(judgement.verdict, document, judgement.reports, summary, paths, history_id)
