"""``pipeline-steps evaluate`` end to end: real Prometheus, testrun source, SLO with history, bad input.

Aspects: the carts perfspec against a real Prometheus passes a fast version and fails a slow one
(exit 0/1) with Pitometer's result shape, our keys, JUnit and history; the idle colour's NaN
series is dropped; a window without traffic is "no values" -> FAIL, never PASS; Prometheus down
-> ERROR exit 4 with a JUnit error and nothing stored; verdicts map to exit codes 0/3/1 via the
testrun source; an SLO with a relative criterion compares against the stored history; a token
never reaches the outputs; malformed input -> one line naming file and field, exit 2, history unchanged.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest
from click.testing import CliRunner, Result

from pipeline_steps.cli import cli
from pipeline_steps.errors import ExitCode
from pipeline_steps.history import open_history
from pipeline_steps.platforms.local.procs import free_port
from tests.sources.prom_env import PromEnv, Traffic, prom_env

__all__ = ["prom_env"]

FIXTURES = Path(__file__).resolve().parents[1] / "gate" / "fixtures"
CONTEXT = ["--project", "sockshop", "--stage", "staging", "--service", "carts", "--tag", "0.7.2"]


def run(tmp: Path, *args: str, env: dict[str, str] | None = None) -> tuple[Result, dict[str, Any] | None]:
    out = tmp / "out"
    result = CliRunner().invoke(cli, ["evaluate", *CONTEXT, "--out-dir", str(out), "--history", str(tmp / "h.sqlite"),
                                      *args], env=env or {})
    doc_path = out / "evaluation.json"
    doc = json.loads(doc_path.read_text()) if doc_path.exists() else None
    return result, doc


def junit_cases(tmp: Path) -> list[ElementTree.Element]:
    return list(ElementTree.parse(tmp / "out" / "junit-evaluation.xml").getroot().iter("testcase"))


def write(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data) if not isinstance(data, str) else data)
    return path


def test_carts_perfspec_passes_a_fast_version_and_fails_a_slow_one(prom_env: PromEnv, tmp_path: Path) -> None:
    spec = str(FIXTURES / "perfspec_prometheus.json")
    with Traffic(prom_env.blue, 0.3):
        start = time.time()
        time.sleep(5)
        end = time.time()
    fast, doc = run(tmp_path, "--spec", spec, "--start", f"{start:.3f}", "--end", f"{end:.3f}", "--prometheus-url", prom_env.url)
    assert fast.exit_code == ExitCode.OK, fast.output
    assert doc is not None
    assert list(doc)[:3] == ["schema", "kind", "spec"] and doc["schema"] == "pipeline-steps/evaluation/v1"
    assert doc["verdict"] == "PASS" and doc["result"] == "pass" and doc["totalScore"] == 100
    assert doc["indicatorResults"] == [{"id": "request_latency_seconds", "violations": [], "score": 100}]
    assert doc["options"] == {"timeStart": int(start), "timeEnd": int(end)}
    indicator = doc["indicators"][0]
    assert indicator["value"] == pytest.approx(0.3) and len(indicator["values"]) == 1, "green (idle, NaN) is dropped"
    window_s = math.ceil(float(f"{end:.3f}") - float(f"{start:.3f}"))
    assert "job='carts-sockshop-staging'" in indicator["query"] and f"[{window_s}s]" in indicator["query"]
    assert doc["context"]["tag"] == "0.7.2" and doc["window"]["end_unix"] == pytest.approx(end, abs=1e-3)
    assert "Quality gate PASS" in fast.output
    event = json.loads((tmp_path / "out" / "events" / "evaluation-done.json").read_text())
    assert event["data"]["evaluationpassed"] is True and event["data"]["evaluationdetails"]["totalScore"] == 100
    time.sleep(1)
    with Traffic(prom_env.blue, 0.9):
        start = time.time()
        time.sleep(5)
        end = time.time()
    slow, doc = run(tmp_path, "--spec", spec, "--start", f"{start:.3f}", "--end", f"{end:.3f}", "--prometheus-url", prom_env.url)
    assert slow.exit_code == ExitCode.FAIL, slow.output
    assert doc is not None and doc["verdict"] == "FAIL" and doc["totalScore"] == 0
    violation = doc["indicatorResults"][0]["violations"][0]
    assert violation["breach"] == "upperSevere" and violation["threshold"] == 0.8
    assert violation["value"] == pytest.approx(0.9) and json.loads(violation["key"])["colour"] == "blue"
    case = junit_cases(tmp_path)[0]
    failure = case.find("failure")
    assert case.get("name") == "request_latency_seconds" and failure is not None
    assert "breaches upperSevere 0.8" in (failure.get("message") or "")
    assert "query: rate(requests_latency_seconds_sum" in (case.findtext("system-out") or "")
    entries = open_history(str(tmp_path / "h.sqlite")).previous("sockshop", "staging", "carts", limit=100)[::-1]
    assert [e.verdict for e in entries] == ["PASS", "FAIL"]
    assert entries[1].indicators[0].value == pytest.approx(0.9) and entries[1].indicators[0].criteria == "fail if >= 0.8"


def test_window_without_traffic_is_no_values_and_fails(prom_env: PromEnv, tmp_path: Path) -> None:
    time.sleep(3.5)  # traffic of an earlier test must have left the window: every rate is then 0/0
    end = time.time()
    result, doc = run(tmp_path, "--spec", str(FIXTURES / "perfspec_prometheus.json"), "--start", f"{end - 2.5:.3f}",
                      "--end", f"{end:.3f}", "--prometheus-url", prom_env.url)
    assert result.exit_code == ExitCode.FAIL, result.output
    assert doc is not None and doc["indicatorResults"][0]["violations"] == [{"breach": "The indicator returned no values"}]
    assert doc["indicators"][0]["status"] == "no_data" and "NaN" in doc["indicators"][0]["reason"]
    assert junit_cases(tmp_path)[0].find("error") is not None


def test_prometheus_down_is_error_exit_4_and_nothing_stored(tmp_path: Path) -> None:
    result, doc = run(tmp_path, "--spec", str(FIXTURES / "perfspec_prometheus.json"), "--start", "1000", "--end", "1300",
                      "--prometheus-url", f"http://127.0.0.1:{free_port()}", "--retry-budget", "0.5",
                      "--prometheus-token-env", "PROM_TOKEN", env={"PROM_TOKEN": "tok-do-not-leak"})
    assert result.exit_code == ExitCode.INFRA, result.output
    assert doc is not None and doc["verdict"] == "ERROR" and doc["result"] == "failed" and "unreachable" in doc["error"]
    assert junit_cases(tmp_path)[0].find("error") is not None
    assert open_history(str(tmp_path / "h.sqlite")).count("sockshop", "staging", "carts") == 0
    for path in (p for p in (tmp_path / "out").rglob("*") if p.is_file()):
        assert "tok-do-not-leak" not in path.read_text()
    assert "tok-do-not-leak" not in result.output


@pytest.mark.parametrize(("mean", "verdict", "code"), [
    (100.0, "PASS", ExitCode.OK), (650.0, "WARNING", ExitCode.WARNING), (900.0, "FAIL", ExitCode.FAIL)])
def test_testrun_source_verdicts_and_exit_codes(tmp_path: Path, mean: float, verdict: str, code: int) -> None:
    testrun = write(tmp_path / "testrun.json", {
        "schema": "pipeline-steps/testrun/v1", "start_unix": 1000.0, "end_unix": 1120.0,
        "context": {"project": "sockshop", "stage": "dev", "service": "carts", "tag": "1"},
        "performance": {"latency_ms": {"mean": mean}, "by_request": {"add item": {"latency_ms": {"p95": 10.0}}}}})
    spec = write(tmp_path / "perfspec.json", {"indicators": [
        {"id": "mean", "source": "testrun", "query": "performance.latency_ms.mean",
         "grading": {"type": "threshold", "thresholds": {"upperSevere": 800, "upperWarning": 600}, "metricScore": 80}},
        {"id": "p95 add item", "source": "TestRun", "query": "performance.by_request.add item.latency_ms.p95",
         "grading": {"type": "Threshold", "thresholds": {"upperSevere": 500}, "metricScore": 20}}],
        "objectives": {"pass": 90, "warning": 50}})
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["evaluate", "--spec", str(spec), "--testrun", str(testrun), "--out-dir", str(out),
                                      "--no-history"])
    assert result.exit_code == code, result.output
    doc = json.loads((out / "evaluation.json").read_text())
    assert doc["verdict"] == verdict and doc["context"]["stage"] == "dev"
    assert doc["indicators"][1]["value"] == 10.0 and doc["indicators"][1]["status"] == "pass"


def test_slo_relative_criterion_compares_with_history(prom_env: PromEnv, tmp_path: Path) -> None:
    slo = write(tmp_path / "slo.yaml", """
comparison: {compare_with: several_results, number_of_comparison_results: 2, include_result_with_score: pass}
objectives:
  - sli: rt
    key_sli: true
    pass: [{criteria: ["<=+10%", "<600"]}]
    warning: [{criteria: ["<=800"]}]
total_score: {pass: "90%", warning: "75%"}
""")
    sli = write(tmp_path / "sli.yaml", "indicators:\n  rt: gate_test_value{name=\"slo_rt\",job=\"$SERVICE-$PROJECT-$STAGE\"}\n")
    gauge = prom_env.blue.gauge.labels(name="slo_rt")
    verdicts = []
    for value in (400.0, 420.0, 500.0):
        gauge.set(value)
        seen = prom_env.wait_for('gate_test_value{name="slo_rt"}', value)
        result, doc = run(tmp_path, "--slo", str(slo), "--sli", str(sli), "--start", f"{seen - 30:.3f}",
                          "--end", f"{seen + 0.2:.3f}", "--prometheus-url", prom_env.url)
        assert doc is not None, result.output
        verdicts.append((result.exit_code, doc["verdict"], doc["indicatorResults"][0]["passTargets"][0]["targetValue"]))
    # 400: no history -> relative passes; 420 <= 440 passes; 500 > avg(400,420)*1.1 = 451 -> only the warning
    # block holds: half the weight, 50% < 75% -> FAIL
    assert verdicts == [(0, "PASS", 0), (0, "PASS", 440), (1, "FAIL", pytest.approx(451.0))]
    assert doc is not None and doc["score"] == 50 and doc["comparedEvents"] == ["2", "1"]
    assert doc["indicatorResults"][0]["status"] == "warning"
    entries = open_history(str(tmp_path / "h.sqlite")).previous("sockshop", "staging", "carts", limit=100)[::-1]
    assert [e.verdict for e in entries] == ["PASS", "PASS", "FAIL"]


BAD_CASES = [
    # (name, files, args, expected message start, exit code)
    ("invalid json", {"p.json": "{nope"}, ["--spec", "{p.json}"], "{p.json}: invalid JSON", 2),
    ("missing indicators", {"p.json": {"objectives": {"pass": 1, "warning": 0}}}, ["--spec", "{p.json}"],
     "{p.json}: indicators: must be a non-empty list", 2),
    ("string threshold", {"p.json": {"indicators": [{"id": "a", "source": "testrun", "query": "x", "grading": {
        "type": "Threshold", "thresholds": {"upperSevere": "0.8"}, "metricScore": 1}}], "objectives": {"pass": 1, "warning": 0}}},
     ["--spec", "{p.json}"], "{p.json}: indicators[0].grading.thresholds.upperSevere: must be a number", 2),
    ("unknown source", {"p.json": {"indicators": [{"id": "a", "source": "Graphite", "query": "x", "grading": {
        "type": "Threshold", "metricScore": 1}}], "objectives": {"pass": 1, "warning": 0}}},
     ["--spec", "{p.json}"],
     "{p.json}: indicators[0].source: indicator 'a': unknown source 'Graphite'; valid: dynatrace, prometheus, testrun", 2),
    ("unknown grader", {"p.json": {"indicators": [{"id": "a", "source": "testrun", "query": "x", "grading": {
        "type": "Sigma", "metricScore": 1}}], "objectives": {"pass": 1, "warning": 0}}},
     ["--spec", "{p.json}"], "{p.json}: indicators[0].grading.type: indicator 'a': unknown grading type 'Sigma'", 2),
    ("duplicate ids", {"p.json": {"indicators": [{"id": "a", "source": "testrun", "query": "x", "grading": {
        "type": "Threshold", "metricScore": 1}}] * 2, "objectives": {"pass": 1, "warning": 0}}},
     ["--spec", "{p.json}"], "{p.json}: indicators[1].id: duplicate id 'a'", 2),
    ("bad criteria", {"slo.yaml": "objectives:\n  - sli: rt\n    pass: [{criteria: ['<=+x%']}]\ntotal_score: {pass: 90%}\n",
                      "sli.yaml": "indicators: {rt: up}\n"},
     ["--slo", "{slo.yaml}", "--sli", "{sli.yaml}"],
     "{slo.yaml}: objectives[0].pass[0].criteria[0]: '<=+x%' is not a criterion", 2),
    ("invalid yaml", {"slo.yaml": "objectives: [\n", "sli.yaml": "indicators: {rt: up}\n"},
     ["--slo", "{slo.yaml}", "--sli", "{sli.yaml}"], "{slo.yaml}: invalid YAML: ", 2),
    ("sli without query", {"slo.yaml": "objectives: [{sli: rt, pass: [{criteria: ['<1']}]}]\ntotal_score: {pass: 90%}\n",
                           "sli.yaml": "indicators: {other: up}\n"},
     ["--slo", "{slo.yaml}", "--sli", "{sli.yaml}"], "{sli.yaml}: indicators: no query for sli 'rt'", 2),
    ("filter value that would add PromQL", {
        "slo.yaml": "filter: {x: '0 or up'}\nobjectives: [{sli: rt, pass: [{criteria: ['<1']}]}]\ntotal_score: {pass: 90%}\n",
        "sli.yaml": "indicators: {rt: 'up > $x'}\n"},
     ["--slo", "{slo.yaml}", "--sli", "{sli.yaml}", "--start", "1", "--end", "2", "--prometheus-url", "http://127.0.0.1:9"],
     "{sli.yaml}: indicators.rt: $x stands outside a quoted string and is '0 or up'", 2),
    ("end before start", {}, ["--spec", "{carts}", "--start", "2026-11-26T10:05:00Z", "--end", "2026-11-26T10:00:00Z"],
     "command line: --end: window end", 2),
    ("testrun end before start", {"t.json": {"start_unix": 200, "end_unix": 100, "context": {
        "project": "sockshop", "stage": "staging", "service": "carts"}}}, ["--spec", "{carts}", "--testrun", "{t.json}"],
     "{t.json}: end_unix: window end", 2),
    ("start not finite", {}, ["--spec", "{carts}", "--start", "nan", "--end", "5"],
     "command line: --start: must be a finite number, got nan", 2),
    ("end infinite", {}, ["--spec", "{carts}", "--start", "1", "--end", "inf"],
     "command line: --end: must be a finite number, got inf", 2),
    ("testrun NaN end", {"t.json": '{"start_unix": 100, "end_unix": NaN, "context": {"project": "sockshop", '
                                   '"stage": "staging", "service": "carts"}}'}, ["--spec", "{carts}", "--testrun", "{t.json}"],
     "{t.json}: end_unix: NaN is not a finite number", 2),
    ("malformed prometheus url", {}, ["--spec", "{carts}", "--start", "1", "--end", "2", "--prometheus-url", "localhost:9090"],
     "command line: --prometheus-url: 'localhost:9090' is not an http(s) URL", 2),
    ("missing prometheus url", {}, ["--spec", "{carts}", "--start", "1", "--end", "2"],
     "command line: --prometheus-url: required", 2),
    ("unreachable prometheus url", {}, ["--spec", "{carts}", "--start", "1", "--end", "2", "--retry-budget", "0.3",
                                        "--prometheus-url", "http://127.0.0.1:{port}"], None, 4),
]


def fill(text: str, names: dict[str, str]) -> str:
    for key, value in names.items():
        text = text.replace("{" + key + "}", value)
    return text


@pytest.mark.parametrize(("name", "files", "args", "message", "code"), BAD_CASES, ids=[c[0] for c in BAD_CASES])
def test_bad_input_is_one_line_naming_file_and_field_and_stores_nothing(
        tmp_path: Path, name: str, files: dict[str, Any], args: list[str], message: str | None, code: int) -> None:
    names = {key: str(write(tmp_path / key, data)) for key, data in files.items()}
    names["carts"] = str(shutil.copy(FIXTURES / "perfspec_prometheus.json", tmp_path / "perfspec.json"))
    names["port"] = str(free_port())
    history = tmp_path / "h.sqlite"
    store = open_history(str(history))
    store.add(context={"project": "sockshop", "stage": "staging", "service": "carts"}, kind="perfspec",
              verdict="PASS", result="pass", score=1, max_score=1, indicators=[])
    before = list(store.export())
    result, _ = run(tmp_path, *[fill(a, names) for a in args])
    assert result.exit_code == code, result.output
    assert list(store.export()) == before and len(before) == 1  # every stored field, as before
    if message is not None:
        error_lines = [line for line in result.output.splitlines() if line.startswith("error:")]
        assert len(error_lines) == 1 and error_lines[0].startswith("error: " + fill(message, names)), result.output
        assert not (tmp_path / "out" / "evaluation.json").exists()
    else:  # a backend that cannot be reached is not bad input: ERROR, with the reason on screen
        assert "Quality gate ERROR" in result.output and "unreachable" in result.output, result.output


@pytest.mark.parametrize(("flags", "expected"), [([], "[131s]"), (["--keptn-minutes"], "[3m]")])
def test_window_placeholder_exact_seconds_or_keptn_minutes(tmp_path: Path, flags: list[str], expected: str) -> None:
    result, doc = run(tmp_path, "--spec", str(FIXTURES / "perfspec_prometheus.json"), "--start", "1000", "--end", "1130.2",
                      "--prometheus-url", f"http://127.0.0.1:{free_port()}", "--retry-budget", "0.2", *flags)
    assert result.exit_code == ExitCode.INFRA and doc is not None
    assert doc["indicators"][0]["query"].count(expected) == 2
