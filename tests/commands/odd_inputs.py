"""Shared rig for the odd-input tests (issue 11): one valid document of every kind the CLI reads, the
command that reads it, and the promise every outcome must keep.

A ``Kind`` is a file type (perfspec, slo, sli, shipyard, service, workload, testrun, deployment,
event, evaluation): its valid document, how it is written (JSON or YAML) and the CLI run that
reads it, every other input of that run being valid. ``run`` writes the documents into the
current folder (each test has its own, tests/conftest.py), takes a snapshot of every file there
(history, out/, the state folder), invokes the CLI in-process and checks ``promise``:

* exit 0/1/3 (5 for evaluation-done): outputs that the strict readers accept, with the verdict
  the exit code says;
* exit 2: exactly one ``error:`` line, no traceback, and every file exactly as before;
* exit 4: an infrastructure error, never ``internal error`` (a bug) and never a traceback.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import yaml
from click.testing import CliRunner, Result

from pipeline_steps.cli import cli
from pipeline_steps.files import read_json
from pipeline_steps.history import open_history
from tests.loopback import serving

CONTEXT = {"project": "sockshop", "stage": "staging", "service": "carts"}
CTX_FLAGS = ["--project", "sockshop", "--stage", "staging", "--service", "carts"]
HISTORY = Path(".pipeline-steps/history.sqlite")


def perfspec() -> dict[str, Any]:
    return {"spec_version": "1.0", "indicators": [
        {"id": "p95", "source": "testrun", "query": "performance.latency_ms.p95",
         "grading": {"type": "Threshold", "thresholds": {"upperSevere": 800, "upperWarning": 500}, "metricScore": 50}},
        {"id": "errors", "source": "testrun", "query": "performance.error_rate",
         "grading": {"type": "Threshold", "thresholds": {"upperSevere": 0.1, "lowerWarning": -1}, "metricScore": 50}}],
        "objectives": {"pass": 90, "warning": 75}}


def slo() -> dict[str, Any]:
    return {"spec_version": "1.0", "filter": {"handler": "carts"},
            "comparison": {"compare_with": "several_results", "number_of_comparison_results": 3,
                           "include_result_with_score": "pass", "aggregate_function": "avg"},
            "objectives": [{"sli": "p95", "weight": 1, "key_sli": False, "pass": [{"criteria": ["<800", "<=+50%"]}],
                            "warning": [{"criteria": ["<1000"]}]},
                           {"sli": "errors", "weight": 2, "pass": [{"criteria": ["<0.1"]}]}],
            "total_score": {"pass": "90%", "warning": "75%"}}


def sli() -> dict[str, Any]:
    return {"spec_version": "1.0", "indicators": {"p95": "performance.latency_ms.p95", "errors": "performance.error_rate"}}


def testrun() -> dict[str, Any]:
    end = round(time.time() - 60)
    return {"schema": "pipeline-steps/testrun/v1", "context": {**CONTEXT, "tag": "0.7.2"}, "target": "http://x",
            "start_unix": end - 300, "end_unix": end, "result": "pass", "aborted": False, "checks": [],
            "performance": {"requests": 1000, "errors": 10, "error_rate": 0.01, "throughput_rps": 3.3,
                            "duration_s": 300.0, "latency_ms": {"mean": 80.0, "p50": 70.0, "p95": 120.0, "max": 300.0}}}


def shipyard() -> dict[str, Any]:
    return {"stages": [{"name": "dev", "deployment_strategy": "direct", "test_strategy": "functional"},
                       {"name": "staging", "deployment_strategy": "blue_green_service", "test_strategy": "performance",
                        "approval_strategy": {"pass": "automatic", "warning": "manual"}},
                       {"name": "production", "deployment_strategy": "blue_green_service"}]}


def service() -> dict[str, Any]:
    return {"name": "carts", "port": 8080, "health_path": "/health", "replicas": 2,
            "local": {"command": ["{python}", "app.py"], "env": {"MODE": "x"}}, "chart": {"values": {"a": 1}}}


def workload() -> dict[str, Any]:
    return {"variables": {"cart": "1"},
            "health": {"path": "/health", "timeout_s": 5, "interval_s": 0.1, "expect_status": 200},
            "functional": [{"name": "home", "method": "GET", "path": "/carts/${cart}", "expect_status": [200],
                            "assert": [{"type": "text_contains", "value": "ok"}]}],
            "performance": {"model": "closed", "users": 2, "loops": 3, "duration_s": 0, "ramp_up_s": 0.5,
                            "think_time_ms": 10, "timeout_s": 5,
                            "requests": [{"name": "home", "path": "/", "weight": 2}],
                            "limits": {"error_rate": 0.1, "avg_response_time_ms": 500, "p95_response_time_ms": 900}}}


def deployment() -> dict[str, Any]:
    now = round(time.time() - 900)
    return {"schema": "pipeline-steps/deployment/v1", "context": {**CONTEXT, "deployment_strategy": "blue_green_service"},
            "platform": "fake", "namespace": "sockshop-staging", "colour": "green", "previous_colour": "blue",
            "image": "carts", "tag": "0.7.2", "weights_before": {"blue": 100, "green": 0},
            "weights_after": {"blue": 0, "green": 100}, "switched": True, "started_unix": now, "finished_unix": now + 30,
            "endpoints": {"public_url": "http://p", "internal_url": "http://i", "colour_urls": {"green": "http://g"}}}


def event() -> dict[str, Any]:
    return {"specversion": "1.0", "id": "1", "source": "test", "type": "sh.keptn.events.tests-finished",
            "time": "2026-11-26T10:00:00Z", "shkeptncontext": "abc",
            "data": {**CONTEXT, "image": "carts", "tag": "0.7.2", "teststrategy": "performance",
                     "deploymentstrategy": "blue_green_service", "result": "pass"}}


def evaluation() -> dict[str, Any]:
    return {"schema": "pipeline-steps/evaluation/v1", "verdict": "PASS", "totalScore": 100,
            "objectives": {"pass": 90, "warning": 75}, "context": dict(CONTEXT), "indicators": []}


@dataclass(frozen=True)
class Kind:
    """One file type: its valid document, its format and the run that reads it (``{file}`` is it)."""

    name: str
    filename: str
    make: Callable[[], Any]
    argv: tuple[str, ...]
    codes: frozenset[int] = frozenset({0, 1, 3})
    numeric: tuple[str, ...] = ()
    """Paths of numeric fields (the generated family puts every non-finite and out-of-range value there)."""

    @property
    def yaml(self) -> bool:
        return self.filename.endswith(".yaml")


_EVALUATE = ("evaluate", "--out-dir", "out", "--testrun", "{testrun.json}")
KINDS = {k.name: k for k in [
    Kind("perfspec", "perfspec.json", perfspec, (*_EVALUATE, "--spec", "{file}"),
         numeric=("objectives.pass", "objectives.warning", "indicators[0].grading.thresholds.upperSevere",
                  "indicators[0].grading.thresholds.upperWarning", "indicators[1].grading.thresholds.lowerWarning",
                  "indicators[0].grading.metricScore")),
    Kind("slo", "slo.yaml", slo, (*_EVALUATE, "--slo", "{file}", "--sli", "{sli.yaml}", "--sli-provider", "testrun"),
         numeric=("objectives[0].weight", "total_score.pass", "total_score.warning",
                  "comparison.number_of_comparison_results")),
    Kind("sli", "sli.yaml", sli, (*_EVALUATE, "--slo", "{slo.yaml}", "--sli", "{file}", "--sli-provider", "testrun")),
    Kind("testrun", "testrun.json", testrun, ("evaluate", "--out-dir", "out", "--spec", "{perfspec.json}", "--testrun",
                                              "{file}"), numeric=("start_unix", "end_unix")),
    Kind("event", "event.json", event, (*_EVALUATE, "--spec", "{perfspec.json}", "--event", "{file}")),
    Kind("shipyard", "shipyard.yaml", shipyard, ("evaluation-done", *CTX_FLAGS, "--out-dir", "out", "--shipyard", "{file}",
                                                 "--evaluation", "{evaluation.json}", "--deployment", "{deployment.json}"),
         codes=frozenset({0, 1, 5})),
    Kind("evaluation", "evaluation.json", evaluation, ("evaluation-done", *CTX_FLAGS, "--out-dir", "out", "--shipyard",
                                                       "{shipyard.yaml}", "--evaluation", "{file}", "--deployment",
                                                       "{deployment.json}"), codes=frozenset({0, 1, 5})),
    Kind("deployment", "deployment.json", deployment, ("evaluation-done", *CTX_FLAGS, "--out-dir", "out", "--shipyard",
                                                       "{shipyard.yaml}", "--evaluation", "{evaluation.json}",
                                                       "--deployment", "{file}"),
         codes=frozenset({0, 1, 5}), numeric=("started_unix", "finished_unix", "weights_before.blue")),
    Kind("service", "service.yaml", service, ("run-tests", *CTX_FLAGS, "--out-dir", "out", "--service-config", "{file}",
                                              "--workload", "{tests.yaml}", "--target", "{target}", "--health-timeout", "2"),
         codes=frozenset({0, 1}), numeric=("port", "replicas")),
    Kind("workload", "tests.yaml", workload, ("run-tests", *CTX_FLAGS, "--out-dir", "out", "--service-config",
                                              "{service.yaml}", "--workload", "{file}", "--target", "{target}",
                                              "--health-timeout", "2", "--test-strategy", "functional"),
         codes=frozenset({0, 1}),
         numeric=("health.timeout_s", "health.interval_s", "health.expect_status", "performance.users",
                  "performance.loops", "performance.ramp_up_s", "performance.think_time_ms", "performance.timeout_s",
                  "performance.limits.error_rate", "performance.limits.avg_response_time_ms",
                  "performance.limits.p95_response_time_ms", "performance.requests[0].weight")),
]}


def dump(kind: Kind, doc: Any) -> str:
    """The document as its file holds it; non-finite floats as each format writes them (NaN, .nan)."""
    if kind.yaml:
        return yaml.safe_dump(doc, sort_keys=False)
    return json.dumps(doc, indent=2)


def set_path(doc: Any, path: str, value: Any) -> None:
    """Set ``a.b[0].c`` in ``doc``."""
    parts = [p for p in path.replace("]", "").replace("[", ".").split(".") if p]
    node = doc
    for part in parts[:-1]:
        node = node[int(part)] if isinstance(node, list) else node[part]
    last = parts[-1]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value


class _Target(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b'{"ok": true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        return None


@contextmanager
def target_server() -> Iterator[str]:
    """A service that answers every GET with 200 ``{"ok": true}`` (run-tests' health and functional checks)."""
    with serving(_Target) as url:
        yield url


def snapshot(root: Path) -> dict[str, str]:
    """Every file under ``root`` (history, out/, state) -> a hash of its bytes."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@dataclass
class Outcome:
    result: Result
    before: dict[str, str]
    after: dict[str, str]
    files: dict[str, str] = field(default_factory=dict)

    @property
    def code(self) -> int:
        return int(self.result.exit_code)

    @property
    def output(self) -> str:
        return self.result.output

    def error_lines(self) -> list[str]:
        return [line for line in self.output.splitlines() if line.startswith("error:")]


def write_inputs(root: Path, kind: Kind, text: str | bytes) -> dict[str, str]:
    """The valid documents of every kind, ``kind``'s replaced by ``text``; -> ``{filename: path}``."""
    files: dict[str, str] = {}
    for other in KINDS.values():
        path = root / other.filename
        content = text if other is kind else dump(other, other.make())
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        files[other.filename] = str(path)
    return files


def seed_history(root: Path) -> None:
    store = open_history(str(root / HISTORY))
    store.add(context=CONTEXT, kind="perfspec", verdict="PASS", result="pass", score=100, max_score=100, indicators=[])
    store.close()  # the last connection folds the WAL into the file: the snapshot sees the file alone


def fill(text: str, names: dict[str, str]) -> str:
    for key, value in names.items():
        text = text.replace("{" + key + "}", value)
    return text


def run(root: Path, kind: Kind, text: str | bytes, *, target: str = "http://127.0.0.1:9", extra: tuple[str, ...] = (),
        argv: tuple[str, ...] | None = None) -> Outcome:
    """Write the inputs (``kind``'s file holding ``text``), run ``kind``'s command (or ``argv``) in-process."""
    files = write_inputs(root, kind, text)
    names = {**files, "file": files[kind.filename], "target": target}
    args = [fill(a, names) for a in (argv or kind.argv)] + list(extra)
    before = snapshot(root)
    result = CliRunner().invoke(cli, args, env={"PIPELINE_STEPS_HISTORY": str(root / HISTORY)})
    return Outcome(result, before, snapshot(root), files)


def _well_formed(outcome: Outcome, kind: Kind, root: Path) -> None:
    command = (kind.argv[0])
    out = root / "out"
    if command == "evaluate":
        doc = read_json(out / "evaluation.json")
        verdict = {0: "PASS", 1: "FAIL", 3: "WARNING"}[outcome.code]
        assert doc["verdict"] == verdict, outcome.output
        ElementTree.parse(out / "junit-evaluation.xml")
        read_json(out / "events" / "evaluation-done.json")
    elif command == "run-tests":
        doc = read_json(out / "testrun.json")
        assert doc["result"] == ("pass" if outcome.code == 0 else "fail"), outcome.output
        ElementTree.parse(out / "junit-tests.xml")
    else:
        read_json(out / "promotion.json")


def promise(outcome: Outcome, kind: Kind, root: Path) -> None:
    """What the CLI promises for every input (module docstring); raises AssertionError with the output."""
    text = outcome.output
    assert "Traceback" not in text and "internal error" not in text, text
    assert outcome.code in {*kind.codes, 2, 4}, f"exit {outcome.code}: {text}"
    if outcome.code == 2:
        assert len(outcome.error_lines()) == 1, text
        assert outcome.after == outcome.before, f"bad input changed files: {text}"
    elif outcome.code in kind.codes:
        _well_formed(outcome, kind, root)
