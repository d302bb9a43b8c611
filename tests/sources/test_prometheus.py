"""The Prometheus source against a real Prometheus scraping apps the test drives.

Aspects: instant query at the window end returns the scraped value as a number; series keys are
the label sets as compact JSON; NaN series (an idle colour, 0/0) are dropped and counted; an empty
vector is no samples; a bad query and an unreachable server become errors (never values); the
retry budget bounds the time spent on a dead server; a matrix result is refused; bearer auth is sent;
a value with quotes and a backslash, substituted into a single- or double-quoted matcher, matches
the real label value (the real PromQL parser accepts the escaping); a +Inf series is graded (a
breach) and a NaN series reported as dropped (issue 11).
"""

from __future__ import annotations

import base64
import json
import math
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from click.testing import CliRunner

from pipeline_steps.cli import cli
from pipeline_steps.documents.evaluation import Window
from pipeline_steps.errors import ExitCode
from pipeline_steps.platforms.local.procs import free_port
from pipeline_steps.secrets import Secret
from pipeline_steps.sources.prometheus import PrometheusSource
from pipeline_steps.sources.promql import substitute_promql as substitute
from tests.sources.fixed_json import answering
from tests.sources.prom_env import JOB, PromEnv, Traffic, prom_env

__all__ = ["prom_env"]


def test_instant_query_returns_the_scraped_value_at_the_window_end(prom_env: PromEnv) -> None:
    prom_env.blue.gauge.labels(name="latency").set(0.75)
    seen = prom_env.wait_for(f'gate_test_value{{name="latency",job="{JOB}"}}', 0.75)
    source = PrometheusSource(prom_env.url)
    got = source.fetch('gate_test_value{name="latency"}', Window(seen - 60, seen + 0.5))
    assert got.error is None
    assert [s.value for s in got.samples] == [0.75]
    key = json.loads(got.samples[0].key)
    assert key["colour"] == "blue" and key["job"] == JOB


def test_the_window_end_selects_older_samples(prom_env: PromEnv) -> None:
    gauge = prom_env.blue.gauge.labels(name="moving")
    gauge.set(1.0)
    first = prom_env.wait_for('gate_test_value{name="moving"}', 1.0)
    time.sleep(1.5)
    gauge.set(2.0)
    prom_env.wait_for('gate_test_value{name="moving"}', 2.0)
    source = PrometheusSource(prom_env.url)
    assert source.fetch('gate_test_value{name="moving"}', Window(first - 10, first + 0.5)).values == [1.0]


def test_nan_series_of_the_idle_colour_is_dropped(prom_env: PromEnv) -> None:
    query = f"rate(requests_latency_seconds_sum{{job='{JOB}'}}[3s])/rate(requests_latency_seconds_count{{job='{JOB}'}}[3s])"
    with Traffic(prom_env.blue, 0.25):
        time.sleep(4.5)
        end = time.time()
    got = PrometheusSource(prom_env.url).fetch(query, Window(end - 4, end))
    assert got.error is None
    assert got.dropped == 1, "green had no traffic: 0/0 = NaN must be dropped"
    assert len(got.samples) == 1 and abs(got.samples[0].value - 0.25) < 1e-6
    assert '"colour":"green"' not in got.samples[0].key


def test_empty_vector_is_no_samples_and_bad_query_is_an_error(prom_env: PromEnv) -> None:
    source = PrometheusSource(prom_env.url)
    now = time.time()
    empty = source.fetch('gate_test_value{name="never-set"}', Window(now - 10, now))
    assert empty.error is None and empty.samples == [] and empty.dropped == 0
    bad = source.fetch("rate(", Window(now - 10, now))
    assert bad.error is not None and "bad_data" in bad.error
    matrix = source.fetch("up[1m]", Window(now - 10, now))
    assert matrix.error is not None and "matrix" in matrix.error


def test_unreachable_server_is_an_error_within_the_retry_budget() -> None:
    source = PrometheusSource(f"http://127.0.0.1:{free_port()}", retry_budget_s=1.0, timeout_s=0.5)
    started = time.monotonic()
    got = source.fetch("up", Window(0, 10))
    elapsed = time.monotonic() - started
    assert got.error is not None and "unreachable" in got.error
    assert elapsed < 3.0


def _recording_server(seen: list[str]) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            seen.append(self.headers.get("Authorization", ""))
            self.send_response(503)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_basic_auth_is_sent() -> None:
    seen: list[str] = []
    server = _recording_server(seen)
    try:
        PrometheusSource(f"http://127.0.0.1:{server.server_port}", user="gate", password=Secret("pw"),
                         retry_budget_s=0.2).fetch("up", Window(0, 10))
    finally:
        server.shutdown()
        server.server_close()
    assert seen and seen[0] == "Basic " + base64.b64encode(b"gate:pw").decode()


def test_bearer_token_is_sent_and_never_in_errors() -> None:
    seen: list[str] = []

    server = _recording_server(seen)
    try:
        source = PrometheusSource(f"http://127.0.0.1:{server.server_port}", token=Secret("s3cr3t-token"), retry_budget_s=0.5)
        got = source.fetch("up", Window(0, 10))
    finally:
        server.shutdown()
        server.server_close()
    assert seen and all(h == "Bearer s3cr3t-token" for h in seen)
    assert len(seen) >= 2, "503 is transient and must be retried"
    assert got.error is not None and "s3cr3t" not in got.error and "HTTP 503" in got.error


def _echoing_server(seen: list[str]) -> ThreadingHTTPServer:
    """A Prometheus (or a proxy before one) that puts the Authorization header it got into its error."""
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            auth = self.headers.get("Authorization", "")
            seen.append(auth)
            body = json.dumps({"status": "error", "errorType": "bad_data", "error": f"not allowed: {auth}"}).encode()
            self.send_response(400)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _outputs(root: Path) -> str:
    return "\n".join(p.read_text(errors="replace") for p in sorted(root.rglob("*")) if p.is_file())


def test_no_credential_reaches_any_output_in_any_form(tmp_path: Path) -> None:
    """A token from a variable that ends in a line break (a Kubernetes secret as an environment
    variable) went into the header as it was; requests refused it with an exception quoting the
    header, so the token landed in evaluation.json, JUnit, the summary and the console. A backend
    that echoes the Authorization header back got the Basic credential (base64 of user:password)
    through unmasked. Through the real CLI: the token is sent stripped and nothing shows any form."""
    seen: list[str] = []
    server = _echoing_server(seen)
    spec = tmp_path / "perfspec.json"
    spec.write_text(json.dumps({"indicators": [{"id": "up", "source": "prometheus", "query": "up", "grading": {
        "type": "Threshold", "thresholds": {"upperSevere": 1}, "metricScore": 100}}], "objectives": {"pass": 90,
                                                                                                 "warning": 75}}))
    url = f"http://127.0.0.1:{server.server_port}"
    now = time.time()
    common = ["evaluate", "--spec", str(spec), "--project", "p", "--stage", "s", "--service", "c", "--no-history",
              "--start", str(now - 60), "--end", str(now - 1), "--retry-budget", "1", "--timeout", "1"]
    basic = base64.b64encode(b"gate:pa55-w0rd").decode()
    try:
        for auth, out in ((["--prometheus-token-env", "PROM_T"], "bearer"),
                          (["--prometheus-user", "gate", "--prometheus-password-env", "PROM_PW"], "basic")):
            result = CliRunner().invoke(cli, [*common, "--prometheus-url", url, *auth, "--out-dir", str(tmp_path / out)],
                                        env={"PROM_T": "t0k3n-value\n", "PROM_PW": "pa55-w0rd\n"})
            assert result.exit_code == ExitCode.INFRA, result.output
            text = result.output + _outputs(tmp_path / out)
            for form in ("t0k3n-value", "pa55-w0rd", basic, base64.b64encode(b"gate:pa55-w0rd\n").decode()):
                assert form not in text, (form, text)
            assert "not allowed" in text  # the backend's message itself is kept, masked
    finally:
        server.shutdown()
        server.server_close()
    assert seen == ["Bearer t0k3n-value", f"Basic {basic}"]


def test_substituted_values_with_quotes_match_the_real_label_value(prom_env: PromEnv) -> None:
    name = 'it\'s "quoted" \\ too'
    prom_env.blue.gauge.labels(name=name).set(3.25)
    seen = prom_env.wait_for('gate_test_value{name=~"it.s .quoted.*"}', 3.25)
    source = PrometheusSource(prom_env.url)
    for template in ('gate_test_value{name="$NAME"}', "gate_test_value{name='$NAME'}"):
        got = source.fetch(substitute(template, {"NAME": name}), Window(seen - 5, seen + 0.5))
        assert got.error is None and got.values == [3.25], (template, got)


def test_an_infinite_series_is_graded_and_a_nan_series_reported(prom_env: PromEnv, tmp_path: Path) -> None:
    """Issue 11 item 1: green's +Inf (every request failed: a ratio over zero) was dropped with the NaN
    series and the gate passed on blue alone. Now +Inf breaches upperSevere, the minimum over series
    decides (FAIL), and the NaN series is listed in ``dropped`` and the reason."""
    prom_env.blue.gauge.labels(name="ratio-a").set(0.01)
    prom_env.green.gauge.labels(name="ratio-b").set(math.inf)
    prom_env.blue.gauge.labels(name="ratio-c").set(math.nan)
    seen = prom_env.wait_for('gate_test_value{name="ratio-a"}', 0.01)
    prom_env.wait_for('count(gate_test_value{name=~"ratio-.*"})', 3)
    spec = tmp_path / "perfspec.json"
    spec.write_text(json.dumps({"indicators": [{"id": "ratio", "source": "Prometheus",
                                                "query": 'gate_test_value{name=~"ratio-.*"}',
                                                "grading": {"type": "Threshold", "thresholds": {"upperSevere": 0.1},
                                                            "metricScore": 100}}],
                                "objectives": {"pass": 100, "warning": 100}}))
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["evaluate", "--project", "sockshop", "--stage", "staging", "--service", "carts",
                                      "--spec", str(spec), "--start", str(seen - 30), "--end", str(seen + 0.5),
                                      "--prometheus-url", prom_env.url, "--out-dir", str(out), "--no-history"])
    assert result.exit_code == ExitCode.FAIL, result.output
    doc = json.loads((out / "evaluation.json").read_text())  # valid JSON: no Infinity/NaN literal
    indicator = doc["indicators"][0]
    assert sorted(str(v["value"]) for v in indicator["values"]) == ["+Inf", "0.01"]
    assert indicator["value"] == "+Inf" and indicator["score"] == 0
    assert len(indicator["dropped"]) == 1 and "ratio-c" in indicator["dropped"][0]
    assert "+Inf breaches upperSevere 0.1" in indicator["reason"] and "1 series dropped" in indicator["reason"]
    assert doc["indicatorResults"][0]["violations"][0]["value"] == "+Inf"


def test_an_answer_with_warnings_is_error_not_a_partial_judgement() -> None:
    """Prometheus (and Thanos/Cortex partial responses) send ``warnings`` with data they could not read
    whole; such an answer is an ERROR, never judged."""
    class Partial(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            body = json.dumps({"status": "success", "warnings": ["store 10.0.0.7:10901 unavailable"], "data": {
                "resultType": "vector", "result": [{"metric": {}, "value": [1300, "0.01"]}]}}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Partial)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        got = PrometheusSource(f"http://127.0.0.1:{server.server_port}").fetch("up", Window(0, 10))
    finally:
        server.shutdown()
        server.server_close()
    assert got.samples == [] and got.error is not None and "store 10.0.0.7:10901 unavailable" in got.error


def test_a_series_without_its_sample_is_an_error_not_no_data() -> None:
    """Prometheus' API gives every vector element ``metric`` and ``value: [time, "number"]``; an element
    without its sample is no answer. It was read as a series without value ("no values"), which an
    indicator with ``ignoreEmpty`` scores full."""
    for result in ([{"metric": {"colour": "green"}}], [{"metric": {}, "value": None}], ["oops"]):
        with answering({"status": "success", "data": {"resultType": "vector", "result": result}}) as url:
            got = PrometheusSource(url, retry_budget_s=0.5).fetch("up", Window(0, 10))
        assert got.error is not None and "without its sample" in got.error and not got.samples, (result, got)
