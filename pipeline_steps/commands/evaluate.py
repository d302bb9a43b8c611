"""``pipeline-steps evaluate``: parse flags and files at the edge, then call the gate step.

Only click and our light modules are imported at module level; the step (and with it
``requests`` and ``yaml``) loads when the command runs, so ``pipeline-steps --help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from pipeline_steps.commands.options import (
    Number,
    UnixTime,
    context_from_options,
    context_options,
    history_from_options,
    history_options,
    out_dir_option,
    source_options,
)
from pipeline_steps.errors import BadInputError, ExitCode
from pipeline_steps.finite import DAY_S
from pipeline_steps.sources import DEFAULT_SLI_PROVIDER, SOURCES


def window_from(testrun: dict[str, Any] | None, testrun_path: str, start: float | None, end: float | None) -> Any:
    """The evaluation window (``documents.evaluation.checked_window``): flags win over testrun.json;
    end after start, and ended by now (within the clock-skew tolerance); errors name the file or flag."""
    from pipeline_steps.documents.evaluation import checked_window
    from pipeline_steps.documents.testrun import testrun_times

    t_start, t_end = testrun_times(testrun, testrun_path) if testrun is not None else (None, None)
    t_start = t_start if start is None else start
    t_end = t_end if end is None else end
    if t_start is None or t_end is None:
        raise BadInputError("command line", "--start/--end", "the window needs --testrun FILE or both --start and --end")
    where = ("command line", "--end") if end is not None or testrun is None else (
        testrun_path, "end_unix" if "end_unix" in testrun else "end")
    return checked_window(t_start, t_end, where=where)


@click.command("evaluate")
@context_options
@click.option("--spec", "spec_path", type=click.Path(dir_okay=False), help="Pitometer perfspec.json.")
@click.option("--slo", "slo_path", type=click.Path(dir_okay=False), help="Keptn slo.yaml (with --sli).")
@click.option("--sli", "sli_path", type=click.Path(dir_okay=False), help="Keptn sli.yaml: SLI name -> query.")
@click.option("--sli-provider", type=click.Choice(list(SOURCES)), default=DEFAULT_SLI_PROVIDER,
              show_default=True, help="Source of the queries in sli.yaml.")
@click.option("--testrun", "testrun_path", envvar="TESTRUN", type=click.Path(dir_okay=False),
              help="testrun.json: window (start_unix/end_unix), context, and the testrun source [env TESTRUN].")
@click.option("--start", type=UnixTime(), help="Window start: unix seconds or ISO-8601 (overrides --testrun).")
@click.option("--end", type=UnixTime(),
              help="Window end: unix seconds or ISO-8601 (overrides --testrun); not in the future (30 s clock skew allowed).")
@source_options
@history_options
@click.option("--no-history", is_flag=True, help="Neither read nor write the history.")
@click.option("--require-history", envvar="PIPELINE_STEPS_REQUIRE_HISTORY", default="off", show_default=True,
              type=click.Choice(["off", "warning", "error"]),
              help="A relative SLO criterion with fewer previous results than it asks for makes the verdict at most"
                   " WARNING, or ERROR; off only reports it. The stricter of this and the SLO's comparison.require_history"
                   " wins [env PIPELINE_STEPS_REQUIRE_HISTORY].")
@click.option("--keptn-minutes", is_flag=True,
              help="Substitute $DURATION_MINUTESm with whole minutes rounded up, exactly as Keptn 0.2 (see docs/gate.md).")
@click.option("--colour", envvar="COLOUR", default="", help="Colour under test; fills $DEPLOYMENT [env COLOUR].")
@click.option("--timeout", "timeout_s", type=Number(above=0, maximum=DAY_S), default=10.0, show_default=True,
              help="Bound on each request's whole answer, however slowly the backend sends it (s).")
@click.option("--retry-budget", "retry_budget_s", type=Number(above=0, maximum=DAY_S), default=15.0, show_default=True,
              help="Time each source may spend retrying transient errors, shared by all its queries (s).")
@click.option("--settle-timeout", "settle_timeout_s", type=Number(maximum=DAY_S), default=60.0, show_default=True,
              help="When the window ended moments ago, wait at most this long for Prometheus to scrape past its end"
                   " before querying (0: never wait) (s).")
@out_dir_option("Where the documents go.")
def evaluate(**options: Any) -> int:
    """Judge a test run by its quality gate (perfspec.json or slo.yaml + sli.yaml).

    Writes OUT/evaluation.json, OUT/junit-evaluation.xml and OUT/evaluation-summary.txt, prints
    the summary, and exits 0 PASS, 3 WARNING, 1 FAIL, 4 ERROR (a source or the history was down), 2 bad input.
    """
    from pipeline_steps import sources
    from pipeline_steps.documents.testrun import CONTEXT_FIELDS, read_testrun_document, testrun_context
    from pipeline_steps.gate.perfspec import load_perfspec
    from pipeline_steps.gate.slo import load_slo
    from pipeline_steps.steps.evaluate import GateRun, evaluate

    spec_path, slo_path, sli_path = options["spec_path"], options["slo_path"], options["sli_path"]
    if bool(spec_path) == bool(slo_path):
        raise BadInputError("command line", "--spec/--slo", "give exactly one of --spec perfspec.json or --slo slo.yaml")
    if slo_path and not sli_path:
        raise BadInputError("command line", "--sli", "--slo needs --sli sli.yaml (SLI name -> query)")
    testrun_path = options["testrun_path"] or ""
    testrun = read_testrun_document(testrun_path) if testrun_path else None
    merged: dict[str, Any] = testrun_context(testrun, testrun_path) if testrun else {}
    merged.update({k: v for k, v in options.items() if v and k in CONTEXT_FIELDS})
    spec = load_perfspec(spec_path) if spec_path else load_slo(slo_path, sli_path, options["sli_provider"])
    merged["event_file"] = options.get("event_file")  # an --event fills what flags and testrun.json leave empty
    context = context_from_options(merged)  # testrun.json's own fields were checked as it was read
    window = window_from(testrun, testrun_path, options["start"], options["end"])
    settings = sources.settings_from_options({**options, "testrun_document": testrun}, context,
                                             timeout_s=options["timeout_s"], retry_budget_s=options["retry_budget_s"],
                                             settle_timeout_s=options["settle_timeout_s"])
    history = None if options["no_history"] else history_from_options(options)
    run = GateRun(context=context, window=window, settings=settings, out_dir=Path(options["out_dir"]),
                  history=history, require_history=options["require_history"], keptn_minutes=options["keptn_minutes"],
                  deployment=options["colour"])
    try:
        outcome = evaluate(spec, run)
    finally:
        if history is not None:
            history.close()
    for note in outcome.notes:
        click.echo(note)
    click.echo(outcome.summary)
    click.echo(f"\nwrote {outcome.paths['evaluation']}, {outcome.paths['junit']}, {outcome.paths.get('event')}")
    return int(outcome.verdict.exit_code) if outcome.verdict.exit_code != ExitCode.OK else 0
