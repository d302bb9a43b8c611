"""Metric sources behind one Protocol: prometheus, dynatrace, testrun.

``SOURCES`` is the one explicit list of source names (matched case-insensitively, so Keptn's
``"Prometheus"`` works). Each entry names the class lazily so ``--help`` never imports
``requests``; an unknown name is a load-time error that lists these names.
"""

from __future__ import annotations

import importlib
from typing import Any

from pipeline_steps.sources.base import MetricSource, SourceSettings

SOURCES: dict[str, str] = {
    "dynatrace": "pipeline_steps.sources.dynatrace:DynatraceSource",
    "prometheus": "pipeline_steps.sources.prometheus:PrometheusSource",
    "testrun": "pipeline_steps.sources.testrun:TestrunSource",
}


def source_class(name: str) -> Any:
    """The class behind a (lower-case) source name in ``SOURCES``."""
    module_name, attr = SOURCES[name].split(":")
    return getattr(importlib.import_module(module_name), attr)


def build(name: str, settings: SourceSettings) -> MetricSource:
    """A ready source for ``name``; raises ``BadInputError`` naming the missing flag."""
    source: MetricSource = source_class(name).from_settings(settings)
    return source


__all__ = ["SOURCES", "MetricSource", "SourceSettings", "build", "source_class"]
