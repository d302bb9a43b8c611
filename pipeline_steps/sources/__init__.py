"""Metric sources behind one Protocol (``base.MetricSource``): dynatrace, prometheus, testrun.

``SOURCES`` is the one explicit, sorted list of source names (matched case-insensitively, so
Keptn's ``"Prometheus"`` works). Each entry names the class lazily so ``--help`` never imports
``requests``; an unknown name is a load-time error that lists these names. Adding a source is
one module (the class, its settings group and its ``OPTIONS``), one line here, and a case in
``tests/sources/test_contract.py`` (which fails until it has one).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from pipeline_steps.documents.context import StageContext
from pipeline_steps.sources.base import MetricSource, Option, SourceSettings

SOURCES: dict[str, str] = {
    "dynatrace": "pipeline_steps.sources.dynatrace:DynatraceSource",
    "prometheus": "pipeline_steps.sources.prometheus:PrometheusSource",
    "testrun": "pipeline_steps.sources.testrun:TestrunSource",
}

DEFAULT_SLI_PROVIDER = "prometheus"
"""The source of sli.yaml queries when ``--sli-provider`` is not given (Keptn's default SLI provider)."""


def source_class(name: str) -> Any:
    """The class behind a (lower-case) source name in ``SOURCES``."""
    module_name, attr = SOURCES[name].split(":")
    return getattr(importlib.import_module(module_name), attr)


def build(name: str, settings: SourceSettings) -> MetricSource:
    """A ready source for ``name``; raises ``BadInputError`` naming the missing flag."""
    source: MetricSource = source_class(name).from_settings(settings)
    return source


def options() -> list[Option]:
    """Every source's option group, in ``SOURCES`` order (for ``commands/``)."""
    return [option for name in SOURCES for option in source_class(name).OPTIONS]


def settings_from_options(values: Mapping[str, Any], context: StageContext, *, timeout_s: float,
                          retry_budget_s: float, settle_timeout_s: float = 0.0) -> SourceSettings:
    """``SourceSettings`` with every source's group built from the option values (secrets read now)."""
    groups = {name: source_class(name).settings_from_options(values) for name in SOURCES}
    return SourceSettings(context=context, timeout_s=timeout_s, retry_budget_s=retry_budget_s,
                          settle_timeout_s=settle_timeout_s, groups=groups)


__all__ = ["DEFAULT_SLI_PROVIDER", "SOURCES", "MetricSource", "SourceSettings", "build", "options", "settings_from_options",
           "source_class"]
