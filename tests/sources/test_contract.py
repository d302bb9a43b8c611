"""One contract, every source: Prometheus (real server), Dynatrace (stand-in), testrun (document).

Aspects: a query with data gives finite float samples and no error; a query without data gives
no samples and no error; a source whose backend is down or refuses gives an error string, never
an exception and never samples; describe() is text; check_query() refuses a non-query; build()
from SOURCES refuses settings that lack what the source needs, naming the flag; no requests
exception escapes a source.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from pipeline_steps.documents.context import StageContext
from pipeline_steps.documents.evaluation import Window
from pipeline_steps.errors import BadInputError
from pipeline_steps.platforms.local.procs import free_port
from pipeline_steps.secrets import Secret
from pipeline_steps.sources import SOURCES, MetricSource, SourceSettings, build
from pipeline_steps.sources.dynatrace import DynatraceSource
from pipeline_steps.sources.prometheus import PrometheusSource
from pipeline_steps.sources.testrun import TestrunSource
from standins.dynatrace import DynatraceStandIn
from tests.sources.prom_env import PromEnv, prom_env

__all__ = ["prom_env"]
CTX = StageContext("sockshop", "staging", "carts")


@dataclass
class Case:
    source: MetricSource
    with_data: Any
    expected: float
    without_data: Any
    window: Window
    broken: MetricSource | None


@pytest.fixture
def dynatrace() -> Iterator[DynatraceStandIn]:
    standin = DynatraceStandIn("tok").start()
    try:
        yield standin
    finally:
        standin.stop()


def case_prometheus(env: PromEnv, _: DynatraceStandIn) -> Case:
    env.blue.gauge.labels(name="contract").set(4.5)
    seen = env.wait_for('gate_test_value{name="contract"}', 4.5)
    dead = PrometheusSource(f"http://127.0.0.1:{free_port()}", retry_budget_s=0.3)
    return Case(PrometheusSource(env.url), 'gate_test_value{name="contract"}', 4.5, 'gate_test_value{name="none"}',
                Window(seen - 5, seen + 0.5), dead)


def case_dynatrace(_: PromEnv, standin: DynatraceStandIn) -> Case:
    now = time.time()
    standin.add_points("SERVICE-1", "builtin:service.response.time", [(now - 5, 4.0), (now - 3, 5.0)])
    refused = DynatraceSource(standin.url, Secret("wrong"), CTX, retry_budget_s=0.3)
    return Case(DynatraceSource(standin.url, Secret("tok"), CTX), {"metricSelector": "builtin:service.response.time:avg"},
                4.5, {"metricSelector": "builtin:service.response.time:avg", "entitySelector": 'entityId("SERVICE-2")'},
                Window(now - 10, now), refused)


def case_testrun(_: PromEnv, __: DynatraceStandIn) -> Case:
    doc = {"performance": {"latency_ms": {"p95": 4.5, "max": None}}}
    return Case(TestrunSource(doc), "performance.latency_ms.p95", 4.5, "performance.latency_ms.max", Window(0, 1), None)


CASES: dict[str, Callable[[PromEnv, DynatraceStandIn], Case]] = {
    "prometheus": case_prometheus, "dynatrace": case_dynatrace, "testrun": case_testrun}


def test_every_source_name_has_a_contract_case() -> None:
    assert sorted(CASES) == sorted(SOURCES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_source_contract(name: str, prom_env: PromEnv, dynatrace: DynatraceStandIn) -> None:
    case = CASES[name](prom_env, dynatrace)
    got = case.source.fetch(case.with_data, case.window)
    assert got.error is None and len(got.samples) == 1
    assert isinstance(got.samples[0].value, float) and math.isfinite(got.samples[0].value)
    assert got.samples[0].value == pytest.approx(case.expected)
    empty = case.source.fetch(case.without_data, case.window)
    assert empty.error is None and empty.samples == []
    assert isinstance(case.source.describe(case.with_data), str) and case.source.describe(case.with_data)
    assert type(case.source).check_query(42) is not None  # type: ignore[attr-defined]
    if case.broken is not None:
        broken = case.broken.fetch(case.with_data, case.window)
        assert broken.error and broken.samples == []
    case.source.close()


@pytest.mark.parametrize(("name", "flag"), [("prometheus", "--prometheus-url"), ("dynatrace", "--dynatrace-url"),
                                            ("testrun", "--testrun")])
def test_build_without_settings_names_the_flag(name: str, flag: str) -> None:
    with pytest.raises(BadInputError) as err:
        build(name, SourceSettings(context=CTX))
    assert err.value.field == flag


def test_no_requests_exception_escapes(monkeypatch: pytest.MonkeyPatch) -> None:
    import requests

    def explode(*args: object, **kwargs: object) -> None:
        raise requests.exceptions.ChunkedEncodingError("connection broken mid-body")

    source = PrometheusSource("http://127.0.0.1:9", retry_budget_s=0.2)
    monkeypatch.setattr(source._session, "request", explode)
    got = source.fetch("up", Window(0, 1))
    assert got.error and "ChunkedEncodingError" in got.error


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_every_registered_class_holds_the_whole_contract(name: str) -> None:
    """The Protocol is the whole contract: name, load-time query check, substitution, settings group,
    construction, fetch, describe, close and the secrets held; its flags reach ``evaluate`` from the registry."""
    from click.testing import CliRunner

    from pipeline_steps.commands.evaluate import evaluate
    from pipeline_steps.sources import source_class

    cls = source_class(name)
    assert cls.name == name
    for member in ("check_query", "substitute", "settings_from_options", "from_settings", "fetch", "describe", "close",
                   "secrets", "OPTIONS"):
        assert hasattr(cls, member), member
    assert cls.check_query(42) is not None
    assert cls.substitute("a $SERVICE b", {"SERVICE": "carts"}) == "a carts b"
    group = cls.settings_from_options({})
    assert isinstance(group.secrets(), list)
    help_text = CliRunner().invoke(evaluate, ["--help"]).output
    assert all(flag in help_text for flag, _ in cls.OPTIONS)


def test_every_secret_of_every_group_is_collected(monkeypatch: pytest.MonkeyPatch) -> None:
    from pipeline_steps.sources import settings_from_options

    monkeypatch.setenv("PROM_TOKEN", "prom-secret")
    monkeypatch.setenv("DT_API_TOKEN", "dt-secret")
    settings = settings_from_options({"prometheus_url": "http://u:url-secret@127.0.0.1:9", "prometheus_token_env": "PROM_TOKEN",
                                      "dynatrace_token_env": "DT_API_TOKEN"}, CTX, timeout_s=1, retry_budget_s=1)
    assert {s.reveal() for s in settings.secrets() if s} == {"prom-secret", "dt-secret", "url-secret"}
