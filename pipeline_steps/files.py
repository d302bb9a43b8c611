"""Reading and writing the small documents every step exchanges, with one set of error messages.

Every loader (perfspec, slo/sli, shipyard, service.yaml, workloads, deployment.json, testrun.json,
evaluation.json, events, kubeconfigs, the local platform's state) reads through the two strict
readers here, so a file is either what its format promises or bad input naming it and the field:

* **JSON** (RFC 8259): ``NaN``/``Infinity`` literals and numbers beyond a double (``1e400``) are
  refused (Python's ``json`` accepts them, and every comparison with NaN is false: a gate that
  never breaches); an object repeating a key with another value is refused (the last one
  silently won: a second ``"objectives"`` lowered the objective; an identical repeat changes
  nothing and stays readable, as in Keptn 0.2's own evaluation-done example); a string or key
  holding half of a UTF-16 surrogate pair (``"\\ud800"``: no UTF-8 can carry it, so a writer
  failed on it after the history row) is refused; nesting deeper than ``MAX_DEPTH``, more than
  ``MAX_BYTES`` or text that is not UTF-8 are refused with one clear line.
* **YAML** (safe loader): the same (a merge key ``<<`` given twice included), plus aliases: a
  document whose aliases expand to more than ``MAX_NODES`` nodes (the "billion laughs" under an
  SLO ``filter:`` took 3 GB) or refer to themselves is refused before anything walks it; merge
  keys (``<<``) still work.

Writers replace a file atomically (temp + rename), so a reader never sees half a document and a
crash never leaves one behind, and they refuse non-finite numbers, so no JSON this tool writes
holds ``NaN`` or ``Infinity``. Times in documents are ISO-8601 UTC (``iso_utc``), one format for all.
Every path made from a value (a tag, a stage, a file named in a document) is made by ``under``,
which keeps it inside its base folder.
"""

from __future__ import annotations

import json
import math
import os
import re
import sys
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

from pipeline_steps.errors import BadInputError, parser_problem

MAX_BYTES = 16 * 1024 * 1024
"""Largest document read (16 MiB): far above any spec, workload, test run or evaluation (an
evaluation of 100 indicators x 100 series is about 2 MiB), far below what would exhaust memory."""
MAX_DEPTH = 64
"""Deepest nesting accepted (perfspecs and charts nest under 15); 100,000 nested arrays raised RecursionError."""
MAX_NODES = 100_000
"""Most YAML nodes a document may expand to, aliases counted each time they are used."""
_LARGEST_FLOAT_INT = int(sys.float_info.max)

_NOT_FINITE = "is not a finite number (NaN, infinities and numbers beyond 1.8e308 are refused)"
_NOT_TEXT = ("is not valid Unicode text: it holds half of a UTF-16 surrogate pair (an escape like \\ud800 alone), "
             "which no UTF-8 output can carry; write the character itself")
_SURROGATE = re.compile("[\ud800-\udfff]")
_DUPLICATE = "is given twice with different values (the last one would silently win; give each key once)"


def read_text(path: str | Path) -> str:
    """The file's text (UTF-8, at most ``MAX_BYTES``); a missing, unreadable, oversized or
    non-UTF-8 file is bad input naming it."""
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_BYTES + 1)
    except OSError as err:
        raise BadInputError(str(path), None, f"cannot read: {err.strerror or err}") from err
    if len(raw) > MAX_BYTES:
        raise BadInputError(str(path), None, f"is larger than {MAX_BYTES // (1024 * 1024)} MiB; not a document this tool reads")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise BadInputError(str(path), None, f"is not UTF-8 text: byte 0x{raw[err.start]:02x} at line {line} "
                                             f"(offset {err.start}); save it as UTF-8") from None


# --- JSON ---------------------------------------------------------------------------------------


class _Repeated(dict):
    """An object whose ``key`` appeared twice; found with its path after parsing."""

    key: str = ""


class _NonFinite:
    """``NaN``, ``Infinity`` or a number beyond a double, as it was written."""

    def __init__(self, text: str) -> None:
        self.text = text


def _same(a: Any, b: Any) -> bool:
    """A repeat that changes nothing (Keptn 0.2's own evaluation-done example gives ``"tag"`` twice)."""
    return type(a) is type(b) and a == b


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen and not _same(seen[key], value):
            repeated = _Repeated(pairs)
            repeated.key = key
            return repeated
        seen[key] = value
    return dict(pairs)


def _float(text: str) -> Any:
    value = float(text)
    return value if math.isfinite(value) else _NonFinite(text)


def _int(text: str) -> Any:
    value = int(text)  # Python refuses more than 4300 digits with ValueError (caught below)
    return value if abs(value) <= _LARGEST_FLOAT_INT else _NonFinite(text if len(text) < 20 else text[:17] + "...")


def _shown(key: Any) -> str:
    """A key as a field path shows it; a lone surrogate as its escape, so the message can be printed."""
    text = str(key)
    return text.encode("utf-8", "backslashreplace").decode("utf-8") if _SURROGATE.search(text) else text


def _join(path: str, key: Any) -> str:
    return f"{path}[{key}]" if isinstance(key, int) else (f"{path}.{_shown(key)}" if path else _shown(key))


def check_text(text: str, source: str, field: str | None) -> str:
    """``text`` if UTF-8 can carry it; else bad input naming ``source`` and ``field``. For text that
    reaches outputs without a reader: a flag or an environment variable (the OS decodes bytes that
    are not UTF-8 into lone surrogates: ``--tag $'v\\xff'``)."""
    if _SURROGATE.search(text):
        raise BadInputError(source, field, f"'{_shown(text)[:40]}' is not UTF-8 text; give it as UTF-8")
    return text


def _text_problem(source: str, path: str, text: str) -> BadInputError | None:
    """A string or key that is not Unicode text (a JSON ``\\ud800`` escape, a YAML ``"\\ud800"``):
    it would fail every writer later, after a history row or a traffic flip."""
    return BadInputError(source, path or None, _NOT_TEXT) if _SURROGATE.search(text) else None


def _deep(source: str, path: str) -> BadInputError:
    where = path if len(path) <= 60 else path[:57] + "..."
    return BadInputError(source, where or None, f"is nested more than {MAX_DEPTH} levels deep")


def _check_json(data: Any, source: str) -> None:
    """Find what the parser hooks marked (repeated keys, non-finite numbers) and nesting past ``MAX_DEPTH``."""
    stack: list[tuple[Any, str, int]] = [(data, "", 0)]
    while stack:
        value, path, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise _deep(source, path)
        if isinstance(value, _NonFinite):
            raise BadInputError(source, path or None, f"{value.text} {_NOT_FINITE}")
        if isinstance(value, _Repeated):
            raise BadInputError(source, _join(path, value.key), _DUPLICATE)
        problem = _text_problem(source, path, value) if isinstance(value, str) else None
        if problem:
            raise problem
        if isinstance(value, dict):
            for key in value:
                problem = _text_problem(source, _join(path, key), key)
                if problem:
                    raise problem
            stack.extend((v, _join(path, k), depth + 1) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend((v, _join(path, i), depth + 1) for i, v in enumerate(value))


def parse_json(text: str, source: str) -> Any:
    """``text`` as strict JSON (module docstring); any problem is bad input naming ``source`` and the
    line or the field."""
    if len(text) > MAX_BYTES:
        raise BadInputError(source, None, f"is larger than {MAX_BYTES // (1024 * 1024)} MiB; not a document this tool reads")
    try:
        data = json.loads(text, object_pairs_hook=_pairs, parse_constant=_NonFinite, parse_float=_float, parse_int=_int)
    except json.JSONDecodeError as err:
        raise BadInputError(source, None, f"invalid JSON: {parser_problem(err)}") from err
    except RecursionError:
        raise BadInputError(source, None, f"invalid JSON: nested more than {MAX_DEPTH} levels deep") from None
    except ValueError:  # Python refuses integer literals of more than 4300 digits
        raise BadInputError(source, None, f"invalid JSON: a number {_NOT_FINITE}") from None
    _check_json(data, source)
    return data


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


# --- YAML ---------------------------------------------------------------------------------------


def _check_yaml(loader: Any, root: Any, source: str) -> None:
    """Walk the composed node graph once (each node once, aliases by reference): expanded size,
    depth, self-reference, repeated keys and non-finite numbers, each named by its path."""
    import yaml

    sizes: dict[int, int] = {}
    active: set[int] = set()

    def size(node: Any, path: str, depth: int) -> int:
        if depth > MAX_DEPTH:
            raise _deep(source, path)
        if id(node) in sizes:
            return sizes[id(node)]
        if id(node) in active:
            raise BadInputError(source, path or None, "refers to itself through an alias (a recursive document)")
        total = 1
        if isinstance(node, yaml.ScalarNode):
            problem = _text_problem(source, path, node.value)
            if problem:
                raise problem
            if node.tag in ("tag:yaml.org,2002:float", "tag:yaml.org,2002:int"):
                value = loader.construct_object(node)
                if (isinstance(value, float) and not math.isfinite(value)) or abs(value) > _LARGEST_FLOAT_INT:
                    raise BadInputError(source, path or None, f"{node.value} {_NOT_FINITE}")
        else:
            active.add(id(node))
            if isinstance(node, yaml.SequenceNode):
                for i, child in enumerate(node.value):
                    total += size(child, _join(path, i), depth + 1)
            else:
                seen: dict[Any, Any] = {}
                merged: Any = None
                for key_node, child in node.value:
                    if key_node.tag == "tag:yaml.org,2002:merge":
                        # ``<<`` is a key too: given twice, the second silently won (one ``<<: [*a, *b]`` merges several)
                        if merged is not None and not _same(loader.construct_object(merged, deep=True),
                                                            loader.construct_object(child, deep=True)):
                            raise BadInputError(source, _join(path, "<<"), _DUPLICATE)
                        merged = child
                        total += size(child, path, depth + 1)
                        continue
                    if not isinstance(key_node, yaml.ScalarNode):
                        raise BadInputError(source, path or None, "has a key that is not a plain value (a list or mapping)")
                    problem = _text_problem(source, _join(path, key_node.value), key_node.value)
                    if problem:
                        raise problem
                    key = loader.construct_object(key_node)
                    total += 1 + size(child, _join(path, key), depth + 1)
                    if key in seen and not _same(loader.construct_object(seen[key], deep=True),
                                                 loader.construct_object(child, deep=True)):
                        raise BadInputError(source, _join(path, key), _DUPLICATE)
                    seen[key] = child
            active.discard(id(node))
        if total > MAX_NODES:
            raise BadInputError(source, path or None, f"expands to more than {MAX_NODES:,} values (aliases counted "
                                                      "each time they are used)")
        sizes[id(node)] = total
        return total

    size(root, "", 0)


def _yaml_documents(text: str, source: str) -> Iterator[Any]:
    import yaml  # only the commands that read YAML pay for it

    if len(text) > MAX_BYTES:
        raise BadInputError(source, None, f"is larger than {MAX_BYTES // (1024 * 1024)} MiB; not a document this tool reads")
    loader = None
    try:
        loader = yaml.SafeLoader(text)  # checks the characters: a NUL is refused here
        while loader.check_node():
            node = loader.get_node()
            _check_yaml(loader, node, source)
            yield loader.construct_document(node)
    except yaml.YAMLError as err:
        raise BadInputError(source, None, f"invalid YAML: {parser_problem(err)}") from err
    except RecursionError:
        raise BadInputError(source, None, f"invalid YAML: nested more than {MAX_DEPTH} levels deep") from None
    except (ValueError, OverflowError) as err:  # PyYAML's own: "\U00110000", a timestamp on 2026-13-45
        raise BadInputError(source, None, f"invalid YAML: {' '.join(str(err).split())[:120]}") from None
    finally:
        if loader is not None:
            loader.dispose()


def parse_yaml(text: str, source: str) -> Any:
    """``text`` as one strict YAML document (module docstring; empty text is None); any problem is bad
    input naming ``source`` and the line or the field."""
    documents = list(_yaml_documents(text, source))
    if len(documents) > 1:
        raise BadInputError(source, None, "invalid YAML: holds more than one document (---); give one")
    return documents[0] if documents else None


def parse_yaml_documents(text: str, source: str) -> list[Any]:
    """Every document of a multi-document YAML stream (a rendered Helm chart), each read strictly."""
    return list(_yaml_documents(text, source))


def read_yaml(path: str | Path) -> Any:
    """Read and parse a YAML file strictly (safe loader)."""
    return parse_yaml(read_text(path), str(path))


def under(base: str | Path, *parts: str, source: str = "path", field: str | None = None) -> Path:
    """``base/parts...``, refusing any result outside ``base`` (``BadInputError`` naming ``source``, ``field``).

    The one way a value becomes a path below a folder the user chose (``--out-dir``, the state
    folder, an artifact folder, the folder of a document naming a file): an absolute part would
    replace the base and ``..`` would climb out of it (issue 12.2: ``run --tag ../../escaped``
    wrote outside ``--out-dir``). Refused: an empty or absolute part, a ``..`` component, a NUL
    or another control character, and a result that leaves ``base`` once symbolic links are
    followed. The path returned is ``base`` (as given) joined with the parts, not resolved.
    """
    root = Path(base)
    for part in parts:
        if not part or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in part):
            raise BadInputError(source, field, f"{part!r} is not a file or folder name")
        if Path(part).is_absolute() or ".." in Path(part).parts:
            raise BadInputError(source, field, f"{part!r} would leave {root} (absolute paths and '..' are refused)")
    path = root.joinpath(*parts)
    if not path.resolve().is_relative_to(root.resolve()):
        raise BadInputError(source, field, f"{'/'.join(parts)!r} leaves {root} through a symbolic link")
    return path


# --- writing ------------------------------------------------------------------------------------


def write_target(path: str | Path) -> Path:
    """The file a write to ``path`` replaces: ``path``, or the file a symbolic link points to (the link
    stays, as ``open`` writes through it). ``BadInputError`` naming ``path`` when that is a folder,
    a device, a FIFO or a socket: a rename would put a file in its place (``report --out /dev/full``
    run as root replaced the device with a regular file)."""
    path = Path(path)
    target = path.resolve() if path.is_symlink() else path
    if target.is_dir():
        raise BadInputError(str(path), None, "is a folder where this step writes a file; nothing was changed")
    if target.exists() and not target.is_file():
        raise BadInputError(str(path), None, "is not a regular file (a device, FIFO or socket) where this step "
                                             "writes a file it would replace; give a file's path; nothing was changed")
    return target


@contextmanager
def atomic_text(path: str | Path) -> Iterator[IO[str]]:
    """A text file to write that replaces ``path`` (``write_target``: through a symbolic link; never a
    folder, device, FIFO or socket) only when the block ends without an error (temp file in the same
    folder + rename); parents are created. For output streamed in pieces."""
    path = write_target(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            yield out
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` atomically (temp file in the same folder + rename); parents are created."""
    with atomic_text(path) as out:
        out.write(text)
    return Path(path)


def check_writable(paths: Iterable[str | Path]) -> None:
    """Each path can be written as a file: it is not a folder, device, FIFO or socket (``write_target``),
    and no part of the way to it is a file. A step calls this with every document it will write before it acts, so a folder in the
    way is bad input naming it, with nothing queried, stored, deployed or flipped (it used to be a
    bug's exit 4 after the history row, or after traffic had moved)."""
    for raw in paths:
        path = write_target(raw)
        for ancestor in path.parents:
            if ancestor.exists():
                if not ancestor.is_dir():
                    raise BadInputError(str(ancestor), None, f"is a file where a folder is needed for {path}; "
                                                             "nothing was changed")
                if not os.access(ancestor, os.W_OK | os.X_OK):
                    raise BadInputError(str(ancestor), None, f"cannot write here (for {path}); nothing was changed")
                break


def _non_finite_path(data: Any, path: str = "") -> str | None:
    if isinstance(data, float) and not math.isfinite(data):
        return path or "(top level)"
    items = data.items() if isinstance(data, dict) else enumerate(data) if isinstance(data, (list, tuple)) else ()
    for key, value in items:
        found = _non_finite_path(value, _join(path, key))
        if found:
            return found
    return None


def to_json(data: Any, *, indent: int | None = 2) -> str:
    """``data`` as JSON text; a NaN or infinity anywhere is a ``ValueError`` naming its path (a bug:
    every number was checked when it was read, so nothing non-finite may reach an output)."""
    try:
        return json.dumps(data, indent=indent, allow_nan=False)
    except ValueError:
        raise ValueError(f"refusing to write a non-finite number (NaN/Infinity is not JSON) at "
                         f"{_non_finite_path(data)}") from None


def write_json(path: str | Path, data: Any) -> Path:
    """Write ``data`` as indented JSON atomically; parents are created; non-finite numbers are refused
    before anything is written (``to_json``)."""
    return write_text(path, to_json(data) + "\n")


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
