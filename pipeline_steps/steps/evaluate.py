"""The ``evaluate`` step: judge one test window by its quality gate and write the evidence.

Flow: check every query against its source (bad input stops here, nothing written) ->
substitute placeholders -> query all indicators concurrently -> grade (Pitometer perfspec or
lighthouse SLO) -> verdict (any source error makes it ERROR, never PASS) -> evaluation.json,
junit-evaluation.xml, evaluation-summary.txt -> history (not for ERROR).

Collaborators are passed in (sources, history store), so tests use the real Prometheus or a
stand-in the same way the CLI does.
"""

from __future__ import annotations

import base64
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline_steps.documents.context import StageContext
from pipeline_steps.errors import BadInputError
from pipeline_steps.gate import lighthouse, pitometer
from pipeline_steps.gate.model import Fetched, IndicatorReport, Verdict, Window, number
from pipeline_steps.gate.perfspec import LEGACY_KEYS, PerfIndicator, PerfSpec
from pipeline_steps.gate.placeholders import context_values, duration_values, substitute
from pipeline_steps.gate.slo import SloSpec
from pipeline_steps.history.sqlite import HistoryEntry, HistoryStore
from pipeline_steps.report.gate_summary import render_summary, write_gate_junit
from pipeline_steps.secrets import redact_all
from pipeline_steps.sources import SOURCES, MetricSource, SourceSettings, build, source_class
from pipeline_steps.sources.base import MAX_WORKERS, split_userinfo

SCHEMA = "pipeline-steps/evaluation/v1"


@dataclass
class EvaluationOutcome:
    verdict: Verdict
    document: dict[str, Any]
    indicators: list[IndicatorReport]
    summary: str
    paths: dict[str, Path] = field(default_factory=dict)
    history_id: int | None = None


@dataclass(frozen=True)
class GateRun:
    """What every evaluation needs besides the spec."""

    context: StageContext
    window: Window
    settings: SourceSettings
    out_dir: Path
    history: HistoryStore | None = None
    keptn_minutes: bool = False
    deployment: str = ""
    sources: dict[str, MetricSource] = field(default_factory=dict)
    """Pre-built sources by name (tests); the rest are built from ``settings``."""


def _check_queries(spec_path: str, items: list[tuple[str, str, Any]]) -> None:
    """``(field, source, query)`` triples; a query its source cannot run is bad input."""
    for where, source, query in items:
        problem = source_class(source).check_query(query)
        if problem:
            raise BadInputError(spec_path, where, problem)


def _substituted(spec_path: str, items: list[tuple[str, str, Any]], values: dict[str, str]) -> list[Any]:
    """The queries of ``(field, source, query)`` with placeholders filled; a value that cannot
    stand where its placeholder is (see gate/placeholders.py) is bad input naming the query."""
    queries = []
    for where, source, query in items:
        try:
            queries.append(_substitute_query(source, query, values))
        except ValueError as err:
            raise BadInputError(spec_path, where, str(err)) from None
    return queries


def _substitute_query(source: str, query: Any, values: dict[str, str]) -> Any:
    if isinstance(query, str):
        return substitute(query, values, None if source == "prometheus" else str)
    if isinstance(query, dict):
        return {k: _substitute_query(source, v, values) for k, v in query.items()}
    if isinstance(query, list):
        return [_substitute_query(source, v, values) for v in query]
    return query


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


def _values(run: GateRun, filters: dict[str, str] | None = None) -> dict[str, str]:
    return {**context_values(run.context, filters, deployment=run.deployment),
            **duration_values(run.window, keptn_minutes=run.keptn_minutes)}


def evaluate_perfspec(spec: PerfSpec, run: GateRun) -> EvaluationOutcome:
    """Pitometer 1.0.x semantics; see docs/gate.md."""
    items = [(f"indicators[{i}].query", ind.source, ind.query) for i, ind in enumerate(spec.indicators)]
    _check_queries(spec.path, items)
    queries = _substituted(spec.path, items, _values(run))
    sources = _sources_for(run, {ind.source for ind in spec.indicators})
    try:
        fetched = _fetch_all([(sources[ind.source], q) for ind, q in zip(spec.indicators, queries, strict=True)], run.window)
        reports: list[IndicatorReport] = []
        graded: list[tuple[str, pitometer.Graded]] = []
        errors: list[str] = []
        for ind, query, got in zip(spec.indicators, queries, fetched, strict=True):
            described = sources[ind.source].describe(query)
            if got.error is not None:
                errors.append(f"{ind.id}: {got.error}")
                reports.append(IndicatorReport(ind.id, ind.source, described, "error", 0.0, ind.grading.metric_score,
                                               thresholds=dict(ind.grading.thresholds),
                                               criteria_text=threshold_text(ind), reason=got.error))
                continue
            result = pitometer.grade(got, ind.grading)
            graded.append((ind.id, result))
            reports.append(_perf_report(ind, described, got, result))
    finally:
        for source in sources.values():
            source.close()
    total, result_word = pitometer.total_and_result([g.score for _, g in graded], spec.objectives)
    doc = pitometer.run_document(run.window.start, run.window.end, total, spec.objectives, graded, result_word)
    verdict = Verdict.ERROR if errors else Verdict(result_word.upper())
    if errors:
        doc["result"] = "failed"
        doc["error"] = "; ".join(errors)
    maximum = sum(ind.grading.metric_score for ind in spec.indicators)
    warnings = [f"{ind.id}: threshold key {k!r} is not known and ignored (as Pitometer did)"
                for ind in spec.indicators for k in ind.ignored_keys]
    warnings += [f"{ind.id}: threshold key {k!r} read as {LEGACY_KEYS[k]!r} (pre-release Pitometer name; 1.0.1 ignored it)"
                 for ind in spec.indicators for k in ind.legacy_keys]
    return _finish(run, "perfspec", spec.path, verdict, doc, reports, total, maximum, result_word, warnings)


def threshold_text(ind: PerfIndicator) -> str:
    parts = []
    for key, op in (("upperSevere", ">="), ("upperWarning", ">="), ("lowerWarning", "<="), ("lowerSevere", "<=")):
        if key in ind.grading.thresholds:
            value = ind.grading.thresholds[key]
            level = "fail" if key.endswith("Severe") else "warn"
            parts.append(f"{level} if {op} {number(value)}" + (" (0: ignored, as Pitometer)" if value == 0 else ""))
    return "; ".join(parts) or "no thresholds"


def _perf_report(ind: PerfIndicator, described: str, got: Fetched, result: pitometer.Graded) -> IndicatorReport:
    worst = None
    worst_score = None
    for sample in got.samples:
        score = pitometer.grade(Fetched(samples=[sample]), ind.grading).score
        if worst_score is None or score < worst_score:
            worst, worst_score = sample, score
    if result.status == "no_data":
        reason = pitometer.NO_VALUES + (f" ({got.dropped} NaN/empty series dropped)" if got.dropped else "")
    else:
        reason = "; ".join(f"{v['value']} breaches {v['breach']} {v['threshold']}" + (f" on {v['key']}" if v["key"] else "")
                           for v in result.violations)
    return IndicatorReport(ind.id, ind.source, described, result.status, result.score, ind.grading.metric_score,
                           value=worst.value if worst else None, values=list(got.samples),
                           thresholds={k: number(v) for k, v in ind.grading.thresholds.items()},
                           criteria_text=threshold_text(ind), reason=reason)


def evaluate_slo(spec: SloSpec, run: GateRun, provider: str = "prometheus") -> EvaluationOutcome:
    """Lighthouse 0.8 semantics; ``provider`` is the SLI source for every query in sli.yaml."""
    if provider not in SOURCES:
        raise BadInputError("command line", "--sli-provider", f"unknown provider {provider!r}; valid: {', '.join(SOURCES)}")
    items = [(f"indicators.{o.sli}", provider, spec.indicators[o.sli]) for o in spec.objectives]
    _check_queries(spec.sli_path, items)
    queries = _substituted(spec.sli_path, items, _values(run, spec.filters))
    sources = _sources_for(run, {provider})
    source = sources[provider]
    try:
        fetched = _fetch_all([(source, q) for q in queries], run.window)
        described = [source.describe(q) for q in queries]
    finally:
        for src in sources.values():
            src.close()
    previous: list[HistoryEntry] = []
    if run.history is not None:
        include = {"pass": ("pass",), "pass_or_warn": ("pass", "warning"), "all": None}[spec.comparison.include_result_with_score]
        ctx = run.context
        previous = run.history.previous(ctx.project, ctx.stage, ctx.service, limit=spec.comparison.pool_size, results=include)
    outcomes: list[lighthouse.SliOutcome] = []
    errors: list[str] = []
    for objective, got in zip(spec.objectives, fetched, strict=True):
        prev_values = [v for v in (e.value_of(objective.sli) for e in previous) if v is not None]
        if got.error is not None:
            errors.append(f"{objective.sli}: {got.error}")
            outcomes.append(lighthouse.SliOutcome(objective, None, 0.0, "error", message=got.error))
            continue
        value = got.samples[0].value if got.samples else None
        message = "no value received from the SLI provider" + (f" ({got.dropped} NaN series dropped)" if got.dropped else "")
        outcome = lighthouse.evaluate_objective(objective, value, prev_values, spec.comparison.aggregate_function, message)
        if len(got.samples) > 1:
            outcome.message = f"{len(got.samples)} series returned; the first was used (as prometheus-sli-service)"
        outcomes.append(outcome)
    scored = lighthouse.score_slo(spec, outcomes)
    verdict = Verdict.ERROR if errors else Verdict(scored.result.upper())
    doc = _lighthouse_document(spec, run, scored, verdict, previous, errors)
    reports = [_slo_report(o, provider, d) for o, d in zip(outcomes, described, strict=True)]
    return _finish(run, "slo", spec.path, verdict, doc, reports, scored.achieved, scored.maximum, scored.result, [])


def _slo_report(o: lighthouse.SliOutcome, provider: str, described: str) -> IndicatorReport:
    obj = o.objective
    blocks = {"pass": [[c.text for c in b] for b in obj.passing], "warning": [[c.text for c in b] for b in obj.warning]}
    text = "; ".join(f"{k}: " + " or ".join("(" + " and ".join(b) + ")" for b in v) for k, v in blocks.items() if v)
    violated = [t for t in o.pass_targets if t["violated"]]
    if o.status in ("no_data", "error"):
        reason = o.message
    elif o.status in ("fail", "warning"):
        reason = "; ".join(f"{number(o.value or 0)} violates {t['criteria']} (target {t['targetValue']})" for t in violated)
        reason += (" [key SLI]" if obj.key_sli and o.status == "fail" else "")
    else:
        reason = o.message
    max_score = obj.weight if obj.passing else 0.0
    return IndicatorReport(obj.sli, provider, described, o.status, o.score, max_score, value=o.value,
                           thresholds=blocks, criteria_text=text or "no pass criteria (info only)", reason=reason,
                           key_sli=obj.key_sli)


def _lighthouse_document(spec: SloSpec, run: GateRun, scored: lighthouse.SloOutcome, verdict: Verdict,
                         previous: list[Any], errors: list[str]) -> dict[str, Any]:
    window = run.window.to_dict()
    results = []
    for o in scored.outcomes:
        success = o.value is not None
        value: dict[str, Any] = {"metric": o.objective.sli, "value": number(o.value) if o.value is not None else 0,
                                 "success": success}
        if o.message:
            value["message"] = o.message
        results.append({"score": number(o.score), "value": value, "displayName": o.objective.display_name,
                        "passTargets": o.pass_targets or None, "warningTargets": o.warning_targets or None,
                        "keySli": o.objective.key_sli, "status": "fail" if o.status in ("no_data", "error") else o.status})
    doc: dict[str, Any] = {
        "timeStart": window["start"], "timeEnd": window["end"],
        "result": "failed" if verdict is Verdict.ERROR else scored.result, "score": number(round(scored.score, 6)),
        "sloFileContent": base64.b64encode(spec.text.encode()).decode(),
        "indicatorResults": results, "comparedEvents": [str(e.id) for e in previous],
    }
    if errors:
        doc["error"] = "; ".join(errors)
    return doc


def _finish(run: GateRun, kind: str, spec_path: str, verdict: Verdict, doc: dict[str, Any], reports: list[IndicatorReport],
            total: float, maximum: float, result_word: str, warnings: list[str]) -> EvaluationOutcome:
    document: dict[str, Any] = {
        "schema": SCHEMA, "kind": kind, "spec": spec_path, "context": run.context.to_dict(), "verdict": verdict.value,
        "window": run.window.to_dict(), "points": {"achieved": number(total), "max": number(maximum)},
        **doc,
        "indicators": [r.to_dict() for r in reports], "warnings": warnings,
    }
    history_id = None
    if run.history is not None and verdict is not Verdict.ERROR:
        history_id = run.history.add(context=run.context.to_dict(), kind=kind, verdict=verdict.value, result=result_word,
                                     score=total, max_score=maximum, indicators=reports)
        document["history_id"] = history_id
    out = run.out_dir
    out.mkdir(parents=True, exist_ok=True)
    settings = run.settings
    secrets = [settings.prometheus_token, settings.prometheus_password, settings.dynatrace_token,
               split_userinfo(settings.prometheus_url)[2], split_userinfo(settings.dynatrace_url)[2]]
    paths = {"evaluation": out / "evaluation.json", "junit": out / "junit-evaluation.xml",
             "summary": out / "evaluation-summary.txt"}
    # Sources mask secrets in what they report; masking again here covers whatever else could carry
    # one (an exception text from a source bug, a query that embeds a credential).
    tmp = paths["evaluation"].with_suffix(".json.tmp")
    tmp.write_text(redact_all(json.dumps(document, indent=2), secrets) + "\n", encoding="utf-8")
    tmp.replace(paths["evaluation"])
    write_gate_junit(paths["junit"], document, reports, secrets=secrets)
    summary = redact_all(render_summary(document, reports), secrets)
    paths["summary"].write_text(summary + "\n", encoding="utf-8")
    return EvaluationOutcome(verdict, document, reports, summary, paths, history_id)
