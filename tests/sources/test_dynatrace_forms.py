"""Every query form of Keptn's Dynatrace SLI provider, and paging, against the loopback stand-in.

Aspects (issue 11 items 6 and 7): each documented form (keptn-contrib/dynatrace-sli-service README
"Advanced SLI Queries" and docs/CustomQueryFormatMigration.md; dynatrace-service
documentation/slis-via-files.md) becomes its API request with its parameters, and its value is read
as the provider read it (MV2 units, response time in ms, evaluatedPercentage, totalCount, the USQL
tile's cell); anything else is bad input when the spec loads, naming the field; a placeholder
value cannot add parameters; an answer that pages past MAX_PAGES is ERROR naming the limit (the
breaching entity on page 21 can never pass the gate), while 20 pages are read whole, each next
page asked for with nextPageKey alone as the API demands.
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
from pipeline_steps.sources.dynatrace import MAX_PAGES, DynatraceSource, check_query
from pipeline_steps.sources.dynatrace_queries import parse
from standins.dynatrace import DynatraceStandIn

TOKEN = "dt0c01.FORMS.secret-part"
RT = "builtin:service.response.time"
START, END = 1795687200.0, 1795687500.0
CTX = StageContext("sockshop", "staging", "carts")
ISSUE_QUERY = ('metricSelector=builtin:service.response.time:merge("dt.entity.service"):percentile(95)'
               "&entitySelector=tag(keptn_project:$PROJECT),type(SERVICE)")


@pytest.fixture
def dynatrace() -> Iterator[DynatraceStandIn]:
    standin = DynatraceStandIn(TOKEN).start()
    try:
        yield standin
    finally:
        standin.stop()


FORMS = [
    (ISSUE_QUERY, "metrics", "/api/v2/metrics/query",
     {"metricSelector": 'builtin:service.response.time:merge("dt.entity.service"):percentile(95)',
      "entitySelector": "tag(keptn_project:$PROJECT),type(SERVICE)"}, 1000.0),
    ("?metricSelector=builtin:service.requestCount.total:merge(0):sum&entitySelector=type(SERVICE)", "metrics",
     "/api/v2/metrics/query", {"metricSelector": "builtin:service.requestCount.total:merge(0):sum",
                               "entitySelector": "type(SERVICE)"}, 1.0),
    ("metricSelector=calc:service.teststepresponsetime:merge(0):avg:names:filter(eq(Test Step,Basic Check));"
     "entitySelector=type(SERVICE)", "metrics", "/api/v2/metrics/query",
     {"metricSelector": "calc:service.teststepresponsetime:merge(0):avg:names:filter(eq(Test Step,Basic Check))",
      "entitySelector": "type(SERVICE)"}, 1.0),
    ("MV2;MicroSecond;metricSelector=calc:service.x:avg&entitySelector=type(SERVICE)", "metrics", "/api/v2/metrics/query",
     {"metricSelector": "calc:service.x:avg", "entitySelector": "type(SERVICE)"}, 1000.0),
    ("MV2;Byte;metricSelector=builtin:host.mem.used:avg", "metrics", "/api/v2/metrics/query",
     {"metricSelector": "builtin:host.mem.used:avg"}, 1024.0),
    ("builtin:service.errors.total.count:merge(0):avg?scope=tag(keptn_project:sockshop)", "metrics",
     "/api/v2/metrics/query", {"metricSelector": "builtin:service.errors.total.count:merge(0):avg",
                               "entitySelector": "type(SERVICE),tag(keptn_project:sockshop)"}, 1.0),
    ("SLO;524ca177-849b-3e8c-8175-42b93fbc33c5", "slo", "/api/v2/slo/524ca177-849b-3e8c-8175-42b93fbc33c5", {}, 1.0),
    ("PV2;problemSelector=status(open)&entitySelector=managementZoneIds(7030365576649815430)", "problems",
     "/api/v2/problems", {"problemSelector": "status(open)", "entitySelector": "managementZoneIds(7030365576649815430)"}, 1.0),
    ("SECPV2;securityProblemSelector=status(open)", "securityProblems", "/api/v2/securityProblems",
     {"securityProblemSelector": "status(open)"}, 1.0),
    ("USQL;COLUMN_CHART;iPad mini;SELECT device, AVG(duration) FROM usersession GROUP BY device", "usql",
     "/api/v1/userSessionQueryLanguage/table",
     {"query": "SELECT device, AVG(duration) FROM usersession GROUP BY device"}, 1.0),
]


@pytest.mark.parametrize(("query", "api", "path", "params", "divisor"), FORMS, ids=[f[0][:24] for f in FORMS])
def test_every_documented_form_becomes_its_api_request(query: str, api: str, path: str, params: dict[str, str],
                                                       divisor: float) -> None:
    request = parse(query, CTX)
    assert (request.api, request.path, request.params, request.divisor) == (api, path, params, divisor)
    assert check_query(query) is None


@pytest.mark.parametrize(("query", "reason"), [
    ("builtin:service.response.time:avg", "no query form of Keptn's Dynatrace SLI provider"),
    ("metricSelector=x&resolution=1m", "unknown parameter 'resolution'"),
    ("entitySelector=type(SERVICE)", "metricSelector is required"),
    ("metricSelector=a&metricSelector=b", "metricSelector is given twice"),
    ("MV2;NanoSecond;metricSelector=x", "unit MicroSecond or Byte"),
    ("MV2;metricSelector=x", "MV2 needs"),
    ("SLO;", "SLO needs"), ("SLO;../../api/v1/config", "SLO needs"),
    ("PV2;", "PV2 needs"), ("PV2;metricSelector=x", "unknown parameter 'metricSelector'"),
    ("SECPV2;problemSelector=status(open)", "unknown parameter 'problemSelector'"),
    ("USQL;PIE;x;SELECT 1", "tile type 'PIE'"), ("USQL;SINGLE_VALUE;dim;SELECT 1", "takes no dimension"),
    ("USQL;TABLE;;SELECT 1", "needs the dimension"), ("USQL;TABLE;x", "USQL needs"),
    ({"metricSelector": "x", "resolution": "1m"}, "unknown key 'resolution'"),
    (42, "must be a Dynatrace query"),
])
def test_unrecognised_forms_are_refused_with_a_reason(query: Any, reason: str) -> None:
    problem = check_query(query)
    assert problem is not None and reason in problem


def test_an_unrecognised_form_is_bad_input_when_the_spec_loads(tmp_path: Path) -> None:
    (tmp_path / "slo.yaml").write_text("objectives: [{sli: rt, pass: [{criteria: ['<600']}]}]\ntotal_score: {pass: 90%}\n")
    (tmp_path / "sli.yaml").write_text("indicators:\n  rt: 'MV2;Percent;metricSelector=builtin:x:avg'\n")
    result = CliRunner().invoke(cli, [
        "evaluate", "--slo", str(tmp_path / "slo.yaml"), "--sli", str(tmp_path / "sli.yaml"), "--sli-provider", "dynatrace",
        "--project", "sockshop", "--stage", "staging", "--service", "carts", "--start", "1000", "--end", "1300",
        "--out-dir", str(tmp_path / "out"), "--no-history"])
    assert result.exit_code == ExitCode.BAD_INPUT, result.output
    assert f"error: {tmp_path / 'sli.yaml'}: indicators.rt: MV2 needs" in result.output
    assert not (tmp_path / "out").exists()


def evaluate_sli(tmp_path: Path, url: str, sli: str, criteria: str, *extra: str) -> tuple[Any, dict[str, Any] | None]:
    (tmp_path / "slo.yaml").write_text(f"filter: {{handler: x}}\nobjectives: [{{sli: q, pass: [{{criteria: ['{criteria}']}}]}}]\n"
                                       "total_score: {pass: 90%}\n")
    (tmp_path / "sli.yaml").write_text(f"indicators:\n  q: {json.dumps(sli)}\n")
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, [
        "evaluate", "--slo", str(tmp_path / "slo.yaml"), "--sli", str(tmp_path / "sli.yaml"), "--sli-provider", "dynatrace",
        "--project", "sockshop", "--stage", "staging", "--service", "carts", "--start", str(START), "--end", str(END),
        "--dynatrace-url", url, "--dynatrace-token-env", "T", "--out-dir", str(out), "--no-history", "--retry-budget", "2",
        *extra], env={"T": TOKEN})
    path = out / "evaluation.json"
    return result, json.loads(path.read_text()) if path.exists() else None


def test_the_issues_query_runs_in_milliseconds(dynatrace: DynatraceStandIn, tmp_path: Path) -> None:
    """Item 7: the provider's own form was sent whole as metricSelector (404, ERROR); now it is its parameters."""
    dynatrace.add_points("SERVICE-A", RT, [(START + 10, 450_000.0)], tags=["keptn_project:sockshop"])
    result, doc = evaluate_sli(tmp_path, dynatrace.url, ISSUE_QUERY, "<600")
    assert result.exit_code == ExitCode.OK, result.output
    assert doc is not None and doc["indicators"][0]["value"] == 450
    sent = dynatrace.requests[-1]["params"]
    assert sent["metricSelector"] == 'builtin:service.response.time:merge("dt.entity.service"):percentile(95)'
    assert sent["entitySelector"] == "tag(keptn_project:sockshop),type(SERVICE)"


@pytest.mark.parametrize(("sli", "setup", "value"), [
    ("SLO;slo-1", lambda d: d.slos.update({"slo-1": (97.5, "NONE")}), 97.5),
    ("PV2;problemSelector=status(open)", lambda d: d.problems.extend(
        [{"entityId": "S1", "status": "OPEN"}, {"entityId": "S2", "status": "OPEN"}, {"entityId": "S3", "status": "CLOSED"}]), 2),
    ("SECPV2;securityProblemSelector=status(open)", lambda d: d.problems.append(
        {"entityId": "S1", "status": "OPEN", "security": True}), 1),
    ("USQL;COLUMN_CHART;iPad mini;SELECT device, AVG(duration) FROM usersession GROUP BY device", lambda d: d.usql.update(
        {"SELECT device, AVG(duration) FROM usersession GROUP BY device": (
            ["device", "avg"], [["iPhone", 3.0], ["iPad mini", 7.5]])}), 7.5),
    ("USQL;TABLE;iPad mini;SELECT device, count(*), AVG(duration) FROM usersession", lambda d: d.usql.update(
        {"SELECT device, count(*), AVG(duration) FROM usersession": (["device", "n", "avg"], [["iPad mini", 3, 8.25]])}), 8.25),
    ("USQL;SINGLE_VALUE;;SELECT count(*) FROM usersession", lambda d: d.usql.update(
        {"SELECT count(*) FROM usersession": (["n"], [[41], [99]])}), 41),
    ("MV2;Byte;metricSelector=builtin:host.mem.used:avg", lambda d: d.add_points(
        "HOST-1", "builtin:host.mem.used", [(START + 5, 2048.0)], entity_type="HOST"), 2),
])
def test_each_form_reads_its_value_as_the_provider_did(dynatrace: DynatraceStandIn, tmp_path: Path, sli: str,
                                                       setup: Any, value: float) -> None:
    setup(dynatrace)
    result, doc = evaluate_sli(tmp_path, dynatrace.url, sli, ">=0")
    assert result.exit_code == ExitCode.OK, result.output
    assert doc is not None and doc["indicators"][0]["value"] == value


def test_an_slo_dynatrace_cannot_compute_is_error(dynatrace: DynatraceStandIn, tmp_path: Path) -> None:
    dynatrace.slos["slo-2"] = (None, "The metric expression is invalid")
    result, doc = evaluate_sli(tmp_path, dynatrace.url, "SLO;slo-2", ">=0")
    assert result.exit_code == ExitCode.INFRA and doc is not None and "metric expression is invalid" in doc["error"]


def test_a_placeholder_value_cannot_add_parameters(tmp_path: Path) -> None:
    (tmp_path / "slo.yaml").write_text("filter: {handler: 'x&mzSelector=mzId(1)'}\n"
                                       "objectives: [{sli: q, pass: [{criteria: ['<1']}]}]\ntotal_score: {pass: 90%}\n")
    (tmp_path / "sli.yaml").write_text("indicators:\n  q: 'metricSelector=builtin:x:avg&entitySelector=tag($handler)'\n")
    result = CliRunner().invoke(cli, [
        "evaluate", "--slo", str(tmp_path / "slo.yaml"), "--sli", str(tmp_path / "sli.yaml"), "--sli-provider", "dynatrace",
        "--project", "sockshop", "--stage", "staging", "--service", "carts", "--start", "1000", "--end", "1300",
        "--dynatrace-url", "http://127.0.0.1:9", "--dynatrace-token-env", "T", "--no-history",
        "--out-dir", str(tmp_path / "out")], env={"T": TOKEN})
    assert result.exit_code == ExitCode.BAD_INPUT, result.output
    assert "indicators.q: $handler is 'x&mzSelector=mzId(1)'" in result.output


def _entities(dynatrace: DynatraceStandIn, count: int, breaching: str) -> None:
    for n in range(count):
        entity = f"SERVICE-{n:03d}"
        dynatrace.add_points(entity, RT, [(START + 5, 2_000_000.0 if entity == breaching else 100_000.0)],
                             tags=["service:carts", "environment:sockshop-staging"])


def test_twenty_pages_are_read_whole_and_each_next_page_carries_only_its_key(dynatrace: DynatraceStandIn) -> None:
    dynatrace.page_size = 1
    _entities(dynatrace, MAX_PAGES, breaching="SERVICE-019")
    got = DynatraceSource(dynatrace.url, Secret(TOKEN), CTX).fetch(
        {"timeseriesId": "com.dynatrace.builtin:service.responsetime", "aggregation": "avg"}, Window(START, END))
    assert got.error is None and len(got.samples) == MAX_PAGES
    assert max(got.values) == 2_000_000.0
    assert [set(r["params"]) for r in dynatrace.requests[1:]] == [{"nextPageKey"}] * (MAX_PAGES - 1)


def test_a_breaching_entity_on_page_21_is_error_naming_the_limit(dynatrace: DynatraceStandIn, tmp_path: Path) -> None:
    """Item 6: after 20 pages the source returned what it had and the gate passed."""
    dynatrace.page_size = 1
    _entities(dynatrace, MAX_PAGES + 1, breaching=f"SERVICE-{MAX_PAGES:03d}")
    result = CliRunner().invoke(cli, [
        "evaluate", "--project", "sockshop", "--stage", "staging", "--service", "carts", "--no-history",
        "--spec", str(Path(__file__).resolve().parents[1] / "gate" / "fixtures" / "perfspec_dynatrace.json"),
        "--start", str(START), "--end", str(END), "--dynatrace-url", dynatrace.url, "--dynatrace-token-env", "T",
        "--out-dir", str(tmp_path / "out")], env={"T": TOKEN})
    assert result.exit_code == ExitCode.INFRA, result.output
    doc = json.loads((tmp_path / "out" / "evaluation.json").read_text())
    assert doc["verdict"] == "ERROR" and f"more than {MAX_PAGES} pages" in doc["error"]


def test_the_stand_in_refuses_a_next_page_request_with_other_parameters(dynatrace: DynatraceStandIn) -> None:
    dynatrace.page_size = 1
    _entities(dynatrace, 2, breaching="")
    status, first = dynatrace.query({"metricSelector": f"{RT}:avg", "from": str(int(START * 1000)),
                                     "to": str(int(END * 1000)), "resolution": "Inf"})
    assert status == 200 and first["nextPageKey"]
    assert dynatrace.next_page({"nextPageKey": first["nextPageKey"], "resolution": "Inf"})[0] == 400
    assert dynatrace.next_page({"nextPageKey": "forged"})[0] == 400


def test_an_answer_cut_at_the_tuple_limit_is_error(dynatrace: DynatraceStandIn) -> None:
    """Dynatrace ignores the tuples past its limit (dimensionCountRatio 1): a partial answer, never judged."""
    dynatrace.tuple_limit = 3
    _entities(dynatrace, 4, breaching="SERVICE-003")
    got = DynatraceSource(dynatrace.url, Secret(TOKEN), CTX).fetch(
        {"timeseriesId": "com.dynatrace.builtin:service.responsetime", "aggregation": "avg"}, Window(START, END))
    assert got.samples == [] and got.error is not None and "query limit" in got.error
