"""One reader per format, one atomic writer, one time format (pipeline_steps/files.py).

Aspects: a missing, unreadable or malformed file is bad input naming the file (and, for JSON and
YAML, the line); ``missing_ok`` turns only absence into None; ``read_document`` never fails (the
chain's narration and the events); a write is a rename (a failed one leaves the old file and no
temporary file); ISO-8601 UTC with and without microseconds.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from pipeline_steps import files
from pipeline_steps.errors import BadInputError


def test_json_errors_name_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "d.json"
    bad.write_text('{\n  "a": 1,\n  nope\n}')
    with pytest.raises(BadInputError, match=r"d.json: invalid JSON: .* at line 3"):
        files.read_json(bad)
    with pytest.raises(BadInputError, match=r"missing.json: cannot read"):
        files.read_json(tmp_path / "missing.json")
    assert files.read_json(tmp_path / "missing.json", missing_ok=True) is None
    with pytest.raises(BadInputError):
        files.read_json(bad, missing_ok=True)  # absent is fine, corrupt is not
    assert files.read_document(bad) is None and files.read_document(tmp_path / "missing.json") is None


def test_yaml_errors_name_file_line_and_column(tmp_path: Path) -> None:
    bad = tmp_path / "s.yaml"
    bad.write_text("stages:\n  - name: dev\n    deployment_strategy: [\n")
    with pytest.raises(BadInputError, match=r"s.yaml: invalid YAML: .* at line 4, column 1"):
        files.read_yaml(bad)


def test_write_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = files.write_json(tmp_path / "sub" / "doc.json", {"a": 1})
    assert path.read_text() == '{\n  "a": 1\n}\n'

    def broken(*args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(files.os, "replace", broken)
    with pytest.raises(OSError, match="disk full"):
        files.write_json(path, {"a": 2})
    assert path.read_text() == '{\n  "a": 1\n}\n' and sorted(p.name for p in path.parent.iterdir()) == ["doc.json"]


def test_iso_utc() -> None:
    assert files.iso_utc(1795687200.75) == "2026-11-26T10:00:00Z"
    assert files.iso_utc(1795687200.75, micro=True) == "2026-11-26T10:00:00.750000Z"
    moment = dt.datetime(2026, 11, 26, 11, 0, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    assert files.iso_utc(moment) == "2026-11-26T10:00:00Z"
    assert files.iso_utc().endswith("Z")
