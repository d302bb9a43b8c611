"""Issue 11, as a table: every input of the issue, and a generated family around each, through the CLI.

Aspects: each bad input of the issue (non-finite numbers in specs, workloads and flags; repeated
keys; a window ending in the future; an unreadable Dynatrace query form; a PromQL placeholder whose
quote context is unclear; files the loaders used to crash on: not UTF-8, 100,000 nested arrays, an
alias bomb, ``start_unix: 1e300``, ``number_of_comparison_results`` of 10**30, ``project: 123``,
``--out-dir`` naming a file) exits 2 with one line naming the file and the field, and changes no
file (the history, out/, the state folder). The family: the same fault in every file type the
CLI reads (not UTF-8, too deep, too large, a repeated key, NaN/Infinity/1e400 literals, an alias
bomb in every YAML file) and every numeric field of every document (NaN, +-infinity, 1e400, 10**30)
and every numeric flag. Verdict cases of the issue that need a backend live beside their backend:
+Inf graded (tests/sources/test_prometheus.py), the PromQL injection (tests/sources/test_promql.py),
paging and query forms (tests/sources/test_dynatrace_forms.py), slow backends (tests/sources/test_http.py).
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from pipeline_steps.documents.context import StageContext
from pipeline_steps.documents.service import ServiceSpec
from pipeline_steps.errors import ExitCode
from tests.commands.odd_inputs import CTX_FLAGS, KINDS, Kind, dump, promise, run, seed_history, set_path, target_server
from tests.fakes import FakePlatform


@pytest.fixture(autouse=True)
def platform(monkeypatch: pytest.MonkeyPatch) -> FakePlatform:
    fake = FakePlatform()
    staging = StageContext("sockshop", "staging", "carts", "carts", "0.7.2", "blue_green_service")
    fake.apply(staging, "green", ServiceSpec.minimal("carts"))  # the deployment the documents describe
    monkeypatch.setattr("pipeline_steps.platforms.make_platform", lambda name, settings: fake)
    return fake


@pytest.fixture(scope="module")
def target() -> Iterator[str]:
    with target_server() as url:
        yield url


@dataclass(frozen=True)
class Case:
    name: str
    kind: str
    text: str | bytes
    message: str
    """The error line after ``error: ``; ``{file}`` is the kind's file."""
    extra: tuple[str, ...] = ()


def _doc(kind: str, path: str, value: Any) -> str:
    doc = KINDS[kind].make()
    set_path(doc, path, value)
    return dump(KINDS[kind], doc)


def _with(kind: str, old: str, new: str) -> str:
    text = dump(KINDS[kind], KINDS[kind].make())
    assert old in text, (kind, old)
    return text.replace(old, new, 1)


BOMB = "".join(f"{c}: &{c} [{', '.join(['*' + p] * 9) if p else 'x, x, x, x, x, x, x, x, x'}]\n"
               for p, c in zip(["", "a", "b", "c", "d", "e", "f"], "abcdefg", strict=True))

ISSUE = [
    Case("1e: perfspec upperSevere NaN", "perfspec", _with("perfspec", '"upperSevere": 800', '"upperSevere": NaN'),
         "{file}: indicators[0].grading.thresholds.upperSevere: NaN is not a finite number"),
    Case("2: perfspec upperSevere Infinity", "perfspec", _with("perfspec", '"upperSevere": 800', '"upperSevere": Infinity'),
         "{file}: indicators[0].grading.thresholds.upperSevere: Infinity is not a finite number"),
    Case("2: perfspec upperSevere 1e400", "perfspec", _with("perfspec", '"upperSevere": 800', '"upperSevere": 1e400'),
         "{file}: indicators[0].grading.thresholds.upperSevere: 1e400 is not a finite number"),
    Case("2: objectives pass -Infinity", "perfspec", _with("perfspec", '"pass": 90', '"pass": -Infinity'),
         "{file}: objectives.pass: -Infinity is not a finite number"),
    Case("2: slo total_score pass -inf%", "slo", _doc("slo", "total_score.pass", "-inf%"),
         "{file}: total_score.pass: must be a finite number, got -inf"),
    Case("2: tests.yaml limits error_rate .nan", "workload", _doc("workload", "performance.limits.error_rate", math.nan),
         "{file}: performance.limits.error_rate: .nan is not a finite number"),
    Case("2: metricScore NaN", "perfspec", _with("perfspec", '"metricScore": 50', '"metricScore": NaN'),
         "{file}: indicators[0].grading.metricScore: NaN is not a finite number"),
    Case("2: --retry-budget nan", "perfspec", dump(KINDS["perfspec"], KINDS["perfspec"].make()),
         "command line: --retry-budget: must be a finite number, got nan", ("--retry-budget", "nan")),
    Case("2: --timeout nan", "perfspec", dump(KINDS["perfspec"], KINDS["perfspec"].make()),
         "command line: --timeout: must be a finite number, got nan", ("--timeout", "nan")),
    Case("2: --duration inf", "workload", dump(KINDS["workload"], KINDS["workload"].make()),
         "command line: --duration: must be a finite number, got inf", ("--duration", "inf")),
    Case("3: slo.yaml second total_score", "slo", dump(KINDS["slo"], KINDS["slo"].make()) + "total_score: {pass: '0%'}\n",
         "{file}: total_score: is given twice with different values"),
    Case("3: shipyard second stages", "shipyard", dump(KINDS["shipyard"], KINDS["shipyard"].make())
         + "stages: [{name: staging, deployment_strategy: direct}]\n", "{file}: stages: is given twice with different values"),
    Case("3: perfspec second objectives", "perfspec", _with("perfspec", '"objectives": {', '"objectives": {"pass": 0, '
                                                            '"warning": 0}, "objectives": {'),
         "{file}: objectives: is given twice with different values"),
    Case("4: PromQL quote context unclear", "sli", _doc("sli", "indicators.p95", 'm{h="$handler}'),
         "{file}: indicators.p95: the string opened at offset 4 is never closed", ("--sli-provider", "prometheus",
                                                                                   "--prometheus-url", "http://127.0.0.1:9")),
    Case("5: window ends 2 h in the future", "perfspec", dump(KINDS["perfspec"], KINDS["perfspec"].make()),
         "command line: --end: window end", ("--start", str(round(time.time() - 60)), "--end", str(round(time.time() + 7200)))),
    Case("7: Dynatrace form not understood", "sli", _doc("sli", "indicators.p95", "MV2;Percent;metricSelector=x:avg"),
         "{file}: indicators.p95: MV2 needs", ("--sli-provider", "dynatrace", "--dynatrace-url", "http://127.0.0.1:9")),
    Case("7: a placeholder value that breaks a Dynatrace form", "sli",
         dump(KINDS["sli"], {"indicators": {"p95": "USQL;COLUMN_CHART;$DEPLOYMENT;SELECT x FROM usersession",
                                            "errors": "metricSelector=builtin:service.errors.total.rate:avg"}}),
         "{file}: indicators.p95: after its placeholders were filled: USQL COLUMN_CHART needs the dimension",
         ("--sli-provider", "dynatrace", "--dynatrace-url", "http://127.0.0.1:9")),
    Case("9: perfspec not UTF-8", "perfspec", b'{"indicators":[\xff]}', "{file}: is not UTF-8 text: byte 0xff at line 1"),
    Case("9: 100,000 nested arrays", "perfspec", "[" * 100_000 + "]" * 100_000,
         "{file}: invalid JSON: nested more than 64 levels deep"),
    Case("9: alias bomb under an SLO filter", "slo", "filter:\n  " + BOMB.replace("\n", "\n  ") + "objectives: []\n",
         "{file}: filter.f: expands to more than 100,000 values"),
    Case("9: start_unix 1e300", "testrun", _doc("testrun", "start_unix", 1e300),
         "{file}: start_unix: must be between 0 and 2.53402e+11, got 1e+300"),
    Case("9: number_of_comparison_results 10**30", "slo", _doc("slo", "comparison.number_of_comparison_results", 10**30),
         "{file}: comparison.number_of_comparison_results: must be between 1 and 1000"),
    Case("9: project: 123 in a testrun context", "testrun", _doc("testrun", "context.project", 123),
         "{file}: context.project: must be a string, got 123"),
    # Each source of a merged context is named for its own values: the flag was blamed on testrun.json.
    Case("9: a bad --project next to a good testrun.json", "testrun", dump(KINDS["testrun"], KINDS["testrun"].make()),
         "command line: project: 'BAD' is not a DNS-1123 label", ("--project", "BAD")),
    Case("9: a bad project in testrun.json", "testrun", _doc("testrun", "context.project", "BAD"),
         "{file}: context.project: 'BAD' is not a DNS-1123 label"),
    Case("9: an unknown verdict in evaluation.json", "evaluation", _doc("evaluation", "verdict", "maybe"),
         "{file}: verdict: 'maybe' is not one of pass, warning, fail, error"),  # it was blamed on --verdict
    Case("9: an unknown verdict given as --verdict", "evaluation", dump(KINDS["evaluation"], KINDS["evaluation"].make()),
         "command line: --verdict: 'maybe' is not one of", ("--verdict", "maybe")),
    Case("9: a bad strategy in deployment.json", "deployment", _doc("deployment", "context.deployment_strategy", "canary"),
         "{file}: context.deployment_strategy: 'canary' is not one of"),
    Case("9: --out-dir naming an existing file", "perfspec", dump(KINDS["perfspec"], KINDS["perfspec"].make()),
         "command line: --out-dir: '{perfspec.json}' is a file, not a folder", ("--out-dir", "{perfspec.json}")),
    # Text no UTF-8 can carry (half a surrogate pair) used to be read, judged, stored in the history and
    # then crash the summary writer: exit 4 "internal error" with a history row and half the outputs.
    Case("9: a lone surrogate in a perfspec id", "perfspec", _doc("perfspec", "indicators[0].id", "\ud800"),
         "{file}: indicators[0].id: is not valid Unicode text"),
    Case("9: a lone surrogate in an sli.yaml query", "sli", _doc("sli", "indicators.p95", "up\ud800"),
         "{file}: indicators.p95: is not valid Unicode text"),
    Case("9: a lone surrogate in testrun.json context.tag", "testrun", _doc("testrun", "context.tag", "v\udcff"),
         "{file}: context.tag: is not valid Unicode text"),
    Case("9: a flag that is not UTF-8 (--tag $'v\\xff')", "perfspec", dump(KINDS["perfspec"], KINDS["perfspec"].make()),
         "command line: --tag: 'v\\udcff' is not UTF-8 text", ("--tag", "v\udcff")),
    Case("9: a file name that is not UTF-8", "perfspec", dump(KINDS["perfspec"], KINDS["perfspec"].make()),
         "command line: argument 8: '\\udcffout' is not UTF-8 text", ("\udcffout",)),
    Case("9: --flag=value that is not UTF-8", "perfspec", dump(KINDS["perfspec"], KINDS["perfspec"].make()),
         "command line: --image: 'carts\\udcff' is not UTF-8 text", ("--image=carts\udcff",)),
]


def _family() -> list[Case]:
    """The same fault in every file type, and every non-finite or oversized value in every numeric field."""
    cases: list[Case] = []
    for kind in KINDS.values():
        valid = dump(kind, kind.make())
        first = next(iter(kind.make()))
        cases += [
            Case(f"{kind.name}: not UTF-8", kind.name, valid.encode() + b"\n\xc3\x28", "{file}: is not UTF-8 text"),
            Case(f"{kind.name}: nested too deep", kind.name, ("a: " if kind.yaml else "") + "[" * 3000 + "]" * 3000,
                 "{file}: invalid " + ("YAML" if kind.yaml else "JSON") + ": nested more than 64 levels deep"),
            Case(f"{kind.name}: 70 levels", kind.name, _doc(kind.name, first, json.loads("[" * 70 + "]" * 70)),
                 "{file}: " + first + "[0][0]"),
            Case(f"{kind.name}: too large", kind.name, valid + " " * (16 * 1024 * 1024), "{file}: is larger than 16 MiB"),
            Case(f"{kind.name}: repeated key", kind.name, _repeat(kind, valid, first),
                 "{file}: " + first + ": is given twice with different values"),
            Case(f"{kind.name}: NaN literal", kind.name, _doc(kind.name, first, math.nan),
                 "{file}: " + first + (": .nan" if kind.yaml else ": NaN") + " is not a finite number"),
            Case(f"{kind.name}: infinity literal", kind.name, _doc(kind.name, first, -math.inf),
                 "{file}: " + first + (": -.inf" if kind.yaml else ": -Infinity") + " is not a finite number"),
            Case(f"{kind.name}: 1e400", kind.name, _doc(kind.name, first, "HUGE").replace(
                "HUGE" if kind.yaml else '"HUGE"', "1.0e+400" if kind.yaml else "1e400"),
                "{file}: " + first + (": 1.0e+400" if kind.yaml else ": 1e400") + " is not a finite number"),
        ]
        cases.append(Case(f"{kind.name}: lone surrogate", kind.name, _doc(kind.name, first, "x\udfff"),
                          "{file}: " + first + ": is not valid Unicode text"))
        if kind.yaml:
            cases.append(Case(f"{kind.name}: alias bomb", kind.name, BOMB, "{file}: f: expands to more than 100,000 values"))
        for path in kind.numeric:
            for label, value in (("NaN", math.nan), ("+inf", math.inf), ("-inf", -math.inf), ("1e400", "HUGE"),
                                 ("10**30", 10**30)):
                text = _doc(kind.name, path, value)
                if value == "HUGE":
                    text = text.replace("HUGE" if kind.yaml else '"HUGE"', "1.0e+400" if kind.yaml else "1e400")
                cases.append(Case(f"{kind.name}: {path} = {label}", kind.name, text, "{file}: " + path + ": "))
    for flag, argv_kind in (("--timeout", "perfspec"), ("--retry-budget", "perfspec"), ("--start", "perfspec"),
                            ("--end", "perfspec"), ("--duration", "workload"), ("--health-timeout", "workload"),
                            ("--users", "workload"), ("--loops", "workload")):
        for value in ("nan", "inf", "-inf", "1e400", "1e30"):
            cases.append(Case(f"flag {flag} {value}", argv_kind, dump(KINDS[argv_kind], KINDS[argv_kind].make()),
                              f"command line: {flag}: ", (flag, value)))
    return cases


def _repeat(kind: Kind, valid: str, key: str) -> str:
    """``valid`` with its first top-level key given a second time, with another value."""
    if kind.yaml:
        return valid + f"{key}: {yaml.safe_dump('another', default_style=None).splitlines()[0]}\n"
    return valid.replace("{", '{"' + key + '": "another", ', 1)


CASES = ISSUE + _family()


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_exits_2_with_one_line_and_changes_nothing(tmp_path: Path, target: str, case: Case) -> None:
    root = Path.cwd()
    seed_history(root)
    kind = KINDS[case.kind]
    files = {k.filename: str(root / k.filename) for k in KINDS.values()}
    extra = tuple(a.replace("{perfspec.json}", files["perfspec.json"]) for a in case.extra)
    outcome = run(root, kind, case.text, target=target, extra=extra)
    assert outcome.code == ExitCode.BAD_INPUT, outcome.output
    expected = "error: " + case.message.replace("{file}", files[kind.filename]).replace(
        "{perfspec.json}", files["perfspec.json"])
    lines = outcome.error_lines()
    assert len(lines) == 1 and lines[0].startswith(expected), outcome.output
    promise(outcome, kind, root)
    assert outcome.after == outcome.before


@pytest.mark.parametrize("kind", list(KINDS.values()), ids=list(KINDS))
def test_the_valid_documents_keep_the_promise(target: str, kind: Kind) -> None:
    """The family's baseline: every valid document runs to a verdict (not bad input)."""
    root = Path.cwd()
    seed_history(root)
    outcome = run(root, kind, dump(kind, kind.make()), target=target)
    assert outcome.code in kind.codes, outcome.output
    promise(outcome, kind, root)


def test_the_future_window_queried_nothing(tmp_path: Path) -> None:
    """Item 5: besides exit 2, no request reached the source (a Prometheus that records requests)."""
    seen: list[str] = []

    class Recorder(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            seen.append(self.path)
            self.send_response(500)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        root = Path.cwd()
        seed_history(root)
        (root / "sli.yaml").write_text("indicators: {p95: 'up', errors: 'up'}\n")
        now = time.time()
        outcome = run(root, KINDS["slo"], dump(KINDS["slo"], KINDS["slo"].make()), argv=(
            "evaluate", *CTX_FLAGS, "--out-dir", "out", "--slo", "{file}", "--sli", "{sli.yaml}",
            "--prometheus-url", f"http://127.0.0.1:{server.server_port}", "--start", str(now - 60),
            "--end", str(now + 7200)))
    finally:
        server.shutdown()
        server.server_close()
    assert outcome.code == ExitCode.BAD_INPUT and "--end: window end" in outcome.output, outcome.output
    assert seen == [] and outcome.after == outcome.before


@pytest.mark.parametrize(("kind", "in_the_way", "folder"), [
    ("perfspec", "out/evaluation.json", True), ("perfspec", "out/junit-evaluation.xml", True),
    ("perfspec", "out/evaluation-summary.txt", True), ("perfspec", "out/events", False),
    ("perfspec", "out/events/evaluation-done.json", True),
    ("shipyard", "out/promotion.json", True), ("shipyard", "out/events", False),
    ("workload", "out/testrun.json", True), ("workload", "out/junit-tests.xml", True),
    ("workload", "out/events/tests-finished.json", True),
])
def test_an_output_that_cannot_be_written_is_bad_input_before_the_step_acts(
        target: str, platform: FakePlatform, kind: str, in_the_way: str, folder: bool) -> None:
    """Issue 11 item 9's class: a folder where a step writes a document (or a file where its events
    folder goes) was found by the writer after the step had acted: exit 4 "internal error" after the
    history row was written, after evaluation-done had moved traffic, after the tests had run. Now it is
    bad input naming the path before anything is queried, stored, sent or flipped."""
    root = Path.cwd()
    seed_history(root)
    blocker = root / in_the_way
    if folder:
        blocker.mkdir(parents=True)
    else:
        blocker.parent.mkdir(parents=True, exist_ok=True)
        blocker.write_text("x")
    calls = len(platform.calls)
    outcome = run(root, KINDS[kind], dump(KINDS[kind], KINDS[kind].make()), target=target,
                  extra=("--test-strategy", "performance") if kind == "workload" else ())
    assert outcome.code == ExitCode.BAD_INPUT, outcome.output
    assert len(outcome.error_lines()) == 1 and f"error: {in_the_way}: " in outcome.error_lines()[0], outcome.output
    promise(outcome, KINDS[kind], root)
    assert outcome.after == outcome.before
    assert [c for c in platform.calls[calls:] if c[0] in ("set_weights", "mark", "apply")] == []
