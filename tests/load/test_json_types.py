"""JSON compared as JSON, and assertion operands whose type cannot work refused when the workload loads.

Aspects (issue 18 items 5-6): equality by JSON type for every pair of JSON types, numbers
compared as numbers (1 == 1.0, -0.0 == 0), deep in arrays and objects; ``contains`` for each
kind of answer; operands YAML gives that JSON has not (dates, timestamps, binary, NaN,
infinity, non-string keys) and operands of the wrong type for their assertion (a number
against a header value or as text to find, a non-boolean ``exists``, a non-string pattern) are
bad input naming the file, the field and the request, exit 2 from the CLI, before anything is
sent; a JSON operand that can only fail against some answers (``contains: 2048``) loads and
fails that answer with a reason instead of a TypeError.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from pipeline_steps.cli import cli
from pipeline_steps.errors import BadInputError
from pipeline_steps.load.jsonpath import json_contains, json_equal, json_problem
from pipeline_steps.load.workload import parse_workload

SAMPLES: dict[str, list[Any]] = {
    "null": [None], "boolean": [True, False], "number": [0, 1, -1, 1.0, 0.0, -0.0, 2.5, 10**20],
    "string": ["", "1", "true", "null"], "array": [[], [1], [True], [None]], "object": [{}, {"a": 1}, {"a": True}],
}


@pytest.mark.parametrize("left", SAMPLES)
@pytest.mark.parametrize("right", SAMPLES)
def test_values_of_different_json_types_are_never_equal(left: str, right: str) -> None:
    for a in SAMPLES[left]:
        for b in SAMPLES[right]:
            if left != right:
                assert not json_equal(a, b), (a, b)
            else:
                assert json_equal(a, b) == (json.dumps(a) == json.dumps(b) or (left == "number" and a == b)), (a, b)


@pytest.mark.parametrize(("a", "b", "equal"), [
    (1, 1.0, True), (0, -0.0, True), (True, 1, False), (False, 0, False), (None, False, False), (1, "1", False),
    ([1, 2], [1.0, 2.0], True), ([True], [1], False), ([1, 2], [2, 1], False), ([1], [1, 1], False),
    ({"a": 1}, {"a": 1.0}, True), ({"a": True}, {"a": 1}, False), ({"a": 1}, {"a": 1, "b": None}, False),
    ({"a": [{"b": 0}]}, {"a": [{"b": 0.0}]}, True), ({"a": [{"b": 0}]}, {"a": [{"b": False}]}, False),
    (10**20, 1e20, True), (10**20 + 1, 1e20, False), (0.1 + 0.2, 0.3, False),
])
def test_json_equality(a: Any, b: Any, equal: bool) -> None:
    assert json_equal(a, b) is equal and json_equal(b, a) is equal


@pytest.mark.parametrize(("actual", "operand", "why"), [
    ("size 2048 MB", "2048", ""), ("size 2048 MB", 2048, "only a string operand"), ("abc", True, "only a string operand"),
    ([1, True, "x"], True, ""), ([1, True], 1.0, ""), ([True], 1, "no element equal to 1"), ([0], False, "no element"),
    ([None], None, ""), ([[1]], [1.0], ""), ({"a": 1}, "a", ""), ({"a": 1}, "b", "no key"), ({"1": 1}, 1, "a key"),
    (5, 5, "only strings, arrays and objects"), (None, None, "only strings"), (True, True, "only strings"),
])
def test_contains_by_the_answers_json_type(actual: Any, operand: Any, why: str) -> None:
    result = json_contains(actual, operand)
    assert (why in result) if why else result == ""


YAML_OPERANDS = [
    ("a date", "equals: 2024-01-01", "date is not a JSON value"),
    ("a timestamp", "equals: 2024-01-01T10:00:00Z", "datetime is not a JSON value"),
    ("binary", "equals: !!binary aGVsbG8=", "bytes is not a JSON value"),
    ("NaN", "equals: .nan", "is not a JSON number"),
    ("infinity", "contains: .inf", "is not a JSON number"),
    ("a date in a list", "contains: [1, 2024-01-01]", "date is not a JSON value"),
    ("a non-string key", "equals: {1: a}", "object key 1 is not a string"),
    ("a set", "equals: !!set {a, b}", "set is not a JSON value"),
]


@pytest.mark.parametrize(("case", "operand", "message"), YAML_OPERANDS, ids=[c[0] for c in YAML_OPERANDS])
@pytest.mark.parametrize("section", ["functional", "performance"])
def test_json_operands_must_be_json_values(case: str, operand: str, message: str, section: str) -> None:
    request = f"{{name: add item, path: /ok, assert: [{{type: json_path, path: $.a, {operand}}}]}}"
    text = (f"functional: [{request}]" if section == "functional"
            else f"performance: {{users: 1, loops: 1, requests: [{request}]}}")
    with pytest.raises(BadInputError) as info:
        parse_workload(yaml.safe_load(text), "tests.yaml")
    where = "functional[0]" if section == "functional" else "performance.requests[0]"
    assert info.value.field == f"{where}.assert[0].{operand.split(':')[0]}"
    assert "request 'add item'" in info.value.message and message in info.value.message


WRONG_TYPES = [
    ("header equals a number", "{type: header, name: X-Count, equals: 200}", "equals", "a number (200)"),
    ("header contains a boolean", "{type: header, name: X-A, contains: true}", "contains", "a boolean (true)"),
    ("header equals a list", "{type: header, name: X-A, equals: [a]}", "equals", "a list"),
    ("header equals nothing", "{type: header, name: X-A, equals: null}", "equals", "nothing"),
    ("text to find is a number", "{type: text_contains, value: 2048}", "value", "a number (2048)"),
    ("pattern is a number", "{type: text_regex, pattern: 42}", "pattern", "a number (42)"),
    ("exists is a string", "{type: json_path, path: $.a, exists: 'yes'}", "exists", "a str ('yes')"),
    ("exists is a number", "{type: header, name: X-A, exists: 1}", "exists", "a number (1)"),
]


@pytest.mark.parametrize(("case", "assertion", "key", "got"), WRONG_TYPES, ids=[w[0] for w in WRONG_TYPES])
def test_operand_types_are_checked_when_the_workload_loads(tmp_path: Path, case: str, assertion: str, key: str,
                                                           got: str) -> None:
    path = tmp_path / "tests.yaml"
    path.write_text(f"functional: [{{name: add item, path: /ok, assert: [{assertion}]}}]\n")
    result = CliRunner().invoke(cli, ["run-tests", "--project", "p", "--stage", "dev", "--service", "carts", "--image", "r/c",
                                      "--tag", "1", "--test-strategy", "functional", "--workload", str(path),
                                      "--target", "http://127.0.0.1:1"])
    assert result.exit_code == 2, result.output
    line = result.output.strip().splitlines()[-1]
    assert line.startswith(f"error: {path}: functional[0].assert[0].{key}: request 'add item': ")
    assert got in line


def test_json_bodies_must_be_json_values() -> None:
    with pytest.raises(BadInputError) as info:
        parse_workload(yaml.safe_load("functional: [{name: r, path: /ok, json: {when: 2024-01-01}}]"), "tests.yaml")
    assert info.value.field == "functional[0].json" and "date is not a JSON value" in info.value.message


@pytest.mark.parametrize("value", [None, True, 0, 1.5, "s", [1, {"a": None}], {"k": [True]}])
def test_json_values_pass(value: Any) -> None:
    assert json_problem(value) == ""
