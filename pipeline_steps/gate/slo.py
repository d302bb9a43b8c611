"""Load Keptn ``slo.yaml`` + ``sli.yaml`` into frozen dataclasses, with lighthouse 0.8's defaults.

Why strict: lighthouse silently skipped a criterion its regex did not fully match (``<=+x%``
compared against an empty number); here a malformed criterion is a ``BadInputError`` naming the
file and the field, raised before anything is queried or stored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline_steps.errors import BadInputError
from pipeline_steps.files import parse_yaml, read_text
from pipeline_steps.finite import number, parse_number
from pipeline_steps.gate.placeholders import Query, check_queries
from pipeline_steps.sources import SOURCES

_CRITERION = re.compile(r"(<=|<|=|>=|>)([+-]?)(\d+\.?\d*|\.\d+)(%?)")
AGGREGATES = ("avg", "p50", "p90", "p95", "p99")
MAX_COMPARISON_RESULTS = 1000
"""Most previous evaluations a relative criterion compares with (``number_of_comparison_results``);
10**30 reached SQLite as an integer overflow."""
REQUIRE_HISTORY = ("off", "warning", "error")
"""What fewer previous results than a relative criterion asks for does to the verdict, mildest first
(``comparison.require_history`` in slo.yaml, ``--require-history``; the stricter of both wins)."""


@dataclass(frozen=True)
class Criterion:
    text: str
    op: str
    number: float
    relative: bool
    """Signed or ``%``: relative to the aggregated previous value (``%`` without a sign is ``+``, 0.6.2+)."""
    percent: bool
    sign: int
    """+1 or -1."""


@dataclass(frozen=True)
class Objective:
    sli: str
    display_name: str
    weight: float
    key_sli: bool
    passing: tuple[tuple[Criterion, ...], ...]
    """Blocks OR-ed; criteria inside one block AND-ed."""
    warning: tuple[tuple[Criterion, ...], ...]


@dataclass(frozen=True)
class Comparison:
    compare_with: str
    """single_result | several_results | "" (not given inside ``comparison``: 3 results, as lighthouse)."""
    include_result_with_score: str
    number_of_comparison_results: int
    aggregate_function: str
    require_history: str = "off"
    """Our extension (lighthouse has none): off | warning | error, see ``REQUIRE_HISTORY``."""

    @property
    def pool_size(self) -> int:
        if self.compare_with == "single_result":
            return 1
        if self.compare_with == "several_results":
            return self.number_of_comparison_results
        return 3


@dataclass(frozen=True)
class SloSpec:
    path: str
    objectives: tuple[Objective, ...]
    comparison: Comparison
    total_pass: float
    total_warning: float | None
    filters: dict[str, str]
    indicators: dict[str, str]
    """SLI name -> query, from sli.yaml."""
    sli_path: str
    text: str
    """The slo.yaml text (lighthouse puts it base64 into ``sloFileContent``)."""
    provider: str = "prometheus"
    """The source of every query in sli.yaml (``--sli-provider``; Keptn: the SLI provider)."""

    def queries(self) -> list[Query]:
        return [(f"indicators.{o.sli}", self.provider, self.indicators[o.sli]) for o in self.objectives]


def _read_yaml(path: Path | str) -> tuple[Any, str]:
    text = read_text(path)
    return parse_yaml(text, str(path)), text


def parse_criterion(text: Any, name: str, where: str) -> Criterion:
    if not isinstance(text, str):
        raise BadInputError(name, where, f"must be a string like '<600' or '<=+10%', got {text!r}")
    compact = text.replace(" ", "")
    m = _CRITERION.fullmatch(compact)
    if not m:
        raise BadInputError(name, where, f"{text!r} is not a criterion (operator <,<=,=,>=,> then [+|-]number[%])")
    op, sign, num, pct = m.groups()
    value = parse_number(num, name, where)  # 400 digits parse as infinity
    return Criterion(text, op, value, bool(sign or pct), bool(pct), -1 if sign == "-" else 1)


def _percent(value: Any, name: str, where: str) -> float:
    """``"90%"``, ``90`` or ``"90"``: a finite percentage 0..100 (``"-inf%"`` passed every score)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(number(value, name, where, minimum=0, maximum=100))
    if not isinstance(value, str):
        raise BadInputError(name, where, f"must be a percentage like '90%', got {value!r}")
    return parse_number(value.strip().removesuffix("%"), name, where, minimum=0, maximum=100)


def _blocks(raw: Any, name: str, where: str) -> tuple[tuple[Criterion, ...], ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise BadInputError(name, where, "must be a list of {criteria: [...]} blocks")
    blocks = []
    for b, block in enumerate(raw):
        crit = block.get("criteria") if isinstance(block, dict) else None
        if not isinstance(crit, list):
            raise BadInputError(name, f"{where}[{b}].criteria", "must be a list of criteria strings")
        blocks.append(tuple(parse_criterion(c, name, f"{where}[{b}].criteria[{k}]") for k, c in enumerate(crit)))
    return tuple(blocks)


def load_slo(slo_path: Path | str, sli_path: Path | str, provider: str = "prometheus") -> SloSpec:
    """Parse both files and check every query against ``provider`` (a ``SOURCES`` name);
    ``BadInputError(file, field, why)`` for the first problem."""
    if provider not in SOURCES:
        raise BadInputError("command line", "--sli-provider", f"unknown provider {provider!r}; valid: {', '.join(SOURCES)}")
    name = str(slo_path)
    doc, text = _read_yaml(slo_path)
    if not isinstance(doc, dict):
        raise BadInputError(name, None, "must be a YAML mapping")
    raw_objectives = doc.get("objectives")
    if not isinstance(raw_objectives, list) or not raw_objectives:
        raise BadInputError(name, "objectives", "must be a non-empty list")
    objectives = []
    seen: set[str] = set()
    for i, raw in enumerate(raw_objectives):
        where = f"objectives[{i}]"
        if not isinstance(raw, dict) or not isinstance(raw.get("sli"), str) or not raw["sli"]:
            raise BadInputError(name, f"{where}.sli", "must be a non-empty string")
        if raw["sli"] in seen:
            raise BadInputError(name, f"{where}.sli", f"duplicate sli {raw['sli']!r}")
        seen.add(raw["sli"])
        weight = number(raw.get("weight", 1), name, f"{where}.weight", minimum=0)
        key_sli = raw.get("key_sli", False)
        if not isinstance(key_sli, bool):
            raise BadInputError(name, f"{where}.key_sli", "must be true or false")
        objectives.append(Objective(raw["sli"], str(raw.get("displayName") or ""), float(weight or 1), key_sli,
                                    _blocks(raw.get("pass"), name, f"{where}.pass"),
                                    _blocks(raw.get("warning"), name, f"{where}.warning")))
    total = doc.get("total_score")
    if not isinstance(total, dict) or total.get("pass") in (None, ""):
        raise BadInputError(name, "total_score.pass", "is required (lighthouse: 'no target score defined')")
    total_pass = _percent(total["pass"], name, "total_score.pass")
    total_warning = _percent(total["warning"], name, "total_score.warning") if total.get("warning") not in (None, "") else None
    comparison = _comparison(doc.get("comparison"), name)
    filters = doc.get("filter") or {}
    if not isinstance(filters, dict):
        raise BadInputError(name, "filter", "must be a mapping of key: value")
    for key, value in filters.items():
        if isinstance(value, (dict, list)) or value is None:
            raise BadInputError(name, f"filter.{key}", f"must be a string (a placeholder value), got {value!r:.40}")
    indicators = _load_sli(sli_path)
    for i, objective in enumerate(objectives):
        if objective.sli not in indicators:
            raise BadInputError(str(sli_path), "indicators",
                                f"no query for sli {objective.sli!r} (used by {name}: objectives[{i}])")
    spec = SloSpec(name, tuple(objectives), comparison, total_pass, total_warning,
                   {str(k): str(v) for k, v in filters.items()}, indicators, str(sli_path), text, provider)
    check_queries(spec.sli_path, spec.queries())
    return spec


def _comparison(raw: Any, name: str) -> Comparison:
    if raw is None:
        return Comparison("single_result", "all", 1, "avg")
    if not isinstance(raw, dict):
        raise BadInputError(name, "comparison", "must be a mapping")
    # Left empty inside a comparison block, lighthouse compared with 3 results (its "otherwise").
    compare_with = str(raw.get("compare_with") or "")
    if compare_with not in ("", "single_result", "several_results"):
        raise BadInputError(name, "comparison.compare_with", f"{compare_with!r} is not single_result or several_results")
    include = str(raw.get("include_result_with_score") or "all")
    if include not in ("all", "pass", "pass_or_warn"):
        raise BadInputError(name, "comparison.include_result_with_score", f"{include!r} is not all, pass or pass_or_warn")
    results = number(raw.get("number_of_comparison_results") or 3, name, "comparison.number_of_comparison_results",
                     minimum=1, maximum=MAX_COMPARISON_RESULTS, integer=True)
    aggregate = str(raw.get("aggregate_function") or "avg")
    if aggregate not in AGGREGATES:
        raise BadInputError(name, "comparison.aggregate_function", f"{aggregate!r} is not one of {', '.join(AGGREGATES)}")
    require = raw.get("require_history", "off")
    require = "off" if require is False or require is None else require  # YAML 1.1 reads a bare off as false
    if require not in REQUIRE_HISTORY:
        raise BadInputError(name, "comparison.require_history", f"{require!r} is not one of {', '.join(REQUIRE_HISTORY)}")
    return Comparison(compare_with, include, results, aggregate, require)


def _load_sli(path: Path | str) -> dict[str, str]:
    name = str(path)
    doc, _ = _read_yaml(path)
    if not isinstance(doc, dict) or not isinstance(doc.get("indicators"), dict) or not doc["indicators"]:
        raise BadInputError(name, "indicators", "must be a non-empty mapping of SLI name to query")
    out: dict[str, str] = {}
    for key, query in doc["indicators"].items():
        if not isinstance(query, str) or not query.strip():
            raise BadInputError(name, f"indicators.{key}", "must be a non-empty query string")
        out[str(key)] = query
    return out
