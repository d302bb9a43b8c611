"""No secret, in any spelling, in any output — whatever error path a run takes (issue 12.5).

Aspects: a ``Secret`` knows every spelling a message can carry (raw, percent-encoded in either hex
case, JSON/Python-escaped, base64 of itself and of ``user:secret``) and masks them all; URLs lose
their userinfo before anything checks or prints them (a bad scheme, an unparsable host, no ``//``,
an unencoded ``/`` in the password) and a percent-encoded password is sent decoded.

The leak test runs the real CLI in a process of its own through every error path we know, each
with distinctive secrets — bad URL schemes (Prometheus, Dynatrace, Jenkins), a Prometheus and a
Dynatrace that quote the rejected Authorization header (and the URL's credentials, raw and
encoded) in their errors and in metric labels, a dead Prometheus, a Jenkins whose build console
prints the token in every spelling, a Git URL with a token for sync-jobs, a history URL with a
password, a kubeconfig ``exec`` plugin that fails printing its token, a Kubernetes API server that
quotes the bearer token — and then greps stdout, stderr and every file written (documents, JUnit,
summary, events, the SQLite history) for every spelling of every secret.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote

import pytest

from pipeline_steps.documents.evaluation import Window
from pipeline_steps.errors import BadInputError
from pipeline_steps.platforms.local.procs import free_port
from pipeline_steps.secrets import MASK, Secret, redact_all, split_url
from pipeline_steps.sources.prometheus import PrometheusSource
from standins.jenkins import BuildScript, JenkinsStandIn

ROOT = Path(__file__).resolve().parents[1]

PROM_USER, PROM_PASS = "promuser", "pr0m/P@ss:w0rd+x%"  # '/', '@', ':', '+', '%' all need encoding in a URL
PROM_FLAG_PASS = "flag-pw-Q1x9"
PROM_TOKEN = "prom-bearer-t0ken-7H"
DT_TOKEN = "dt0c01.SECRETDYNATRACE4242"
JENKINS_USER, JENKINS_TOKEN = "admin", "11jenkins-api-t0ken22"
GIT_TOKEN = "ghp_gitT0kenInAUrl99"
HISTORY_PASS = "hist/pw-77q"  # an unencoded "/" ends the authority early for urlsplit
KUBE_EXEC_TOKEN = "kube-exec-t0ken-ZZ31"
KUBE_STATIC_TOKEN = "kube-static-t0ken-YY27"

SECRETS = [Secret(PROM_PASS, PROM_USER), Secret(PROM_FLAG_PASS, PROM_USER), Secret(PROM_TOKEN),
           Secret(DT_TOKEN), Secret(JENKINS_TOKEN, JENKINS_USER), Secret(GIT_TOKEN), Secret(HISTORY_PASS, "hist"),
           Secret(KUBE_EXEC_TOKEN), Secret(KUBE_STATIC_TOKEN)]
PROM_URL_AUTH = f"{PROM_USER}:{quote(PROM_PASS, safe='')}@"


# -- the spellings and the URL split ----------------------------------------------------------

def test_every_spelling_is_masked() -> None:
    secret = Secret("p/w +x", "gate")
    b64 = base64.b64encode(b"gate:p/w +x").decode()
    spelt = ["p/w +x", "p%2Fw%20%2Bx", "p%2fw%20%2bx", "p/w%20%2Bx", "p%2Fw+%2Bx", b64, b64.rstrip("="),
             base64.urlsafe_b64encode(b"gate:p/w +x").decode(), base64.b64encode(b"p/w +x").decode()]
    for form in spelt:
        assert form in secret.forms()
        assert redact_all(f"before {form} after", [secret]) == f"before {MASK} after"
    assert json.dumps("a\"b\\c")[1:-1] in Secret('a"b\\c').forms()
    assert Secret("x" * 12, "u").longest() == len(base64.b64encode(b"u:" + b"x" * 12).decode())


@pytest.mark.parametrize(("given", "url", "user", "password"), [
    ("htp://user:pass@host", "htp://host", "user", "pass"),
    ("http://u:p%2Fw%40x@h:9/x?a=b@c", "http://h:9/x?a=b@c", "u", "p/w@x"),
    ("http://u:p/w@host/x", "http://host/x", "u", "p/w"),
    ("user:pw@host:9090", "host:9090", "user", "pw"),
    ("//u:p@h", "//h", "u", "p"),
    ("http://tok@h", "http://h", "tok", None),
    ("http://h/x?q=a@b", "http://h/x?q=a@b", "", None),
    # a "#" or "?" typed into a password ends the authority early for every parser
    ("http://u:p#w@h:9", "http://h:9", "u", "p#w"),
    ("htp://u:p?w@h", "htp://h", "u", "p?w"),
    ("http://u:9090#w@h/x", "http://h/x", "u", "9090#w"),
    ("u:p#w@h:9090", "h:9090", "u", "p#w"),
    ("http://h:9/x?q=a@b", "http://h:9/x?q=a@b", "", None),
])
def test_userinfo_leaves_the_url_decoded(given: str, url: str, user: str, password: str | None) -> None:
    parts = split_url(given)
    assert (parts.url, parts.user) == (url, user)
    masked = parts.url.replace("//", f"//{user}:{MASK}@", 1) if "//" in given else f"{user}:{MASK}@{parts.url}"
    assert parts.shown == (masked if password else given)
    assert (parts.password.reveal() if parts.password else None) == password
    if parts.password:
        raw = given.split("//", 1)[-1].rsplit("@", 1)[0].split(":", 1)[1] if "//" in given else given.split(":", 1)[1]
        assert raw.split("@")[0] in parts.password.forms()  # as the user typed it, encoded or not


@pytest.mark.parametrize("given", ["http://u:a/b#SECRETX@h", "htp://u:a/b?SECRETX@h", "http://u:SECRETX@[::1",
                                   "http://u:a/b#SECRETX@h:99999"])
def test_a_refused_url_never_shows_what_may_be_a_userinfo(given: str) -> None:
    """A URL that no parser can read may hold a password ``split_url`` could not tell apart."""
    with pytest.raises(BadInputError) as caught:
        split_url(given).check_http("--prometheus-url", None)
    assert "SECRETX" not in str(caught.value) and "a/b" not in str(caught.value)


@contextmanager
def http_server(answer: Callable[[BaseHTTPRequestHandler], tuple[int, bytes]]) -> Iterator[int]:
    """A loopback server answering every request with ``answer(handler)``; yields its port."""

    class Handler(BaseHTTPRequestHandler):
        def _any(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0") or 0))
            status, body = answer(self)
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PUT = do_PATCH = _any

        def log_message(self, *args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_port
    finally:
        server.shutdown()
        server.server_close()


def test_a_percent_encoded_password_is_sent_decoded() -> None:
    seen: list[str] = []

    def answer(handler: BaseHTTPRequestHandler) -> tuple[int, bytes]:
        seen.append(handler.headers.get("Authorization", ""))
        return 200, json.dumps({"status": "success", "data": {"resultType": "vector", "result": []}}).encode()

    with http_server(answer) as port:
        PrometheusSource(f"http://{PROM_URL_AUTH}127.0.0.1:{port}", retry_budget_s=0.5).fetch("up", Window(0, 10))
    assert seen == ["Basic " + base64.b64encode(f"{PROM_USER}:{PROM_PASS}".encode()).decode()]


# -- the leak test ------------------------------------------------------------------------------

def quoting(handler: BaseHTTPRequestHandler) -> str:
    """What a careless backend or proxy writes into an error: the header, its decoded credentials, encoded too."""
    header = handler.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    decoded = base64.b64decode(value).decode() if scheme == "Basic" else value
    password = decoded.split(":", 1)[-1]
    return (f"rejected Authorization: {header} ({decoded}; {quote(password, safe='')}; "
            f"{quote(password, safe='').lower()}; {json.dumps(password)}) for {handler.path}")


def prometheus_error(handler: BaseHTTPRequestHandler) -> tuple[int, bytes]:
    return 400, json.dumps({"status": "error", "errorType": "bad_data", "error": quoting(handler)}).encode()


def prometheus_labels(handler: BaseHTTPRequestHandler) -> tuple[int, bytes]:
    """A success whose series label quotes the credentials: the verdict is PASS, so the history stores it."""
    result = [{"metric": {"job": "carts", "auth": quoting(handler)}, "value": [1, "0.1"]}]
    return 200, json.dumps({"status": "success", "data": {"resultType": "vector", "result": result}}).encode()


def dynatrace_401(handler: BaseHTTPRequestHandler) -> tuple[int, bytes]:
    return 401, json.dumps({"error": {"code": 401, "message": quoting(handler)}}).encode()


def kube_401(handler: BaseHTTPRequestHandler) -> tuple[int, bytes]:
    return 401, json.dumps({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Unauthorized",
                            "message": quoting(handler), "code": 401}).encode()


class Run:
    """Runs the CLI in a process of its own; keeps every stdout and stderr."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.outputs: list[tuple[str, str]] = []
        self.codes: list[tuple[str, int]] = []

    def __call__(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> int:
        result = subprocess.run([sys.executable, "-m", "pipeline_steps", *argv], capture_output=True, text=True,
                                timeout=120, cwd=self.work, env={**_base_env(), **(env or {})})
        self.outputs += [(f"{name} stdout", result.stdout), (f"{name} stderr", result.stderr)]
        self.codes.append((name, result.returncode))
        return result.returncode


def _base_env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "PYTHONPATH", "LANG", "TMPDIR")}


def kubeconfig(path: Path, port: int, user: dict[str, object]) -> Path:
    path.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "x",
        "clusters": [{"name": "c", "cluster": {"server": f"http://127.0.0.1:{port}"}}],
        "users": [{"name": "u", "user": user}], "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}]}))
    return path


def test_no_error_path_prints_or_writes_a_secret_in_any_spelling(tmp_path: Path) -> None:
    inputs, work = tmp_path / "inputs", tmp_path / "work"
    inputs.mkdir()
    work.mkdir()
    run = Run(work)
    spec = str(ROOT / "examples" / "carts" / "perfspec" / "perfspec.json")
    context = ["--project", "sockshop", "--stage", "staging", "--service", "carts", "--start", "1795687200",
               "--end", "1795687260", "--retry-budget", "0.5"]

    def evaluate(name: str, extra: list[str], env: dict[str, str] | None = None, the_spec: str = spec) -> int:
        return run(name, ["evaluate", "--spec", the_spec, *context, "--out-dir", f"out/{name}",
                          "--history", f"out/{name}/history.sqlite", *extra], env)

    for bad in (f"htp://{PROM_URL_AUTH}prometheus:9090", f"http://{PROM_URL_AUTH}[::1", f"{PROM_USER}:{PROM_PASS}@prom:9090",
                f"http://{PROM_URL_AUTH}prometheus:port"):
        evaluate("prometheus-bad-url", ["--prometheus-url", bad])
    evaluate("prometheus-unencoded-password", ["--prometheus-url", f"http://{PROM_USER}:{PROM_PASS}@127.0.0.1:{free_port()}"])
    with http_server(prometheus_error) as port:
        evaluate("prometheus-quotes-basic-from-url", ["--prometheus-url", f"http://{PROM_URL_AUTH}127.0.0.1:{port}"])
        evaluate("prometheus-quotes-basic-from-flags", ["--prometheus-url", f"http://127.0.0.1:{port}",
                                                         "--prometheus-user", PROM_USER, "--prometheus-password-env", "PW"],
                 {"PW": PROM_FLAG_PASS})
        evaluate("prometheus-quotes-bearer", ["--prometheus-url", f"http://127.0.0.1:{port}",
                                               "--prometheus-token-env", "TOKEN"], {"TOKEN": PROM_TOKEN})
    with http_server(prometheus_labels) as port:
        evaluate("prometheus-labels-pass", ["--prometheus-url", f"http://{PROM_URL_AUTH}127.0.0.1:{port}"])
    evaluate("prometheus-down", ["--prometheus-url", f"http://{PROM_URL_AUTH}127.0.0.1:{free_port()}"])

    dynatrace_spec = inputs / "perfspec_dynatrace.json"
    dynatrace_spec.write_text(json.dumps({"spec_version": "1.0", "indicators": [{
        "id": "rt", "source": "Dynatrace", "query": {"timeseriesId": "com.dynatrace.builtin:service.responsetime"},
        "grading": {"type": "Threshold", "thresholds": {"upperSevere": 1000}, "metricScore": 100}}],
        "objectives": {"pass": 90, "warning": 75}}))
    with http_server(dynatrace_401) as port:
        evaluate("dynatrace-quotes-token", ["--dynatrace-url", f"http://127.0.0.1:{port}"], {"DT_API_TOKEN": DT_TOKEN},
                 str(dynatrace_spec))
    evaluate("dynatrace-bad-url", ["--dynatrace-url", f"htp://{PROM_URL_AUTH}dt.example"], {"DT_API_TOKEN": DT_TOKEN},
             str(dynatrace_spec))

    for history in (f"postgresql://hist:{HISTORY_PASS}@db.example/history",
                    f"postgresql://hist:{quote(HISTORY_PASS, safe='')}@db/h",
                    f"postgresql://hist@db/h?password={quote(HISTORY_PASS, safe='')}"):
        evaluate("history-url", ["--prometheus-url", "http://127.0.0.1:1", "--history", history])
        run("report-history-url", ["report", "--history", history, "--project", "sockshop", "--service", "carts",
                                   "--stage", "staging", "--out", "out/report.html"])

    jenkins_env = {"JENKINS_USER": JENKINS_USER, "JENKINS_API_TOKEN": JENKINS_TOKEN}
    b64 = base64.b64encode(f"{JENKINS_USER}:{JENKINS_TOKEN}".encode()).decode()
    console = [f"+ curl -H 'Authorization: Basic {b64}' {JENKINS_TOKEN}", f"token={quote(JENKINS_TOKEN)}",
               f"short piece {JENKINS_TOKEN[:5]}", JENKINS_TOKEN[5:], f"json {json.dumps(JENKINS_TOKEN)}"]
    with JenkinsStandIn(user=JENKINS_USER, token=JENKINS_TOKEN, queue_delay_s=0.1) as standin:
        standin.add_job("deploy", script=BuildScript(console=console, duration_s=1.0))
        run("jenkins-console", ["jenkins", "trigger", "deploy", "--url", standin.url, "--poll", "0.05"], jenkins_env)
        run("jenkins-refused", ["jenkins", "trigger", "deploy", "--url", standin.url],
            {"JENKINS_USER": JENKINS_USER, "JENKINS_API_TOKEN": JENKINS_TOKEN[::-1]})
        for url in (f"htp://{JENKINS_USER}:{JENKINS_TOKEN}@{standin.url[7:]}", f"http://{JENKINS_USER}:{JENKINS_TOKEN}@x"):
            run("jenkins-bad-url", ["jenkins", "trigger", "deploy", "--url", url], jenkins_env)
        run("sync-jobs-git-token", ["jenkins", "sync-jobs", "--url", standin.url, "--jobs-dir", str(ROOT / "jenkins" / "jobs"),
                                    "--repo-url", f"https://{GIT_TOKEN}@github.com/org/repo.git"], jenkins_env)
        run("sync-jobs-git-password", ["jenkins", "sync-jobs", "--url", standin.url,
                                       "--jobs-dir", str(ROOT / "jenkins" / "jobs"), "--repo-url",
                                       f"https://x-access-token:{GIT_TOKEN}@github.com/org/repo.git"], jenkins_env)

    plugin = inputs / "plugin.py"
    plugin.write_text(f"import sys\nsys.stderr.write('refresh failed: token={KUBE_EXEC_TOKEN}\\n')\nsys.exit(1)\n")
    exec_user = {"exec": {"apiVersion": "client.authentication.k8s.io/v1beta1", "command": sys.executable,
                          "args": [str(plugin)], "interactiveMode": "Never"}}
    kube_status = ["status", "--platform", "kubernetes", "--project", "sockshop", "--stage", "staging", "--service", "carts"]
    run("kube-exec-plugin-fails", [*kube_status, "--kubeconfig", str(kubeconfig(inputs / "exec.yaml", free_port(), exec_user))])
    with http_server(kube_401) as port:
        static = kubeconfig(inputs / "static.yaml", port, {"token": KUBE_STATIC_TOKEN})
        run("kube-quotes-bearer", [*kube_status, "--kubeconfig", str(static)])

    # The paths ran: each failed as documented (or passed, for the labels), and wrote what it writes.
    found: dict[str, set[int]] = {}
    for name, code in run.codes:
        found.setdefault(name, set()).add(code)
    codes = {name: next(iter(seen)) if len(seen) == 1 else -1 for name, seen in found.items()}  # -1: they differed
    assert codes["prometheus-bad-url"] == 2 and codes["dynatrace-bad-url"] == 2 and codes["history-url"] == 2
    assert codes["prometheus-quotes-basic-from-url"] == 4 and codes["dynatrace-quotes-token"] == 4
    assert codes["prometheus-labels-pass"] == 0 and codes["jenkins-console"] == 0, run.outputs
    assert codes["jenkins-refused"] == 4 and codes["jenkins-bad-url"] == 2 and codes["sync-jobs-git-token"] == 2
    assert codes["kube-exec-plugin-fails"] == 4 and codes["kube-quotes-bearer"] == 4
    assert codes["prometheus-unencoded-password"] == 4 and codes["report-history-url"] == 2
    written = {str(p.relative_to(work)): p.read_bytes() for p in work.rglob("*") if p.is_file()}
    for name in ("prometheus-quotes-basic-from-url", "prometheus-labels-pass", "dynatrace-quotes-token"):
        for document in ("evaluation.json", "junit-evaluation.xml", "evaluation-summary.txt", "events/evaluation-done.json"):
            assert f"out/{name}/{document}" in written, sorted(written)
    assert "out/prometheus-labels-pass/history.sqlite" in written
    assert b"rejected Authorization" in written["out/prometheus-quotes-basic-from-url/evaluation.json"]
    assert MASK.encode() in written["out/prometheus-labels-pass/evaluation.json"]  # the label, masked
    assert "logged an error" in dict(run.outputs)["kube-exec-plugin-fails stderr"]
    assert "piece" in dict(run.outputs)["jenkins-console stdout"]

    leaks = [f"{where}: {form!r}" for secret in SECRETS for form in secret.forms()
             for where, text in [*run.outputs, *((p, b.decode("utf-8", "replace")) for p, b in written.items())]
             if form in text]
    assert leaks == []
