"""Reading the parts of our Jenkinsfiles the tests check, without a Groovy parser.

The Jenkinsfiles are written in a deliberately regular style (one `string(...)`/`choice(...)` per
parameter line, `sh` scripts as ''' strings, `build(job: '...', parameters: [...])`), so a few
regular expressions recover what Jenkins would see. ``unescape`` applies Groovy's rules for
single-quoted strings (backslash-newline continues the line) so the shell text is exact.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PIPELINES = ("deploy", "run_tests", "evaluation_done")
SERVICE_FILES = ("Jenkinsfiles/Jenkinsfile.service", "examples/carts/Jenkinsfile")

_PARAM = re.compile(r"^\s*(string|choice|booleanParam)\(name: '([A-Z_]+)'(.*)$", re.M)
_DEFAULT = re.compile(r"defaultValue: '([^']*)'")
_CHOICES = re.compile(r"choices: \[([^\]]*)\]")
_BUILD = re.compile(r"build\(job: '([a-z_]+)'.*?parameters: \[(.*?)\]\)", re.S)
_PASSED = re.compile(r"string\(name: '([A-Z_]+)', value: ([^)]*)\)")
_STAGE = re.compile(r"^\s*stage\('([^']+)'\)", re.M)
_SH = re.compile(r"\bsh\((?P<args>(?:[^)']|'[^']*')*?)script: (?P<q>'''|')(?P<body>.*?)(?P=q)", re.S)
_ANY_SH = re.compile(r"\bsh[ (]")


@dataclass(frozen=True)
class Param:
    kind: str
    name: str
    default: str
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class ShellStep:
    stage: str
    label: str
    script: str
    """The shell text exactly as Jenkins hands it to ``sh`` (Groovy escapes applied)."""


def read(name: str) -> str:
    path = ROOT / "Jenkinsfiles" / name if "/" not in name else ROOT / name
    return path.read_text(encoding="utf-8")


def parameters(text: str) -> list[Param]:
    """The ``parameters { ... }`` directive of the pipeline (not the ones passed to ``build``)."""
    block = re.search(r"^(\s*)parameters \{\n(.*?)^\1\}", text, re.S | re.M)
    assert block, "no parameters block"
    params = []
    for kind, name, rest in _PARAM.findall(block.group(2)):
        default = _DEFAULT.search(rest)
        choices = _CHOICES.search(rest)
        values = tuple(c.strip().strip("'") for c in choices.group(1).split(",")) if choices else ()
        params.append(Param(kind, name, default.group(1) if default else (values[0] if values else ""), values))
    return params


def builds(text: str) -> list[tuple[str, dict[str, str]]]:
    """Every ``build(job: ..., parameters: [...])``: the job and parameter name -> Groovy expression."""
    return [(job, dict(_PASSED.findall(body))) for job, body in _BUILD.findall(text)]


def unescape(body: str) -> str:
    """Groovy single-quoted string escapes: \\<newline> continues the line, \\\\ \\' \\$ stand for themselves."""
    out, i = [], 0
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            simple = {"n": "\n", "t": "\t", "\\": "\\", "'": "'", '"': '"', "$": "$"}
            if nxt == "\n":
                i += 2
                continue
            if nxt in simple:
                out.append(simple[nxt])
                i += 2
                continue
        out.append(ch)
        i += 1
    return "".join(out)


POST = "post"
"""The stage name ``shell_steps`` and ``stage_text`` give the pipeline's ``post`` section."""
_POST_START = "\n    post {"


def shell_steps(text: str) -> list[ShellStep]:
    """Every ``sh(... script: '...')`` with the stage it runs in (``post`` for the post section), in file order."""
    stages = [(m.start(), m.group(1)) for m in _STAGE.finditer(text)]
    if _POST_START in text:
        stages.append((text.index(_POST_START), POST))
    steps = []
    for m in _SH.finditer(text):
        stage = next((name for pos, name in reversed(stages) if pos < m.start()), "")
        label = re.search(r"label: '([^']*)'", m.group("args"))
        steps.append(ShellStep(stage, label.group(1) if label else "", unescape(m.group("body"))))
    return steps


def sh_call_count(text: str) -> int:
    """How many ``sh`` calls the file makes in any form (to catch ones ``shell_steps`` cannot read)."""
    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("//"))
    return len(_ANY_SH.findall(code))


def environment(text: str) -> dict[str, str]:
    """The pipeline's ``environment { KEY = 'value' }`` constants."""
    block = re.search(r"^(\s*)environment \{\n(.*?)^\1\}", text, re.S | re.M)
    return dict(re.findall(r"^\s*([A-Z_]+) = '([^']*)'", block.group(2), re.M)) if block else {}


def stage_text(text: str, name: str) -> str:
    """The source of one ``stage('name') { ... }`` (up to the next stage or the end of stages), or of ``post``."""
    if name == POST:
        return text[text.index(_POST_START):]
    starts = [(m.start(), m.group(1)) for m in _STAGE.finditer(text)]
    for i, (pos, stage) in enumerate(starts):
        if stage == name:
            end = starts[i + 1][0] if i + 1 < len(starts) else text.find(_POST_START, pos)
            return text[pos:end if end > 0 else len(text)]
    raise KeyError(name)


def shell_variables(script: str) -> set[str]:
    """Names the shell expands in ``script`` ($NAME, ${NAME...})."""
    return set(re.findall(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)", script))
