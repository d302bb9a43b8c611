"""No function of the package takes more than 5 positional parameters (issue 10).

Aspects: every ``def`` (methods included, ``self``/``cls`` not counted) in ``pipeline_steps``
is read with ``ast``; past five, collaborators go into a value or become keyword-only. The
checker is tested on a definition that breaks the rule.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "pipeline_steps"
LIMIT = 5


def positional(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    names = [a.arg for a in (*node.args.posonlyargs, *node.args.args)]
    if names and names[0] in ("self", "cls"):
        names = names[1:]
    return len(names)


def too_many(text: str, source: str) -> list[str]:
    return [f"{source}:{node.lineno}: {node.name} takes {positional(node)} positional parameters"
            for node in ast.walk(ast.parse(text, source))
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and positional(node) > LIMIT]


def test_no_function_takes_more_than_five_positional_parameters() -> None:
    problems = [p for path in sorted(PACKAGE.rglob("*.py"))
                for p in too_many(path.read_text(encoding="utf-8"), str(path.relative_to(PACKAGE.parent)))]
    assert not problems, "\n".join(problems)


def test_the_check_counts_methods_without_self_and_sees_a_breach() -> None:
    text = ("class A:\n    def ok(self, a, b, c, d, e, *, f=1): ...\n"
            "def bad(a, b, c, d, e, f): ...\nasync def bad2(a, b, c, d, e, f=0): ...\n")
    assert [p.split(": ")[1].split()[0] for p in too_many(text, "x.py")] == ["bad", "bad2"]
