"""Placeholder substitution as Keptn did it, with values escaped for PromQL label matchers.

Aspects: $ENVIRONMENT is <project>-<stage> (Keptn 0.2.2); $DURATION_MINUTESm becomes the exact
window in seconds by default and Keptn's rounded-up minutes with keptn_minutes; $DURATION and
$DURATION_SECONDS; lower-case SLI variants; SLO filters as $KEY and overriding project/stage/service;
inserted values cannot close a PromQL string, and only the quote of the string they land in is
escaped (PromQL rejects the other one escaped); outside a string only plain tokens may stand.
"""

from __future__ import annotations

import pytest

from pipeline_steps.documents.context import StageContext
from pipeline_steps.documents.evaluation import Window
from pipeline_steps.errors import BadInputError
from pipeline_steps.gate.placeholders import context_values, duration_values, fill_queries
from pipeline_steps.sources.promql import escape_promql
from pipeline_steps.sources.promql import substitute_promql as substitute

CTX = StageContext("sockshop", "staging", "carts")
CARTS = "rate(requests_latency_seconds_sum{job='carts-$ENVIRONMENT'}[$DURATION_MINUTESm])"


@pytest.mark.parametrize(("seconds", "keptn_minutes", "expected"), [
    (130.2, False, "rate(requests_latency_seconds_sum{job='carts-sockshop-staging'}[131s])"),
    (130.2, True, "rate(requests_latency_seconds_sum{job='carts-sockshop-staging'}[3m])"),
    (60.0, True, "rate(requests_latency_seconds_sum{job='carts-sockshop-staging'}[1m])"),
    (0.0, True, "rate(requests_latency_seconds_sum{job='carts-sockshop-staging'}[3m])"),  # Keptn's fallback
])
def test_carts_perfspec_query(seconds: float, keptn_minutes: bool, expected: str) -> None:
    values = {**context_values(CTX), **duration_values(Window(1000.0, 1000.0 + seconds), keptn_minutes=keptn_minutes)}
    assert substitute(CARTS, values) == expected


def test_sli_placeholders_lower_case_and_filters() -> None:
    values = {**context_values(CTX, {"handler": "ItemsController.addToCart", "stage": "prod"}, deployment="green"),
              **duration_values(Window(0, 90), keptn_minutes=False)}
    query = 'x{job="$SERVICE-$PROJECT-$STAGE",h="$handler",d="$deployment"}[$DURATION_SECONDS] $duration $ENVIRONMENT'
    expected = 'x{job="carts-sockshop-prod",h="ItemsController.addToCart",d="green"}[90s] 90s sockshop-prod'
    assert substitute(query, values) == expected


def test_inserted_values_cannot_close_the_string() -> None:
    values = context_values(CTX, {"handler": "a'}) or vector(1) or x{y='\\"})
    out = substitute("m{h='$HANDLER'}", values)
    assert out == "m{h='a\\'}) or vector(1) or x{y=\\'\\\\'}"
    assert escape_promql('"\n') == '\\"\\n'


def test_unknown_placeholders_stay() -> None:
    assert substitute("$NOPE $SERVICE", context_values(CTX)) == "$NOPE carts"


@pytest.mark.parametrize(("template", "value", "expected"), [
    ('m{a="$X"}', 'it\'s "q"', 'm{a="it\'s \\"q\\""}'),           # only " escaped inside "..."
    ("m{a='$X'}", 'it\'s "q"', "m{a='it\\'s \"q\"'}"),           # only ' escaped inside '...'
    ('m{a="x\\"$X", b=\'$X\'}', "'", 'm{a="x\\"\'", b=\'\\\'\'}'),  # an escaped quote does not end the string
    ("m{a=`$X`}", 'a"b\\', 'm{a=`a"b\\`}'),                      # raw string: nothing to escape
    ("rate(m[$X]) > $X", "131s", "rate(m[131s]) > 131s"),
    ("sum by ($X) (m)", "le,handler", "sum by (le,handler) (m)"),
])
def test_values_are_escaped_for_the_string_they_land_in(template: str, value: str, expected: str) -> None:
    assert substitute(template, {"X": value}) == expected


@pytest.mark.parametrize(("template", "value"), [
    ("m > $X", "0 or up"),                 # would add series of its own
    ("m{a=~$X}", '"x"}'),
    ("m{a=`$X`}", "a`b"),
])
def test_values_that_cannot_stand_there_are_refused(template: str, value: str) -> None:
    with pytest.raises(ValueError, match=r"\$X"):
        substitute(template, {"X": value})


@pytest.mark.parametrize(("source", "query", "values", "problem"), [
    ("dynatrace", "USQL;COLUMN_CHART;$DEPLOYMENT;SELECT x FROM usersession", {"DEPLOYMENT": ""}, "needs the dimension"),
    ("dynatrace", "metricSelector=builtin:x:avg&entitySelector=$DEPLOYMENT", {"DEPLOYMENT": ""}, "entitySelector is empty"),
    ("prometheus", "$QUERY", {"QUERY": ""}, "must be a PromQL string"),
    ("testrun", "$P", {"P": " "}, "must be a dotted path"),
])
def test_a_query_its_values_make_unrunnable_is_bad_input(source: str, query: str, values: dict[str, str],
                                                         problem: str) -> None:
    """The load-time check saw the query with its placeholders; a value can still make it one its
    source cannot run (an empty ``$DEPLOYMENT`` where a USQL dimension stands). That is bad input
    naming the spec and the field, before anything is queried; it was a bug's exit 4 with a traceback."""
    with pytest.raises(BadInputError) as err:
        fill_queries("sli.yaml", [("indicators.rt", source, query)], values)
    assert err.value.source == "sli.yaml" and err.value.field == "indicators.rt"
    assert "after its placeholders were filled" in err.value.message and problem in err.value.message
    assert fill_queries("sli.yaml", [("indicators.rt", source, query)], {k: "green" for k in values}) == [
        query.replace("$DEPLOYMENT", "green").replace("$QUERY", "green").replace("$P", "green")]
