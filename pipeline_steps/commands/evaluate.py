"""``pipeline-steps evaluate``: parse flags and files at the edge, then call the gate step.

Only click and our light modules are imported at module level; the step (and with it
``requests`` and ``yaml``) loads when the command runs, so ``pipeline-steps --help`` stays fast.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import click

from pipeline_steps.commands.options import context_from_options, context_options, out_dir_option, source_options
from pipeline_steps.errors import BadInputError, ExitCode
from pipeline_steps.sources import DEFAULT_SLI_PROVIDER, SOURCES


def parse_time(text: str, flag: str, source: str = "command line") -> float:
    """Unix seconds from ``1795687260``, ``1795687260.5`` or ISO-8601 (``2026-11-26T10:01:00Z``)."""
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        if not math.isfinite(seconds):  # float() takes "nan" and "inf"; no window can be built from them
            raise BadInputError(source, flag, f"{text!r} is not a finite number of unix seconds")
        return seconds
    try:
        parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise BadInputError(source, flag, f"{text!r} is neither unix seconds nor an ISO-8601 time") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.timestamp()


def window_from(testrun: dict[str, Any] | None, testrun_path: str, start: str | None, end: str | None) -> tuple[float, float]:
    """The evaluation window: flags win over testrun.json; end must be after start."""
    t_start = t_end = None
    if testrun is not None:
        for key in ("start", "end"):
            raw = testrun.get(f"{key}_unix", testrun.get(key))
            if raw is None:
                continue
            # JSON NaN/Infinity parse as floats: as bad as a string that is not a time.
            if isinstance(raw, bool) or not isinstance(raw, (int, float, str)) or (
                    isinstance(raw, float) and not math.isfinite(raw)):
                raise BadInputError(testrun_path, f"{key}_unix", f"must be unix seconds, got {raw!r}")
            value = float(raw) if isinstance(raw, (int, float)) else parse_time(raw, f"{key}_unix", testrun_path)
            if key == "start":
                t_start = value
            else:
                t_end = value
    if start:
        t_start = parse_time(start, "--start")
    if end:
        t_end = parse_time(end, "--end")
    if t_start is None or t_end is None:
        raise BadInputError("command line", "--start/--end", "the window needs --testrun FILE or both --start and --end")
    if t_end <= t_start:
        field = "end_unix" if testrun is not None and not end else "--end"
        raise BadInputError(testrun_path if field == "end_unix" else "command line", field,
                            f"window end ({t_end:.0f}) must be after its start ({t_start:.0f})")
    return t_start, t_end


@click.command("evaluate")
@context_options
@click.option("--spec", "spec_path", type=click.Path(dir_okay=False), help="Pitometer perfspec.json.")
@click.option("--slo", "slo_path", type=click.Path(dir_okay=False), help="Keptn slo.yaml (with --sli).")
@click.option("--sli", "sli_path", type=click.Path(dir_okay=False), help="Keptn sli.yaml: SLI name -> query.")
@click.option("--sli-provider", type=click.Choice(list(SOURCES)), default=DEFAULT_SLI_PROVIDER,
              show_default=True, help="Source of the queries in sli.yaml.")
@click.option("--testrun", "testrun_path", envvar="TESTRUN", type=click.Path(dir_okay=False),
              help="testrun.json: window (start_unix/end_unix), context, and the testrun source [env TESTRUN].")
@click.option("--start", help="Window start: unix seconds or ISO-8601 (overrides --testrun).")
@click.option("--end", help="Window end: unix seconds or ISO-8601 (overrides --testrun).")
@source_options
@click.option("--history", "history_path", envvar="PIPELINE_STEPS_HISTORY", default=".pipeline-steps/history.sqlite",
              show_default=True, help="SQLite evaluation history [env PIPELINE_STEPS_HISTORY].")
@click.option("--no-history", is_flag=True, help="Neither read nor write the history.")
@click.option("--keptn-minutes", is_flag=True,
              help="Substitute $DURATION_MINUTESm with whole minutes rounded up, exactly as Keptn 0.2 (see docs/gate.md).")
@click.option("--colour", envvar="COLOUR", default="", help="Colour under test; fills $DEPLOYMENT [env COLOUR].")
@click.option("--timeout", "timeout_s", type=float, default=10.0, show_default=True, help="Per-request timeout (s).")
@click.option("--retry-budget", "retry_budget_s", type=float, default=15.0, show_default=True,
              help="Time each source may spend retrying transient errors, shared by all its queries (s).")
@out_dir_option("Where the documents go.")
def evaluate(**options: Any) -> int:
    """Judge a test run by its quality gate (perfspec.json or slo.yaml + sli.yaml).

    Writes OUT/evaluation.json, OUT/junit-evaluation.xml and OUT/evaluation-summary.txt, prints
    the summary, and exits 0 PASS, 3 WARNING, 1 FAIL, 4 ERROR (a source was down), 2 bad input.
    """
    from pipeline_steps import sources
    from pipeline_steps.documents.evaluation import Window
    from pipeline_steps.documents.testrun import read_testrun_document
    from pipeline_steps.gate.perfspec import load_perfspec
    from pipeline_steps.gate.slo import load_slo
    from pipeline_steps.history.sqlite import HistoryStore
    from pipeline_steps.steps.evaluate import GateRun, evaluate

    spec_path, slo_path, sli_path = options["spec_path"], options["slo_path"], options["sli_path"]
    if bool(spec_path) == bool(slo_path):
        raise BadInputError("command line", "--spec/--slo", "give exactly one of --spec perfspec.json or --slo slo.yaml")
    if slo_path and not sli_path:
        raise BadInputError("command line", "--sli", "--slo needs --sli sli.yaml (SLI name -> query)")
    testrun_path = options["testrun_path"] or ""
    testrun = read_testrun_document(testrun_path) if testrun_path else None
    merged = dict(testrun.get("context") or {}) if testrun and isinstance(testrun.get("context"), dict) else {}
    merged.update({k: v for k, v in options.items() if v and k in (
        "project", "stage", "service", "image", "tag", "deployment_strategy", "test_strategy", "keptn_context")})
    spec = load_perfspec(spec_path) if spec_path else load_slo(slo_path, sli_path, options["sli_provider"])
    merged["event_file"] = options.get("event_file")  # an --event fills what flags and testrun.json leave empty
    context = context_from_options(merged, source=testrun_path or "command line")
    start, end = window_from(testrun, testrun_path, options["start"], options["end"])
    settings = sources.settings_from_options({**options, "testrun_document": testrun}, context,
                                             timeout_s=options["timeout_s"], retry_budget_s=options["retry_budget_s"])
    history = None if options["no_history"] else HistoryStore(options["history_path"])
    run = GateRun(context=context, window=Window(start, end), settings=settings, out_dir=Path(options["out_dir"]),
                  history=history, keptn_minutes=options["keptn_minutes"], deployment=options["colour"])
    outcome = evaluate(spec, run)
    click.echo(outcome.summary)
    click.echo(f"\nwrote {outcome.paths['evaluation']}, {outcome.paths['junit']}, {outcome.paths.get('event')}")
    return int(outcome.verdict.exit_code) if outcome.verdict.exit_code != ExitCode.OK else 0
