"""The run-tests step through its CLI, against loopback servers.

Aspects: functional and performance runs write testrun.json (the documented keys the gate reads
by dotted path) and junit-tests.xml (one case per check, the performance case with statistics
and the reason for a failure); exit codes 0 pass, 1 failed check or exceeded limit (an
unreachable service is a failed health check), 2 bad input with nothing sent and nothing
written (table-driven; also a --target host that does not resolve; the platform's own address
not resolving is exit 4; signals and terminals: test_run_tests_process.py); without --target the
platform's internal URL serves functional checks and its public URL the performance test;
testrun.json reads back into the same document.
"""

from __future__ import annotations

import json
import os
import signal
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

from pipeline_steps import platforms
from pipeline_steps.cli import cli
from pipeline_steps.documents.context import StageContext
from pipeline_steps.documents.deployment import Endpoints
from pipeline_steps.documents.testrun import read_testrun
from pipeline_steps.documents.weights import Weights
from pipeline_steps.platforms.base import ColourState, StageStatus
from pipeline_steps.platforms.local.procs import free_port
from tests.load.servers import serve

CONTEXT = ["--project", "sockshop", "--stage", "dev", "--service", "carts"]
FUNCTIONAL = [
    {"name": "add", "method": "POST", "path": "/carts/1/items", "json": {"itemId": "x1"}, "expect_status": 201,
     "extract": {"id": "$.id"}},
    {"name": "read", "path": "/carts/1/items", "assert": [{"type": "json_path", "path": "$[-1].id", "equals": "${id}"}]},
]
PERFORMANCE = {"users": 2, "loops": 10, "requests": [{"name": "get ok", "path": "/ok"}], "limits": {"error_rate": 0.0}}


def workload(tmp_path: Path, **sections: Any) -> Path:
    path = tmp_path / "tests.yaml"
    path.write_text(yaml.safe_dump({"health": {"path": "/health", "interval_s": 0.1}, **sections}), encoding="utf-8")
    return path


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, ["run-tests", *CONTEXT, *args], catch_exceptions=False)


def junit(out: Path) -> list[ET.Element]:
    return list(ET.parse(out / "junit-tests.xml").getroot().iter("testcase"))


def test_functional_run_passes_and_writes_both_documents(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with serve() as server:
        result = invoke("--test-strategy", "functional", "--workload", str(workload(tmp_path, functional=FUNCTIONAL)),
                        "--target", server.url, "--out-dir", str(out))
    assert result.exit_code == 0, result.output
    doc = json.loads((out / "testrun.json").read_text())
    assert doc["schema"] == "pipeline-steps/testrun/v1" and doc["result"] == "pass" and doc["performance"] is None
    assert doc["target"] == server.url and doc["context"]["test_strategy"] == "functional"
    assert [(c["name"], c["kind"], c["passed"]) for c in doc["checks"]] == [
        ("health", "health", True), ("add", "functional", True), ("read", "functional", True)]
    assert doc["start_unix"] <= doc["end_unix"] and doc["start"].endswith("Z")
    cases = junit(out)
    assert [c.get("name") for c in cases] == ["health", "add", "read"]
    assert not any(c.find("failure") is not None for c in cases)
    assert "run-tests: PASS" in result.output
    event = json.loads((out / "events" / "tests-finished.json").read_text())
    assert event["type"] == "sh.keptn.events.tests-finished" and event["data"]["startedat"] == doc["start"]


def test_failed_functional_check_exits_1_with_a_junit_failure(tmp_path: Path) -> None:
    out = tmp_path / "out"
    broken = [{"name": "wrong", "path": "/status/500", "expect_status": 200}]
    with serve() as server:
        result = invoke("--test-strategy", "functional", "--workload", str(workload(tmp_path, functional=broken)),
                        "--target", server.url, "--out-dir", str(out))
    assert result.exit_code == 1, result.output
    failure = next(c for c in junit(out) if c.get("name") == "wrong").find("failure")
    assert failure is not None and "HTTP 500, expected 200" in (failure.get("message") or "")
    assert json.loads((out / "testrun.json").read_text())["result"] == "fail"


def test_unreachable_service_is_a_failed_health_check(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = invoke("--test-strategy", "functional", "--workload", str(workload(tmp_path, functional=FUNCTIONAL)),
                    "--target", f"http://127.0.0.1:{free_port()}", "--health-timeout", "0.5", "--out-dir", str(out))
    assert result.exit_code == 1, result.output
    cases = {c.get("name"): c for c in junit(out)}
    assert "cannot connect" in (cases["health"].find("failure").get("message") or "")  # type: ignore[union-attr]
    assert cases["add"].find("skipped") is not None and cases["read"].find("skipped") is not None
    doc = json.loads((out / "testrun.json").read_text())
    assert doc["result"] == "fail" and len(doc["checks"]) == 1


def test_performance_run_keys_the_gate_reads(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with serve() as server:
        result = invoke("--test-strategy", "performance", "--workload", str(workload(tmp_path, performance=PERFORMANCE)),
                        "--target", server.url, "--users", "3", "--loops", "4", "--out-dir", str(out))
        sent = server.state.paths.count("/ok")
    assert result.exit_code == 0, result.output
    run = json.loads((out / "testrun.json").read_text())
    perf = run["performance"]
    assert perf["requests"] == 12 == sent
    # the dotted paths docs/documents.md promises the gate's testrun source
    for key in ("mean", "p50", "p90", "p95", "p99", "max"):
        assert isinstance(perf["latency_ms"][key], float)
        assert isinstance(perf["by_request"]["get ok"]["latency_ms"][key], float)
    for key in ("requests", "errors", "error_rate", "throughput_rps", "duration_s", "errors_by_kind", "limits",
                "limits_passed", "reason"):
        assert key in perf
    assert set(perf["errors_by_kind"]) == {"connect", "timeout", "status", "assertion"}
    case = next(c for c in junit(out) if c.get("name") == "performance")
    assert case.find("failure") is None and "requests: 12" in (case.findtext("system-out") or "")
    assert read_testrun(out / "testrun.json").to_dict() == run


def test_the_gate_window_is_the_load_not_the_health_wait(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with serve(healthy_after_s=0.6) as server:
        began = time.time()
        result = invoke("--test-strategy", "performance", "--workload", str(workload(tmp_path, performance=PERFORMANCE)),
                        "--target", server.url, "--out-dir", str(out))
        finished = time.time()
    assert result.exit_code == 0, result.output
    doc = json.loads((out / "testrun.json").read_text())
    assert doc["checks"][0]["duration_s"] >= 0.5
    assert doc["start_unix"] >= began + 0.5  # after the health wait
    assert doc["end_unix"] - doc["start_unix"] == pytest.approx(doc["performance"]["duration_s"], abs=0.01)
    assert doc["end_unix"] <= finished


def test_overrides_from_jenkins_parameters(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with serve() as server:
        result = CliRunner(env={"TEST_USERS": "1", "TEST_LOOPS": "3"}).invoke(
            cli, ["run-tests", *CONTEXT, "--test-strategy", "performance", "--workload",
                  str(workload(tmp_path, performance=PERFORMANCE)), "--target", server.url, "--out-dir", str(out)])
    assert result.exit_code == 0, result.output
    assert json.loads((out / "testrun.json").read_text())["performance"]["requests"] == 3


def test_exceeded_limit_exits_1_and_junit_says_why(tmp_path: Path) -> None:
    out = tmp_path / "out"
    slow = {**PERFORMANCE, "requests": [{"name": "slow", "path": "/slow?ms=30"}], "limits": {"avg_response_time_ms": 5}}
    with serve() as server:
        result = invoke("--test-strategy", "performance", "--workload", str(workload(tmp_path, performance=slow)),
                        "--target", server.url, "--loops", "3", "--out-dir", str(out))
    assert result.exit_code == 1, result.output
    failure = next(c for c in junit(out) if c.get("name") == "performance").find("failure")
    assert failure is not None and "average response time" in (failure.get("message") or "")
    perf = json.loads((out / "testrun.json").read_text())["performance"]
    assert perf["limits_passed"] is False and "> limit 5 ms" in perf["reason"]


BAD_INPUT: list[tuple[str, dict[str, Any] | str, list[str], str]] = [
    ("malformed yaml", "performance: {users: [1\n", ["--test-strategy", "performance"], "invalid YAML"),
    ("unknown assertion type", {"functional": [{"name": "a", "path": "/ok", "assert": [{"type": "xpath"}]}]},
     ["--test-strategy", "functional"], "functional[0].assert[0].type: unknown assertion type 'xpath'"),
    ("zero users in file", {"performance": {**PERFORMANCE, "users": 0}}, ["--test-strategy", "performance"],
     "performance.users: must be at least 1"),
    ("zero users flag", {"performance": PERFORMANCE}, ["--test-strategy", "performance", "--users", "0"], "--users"),
    ("negative duration flag", {"performance": PERFORMANCE}, ["--test-strategy", "performance", "--duration", "-3"],
     "--duration"),
    ("negative duration in file", {"performance": {**PERFORMANCE, "duration_s": -1}}, ["--test-strategy", "performance"],
     "performance.duration_s"),
    ("target without scheme", {"functional": FUNCTIONAL}, ["--test-strategy", "functional", "--target", "127.0.0.1:80"],
     "--target: '127.0.0.1:80' is not"),
    ("target with a bad port", {"functional": FUNCTIONAL}, ["--test-strategy", "functional", "--target", "http://h:99999"],
     "--target"),
    # RFC 6761: .invalid never resolves; without this check the health check would wait its 60 s and exit 1
    ("unresolvable target", {"performance": PERFORMANCE},
     ["--test-strategy", "performance", "--target", "http://no-such-host.invalid:8080"],
     "--target: host 'no-such-host.invalid' does not resolve"),
    ("performance section missing", {"functional": FUNCTIONAL}, ["--test-strategy", "performance"],
     "performance: test strategy 'performance' needs this section"),
    ("unknown test strategy", {"functional": FUNCTIONAL}, ["--test-strategy", "smoke"], "test_strategy"),
]


@pytest.mark.parametrize(("case", "content", "args", "message"), BAD_INPUT, ids=[b[0] for b in BAD_INPUT])
def test_bad_input_exits_2_sends_nothing_writes_nothing(tmp_path: Path, case: str, content: Any, args: list[str],
                                                        message: str) -> None:
    path = tmp_path / "tests.yaml"
    path.write_text(content if isinstance(content, str) else yaml.safe_dump(content), encoding="utf-8")
    out = tmp_path / "out"
    with serve() as server:
        if "--target" not in args:
            args = [*args, "--target", server.url]
        result = CliRunner().invoke(cli, ["run-tests", *CONTEXT, "--workload", str(path), *args, "--out-dir", str(out)])
        assert server.state.requests == 0
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert len([line for line in result.output.splitlines() if line.strip()]) == 1  # one line, no traceback
    assert not out.exists()


class _EndpointsOnly:
    name = "fake"

    def __init__(self, endpoints: Endpoints) -> None:
        self._endpoints = endpoints

    def endpoints(self, ctx: StageContext) -> Endpoints:
        return self._endpoints

    def status(self, ctx: StageContext) -> StageStatus:
        return StageStatus(context=ctx, strategy="direct")  # nothing deployed: no colour to wait for


def test_without_target_functional_uses_internal_and_performance_public(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    path = workload(tmp_path, functional=[{"name": "ok", "path": "/ok"}], performance=PERFORMANCE)
    with serve() as internal, serve() as public:
        fake = _EndpointsOnly(Endpoints(public_url=public.url, internal_url=internal.url))
        monkeypatch.setattr(platforms, "make_platform", lambda name, settings: fake)
        functional = invoke("--test-strategy", "functional", "--workload", str(path), "--out-dir", str(tmp_path / "f"))
        assert functional.exit_code == 0, functional.output
        assert (internal.state.paths, public.state.paths) == (["/health", "/ok"], [])
        performance = invoke("--test-strategy", "performance", "--workload", str(path), "--out-dir", str(tmp_path / "p"))
        assert performance.exit_code == 0, performance.output
        assert public.state.paths.count("/ok") == 20 and len(internal.state.paths) == 2
    assert json.loads((tmp_path / "p" / "testrun.json").read_text())["target"] == public.url


def test_platform_address_that_does_not_resolve_is_an_infrastructure_error(tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Not the user's input, so exit 4 (the chain rolls back a flipped stage), and nothing is sent."""
    path = workload(tmp_path, performance=PERFORMANCE)
    with serve() as internal:
        fake = _EndpointsOnly(Endpoints(public_url="http://carts.sockshop-staging.invalid", internal_url=internal.url))
        monkeypatch.setattr(platforms, "make_platform", lambda name, settings: fake)
        result = invoke("--test-strategy", "performance", "--workload", str(path), "--out-dir", str(tmp_path / "out"))
        assert internal.state.requests == 0
    assert result.exit_code == 4, result.output
    assert "public_url http://carts.sockshop-staging.invalid: host 'carts.sockshop-staging.invalid' does not resolve" \
        in result.output
    assert not (tmp_path / "out").exists()


def test_workload_and_health_path_from_service_yaml(tmp_path: Path) -> None:
    (tmp_path / "service.yaml").write_text("name: carts\nhealth_path: /ok\ntests: checks/tests.yaml\n", encoding="utf-8")
    (tmp_path / "checks").mkdir()
    (tmp_path / "checks" / "tests.yaml").write_text(yaml.safe_dump({"functional": [{"name": "ok", "path": "/ok"}]}))
    with serve() as server:
        functional = invoke("--test-strategy", "functional", "--service-config", str(tmp_path / "service.yaml"),
                            "--target", server.url, "--out-dir", str(tmp_path / "f"))
        # no test strategy: only the health check
        (tmp_path / "bare.yaml").write_text("name: carts\nhealth_path: /ok\n", encoding="utf-8")
        health_only = invoke("--service-config", str(tmp_path / "bare.yaml"), "--target", server.url,
                             "--out-dir", str(tmp_path / "h"))
        paths = list(server.state.paths)
    assert functional.exit_code == 0, functional.output
    assert health_only.exit_code == 0, health_only.output
    assert paths == ["/ok", "/ok", "/ok"]  # the workload has no health path: service.yaml's health_path
    assert [c.get("name") for c in junit(tmp_path / "h")] == ["health"]


class _SlowToObserve(_EndpointsOnly):
    """A stage whose live colour takes long to be observed; the Jenkins abort (SIGTERM) lands during the wait."""

    def status(self, ctx: StageContext) -> StageStatus:
        live = ColourState("blue", "img", "1", 1, 1, True)
        return StageStatus(context=ctx, strategy="blue_green_service", colours=(live,), weights=Weights(100, 0))

    def wait_available(self, ctx: StageContext, colour: str | None, timeout_s: float) -> ColourState:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)
        raise AssertionError("SIGTERM did not interrupt the wait")


def test_an_abort_while_waiting_for_the_colour_to_be_observed_is_130(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    path = workload(tmp_path, performance=PERFORMANCE)
    with serve() as public:
        fake = _SlowToObserve(Endpoints(public_url=public.url, internal_url=public.url))
        monkeypatch.setattr(platforms, "make_platform", lambda name, settings: fake)
        result = invoke("--test-strategy", "performance", "--workload", str(path), "--out-dir", str(tmp_path / "out"))
        assert public.state.requests == 0
    assert result.exit_code == 130, result.output
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # the handler is the process's again


@pytest.mark.parametrize("target", ["http://ci:S3CRETpw@127.0.0.1:9", "http://S3CRETtok@127.0.0.1:9/x",
                                    "htp://ci:S3CRETpw@h", "http://ci:S3CRET/pw@h:9"])
def test_a_target_with_credentials_is_bad_input_and_never_shown(tmp_path: Path, target: str) -> None:
    """The target goes into testrun.json and the JUnit; the load test sends no credentials (issue 12.5)."""
    path = workload(tmp_path, performance=PERFORMANCE)
    result = invoke("--test-strategy", "performance", "--workload", str(path), "--target", target,
                    "--out-dir", str(tmp_path / "out"))
    assert result.exit_code == 2, result.output
    assert "--target" in result.output and "S3CRET" not in result.output
    assert not (tmp_path / "out").exists()
