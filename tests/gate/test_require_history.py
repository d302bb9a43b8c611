"""No silent pass for lack of history (issue 16): relative criteria that found fewer previous results than asked.

Aspects, through the real CLI with the testrun source: with 0, 1 and 3 of 3 previous results the
indicator's ``history`` in evaluation.json says what was asked and found, with the note "no
previous results: relative criterion not applied" (0) or "compared with fewer than asked" (1),
and the summary and the JUnit case say the same; an objective without relative criteria carries
no ``history``; ``--require-history warning`` turns such a PASS into WARNING (exit 3, the
indicator a JUnit failure), ``error`` into ERROR (exit 4, a JUnit error) and a FAIL stays FAIL;
``comparison.require_history`` in slo.yaml does the same and the stricter of the two wins; a
value that is not off|warning|error is bad input naming the field; an evaluation turned ERROR by
this rule is stored (it was measured), so the history fills and the rule stops firing. Both
history backends.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from pipeline_steps.cli import cli
from pipeline_steps.history import open_history

NONE_FOUND = "no previous results: relative criterion not applied (0 of 3 asked)"
ONE_FOUND = "1 of 3 previous results: relative criterion compared with fewer than asked"


def _slo(folder: Path, require: str | None = None) -> list[str]:
    extra = f", require_history: {require}" if require is not None else ""
    (folder / "slo.yaml").write_text(
        f"comparison: {{compare_with: several_results, number_of_comparison_results: 3{extra}}}\n"
        "objectives:\n  - sli: rt\n    pass: [{criteria: ['<=+50%', '<600']}]\n"
        "  - sli: errors\n    pass: [{criteria: ['<0.05']}]\ntotal_score: {pass: '90%'}\n")
    (folder / "sli.yaml").write_text("indicators:\n  rt: performance.latency_ms.p95\n  errors: performance.error_rate\n")
    return ["--slo", str(folder / "slo.yaml"), "--sli", str(folder / "sli.yaml"), "--sli-provider", "testrun"]


def _evaluate(folder: Path, history: str, spec: list[str], rt: float, *flags: str) -> tuple[int, dict[str, Any], str]:
    (folder / "testrun.json").write_text(json.dumps({"start_unix": 1000, "end_unix": 1060,
                                                     "performance": {"latency_ms": {"p95": rt}, "error_rate": 0.0}}))
    out = folder / "out"
    result = CliRunner().invoke(cli, ["evaluate", *spec, "--testrun", str(folder / "testrun.json"), "--project", "sockshop",
                                      "--stage", "staging", "--service", "carts", "--history", history, "--out-dir", str(out),
                                      *flags])
    document = json.loads((out / "evaluation.json").read_text()) if (out / "evaluation.json").exists() else {}
    return result.exit_code, document, result.output


def _junit(folder: Path) -> dict[str, tuple[str, str]]:
    """Case name -> (outcome, system-out)."""
    cases = {}
    for case in ET.parse(folder / "out" / "junit-evaluation.xml").getroot().iter("testcase"):
        outcome = "failure" if case.find("failure") is not None else "error" if case.find("error") is not None else "passed"
        cases[case.attrib["name"]] = (outcome, case.findtext("system-out") or "")
    return cases


def test_every_output_says_how_much_history_a_relative_criterion_had(history_location: str, tmp_path: Path) -> None:
    spec = _slo(tmp_path)
    seen = []
    for n, rt in enumerate([100.0, 110.0, 105.0, 100.0]):
        code, doc, output = _evaluate(tmp_path, history_location, spec, rt)
        assert (code, doc["verdict"]) == (0, "PASS"), output
        rt_report, errors_report = doc["indicators"]
        assert "history" not in errors_report  # no relative criterion
        summary = (tmp_path / "out" / "evaluation-summary.txt").read_text()
        junit = _junit(tmp_path)
        seen.append(rt_report["history"])
        note = rt_report["history"]["note"]
        if note:
            assert f"rt: {note}" in summary and f"rt: {note}" in output
            assert any(note in w for w in doc["warnings"]) or "rt" in " ".join(doc["warnings"])
            assert junit["rt"] == ("passed", junit["rt"][1]) and f"history: {note}" in junit["rt"][1]
        else:
            assert "previous results" not in summary and doc["warnings"] == []
            assert "history: compared with 3 previous result(s) (3 asked)" in junit["rt"][1]
        assert n == len(doc["comparedEvents"])
    assert seen[:2] == [{"asked": 3, "found": 0, "note": NONE_FOUND}, {"asked": 3, "found": 1, "note": ONE_FOUND}]
    assert seen[3] == {"asked": 3, "found": 3, "note": ""}


@pytest.mark.parametrize(("flag", "in_slo", "verdict", "code", "status", "outcome"), [
    ("warning", None, "WARNING", 3, "warning", "failure"),
    ("error", None, "ERROR", 4, "error", "error"),
    ("off", "error", "ERROR", 4, "error", "error"),
    ("warning", "error", "ERROR", 4, "error", "error"),       # the stricter wins, whichever says it
    ("error", "warning", "ERROR", 4, "error", "error"),
    ("off", "warning", "WARNING", 3, "warning", "failure"),
    ("off", "off", "PASS", 0, "pass", "passed"),                # YAML reads a bare off as false
])
def test_require_history_turns_a_pass_without_history_into_warning_or_error(
        tmp_path: Path, flag: str, in_slo: str | None, verdict: str, code: int, status: str, outcome: str) -> None:
    history = str(tmp_path / "h.sqlite")
    spec = _slo(tmp_path, in_slo)
    got, doc, output = _evaluate(tmp_path, history, spec, 100.0, "--require-history", flag)
    assert (got, doc["verdict"], doc["indicators"][0]["status"]) == (code, verdict, status), output
    assert _junit(tmp_path)["rt"][0] == outcome and _junit(tmp_path)["errors"][0] == "passed"
    if status != "pass":
        assert NONE_FOUND in doc["indicators"][0]["reason"] and f"require_history: {status}" in doc["indicators"][0]["reason"]
        assert NONE_FOUND in output
    assert open_history(history).count("sockshop", "staging", "carts") == 1  # measured, so stored


def test_a_fail_stays_fail_and_the_history_fills_until_the_rule_stops_firing(tmp_path: Path) -> None:
    history = str(tmp_path / "h.sqlite")
    spec = _slo(tmp_path, "error")
    code, doc, _ = _evaluate(tmp_path, history, spec, 900.0)  # breaks the absolute <600 too
    assert (code, doc["verdict"]) == (1, "FAIL")
    results = [_evaluate(tmp_path, history, spec, 100.0)[:2] for _ in range(3)]
    assert [(c, d["verdict"], d["indicators"][0]["history"]["found"]) for c, d in results] == [
        (4, "ERROR", 1), (4, "ERROR", 2), (0, "PASS", 3)]
    assert [e.verdict for e in open_history(history).previous("sockshop", "staging", "carts", limit=9)] == [
        "PASS", "ERROR", "ERROR", "FAIL"]


def test_a_bad_require_history_is_bad_input(tmp_path: Path) -> None:
    spec = _slo(tmp_path, "always")
    code, doc, output = _evaluate(tmp_path, str(tmp_path / "h.sqlite"), spec, 100.0)
    assert code == 2 and doc == {}
    assert f"error: {tmp_path / 'slo.yaml'}: comparison.require_history: 'always' is not one of off, warning, error" in output
