"""Reading and writing the small documents every step exchanges, with one set of error messages.

Every loader (perfspec, slo/sli, shipyard, service.yaml, workloads, deployment.json, testrun.json,
events) starts the same way: read the file, parse it, and turn an unreadable or unparsable file
into a one-line ``BadInputError`` naming it. Writers replace a file atomically (temp + rename),
so a reader never sees half a document and a crash never leaves one behind.
"""

from __future__ import annotations

import json
import os
import tempfile
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


def read_json(path: str | Path) -> Any:
    """Read and parse a JSON file."""
    return parse_json(read_text(path), str(path))


def read_yaml(path: str | Path) -> Any:
    """Read and parse a YAML file (safe loader)."""
    import yaml  # only the commands that read YAML pay for it

    text = read_text(path)
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise BadInputError(str(path), None, f"invalid YAML: {parser_problem(err)}") from err


def write_json(path: str | Path, data: Any) -> Path:
    """Write ``data`` as indented JSON atomically; parents are created."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(data, out, indent=2)
            out.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
