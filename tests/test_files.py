"""One reader per format, one atomic writer, one time format (pipeline_steps/files.py).

Aspects: a missing, unreadable, non-UTF-8, oversized or malformed file is bad input naming the
file (and, for JSON and YAML, the line or the field); the strict rules (issue 11): no NaN/Infinity
or numbers beyond a double, no key repeated with another value, at most 64 levels, YAML aliases
bounded and never recursive, PyYAML's own ValueErrors caught; ``missing_ok`` turns only absence
into None; ``read_document`` never fails (the chain's narration and the events); a write is a
rename (a failed one leaves the old file and no temporary file) and refuses non-finite numbers;
ISO-8601 UTC with and without microseconds.
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


_BOMB = "".join(f"{c}: &{c} [{', '.join(['*' + p] * 9) if p else 'x, x, x, x, x, x, x, x, x'}]\n"
                for p, c in zip(["", "a", "b", "c", "d", "e"], "abcdef", strict=True))


@pytest.mark.parametrize(("text", "message"), [
    ('{"a": NaN}', "d.json: a: NaN is not a finite number"),
    ('{"a": {"b": [1, -Infinity]}}', "d.json: a.b[1]: -Infinity is not a finite number"),
    ('{"a": 1e400}', "d.json: a: 1e400 is not a finite number"),
    ('{"a": ' + "9" * 400 + "}", "d.json: a: 99999999999999999... is not a finite number"),
    ('{"a": ' + "9" * 5000 + "}", "d.json: invalid JSON: a number is not a finite number"),
    ('{"o": 1, "o": 2}', "d.json: o: is given twice with different values"),
    ('{"x": {"y": 1, "y": [2]}}', "d.json: x.y: is given twice with different values"),
    ("[" * 100_000 + "]" * 100_000, "d.json: invalid JSON: nested more than 64 levels deep"),
    ("[" * 70 + "]" * 70, "d.json: [0][0]"),
    ('{"id": "\\ud800"}', "d.json: id: is not valid Unicode text"),         # half a UTF-16 pair: no UTF-8 for it
    ('{"a": [{"b": "x\\udfffy"}]}', "d.json: a[0].b: is not valid Unicode text"),
    ('{"\\ud83d": 1}', "d.json: \\ud83d: is not valid Unicode text"),
])
def test_the_strict_json_reader(tmp_path: Path, text: str, message: str) -> None:
    """Issue 11: NaN/Infinity literals, numbers beyond a double, repeated keys and deep nesting are
    refused with the file and the field; an identical repeat (Keptn 0.2's own example) is read."""
    (tmp_path / "d.json").write_text(text)
    with pytest.raises(BadInputError) as err:
        files.read_json(tmp_path / "d.json")
    assert str(err.value).startswith(f"{tmp_path / message}"), str(err.value)
    assert files.parse_json('{"tag": "1", "tag": "1"}', "e.json") == {"tag": "1"}


@pytest.mark.parametrize(("text", "message"), [
    ("a: .nan\n", "s.yaml: a: .nan is not a finite number"),
    ("a: {b: [1, -.inf]}\n", "s.yaml: a.b[1]: -.inf is not a finite number"),
    ("a: 1.0e+400\n", "s.yaml: a: 1.0e+400 is not a finite number"),
    ("total_score: 1\ntotal_score: 2\n", "s.yaml: total_score: is given twice with different values"),
    (_BOMB, "s.yaml: f: expands to more than 100,000 values"),
    ("a: &x [*x]\n", "s.yaml: a[0]: refers to itself"),
    ("a: " + "[" * 5000 + "]" * 5000 + "\n", "s.yaml: invalid YAML: nested more than 64 levels deep"),
    ("a: 1\n---\nb: 2\n", "s.yaml: invalid YAML: holds more than one document"),
    ("? [1, 2]\n: x\n", "s.yaml: has a key that is not a plain value"),
    ('a: "\\U00110000"\n', "s.yaml: invalid YAML: chr() arg not in range"),
    ("a: 2026-13-45\n", "s.yaml: invalid YAML: month must be in 1..12"),
    ('a: "\\ud800"\n', "s.yaml: a: is not valid Unicode text"),
    ('a: {b: ["x\\udfffy"]}\n', "s.yaml: a.b[0]: is not valid Unicode text"),
    ('"\\ud83d": 1\n', "s.yaml: \\ud83d: is not valid Unicode text"),
    ("c:\n  <<: {x: 1}\n  <<: {x: 2}\n", "s.yaml: c.<<: is given twice with different values"),
    ("a: \x00\n", "s.yaml: invalid YAML: unacceptable character #x0000"),
])
def test_the_strict_yaml_reader(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "s.yaml").write_text(text)
    with pytest.raises(BadInputError) as err:
        files.read_yaml(tmp_path / "s.yaml")
    assert str(err.value).startswith(f"{tmp_path / message}"), str(err.value)
    assert files.parse_yaml("base: &b {x: 1}\nd: {<<: *b, y: 2}\nt: 1\nt: 1\n", "m.yaml")["d"] == {"x": 1, "y": 2}


def test_text_must_be_utf8_and_bounded(tmp_path: Path) -> None:
    (tmp_path / "p.json").write_bytes(b'{"indicators":[\xff]}')
    with pytest.raises(BadInputError, match=r"p.json: is not UTF-8 text: byte 0xff at line 1 \(offset 15\)"):
        files.read_json(tmp_path / "p.json")
    (tmp_path / "big.yaml").write_bytes(b" " * (files.MAX_BYTES + 1))
    with pytest.raises(BadInputError, match=r"big\.yaml: is larger than 16 MiB"):
        files.read_yaml(tmp_path / "big.yaml")


def test_writers_refuse_non_finite_numbers(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"non-finite number .* at a\[1\]"):
        files.write_json(tmp_path / "o.json", {"a": [1, float("nan")]})
    assert not (tmp_path / "o.json").exists()


def test_check_writable_names_what_is_in_the_way(tmp_path: Path) -> None:
    files.check_writable([tmp_path / "new" / "deeper" / "doc.json", tmp_path / "doc.json"])  # absent folders are fine
    (tmp_path / "dir.json").mkdir()
    with pytest.raises(BadInputError, match=r"dir\.json: is a folder where this step writes a file"):
        files.check_writable([tmp_path / "ok.json", tmp_path / "dir.json"])
    (tmp_path / "events").write_text("x")
    with pytest.raises(BadInputError) as err:
        files.check_writable([tmp_path / "events" / "a" / "e.json"])
    assert err.value.source == str(tmp_path / "events") and "is a file where a folder is needed" in err.value.message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dir.json", "events"]  # it creates nothing


def _special_files(tmp_path: Path) -> dict[str, Path]:
    """A FIFO and a listening Unix socket: files a rename would replace (a device is the same kind,
    but a test must never risk /dev/null or /dev/full on the machine it runs on)."""
    import os
    import socket

    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    sock_path = tmp_path / "sock"
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(sock_path))
    sock.close()  # the socket file stays
    return {"fifo": fifo, "socket": sock_path}


@pytest.mark.parametrize("kind", ["fifo", "socket", "fifo through a link"])
def test_writers_never_replace_a_fifo_socket_or_device(tmp_path: Path, kind: str) -> None:
    import stat

    special = _special_files(tmp_path)
    target = special[kind.split()[0]]
    path = target
    if kind.endswith("link"):
        path = tmp_path / "link"
        path.symlink_to(target)
    before = target.lstat().st_mode
    for write in (lambda: files.write_text(path, "x"), lambda: files.write_json(path, {}),
                  lambda: files.check_writable([path])):
        with pytest.raises(BadInputError, match=r"is not a regular file \(a device, FIFO or socket\)") as err:
            write()
        assert err.value.source == str(path)
    assert target.lstat().st_mode == before and not stat.S_ISREG(target.lstat().st_mode)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp file left


def test_a_write_through_a_symbolic_link_writes_its_target_and_keeps_the_link(tmp_path: Path) -> None:
    target = tmp_path / "real" / "report.html"
    target.parent.mkdir()
    target.write_text("old", encoding="utf-8")
    link = tmp_path / "report.html"
    link.symlink_to(target)
    files.write_text(link, "new")
    assert link.is_symlink() and link.resolve() == target.resolve()
    assert target.read_text(encoding="utf-8") == "new"
    files.check_writable([link])
    with pytest.raises(BadInputError, match="is a folder"):
        (tmp_path / "to-dir").symlink_to(target.parent)
        files.write_text(tmp_path / "to-dir", "x")
