"""The one JUnit writer (pipeline_steps/report/junit.py), shared by run-tests and the gate.

Aspects: a case's failure, error and properties land where Jenkins' junit step reads them; secrets
are masked; the file is replaced atomically through ``files.write_text``, so a write that fails
half-way leaves the previous report whole and no temporary file (Jenkins' junit step fails the
build on a truncated XML).
"""

from __future__ import annotations

from pathlib import Path
from xml.etree import ElementTree

import pytest

from pipeline_steps import files
from pipeline_steps.report.junit import JUnitCase, write_junit
from pipeline_steps.secrets import Secret


def test_cases_properties_and_masking(tmp_path: Path) -> None:
    path = write_junit(tmp_path / "j.xml", "suite", [
        JUnitCase("ok", "c", properties={"value": "1"}), JUnitCase("bad", "c", failure="breach tok3n", details="d"),
        JUnitCase("down", "c", error="backend down")], secrets=[Secret("tok3n")], properties={"verdict": "FAIL"})
    root = ElementTree.parse(path).getroot()
    cases = {c.get("name"): c for c in root.iter("testcase")}
    assert (cases["ok"].findtext("system-out") or "").startswith("value: 1")
    assert cases["bad"].find("failure") is not None and cases["down"].find("error") is not None
    assert "tok3n" not in path.read_text() and "***" in path.read_text()


def test_a_failed_write_leaves_the_previous_report_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_junit(tmp_path / "j.xml", "suite", [JUnitCase("first", "c")])
    before = path.read_text()

    def broken(*args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(files.os, "replace", broken)
    with pytest.raises(OSError, match="disk full"):
        write_junit(path, "suite", [JUnitCase("second", "c")])
    assert path.read_text() == before and sorted(p.name for p in tmp_path.iterdir()) == ["j.xml"]
