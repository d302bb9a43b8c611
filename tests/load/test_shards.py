"""Beyond one event loop and one machine: worker processes and ``--shard I/N``, merged exactly.

Aspects: shards of recorded samples merged through testrun.json give exactly the percentiles,
mean and max of one run over the union of the samples (issue 15), for several shard counts and
latency shapes; worker processes together send exactly users x loops (closed) and rate x
duration (open) with the per-request split of one engine; ``run-tests --shard I/N`` on a
loopback server and ``testrun merge`` give one testrun.json whose counts are the shards' sum;
bad shard sets (missing, twice, of another run, no histograms) are bad input naming the file.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from pipeline_steps.cli import cli
from pipeline_steps.documents.context import StageContext
from pipeline_steps.documents.testrun import CheckResult, TestRun
from pipeline_steps.errors import BadInputError
from pipeline_steps.files import iso_utc
from pipeline_steps.load.engine import WHOLE, Part
from pipeline_steps.load.histogram import Histogram
from pipeline_steps.load.pool import LoadPool
from pipeline_steps.load.shards import merge_testruns
from pipeline_steps.load.stats import Recorder
from pipeline_steps.load.workload import Limits, PerformanceSpec, parse_workload
from tests.load.servers import serve

CTX = StageContext("sockshop", "staging", "carts", "reg/carts", "1.0", "blue_green_service", "performance", "k")
NAMES = ["a", "b"]


def shard_runs(tmp_path: Path, samples: list[tuple[int, int]], count: int) -> tuple[list[Path], Recorder]:
    """Deal (request index, latency) samples to ``count`` shards; their testrun.json paths and one recorder of all."""
    whole, shards = Recorder(NAMES), [Recorder(NAMES) for _ in range(count)]
    rng = random.Random(count)
    for index, latency in samples:
        for rec in (whole, shards[rng.randrange(count)]):
            if latency % 97 == 0:
                rec.error(index, "status", "HTTP 503, expected 2xx/3xx", latency)
            else:
                rec.ok(index, latency)
    paths = []
    for i, rec in enumerate(shards):
        result = rec.result(10.0, Limits(error_rate=0.5, p95_response_time_ms=400), model="closed", users=count * 2,
                            shard=f"{i + 1}/{count}")
        run = TestRun(CTX, "http://t", 1000.0 + i, 1010.0 + i, "pass", [CheckResult("health", "health", True, 0.1)], result)
        paths.append(run.write(tmp_path / f"shard{i}" / "testrun.json"))
    return paths, whole


@pytest.mark.parametrize("count", [2, 3, 8])
@pytest.mark.parametrize("shape", ["uniform", "heavy_tail", "two_point"])
def test_merged_percentiles_equal_one_run_over_the_union(tmp_path: Path, count: int, shape: str) -> None:
    rng = random.Random(shape)
    draw = {"uniform": lambda: rng.randint(100, 900_000), "heavy_tail": lambda: int(rng.paretovariate(1.1) * 1000),
            "two_point": lambda: 300_000 if rng.random() < 0.04 else 5_000}[shape]
    samples = [(rng.randrange(2), draw()) for _ in range(4000)]
    paths, whole = shard_runs(tmp_path, samples, count)
    merged = merge_testruns(list(reversed(paths))).performance
    single = whole.result(10.0 + count - 1, Limits(error_rate=0.5, p95_response_time_ms=400), model="closed", users=count * 2)
    assert merged is not None
    assert merged.latency_ms == single.latency_ms
    assert merged.by_request == single.by_request
    assert (merged.requests, merged.errors, merged.errors_by_kind) == (single.requests, single.errors, single.errors_by_kind)
    assert (merged.limits_passed, merged.reason) == (single.limits_passed, single.reason)
    latencies = sorted(lat for _, lat in samples)
    assert merged.latency_ms["max"] == latencies[-1] / 1000
    assert merged.duration_s == 10.0 + count - 1  # earliest start to latest end


def test_a_failed_shard_fails_the_merge(tmp_path: Path) -> None:
    paths, _ = shard_runs(tmp_path, [(0, 1000)] * 10, 2)
    doc = json.loads(paths[1].read_text())
    doc["checks"][0].update(passed=False, message="GET /health did not answer 200")
    paths[1].write_text(json.dumps(doc))
    run = merge_testruns(paths)
    assert run.result == "fail" and run.performance is not None
    assert "shard 2/2: GET /health did not answer 200" in run.performance.reason


def edit(path: Path, change: Any) -> Path:
    doc = json.loads(path.read_text())
    change(doc)
    path.write_text(json.dumps(doc))
    return path


@pytest.mark.parametrize(("case", "change", "field"), [
    ("twice", lambda p: [p[1], p[1]], "performance.shard"),
    ("missing", lambda p: p[:1], "TESTRUN"),
    ("other run", lambda p: [p[0], edit(p[1], lambda d: d["context"].update(tag="2.0"))], "context"),
    ("other limits", lambda p: [p[0], edit(p[1], lambda d: d["performance"]["limits"].update(error_rate=0.9))],
     "performance.limits"),
    ("not a shard", lambda p: [p[0], edit(p[1], lambda d: d["performance"].update(shard=""))], "performance.shard"),
    ("no histograms", lambda p: [p[0], edit(p[1], lambda d: d["performance"].update(histograms={}))],
     "performance.histograms"),
    ("no performance", lambda p: [p[0], edit(p[1], lambda d: d.update(performance=None))], "performance"),
    ("fewer requests than samples", lambda p: [p[0], edit(p[1], lambda d: d["performance"]["by_request"]["b"].update(
        requests=1))], "performance.histograms"),
    # a count that would cancel another shard's errors, or is no count at all (was: exit 0 with a pass, or exit 4)
    ("negative errors", lambda p: [p[0], edit(p[1], lambda d: d["performance"]["by_request"]["a"].update(errors=-50))],
     "performance.by_request.a.errors"),
    ("more errors than requests", lambda p: [p[0], edit(p[1], lambda d: d["performance"]["by_request"]["b"].update(
        errors=10**6))], "performance.by_request.b.errors"),
    ("requests as text", lambda p: [p[0], edit(p[1], lambda d: d["performance"]["by_request"]["a"].update(
        requests="50"))], "performance.by_request.a.requests"),
    ("fractional errors", lambda p: [p[0], edit(p[1], lambda d: d["performance"]["by_request"]["a"].update(
        errors=0.5))], "performance.by_request.a.errors"),
    ("negative errors of a kind", lambda p: [p[0], edit(p[1], lambda d: d["performance"]["errors_by_kind"].update(
        connect=-3))], "performance.errors_by_kind.connect"),
    ("errors by kind not an object", lambda p: [p[0], edit(p[1], lambda d: d["performance"].update(
        errors_by_kind=[1]))], "performance.errors_by_kind"),
    ("negative connect errors", lambda p: [p[0], edit(p[1], lambda d: d["performance"]["connect_ms"].update(
        errors=-2))], "performance.connect_ms.errors"),
])
def test_bad_shard_sets_are_bad_input(tmp_path: Path, case: str, change: Any, field: str) -> None:
    paths, _ = shard_runs(tmp_path, [(0, 1000), (1, 2000)] * 5, 2)
    with pytest.raises(BadInputError) as info:
        merge_testruns(change(paths))
    assert info.value.field == field


@pytest.mark.parametrize(("given", "expected", "field"), [(2, 3, "TESTRUN"), (1, 2, "TESTRUN")])
def test_a_merge_refuses_another_count_of_shards_than_was_run(tmp_path: Path, given: int, expected: int,
                                                               field: str) -> None:
    """Jenkins passes the N it started (``--shards``): files that all agree on a smaller N, or fewer files than
    N, are still not the whole test."""
    paths, _ = shard_runs(tmp_path, [(0, 1000), (1, 2000)] * 5, given)
    with pytest.raises(BadInputError) as info:
        merge_testruns(paths, expected)
    assert info.value.field == field
    paths3, _ = shard_runs(tmp_path / "three", [(0, 1000)] * 6, 3)
    with pytest.raises(BadInputError) as other:
        merge_testruns(paths3[:2], 2)  # two files, but shards 1/3 and 2/3
    assert other.value.field == "performance.shard"
    assert merge_testruns(paths, given).performance is not None


def spec(**performance: Any) -> PerformanceSpec:
    data = {"users": 4, "loops": 25, "requests": [{"name": "ok", "path": "/ok", "weight": 3},
                                                  {"name": "slow", "path": "/slow?ms=1"}], **performance}
    result = parse_workload({"performance": data}, "test.yaml").performance
    assert result is not None
    return result


def pooled(url: str, perf: PerformanceSpec, processes: int, part: Part = WHOLE) -> Any:
    async def main() -> Any:
        return await LoadPool(url, perf, {}, part=part, processes=processes).run(asyncio.Event())
    return asyncio.run(main())


@pytest.mark.parametrize("processes", [1, 2])
def test_worker_processes_send_exactly_what_one_engine_sends(processes: int) -> None:
    with serve() as server:
        out = pooled(server.url, spec(users=5, loops=8), processes)
        open_run = pooled(server.url, spec(model="open", rate_rps=200, duration_s=0.5, users=4, loops=0), processes)
    result = out.result
    assert (result.requests, result.errors) == (40, 0)
    assert (result.by_request["ok"].requests, result.by_request["slow"].requests) == (30, 10)
    assert result.connect_ms["connections"] == 5 and result.connect_ms["errors"] == 0
    assert sum(Histogram.from_json(h).total for h in result.histograms.values()) == 40
    assert open_run.result.requests == 100 == open_run.result.expected_requests
    assert out.cpu_s > 0


def test_run_tests_shards_merge_into_one_testrun(tmp_path: Path) -> None:
    workload = tmp_path / "tests.yaml"
    workload.write_text(json.dumps({"performance": {"users": 3, "loops": 10, "requests": [{"name": "ok", "path": "/ok"}],
                                                    "limits": {"p95_response_time_ms": 5000}}}))
    runner = CliRunner()
    args = ["run-tests", "--project", "sockshop", "--stage", "staging", "--service", "carts", "--image", "reg/carts",
            "--tag", "1.0", "--test-strategy", "performance", "--workload", str(workload), "--health-timeout", "5"]
    with serve() as server:
        for i in (1, 2):
            done = runner.invoke(cli, [*args, "--target", server.url, "--shard", f"{i}/2", "--out-dir", str(tmp_path / str(i))])
            assert done.exit_code == 0, done.output
        bad = runner.invoke(cli, [*args, "--target", server.url, "--shard", "3/2", "--out-dir", str(tmp_path / "x")])
        empty = runner.invoke(cli, [*args, "--target", server.url, "--shard", "4/4", "--out-dir", str(tmp_path / "x")])
        sent = server.state.paths.count("/ok")
    assert bad.exit_code == 2 and "--shard" in bad.output
    assert empty.exit_code == 2 and "no user" in empty.output
    shards = [json.loads((tmp_path / str(i) / "testrun.json").read_text())["performance"] for i in (1, 2)]
    assert [s["requests"] for s in shards] == [20, 10] and [s["shard"] for s in shards] == ["1/2", "2/2"]
    short = runner.invoke(cli, ["testrun", "merge", "--shards", "3", str(tmp_path / "2/testrun.json"),
                                str(tmp_path / "1/testrun.json"), "--out-dir", str(tmp_path / "short")])
    assert short.exit_code == 2 and "for 3 shards" in short.output and not (tmp_path / "short").exists()
    merged = runner.invoke(cli, ["testrun", "merge", "--shards", "2", str(tmp_path / "2/testrun.json"),
                                 str(tmp_path / "1/testrun.json"), "--out-dir", str(tmp_path / "all")])
    assert merged.exit_code == 0, merged.output
    doc = json.loads((tmp_path / "all/testrun.json").read_text())
    assert doc["performance"]["requests"] == 30 == sent and doc["result"] == "pass"
    assert (tmp_path / "all/events/tests-finished.json").exists()


def test_a_stop_reaches_every_worker_and_keeps_what_they_measured() -> None:
    async def main(server: Any) -> Any:
        stop = asyncio.Event()

        async def once_loaded() -> None:  # worker start-up takes long on a busy machine: stop mid-run, not before it
            while server.state.requests < 200:
                await asyncio.sleep(0.02)
            stop.set()

        stopper = asyncio.create_task(once_loaded())
        out = await LoadPool(server.url, spec(users=4, loops=0, duration_s=30), {}, processes=2).run(stop)
        stopper.cancel()
        return out

    with serve() as server:
        out = asyncio.run(main(server))
        sent = server.state.requests
    assert out.aborted and 0 < out.result.requests <= sent
    assert out.result.duration_s < 5


def _rewritten(path: Path, change: Callable[[dict[str, Any]], None]) -> Path:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize(("what", "change", "field"), [
    ("an index past N", lambda d: d["performance"].update(shard="3/2"), "performance.shard"),
    ("index 0", lambda d: d["performance"].update(shard="0/2"), "performance.shard"),
    ("a count with 5,000 digits", lambda d: d["performance"].update(shard="1/" + "9" * 5000), "performance.shard"),
    ("another target", lambda d: d.update(target="http://other"), "target"),
    ("a run a day later", lambda d: d.update(start_unix=d["start_unix"] + 86400, end_unix=d["end_unix"] + 86400,
                                              start=iso_utc(d["start_unix"] + 86400), end=iso_utc(d["end_unix"] + 86400)),
     "start"),
])
def test_a_file_that_is_not_a_shard_of_this_run_is_refused(tmp_path: Path, what: str,
                                                           change: Callable[[dict[str, Any]], None], field: str) -> None:
    """Every shard once, of one run: an index outside 1..N, a count no run can have, another target, or a shard
    that ran after another ended (its window would stretch the gate's over the gap) are bad input, not merged."""
    paths, _ = shard_runs(tmp_path, [(0, 1000), (1, 2000)] * 5, 2)
    _rewritten(paths[1], change)
    for expected in (2, None):
        with pytest.raises(BadInputError) as info:
            merge_testruns(paths, expected)
        assert info.value.field == field, (what, info.value)
    assert len(str(info.value)) < 400  # a 5,000-digit count is shown cut, never whole
