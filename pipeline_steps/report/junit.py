"""JUnit XML for Jenkins' ``junit`` step: one writer shared by run-tests and the quality gate.

Why JUnit for a gate: Jenkins shows test cases per build with history and trends; one case per
indicator makes "why did it fail?" a click away (value, threshold, query, score). Secrets are
masked before anything is written, and the file is replaced atomically (``files.write_text``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from junit_xml import TestCase, TestSuite, to_xml_report_string

from pipeline_steps.files import write_text
from pipeline_steps.secrets import Secret, redact_all


@dataclass(frozen=True)
class JUnitCase:
    """One test case. At most one of ``failure``/``error``/``skipped`` is set."""

    name: str
    classname: str
    time_s: float = 0.0
    stdout: str = ""
    failure: str | None = None
    """Short failure message (the version is bad)."""
    error: str | None = None
    """Short error message (the check could not run: backend down, no data)."""
    skipped: str | None = None
    details: str = ""
    """Longer text shown under the failure/error."""
    properties: dict[str, str] = field(default_factory=dict)


def write_junit(path: Path, suite: str, cases: list[JUnitCase], *, secrets: list[Secret | None] | None = None,
                properties: dict[str, str] | None = None) -> Path:
    """Write one suite to ``path`` (parents created); return the path."""
    junit_cases = []
    for case in cases:
        out = case.stdout
        if case.properties:
            out = "\n".join([*(f"{k}: {v}" for k, v in case.properties.items()), out]).strip()
        tc = TestCase(case.name, classname=case.classname, elapsed_sec=case.time_s, stdout=out or None)
        if case.failure is not None:
            tc.add_failure_info(message=case.failure, output=case.details or case.failure)
        if case.error is not None:
            tc.add_error_info(message=case.error, output=case.details or case.error)
        if case.skipped is not None:
            tc.add_skipped_info(message=case.skipped)
        junit_cases.append(tc)
    xml = to_xml_report_string([TestSuite(suite, junit_cases, properties=properties)], prettyprint=True, encoding="utf-8")
    return write_text(path, redact_all(xml, secrets or []))  # atomic: Jenkins fails a build on a truncated XML
