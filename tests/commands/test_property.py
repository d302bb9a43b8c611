"""The CLI keeps its promise for any mutation of a valid document (hypothesis), issue 11.

Aspects: a valid perfspec, slo.yaml, sli.yaml, shipyard, service.yaml, workload, testrun.json,
deployment.json, event and evaluation.json is mutated (a value anywhere replaced by any JSON/YAML
value: NaN, infinities, huge integers, strings, nulls, lists, mappings; a key removed or added; the
text cut, a line repeated, bytes inserted) and handed to the command that reads it, in-process. Every
outcome keeps the promise of tests/commands/odd_inputs.py: exit 0/1/3 (5 for evaluation-done) with
outputs the strict readers accept and the verdict the code says, or 2 with one line and no file
changed, or 4 without being a bug; never a traceback, never exit 1 for a file that was malformed
(an exit 1 must come with a well-formed FAIL). The examples are derandomized in CI (the "ci"
hypothesis profile in tests/conftest.py: 25 per document kind).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from pipeline_steps.documents.context import StageContext
from pipeline_steps.documents.service import ServiceSpec
from tests.commands.odd_inputs import KINDS, Kind, dump, promise, run, seed_history, target_server
from tests.fakes import FakePlatform

LEAVES = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
    st.sampled_from(["", "NaN", "-inf%", "1e400", "90%", "<=+10%", "$handler", '"', "'", "#", "blue", "direct",
                     "performance", "/health", "0"]))
VALUES = st.recursive(LEAVES, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                      st.dictionaries(st.text(max_size=8), inner, max_size=3)),
                      max_leaves=5)


Path_ = tuple[Any, ...]


def paths(doc: Any, prefix: Path_ = ()) -> list[Path_]:
    """Every path in ``doc`` as a tuple of keys and indexes, containers included."""
    found: list[Path_] = []
    items = doc.items() if isinstance(doc, dict) else enumerate(doc) if isinstance(doc, list) else []
    for key, value in items:
        found += [(*prefix, key), *paths(value, (*prefix, key))]
    return found


def _at(doc: Any, path: Path_) -> Any:
    for key in path:
        doc = doc[key]
    return doc


@st.composite
def mutated(draw: st.DrawFn, kind: Kind) -> str | bytes:
    """``kind``'s valid document with one or two mutations."""
    doc = kind.make()
    for _ in range(draw(st.integers(min_value=1, max_value=2))):
        where = paths(doc)
        op = draw(st.sampled_from(["replace", "replace", "delete", "add"] if where else ["add"]))
        if op == "add":
            mappings = [()] + [p for p in where if isinstance(_at(doc, p), dict)]
            node = _at(doc, draw(st.sampled_from(mappings)))
            node[draw(st.text(min_size=1, max_size=8))] = draw(VALUES)
            continue
        path = draw(st.sampled_from(where))
        parent = _at(doc, path[:-1])
        if op == "replace":
            parent[path[-1]] = draw(VALUES)
        else:
            del parent[path[-1]]
    text = dump(kind, doc)
    edit = draw(st.sampled_from(["none", "none", "none", "cut", "repeat line", "bytes"]))
    if edit == "cut":
        return text[: draw(st.integers(min_value=0, max_value=len(text)))]
    if edit == "repeat line":
        lines = text.splitlines(keepends=True)
        n = draw(st.integers(min_value=0, max_value=len(lines) - 1))
        return "".join([*lines[: n + 1], lines[n], *lines[n + 1:]])
    if edit == "bytes":
        raw = text.encode()
        at = draw(st.integers(min_value=0, max_value=len(raw)))
        return raw[:at] + draw(st.binary(min_size=1, max_size=4)) + raw[at:]
    return text


@pytest.fixture(scope="module")
def target() -> Iterator[str]:
    with target_server() as url:
        yield url


@pytest.fixture(scope="module")
def platform() -> Iterator[FakePlatform]:
    fake = FakePlatform()
    fake.apply(StageContext("sockshop", "staging", "carts", "carts", "0.7.2", "blue_green_service"), "green",
               ServiceSpec.minimal("carts"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("pipeline_steps.platforms.make_platform", lambda name, settings: fake)
        yield fake


@pytest.mark.parametrize("kind", list(KINDS.values()), ids=list(KINDS))
def test_any_mutation_keeps_the_promise(tmp_path: Path, target: str, platform: FakePlatform, kind: Kind) -> None:
    @given(text=mutated(kind))
    def check(text: str | bytes) -> None:
        with CliRunner().isolated_filesystem(temp_dir=tmp_path) as folder:
            root = Path(folder)
            seed_history(root)
            outcome = run(root, kind, text, target=target, extra=("--health-timeout", "0.5")
                          if kind.argv[0] == "run-tests" else ())
            promise(outcome, kind, root)

    check()
