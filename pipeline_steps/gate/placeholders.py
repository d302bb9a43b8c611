"""Placeholder substitution in gate queries, as Keptn did it, with values escaped for PromQL.

Why its own module: three generations of Keptn used different placeholders (0.2 perfspec:
``$ENVIRONMENT``, ``$DURATION_MINUTES``; 0.5: ``$DURATION``; lighthouse SLI: ``$PROJECT``,
``$STAGE``, ``$SERVICE``, ``$DEPLOYMENT``, ``$DURATION_SECONDS`` and any SLO ``filter`` key), and
queries written for any of them must keep working. See docs/gate.md for the window rounding.

Escaping: every value we insert could end up inside a PromQL label matcher (``job='carts-$ENVIRONMENT'``
or ``job="$SERVICE"``), so backslashes, both quote characters and newlines are escaped; a value
can never close the string it lands in.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping

from pipeline_steps.context import StageContext
from pipeline_steps.gate.model import Window


def escape_promql(value: str) -> str:
    """``value`` safe inside a single- or double-quoted PromQL string."""
    return (value.replace("\\", "\\\\").replace('"', '\\"').replace("'", "\\'")
            .replace("\n", "\\n").replace("\r", "\\r"))


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


def substitute(text: str, values: Mapping[str, str], escape: Callable[[str], str] = escape_promql) -> str:
    """Replace ``$NAME`` and ``$name`` for every name in ``values``; longest names first, so
    ``$DURATION_MINUTESm`` wins over ``$DURATION_MINUTES`` and that over ``$DURATION``."""
    names = sorted(values, key=len, reverse=True)
    alternatives = "|".join(re.escape(n) for n in names) + "|" + "|".join(re.escape(n.lower()) for n in names)
    pattern = re.compile(r"\$(" + alternatives + ")")
    lookup = {**{n.lower(): values[n] for n in names}, **dict(values)}

    def repl(match: re.Match[str]) -> str:
        return escape(lookup[match.group(1)])

    return pattern.sub(repl, text)
