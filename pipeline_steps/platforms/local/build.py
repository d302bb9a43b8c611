"""``local build``: the local platform's image build and registry in one folder copy.

On Kubernetes a version is an image ``repo:tag``; locally it is the folder ``<image>/<tag>/``:
a copy of the service's source with ``application.properties`` values overridden, which is
what the use case does when it edits ``delayInMillis``/``version`` and rebuilds carts. The copy
is made next to the target and renamed into place, so a colour never starts from half a build.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path

from pipeline_steps.documents.names import check_tag, check_text
from pipeline_steps.errors import BadInputError
from pipeline_steps.files import read_text, under

PROPERTIES = "application.properties"
_IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache", ".git")
_KEY = re.compile(r"[A-Za-z0-9_.-]+")


def artifact_folder(image: str, tag: str) -> Path:
    """Where ``image:tag`` lives on the local platform: the folder ``tag`` inside the folder ``image``
    (never outside it: a tag is checked against the image tag grammar and joined by ``files.under``)."""
    check_text(image, "--image", None)  # a folder: a line break or NUL in it is no path we make
    return under(Path(image).resolve(), check_tag(tag, "--tag", None), source="--tag")


def parse_sets(values: tuple[str, ...] | list[str]) -> dict[str, str]:
    """``["version=v2", "delayInMillis=1000"]`` -> dict; a malformed entry is bad input."""
    result: dict[str, str] = {}
    for entry in values:
        key, sep, value = entry.partition("=")
        if not sep or not _KEY.fullmatch(key.strip()):
            raise BadInputError("--set", None, f"{entry!r} is not KEY=VALUE")
        result[key.strip()] = value.strip()
    return result


def build(source: Path, image: str, tag: str, overrides: Mapping[str, str]) -> Path:
    """Copy ``source`` to ``<image>/<tag>/`` with ``overrides`` applied to its properties file."""
    if not source.is_dir():
        raise BadInputError("--source", None, f"{source} is not a folder")
    if not tag:
        raise BadInputError("--tag", None, "is required")
    check_text(image, "--image", None)
    for key, value in overrides.items():
        if not _KEY.fullmatch(key) or any(ch in value for ch in "\r\n\0"):
            # a line break would add a property of its own to application.properties
            raise BadInputError("--set", key, f"{value!r} holds a line break or NUL" if _KEY.fullmatch(key)
                                else "is not a property name")
    target = artifact_folder(image, tag)
    properties = source / PROPERTIES
    if overrides and not properties.is_file():
        raise BadInputError("--source", None, f"{properties} does not exist, so --set has nothing to change")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{tag}.", dir=target.parent))
    try:
        copy = staging / "src"
        shutil.copytree(source, copy, ignore=_IGNORED)
        if overrides:
            text = read_text(copy / PROPERTIES)  # UTF-8, or bad input naming the file
            (copy / PROPERTIES).write_text(apply_overrides(text, overrides), encoding="utf-8")
        old = staging / "old"
        if target.exists():
            target.rename(old)  # a colour running from it has read its files at start
        copy.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def apply_overrides(text: str, overrides: Mapping[str, str]) -> str:
    """Replace ``key=...`` lines in place; keys not present are appended."""
    lines = text.splitlines()
    missing = dict(overrides)
    for index, line in enumerate(lines):
        key = line.split("=", 1)[0].strip()
        if "=" in line and not line.lstrip().startswith(("#", "!")) and key in missing:
            lines[index] = f"{key}={missing.pop(key)}"
    lines.extend(f"{key}={value}" for key, value in missing.items())
    return "\n".join(lines) + "\n"
