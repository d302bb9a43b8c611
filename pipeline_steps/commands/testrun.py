"""``pipeline-steps testrun merge``: combine the testrun.json files of ``run-tests --shard I/N`` runs.

Why a command: the shards run on N Jenkins agents in parallel; the quality gate (``evaluate
--testrun``) and the tests-finished event need one testrun.json, with the latencies of all
shards merged exactly (``load/shards.py``).
"""

from __future__ import annotations

from pathlib import Path

import click


@click.group("testrun")
def testrun() -> None:
    """Work with testrun.json files (written by run-tests)."""


@testrun.command("merge")
@click.argument("testruns", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--out-dir", envvar="OUT_DIR", default="out", show_default=True,
              help="Where the merged testrun.json (and the tests-finished event) go [env OUT_DIR].")
@click.option("--shards", type=click.IntRange(1, 64), default=None, metavar="N",
              help="How many shards were run: fewer or other testrun.json files are refused (the runTests step "
                   "passes it).")
def merge(testruns: tuple[str, ...], out_dir: str, shards: int | None) -> int:
    """Merge the testrun.json of every shard (run-tests --shard I/N, I = 1..N) into OUT/testrun.json:
    latency histograms added exactly, counts summed, the window from the first start to the last
    end, the limits judged again. Exit 0 passed, 1 failed (a limit, or a shard's check or abort),
    2 bad input (a shard missing or twice, shards of different runs or not N of them, no histograms)."""
    from pipeline_steps.documents.events import after_tests
    from pipeline_steps.load.shards import merge_testruns

    run = merge_testruns([Path(p) for p in testruns], shards)
    path = run.write(Path(out_dir) / "testrun.json")
    after_tests(out_dir)
    perf = run.performance
    assert perf is not None
    lat = perf.latency_ms
    click.echo(f"merged {len(testruns)} shards into {path}: {perf.requests} requests, {perf.errors} errors "
               f"({perf.error_rate:.2%}), {perf.throughput_rps:.1f} req/s; latency ms mean {lat['mean']:.1f} "
               f"p50 {lat['p50']:.1f} p95 {lat['p95']:.1f} p99 {lat['p99']:.1f} max {lat['max']:.1f}")
    click.echo(f"performance limits: {'passed' if perf.limits_passed else 'FAILED ' + perf.reason}")
    return 0 if run.result == "pass" else 1
