"""The import rule of ``pipeline_steps`` (its package docstring and docs/architecture.md), checked.

Aspects: every import of every module (module level, inside functions, under TYPE_CHECKING)
points down the layers ``commands -> steps -> report -> gate -> families -> documents ->
files/secrets/finite -> errors``; sibling families never import each other; a step never imports
another step and a command never imports another command (only the shared ``commands.options``);
nothing outside ``commands/`` imports ``commands/``. There is no allow-list: an exception is a
failure. The checker itself is tested on imports that break each part of the rule.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "pipeline_steps"

LAYERS: tuple[tuple[str, ...], ...] = (
    ("pipeline_steps.__main__",),
    ("pipeline_steps.cli",),
    ("pipeline_steps.commands",),
    ("pipeline_steps.steps",),
    ("pipeline_steps.report",),
    ("pipeline_steps.gate",),
    ("pipeline_steps.sources", "pipeline_steps.platforms", "pipeline_steps.load", "pipeline_steps.history",
     "pipeline_steps.jenkins"),
    ("pipeline_steps.documents",),
    ("pipeline_steps.files", "pipeline_steps.secrets", "pipeline_steps.finite"),
    ("pipeline_steps.errors",),
    ("pipeline_steps",),  # the package itself: its docstring and __version__
)
"""Rooms from the top down; a room may import the rooms below it. Rooms on one line are siblings.
The last, the package itself, holds only its ``__init__``: a module nobody put on the map is in no room."""

PACKAGE_ITSELF = "pipeline_steps"

SHARED_INSIDE = {"pipeline_steps.commands": {"pipeline_steps.commands.options"},
                 "pipeline_steps.steps": {"pipeline_steps.steps.launch"}}
"""Rooms whose modules are siblings of each other: they may import only these modules of their own room."""


def room_of(module: str) -> tuple[int, str]:
    """(layer index, room) of a ``pipeline_steps`` module; the longest matching room wins."""
    best: tuple[int, str] | None = None
    for index, rooms in enumerate(LAYERS):
        for room in rooms:
            inside = module == room or (module.startswith(room + ".") and room != PACKAGE_ITSELF)
            if inside and (best is None or len(room) > len(best[1])):
                best = (index, room)
    if best is None:
        raise AssertionError(f"{module} is in no room of the map; add it to the map (docs/architecture.md) first")
    return best


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path) -> list[tuple[int, str]]:
    """``(line, imported module)`` for every import in the file, at any depth, relative ones resolved."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            # ``from pkg import module`` imports the module, not only the package
            found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
            found.append((node.lineno, base))
    return [(line, target) for line, target in found if target == "pipeline_steps" or target.startswith("pipeline_steps.")]


def known(target: str) -> str:
    """The module (or package) a dotted import name refers to: ``a.b.Name`` -> ``a.b``."""
    parts = target.split(".")
    while parts:
        candidate = PACKAGE.parent.joinpath(*parts)
        if candidate.with_suffix(".py").is_file() or (candidate / "__init__.py").is_file():
            return ".".join(parts)
        parts.pop()
    raise AssertionError(f"{target} names no module of the package")


def violation(source: str, target: str) -> str | None:
    """Why ``source`` may not import ``target`` (None when it may)."""
    if target == source or source.startswith(target + "."):
        return None  # a package's own __init__ (e.g. ``from pipeline_steps.sources import SOURCES`` inside sources/)
    src_layer, src_room = room_of(source)
    dst_layer, dst_room = room_of(target)
    if dst_room == "pipeline_steps.commands" and src_room != dst_room:
        return "nothing outside commands/ imports commands/"
    if src_room == dst_room:
        shared = SHARED_INSIDE.get(src_room)
        if shared is not None and target not in shared and target != src_room:
            return f"modules of {src_room} are siblings: one never imports another"
        return None
    if src_layer == dst_layer:
        return f"sibling rooms {src_room} and {dst_room} never import each other"
    if dst_layer < src_layer:
        return f"{dst_room} is above {src_room}: imports point down only"
    return None


def all_violations() -> list[str]:
    problems = []
    for path in sorted(PACKAGE.rglob("*.py")):
        source = module_name(path)
        for line, raw in imports_of(path):
            target = known(raw)
            why = violation(source, target)
            if why:
                problems.append(f"{path.relative_to(PACKAGE.parent)}:{line}: imports {target}: {why}")
    return sorted(set(problems))


def test_every_import_follows_the_rule() -> None:
    problems = all_violations()
    assert not problems, "\n".join(problems)


def test_every_module_is_in_a_room() -> None:
    for path in PACKAGE.rglob("*.py"):
        room_of(module_name(path))


def test_the_package_docstring_states_the_rule() -> None:
    import pipeline_steps

    doc = pipeline_steps.__doc__ or ""
    for room in ("commands", "steps", "report", "gate", "sources", "platforms", "load", "history", "jenkins",
                 "documents", "files", "secrets", "errors"):
        assert room in doc, room


@pytest.mark.parametrize(("source", "target", "needle"), [
    ("pipeline_steps.sources.prometheus", "pipeline_steps.gate.slo", "imports point down"),
    ("pipeline_steps.steps.traffic", "pipeline_steps.steps.deploy", "siblings"),
    ("pipeline_steps.commands.status", "pipeline_steps.commands.switch", "siblings"),
    ("pipeline_steps.gate.perfspec", "pipeline_steps.commands.options", "outside commands/"),
    ("pipeline_steps.sources.prometheus", "pipeline_steps.platforms.base", "sibling rooms"),
    ("pipeline_steps.history.sqlite", "pipeline_steps.gate.lighthouse", "imports point down"),
    ("pipeline_steps.files", "pipeline_steps.secrets", "sibling rooms"),
    ("pipeline_steps.documents.deployment", "pipeline_steps.platforms.base", "imports point down"),
])
def test_the_checker_refuses_each_kind_of_wrong_import(source: str, target: str, needle: str) -> None:
    why = violation(source, target)
    assert why is not None and needle in why


@pytest.mark.parametrize(("source", "target"), [
    ("pipeline_steps.commands.status", "pipeline_steps.commands.options"),
    ("pipeline_steps.steps.evaluate", "pipeline_steps.gate.pitometer"),
    ("pipeline_steps.gate.perfspec", "pipeline_steps.sources"),
    ("pipeline_steps.platforms.local.platform", "pipeline_steps.platforms.local.envoy"),
    ("pipeline_steps.documents.deployment", "pipeline_steps.documents.context"),
    ("pipeline_steps.cli", "pipeline_steps.errors"),
])
def test_the_checker_lets_downward_imports_pass(source: str, target: str) -> None:
    assert violation(source, target) is None


@pytest.mark.parametrize("module", ["pipeline_steps.helpers", "pipeline_steps.utils", "pipeline_steps.newroom.part"])
def test_a_module_outside_the_map_is_in_no_room(module: str) -> None:
    """A new top-level module (a utils.py) or folder is not quietly part of the package root, the
    lowest rung, which every room could import: it must be put on the map first."""
    with pytest.raises(AssertionError, match="in no room of the map"):
        room_of(module)


def test_the_top_level_holds_the_edge_modules_and_the_rooms() -> None:
    """Issue 10: at most 8 top-level modules (the edge) beside the rooms; each of them on the map."""
    modules = sorted(p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__")
    rooms = sorted(p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file())
    assert len(modules) <= 8, modules
    for name in [*modules, *rooms]:
        room_of(f"pipeline_steps.{name}")


def test_function_level_imports_are_seen(tmp_path: Path) -> None:
    text = "def f():\n    from pipeline_steps.steps import deploy\n    import pipeline_steps.commands.run\n"
    path = PACKAGE / "gate" / "_probe_for_test.py"
    path.write_text(text, encoding="utf-8")
    try:
        targets = [known(t) for _, t in imports_of(path)]
    finally:
        path.unlink()
    assert "pipeline_steps.steps.deploy" in targets and "pipeline_steps.commands.run" in targets
