"""Placeholder substitution as Keptn did it, with values escaped for PromQL label matchers.

Aspects: $ENVIRONMENT is <project>-<stage> (Keptn 0.2.2); $DURATION_MINUTESm becomes the exact
window in seconds by default and Keptn's rounded-up minutes with keptn_minutes; $DURATION and
$DURATION_SECONDS; lower-case SLI variants; SLO filters as $KEY and overriding project/stage/service;
inserted values cannot close a PromQL string.
"""

from __future__ import annotations

import pytest

from pipeline_steps.context import StageContext
from pipeline_steps.gate.model import Window
from pipeline_steps.gate.placeholders import context_values, duration_values, escape_promql, substitute

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
