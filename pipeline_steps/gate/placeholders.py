"""The values of gate query placeholders, as Keptn named them; each source fills them in with its own quoting.

Why its own module: three generations of Keptn used different placeholders (0.2 perfspec:
``$ENVIRONMENT``, ``$DURATION_MINUTES``; 0.5: ``$DURATION``; lighthouse SLI: ``$PROJECT``,
``$STAGE``, ``$SERVICE``, ``$DEPLOYMENT``, ``$DURATION_SECONDS`` and any SLO ``filter`` key), and
queries written for any of them must keep working. See docs/gate.md for the window rounding.
How a value is quoted where it lands is the source's business (``MetricSource.substitute``:
the PromQL tokenizer in ``sources/promql.py``, as-is elsewhere).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from pipeline_steps.documents.context import StageContext
from pipeline_steps.documents.evaluation import Window
from pipeline_steps.errors import BadInputError
from pipeline_steps.sources import source_class

Query = tuple[str, str, Any]
"""``(field in the spec, source name, query)``: where a query stands, so a problem names it."""


def duration_values(window: Window, *, keptn_minutes: bool) -> dict[str, str]:
    """Window placeholders. ``$DURATION_MINUTES`` is whole minutes rounded up (Keptn 0.2; 3 when
    unknown or <= 0). Unless ``keptn_minutes``, the common ``$DURATION_MINUTESm`` range becomes the
    exact window in seconds, so samples from before the test (the previous version) stay out."""
    seconds = max(1, math.ceil(window.seconds))
    minutes = math.ceil(window.seconds / 60) if window.seconds > 0 else 3
    values = {"DURATION_MINUTES": str(minutes), "DURATION_SECONDS": f"{seconds}s", "DURATION": f"{seconds}s"}
    if not keptn_minutes:
        values["DURATION_MINUTESm"] = f"{seconds}s"
    return values


def context_values(context: StageContext, filters: Mapping[str, str] | None = None, *, deployment: str = "") -> dict[str, str]:
    """Context placeholders (Keptn 0.2.2's ``$ENVIRONMENT`` = ``<project>-<stage>``), overridden by SLO filters."""
    values = {
        "ENVIRONMENT": context.namespace,
        "PROJECT": context.project,
        "STAGE": context.stage,
        "SERVICE": context.service,
        "DEPLOYMENT": deployment,
    }
    for key, value in (filters or {}).items():
        values[key.upper()] = str(value)
        if key.lower() in ("project", "stage", "service"):
            values["ENVIRONMENT"] = f"{values['PROJECT']}-{values['STAGE']}"
    return values


def fill_queries(spec_path: str, queries: list[Query], values: Mapping[str, str]) -> list[Any]:
    """Each query with its placeholders filled by its source (``MetricSource.substitute``) and checked
    again by it (``check_query``: the load-time check saw the placeholders, and a value can still
    make a query unrunnable, e.g. an empty ``$DEPLOYMENT`` where a USQL dimension stands); either
    problem is bad input naming the spec and the query's field, before anything is queried."""
    filled = []
    for where, source, query in queries:
        cls = source_class(source)
        try:
            query = cls.substitute(query, values)
        except ValueError as err:
            raise BadInputError(spec_path, where, str(err)) from None
        problem = cls.check_query(query)
        if problem:
            raise BadInputError(spec_path, where, f"after its placeholders were filled: {problem}")
        filled.append(query)
    return filled


def check_queries(spec_path: str, queries: list[Query]) -> None:
    """Every query checked by its source when the spec loads (``MetricSource.check_query``): a query
    its source cannot run is bad input naming the spec and the field, before anything is queried."""
    for where, source, query in queries:
        problem = source_class(source).check_query(query)
        if problem:
            raise BadInputError(spec_path, where, problem)
