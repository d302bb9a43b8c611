"""Reading and writing the small documents every step exchanges, with one set of error messages.

Every loader (perfspec, slo/sli, shipyard, service.yaml, workloads, deployment.json, testrun.json,
events, the local platform's state) starts the same way: read the file, parse it, and turn an
unreadable or unparsable file into a one-line ``BadInputError`` naming it and the line. Writers
replace a file atomically (temp + rename), so a reader never sees half a document and a crash
never leaves one behind. Times in documents are ISO-8601 UTC (``iso_utc``), one format for all.
"""

from __future__ import annotations

import json
import os
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pipeline_steps.errors import BadInputError, parser_problem


def read_text(path: str | Path) -> str:
    """The file's text; a missing or unreadable file is bad input naming it."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as err:
        raise BadInputError(str(path), None, f"cannot read: {err.strerror or err}") from err


def parse_json(text: str, source: str) -> Any:
    """``text`` as JSON; a syntax error is bad input naming ``source`` and the line."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise BadInputError(source, None, f"invalid JSON: {parser_problem(err)}") from err


def read_json(path: str | Path, *, missing_ok: bool = False) -> Any:
    """Read and parse a JSON file; with ``missing_ok`` an absent file is None (a corrupt one still raises)."""
    if missing_ok and not Path(path).exists():
        return None
    return parse_json(read_text(path), str(path))


def read_document(path: str | Path) -> dict[str, Any] | None:
    """A JSON object a step wrote, or None when it is missing, unreadable or not an object: for the
    chain's narration and the events, which report what is there and never fail on it."""
    try:
        data = read_json(path, missing_ok=True)
    except BadInputError:
        return None
    return data if isinstance(data, dict) else None


def parse_yaml(text: str, source: str) -> Any:
    """``text`` as YAML (safe loader); a syntax error is bad input naming ``source``, the line and column."""
    import yaml  # only the commands that read YAML pay for it

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise BadInputError(source, None, f"invalid YAML: {parser_problem(err)}") from err


def read_yaml(path: str | Path) -> Any:
    """Read and parse a YAML file (safe loader)."""
    return parse_yaml(read_text(path), str(path))


def write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` atomically (temp file in the same folder + rename); parents are created."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_json(path: str | Path, data: Any) -> Path:
    """Write ``data`` as indented JSON atomically; parents are created."""
    return write_text(path, json.dumps(data, indent=2) + "\n")


def iso_utc(when: float | datetime | None = None, *, micro: bool = False) -> str:
    """``2026-11-26T10:00:00Z`` for a unix time or an aware datetime (default: now); with ``micro``
    ``2026-11-26T10:00:00.123456Z`` (CloudEvents ``time``, Kubernetes MicroTime, history rows)."""
    if when is None:
        moment = datetime.now(timezone.utc)
    elif isinstance(when, datetime):
        moment = when.astimezone(timezone.utc)
    else:
        moment = datetime.fromtimestamp(when, tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ" if micro else "%Y-%m-%dT%H:%M:%SZ")
