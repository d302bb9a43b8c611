"""The Dynatrace source (Metrics API v2) against the loopback stand-in, and the v1 -> v2 mapping.

Aspects: the carts perfspec_dynatrace.json (a v1 timeseries query) fails a slow service with the
value and entity Pitometer reported, and passes a fast one; the request carries the Api-Token
header, resolution=Inf, from/to in ms of the window and the default Keptn service scope; points
outside the window are not counted; a rejected token is ERROR (exit 4) and never printed;
v1 aggregations/entityIds/tags map to v2 selectors; SLI strings with ?scope= work; smartscape
queries are refused when the spec loads (exit 2); an entity without points is no data. The SLI
provider's other forms and paging: tests/sources/test_dynatrace_forms.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from pipeline_steps.cli import cli
from pipeline_steps.documents.context import StageContext
from pipeline_steps.documents.evaluation import Window
from pipeline_steps.errors import ExitCode
from pipeline_steps.secrets import Secret
from pipeline_steps.sources.dynatrace import DynatraceSource, check_query, to_v2
from standins.dynatrace import DynatraceStandIn
from tests.sources.fixed_json import answering

FIXTURES = Path(__file__).resolve().parents[1] / "gate" / "fixtures"
TOKEN = "dt0c01.SAMPLE.secret-part"
ENTITY = "SERVICE-64F930D2B8E888FF"
RT = "builtin:service.response.time"
START, END = 1557839081.0, 1557839741.0
CTX = StageContext("sockshop", "staging", "carts")


@pytest.fixture
def dynatrace() -> Iterator[DynatraceStandIn]:
    standin = DynatraceStandIn(TOKEN).start()
    standin.add_points(ENTITY, RT, [(START + 60, 1014676.0082135524), (START + 300, 1014676.0082135524),
                                    (START - 600, 1.0), (END + 600, 1.0)],
                       tags=["service:carts", "environment:sockshop-staging"])
    standin.add_points("SERVICE-OTHER", RT, [(START + 60, 5.0)], tags=["service:orders", "environment:sockshop-staging"])
    try:
        yield standin
    finally:
        standin.stop()


def evaluate(tmp_path: Path, url: str, token: str, spec: Path | None = None) -> tuple[Any, dict[str, Any] | None]:
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, [
        "evaluate", "--project", "sockshop", "--stage", "staging", "--service", "carts", "--no-history",
        "--spec", str(spec or FIXTURES / "perfspec_dynatrace.json"), "--start", str(START), "--end", str(END),
        "--dynatrace-url", url, "--dynatrace-token-env", "MY_DT_TOKEN", "--out-dir", str(out), "--retry-budget", "1"],
        env={"MY_DT_TOKEN": token})
    path = out / "evaluation.json"
    return result, json.loads(path.read_text()) if path.exists() else None


def test_carts_dynatrace_perfspec_reproduces_pitometers_failure(dynatrace: DynatraceStandIn, tmp_path: Path) -> None:
    result, doc = evaluate(tmp_path, dynatrace.url, TOKEN)
    assert result.exit_code == ExitCode.FAIL, result.output
    assert doc is not None
    assert doc["indicatorResults"] == [{"id": "ResponseTime_Backend", "score": 0, "violations": [
        {"value": 1014676.0082135524, "key": ENTITY, "breach": "upperSevere", "threshold": 1000000}]}]
    request = dynatrace.requests[-1]
    assert request["path"] == "/api/v2/metrics/query"
    assert request["headers"]["Authorization"] == f"Api-Token {TOKEN}"
    assert request["params"] == {
        "metricSelector": f"{RT}:avg", "resolution": "Inf", "from": str(int(START * 1000)), "to": str(int(END * 1000)),
        "entitySelector": 'type(SERVICE),tag("service:carts"),tag("environment:sockshop-staging")'}
    for path in (p for p in (tmp_path / "out").rglob("*") if p.is_file()):
        assert TOKEN not in path.read_text()


def test_fast_service_passes_and_warning_halves(dynatrace: DynatraceStandIn, tmp_path: Path) -> None:
    dynatrace.add_points("SERVICE-FAST", RT, [(START + 10, 700000.0)], tags=["service:carts", "environment:sockshop-staging"])
    source = DynatraceSource(dynatrace.url, Secret(TOKEN), CTX)
    got = source.fetch({"timeseriesId": "com.dynatrace.builtin:service.responsetime", "aggregation": "AVG",
                        "entityIds": ["SERVICE-FAST"]}, Window(START, END))
    assert got.error is None and [(s.key, s.value) for s in got.samples] == [("SERVICE-FAST", 700000.0)]
    dynatrace.add_points("SERVICE-WARN", RT, [(START + 10, 900000.0)], tags=["service:carts", "environment:sockshop-staging"])
    dynatrace.entities.pop(ENTITY)
    dynatrace.entities.pop("SERVICE-FAST")
    result, doc = evaluate(tmp_path, dynatrace.url, TOKEN)
    assert result.exit_code == ExitCode.FAIL and doc is not None and doc["totalScore"] == 50  # 50 < warning 75
    dynatrace.entities.pop("SERVICE-WARN")
    dynatrace.add_points("SERVICE-OK", RT, [(START + 10, 100000.0)], tags=["service:carts", "environment:sockshop-staging"])
    result, doc = evaluate(tmp_path, dynatrace.url, TOKEN)
    assert result.exit_code == ExitCode.OK and doc is not None and doc["verdict"] == "PASS"


def test_rejected_token_is_error_and_not_printed(dynatrace: DynatraceStandIn, tmp_path: Path) -> None:
    result, doc = evaluate(tmp_path, dynatrace.url, "wrong-token-value")
    assert result.exit_code == ExitCode.INFRA, result.output
    assert doc is not None and doc["verdict"] == "ERROR" and "HTTP 401" in doc["error"]
    assert "wrong-token-value" not in result.output
    assert all("wrong-token-value" not in p.read_text() for p in (tmp_path / "out").rglob("*") if p.is_file())


def test_entity_without_points_in_the_window_is_no_data(dynatrace: DynatraceStandIn) -> None:
    got = DynatraceSource(dynatrace.url, Secret(TOKEN), CTX).fetch(
        {"timeseriesId": "com.dynatrace.builtin:service.responsetime", "aggregation": "avg", "entityIds": [ENTITY]},
        Window(END + 1000, END + 1100))
    assert got.error is None and got.samples == [] and got.dropped == 1


@pytest.mark.parametrize(("query", "expected"), [
    ({"timeseriesId": "com.dynatrace.builtin:service.responsetime", "aggregation": "p90", "tags": ["backend"]},
     {"metricSelector": f"{RT}:percentile(90)", "entitySelector": 'type(SERVICE),tag("backend")'}),
    ({"timeseriesId": "com.dynatrace.builtin:appmethod.useractionduration", "aggregation": "avg",
      "entityIds": ["APPLICATION_METHOD-63947D52F76D9981"]},
     {"metricSelector": "builtin:appmethod.useractionduration:avg",
      "entitySelector": 'entityId("APPLICATION_METHOD-63947D52F76D9981")'}),
    ({"timeseriesId": "com.dynatrace.builtin:pgi.jvm.usedmemory", "aggregation": "max", "tags": []},
     {"metricSelector": "builtin:pgi.jvm.usedmemory:max"}),
    ({"timeseriesId": "com.dynatrace.builtin:service.failurerate", "aggregation": "avg", "tags": ['a"b']},
     {"metricSelector": "builtin:service.errors.total.rate:avg", "entitySelector": 'type(SERVICE),tag("a~"b")'}),
    ("builtin:service.response.time:merge(0):percentile(95)?scope=tag(keptn_project:sockshop),tag(keptn_stage:dev)",
     {"metricSelector": "builtin:service.response.time:merge(0):percentile(95)",
      "entitySelector": "type(SERVICE),tag(keptn_project:sockshop),tag(keptn_stage:dev)"}),
    ({"metricSelector": "builtin:service.errors.total.count:sum", "entitySelector": "type(SERVICE)"},
     {"metricSelector": "builtin:service.errors.total.count:sum", "entitySelector": "type(SERVICE)"}),
])
def test_v1_queries_map_to_v2_selectors(query: Any, expected: dict[str, str]) -> None:
    assert check_query(query) is None
    assert to_v2(query, CTX) == expected


def test_sli_string_query_runs_against_the_stand_in(dynatrace: DynatraceStandIn) -> None:
    dynatrace.add_points("SERVICE-K", RT, [(START + 1, 10.0), (START + 2, 30.0)], tags=["keptn_project:sockshop"])
    got = DynatraceSource(dynatrace.url, Secret(TOKEN), CTX).fetch(
        f"{RT}:merge(0):avg?scope=tag(keptn_project:sockshop)", Window(START, END))
    # 20 µs, in milliseconds as the Dynatrace SLI provider converts builtin:service.response.time
    assert got.error is None and [s.value for s in got.samples] == [0.02]


def test_smartscape_query_is_refused_when_the_spec_loads(tmp_path: Path) -> None:
    spec = tmp_path / "perfspec.json"
    sample = json.loads((FIXTURES / "perfspec-sample.json").read_text())
    spec.write_text(json.dumps(sample))
    result, doc = evaluate(tmp_path, "http://127.0.0.1:9", TOKEN, spec)
    assert result.exit_code == ExitCode.BAD_INPUT and doc is None
    assert f"error: {spec}: indicators[7].query: smartscape" in result.output


@pytest.mark.parametrize(("query", "body", "missing"), [
    ({"metricSelector": RT + ":avg"}, {"totalCount": 0}, "result"),
    ({"metricSelector": RT + ":avg"}, {"result": {"data": []}}, "result"),
    ({"metricSelector": RT + ":avg"}, {"result": [{"metricId": RT}]}, "data"),
    ("PV2;problemSelector=status(open)", {"problems": []}, "totalCount"),
    ("SLO;abc-123", {"name": "x", "error": "NONE"}, "evaluatedPercentage"),
    ("USQL;SINGLE_VALUE;;SELECT count(*) FROM usersession", {"columnNames": ["c"]}, "values"),
])
def test_an_answer_without_what_it_must_hold_is_an_error_not_no_data(query: Any, body: dict[str, Any], missing: str) -> None:
    """An answer that lacks the field its API always returns is no answer: it was read as "no values",
    which an indicator with ``ignoreEmpty`` scores full, so a proxy answering ``{}`` passed the gate.
    (An entity without points, or an empty table, is still no data: the field is there, empty.)"""
    with answering(body) as tenant:
        got = DynatraceSource(tenant, Secret(TOKEN), CTX, retry_budget_s=0.5).fetch(query, Window(START, END))
    assert got.error is not None and missing in got.error and not got.samples, got
