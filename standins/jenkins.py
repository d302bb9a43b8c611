"""A loopback Jenkins for tests: the REST endpoints python-jenkins (and our client) call, with the
real shapes, headers and status codes.

No Jenkins installs on this machine (no war, no Maven Central), so ``pipeline-steps jenkins``
is tested against this. What it keeps from the real server:

* every response carries ``X-Jenkins``; wrong credentials answer 401, none at all 403;
* ``crumbIssuer/api/json`` hands out a crumb and every POST without it is refused (403);
* ``createItem?name=`` (POST config.xml; 400 when the job exists, 404 under a folder that does not),
  ``job/X/config.xml`` (GET/POST); config.xml is stored the way Jenkins stores it (jenkins_model.stored_config:
  its own XML declaration and a comment line), so clients must compare it by meaning;
* ``build``/``buildWithParameters`` answer 201 with ``Location: <url>queue/item/N/``; the queue
  item has no ``executable`` until it leaves the queue after ``queue_delay_s``; as in Jenkins,
  ``build`` of a parameterized job without a form is 400, ``buildWithParameters`` of a job without
  parameters is 500, and values of undeclared parameters are dropped;
* build info with ``building``/``result``/``duration``/parameters, ``consoleText``, the
  progressive log ``logText/progressiveText?start=N`` with ``X-Text-Size``/``X-More-Data``, and
  ``testReport/api/json`` (404 when the build published none);
* ``job/X/B/stop`` aborts a running build; unknown jobs and builds answer 404;
* a multibranch project (or folder) has no ``buildable`` and no builds: its ``build`` re-scans and
  redirects (302, no queue item).

How a build of a job ends is scripted by tests with ``BuildScript`` (result, console lines
released over ``duration_s``, test cases). The JSON bodies are in ``standins/jenkins_payloads.py``.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from standins.jenkins_model import Build, BuildScript, Job, QueueItem, stored_config
from standins.jenkins_payloads import build_info, job_info, param_values, test_report

VERSION = "2.440.3"
CRUMB_FIELD = "Jenkins-Crumb"


class JenkinsStandIn:
    """Start with ``start()`` (returns the base URL) or as a context manager; ``stop()`` ends it."""

    def __init__(self, user: str = "admin", token: str = "s3cr3t-token", *, queue_delay_s: float = 0.3,
                 csrf: bool = True) -> None:
        self.user = user
        self.token = token
        self.queue_delay_s = queue_delay_s
        self.csrf = csrf
        self.crumb = "c7f1a2b3d4e5"
        self.jobs: dict[str, Job] = {}
        self.queue: dict[int, QueueItem] = {}
        self.requests: list[tuple[str, str]] = []
        """(method, path) of every request, so tests can see what the client did."""
        self._next_queue_id = 1
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> str:
        standin = self

        class Handler(_Handler):
            owner = standin

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self.url

    @property
    def url(self) -> str:
        assert self._server is not None, "not started"
        return f"http://127.0.0.1:{self._server.server_address[1]}/"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> JenkinsStandIn:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- test helpers ----------------------------------------------------------------------------
    def add_job(self, name: str, config_xml: str = "<flow-definition/>", script: BuildScript | None = None) -> Job:
        with self._lock:
            job = self.jobs[name] = Job(name, config_xml, script=script or BuildScript())
            return job

    def script(self, name: str, script: BuildScript) -> None:
        with self._lock:
            self.jobs[name].script = script

    # -- state changes (called by the handler under the lock) --------------------------------------
    def enqueue(self, job: Job, params: dict[str, str]) -> QueueItem:
        item = QueueItem(self._next_queue_id, job.name, params, time.monotonic())
        self._next_queue_id += 1
        self.queue[item.id] = item
        return item

    def advance(self, item: QueueItem) -> None:
        """A queue item leaves the queue (becomes a build) once its quiet period is over."""
        if item.build is None and time.monotonic() - item.queued >= self.queue_delay_s:
            job = self.jobs[item.job]
            item.build = Build(job.name, len(job.builds) + 1, item.params, job.script, time.monotonic())
            job.builds.append(item.build)


def _job_path(path: str) -> tuple[str, str]:
    """``/job/a/job/b/rest`` -> ("a/b", "rest"): folders use repeated ``job/<name>/`` segments."""
    parts = [p for p in path.split("/") if p]
    names: list[str] = []
    while len(parts) >= 2 and parts[0] == "job":
        names.append(parts[1])
        parts = parts[2:]
    return "/".join(names), "/".join(parts)


class _Handler(BaseHTTPRequestHandler):
    owner: JenkinsStandIn
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read ``owner.requests`` instead of stderr."""

    # -- plumbing ------------------------------------------------------------------------------
    def _send(self, status: int, body: str | bytes = b"", content_type: str = "text/plain;charset=UTF-8",
              headers: dict[str, str] | None = None) -> None:
        data = body.encode("utf-8") if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("X-Jenkins", VERSION)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _json(self, payload: Any, status: int = 200) -> None:
        self._send(status, json.dumps(payload), "application/json;charset=utf-8")

    def _not_found(self) -> None:
        self._send(404, "<html><body>Not Found</body></html>", "text/html;charset=utf-8")

    def _authorised(self) -> bool:
        header = self.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            self._send(403, "Authentication required", headers={"X-You-Are-Authenticated-As": "anonymous"})
            return False
        try:
            user, _, token = base64.b64decode(header[6:]).decode("utf-8").partition(":")
        except ValueError:
            user, token = "", ""
        if (user, token) != (self.owner.user, self.owner.token):
            self._send(401, "Invalid password/token for user: " + user,
                       headers={"WWW-Authenticate": 'Basic realm="Jenkins"'})
            return False
        return True

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    # -- dispatch ------------------------------------------------------------------------------
    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        split = urlsplit(self.path)
        query = dict(parse_qsl(split.query, keep_blank_values=True))
        body = self._body() if method == "POST" else b""
        owner = self.owner
        owner.requests.append((method, split.path))
        if not self._authorised():
            return
        if method == "POST" and owner.csrf and self.headers.get(CRUMB_FIELD) != owner.crumb:
            self._send(403, "No valid crumb was included in the request")
            return
        with owner._lock:
            self._route(method, split.path, query, body)

    def _route(self, method: str, path: str, query: dict[str, str], body: bytes) -> None:
        owner = self.owner
        if path in ("", "/"):
            self._send(200, "<html>Dashboard</html>", "text/html;charset=utf-8")
        elif path == "/api/json":
            self._json({"_class": "hudson.model.Hudson", "jobs": [
                {"_class": "org.jenkinsci.plugins.workflow.job.WorkflowJob", "name": n, "url": f"{owner.url}job/{n}/",
                 "color": "blue"} for n in sorted(owner.jobs)]})
        elif path == "/me/api/json":
            self._json({"_class": "hudson.model.User", "id": owner.user, "fullName": owner.user, "absoluteUrl":
                        f"{owner.url}user/{owner.user}"})
        elif path == "/crumbIssuer/api/json":
            if not owner.csrf:
                self._not_found()
            else:
                self._json({"_class": "hudson.security.csrf.DefaultCrumbIssuer", "crumb": owner.crumb,
                            "crumbRequestField": CRUMB_FIELD})
        elif (m := re.fullmatch(r"/queue/item/(\d+)/api/json", path)) and method == "GET":
            self._queue_item(int(m.group(1)))
        elif path.startswith("/job/") or path.endswith("/createItem"):
            self._job_route(method, path, query, body)
        else:
            self._not_found()

    def _queue_item(self, number: int) -> None:
        owner = self.owner
        item = owner.queue.get(number)
        if item is None:
            self._not_found()
            return
        owner.advance(item)
        payload: dict[str, Any] = {
            "id": item.id, "task": {"name": item.job, "url": f"{owner.url}job/{item.job}/"},
            "actions": [{"_class": "hudson.model.ParametersAction", "parameters": param_values(item.params)}],
            "blocked": False, "stuck": False, "inQueueSince": 0,
        }
        if item.build is None:
            payload.update({"_class": "hudson.model.Queue$WaitingItem", "buildable": False,
                            "why": "In the quiet period. Expires in 0.3 sec"})
        else:
            payload.update({"_class": "hudson.model.Queue$LeftItem", "cancelled": False,
                            "executable": {"_class": "org.jenkinsci.plugins.workflow.job.WorkflowRun",
                                           "number": item.build.number,
                                           "url": f"{owner.url}job/{item.job}/{item.build.number}/"}})
        self._json(payload)

    def _job_route(self, method: str, path: str, query: dict[str, str], body: bytes) -> None:
        owner = self.owner
        name, rest = _job_path(path)
        if rest == "createItem" and method == "POST":
            new = f"{name}/{query.get('name', '')}" if name else query.get("name", "")
            if not query.get("name"):
                self._send(400, "Query parameter 'name' is required")
            elif new in owner.jobs:
                self._send(400, f"A job already exists with the name '{new}'")
            else:
                parent = new.rsplit("/", 1)[0] if "/" in new else ""
                if parent and (parent not in owner.jobs or not owner.jobs[parent].is_folder):
                    self._not_found()  # createItem under a folder that does not exist: Jenkins answers 404
                    return
                owner.jobs[new] = Job(new, stored_config(body.decode("utf-8")))
                self._send(200)
            return
        job = owner.jobs.get(name)
        if job is None:
            self._not_found()
            return
        if rest == "api/json":
            self._json(job_info(owner, job))
        elif rest == "config.xml":
            if method == "POST":
                job.config_xml = stored_config(body.decode("utf-8"))
                self._send(200)
            else:
                self._send(200, job.config_xml, "application/xml")
        elif rest in ("build", "buildWithParameters") and method == "POST":
            params = dict(query)
            params.update(dict(parse_qsl(body.decode("utf-8"))))
            params.pop("token", None)
            if job.is_folder:  # Jenkins schedules a scan and sends the browser back: no queue item Location
                self._send(302, headers={"Location": f"{owner.url}job/{job.name}/"})
                return
            parameterized = bool(job.parameter_names())
            if rest == "buildWithParameters" and not parameterized:
                self._send(500, "java.lang.IllegalStateException: This build is not parameterized!")
                return
            if rest == "build" and parameterized and "json" not in params:
                # Jenkins answers a plain build of a parameterized job with its form's complaint.
                self._send(400, "Nothing is submitted")
                return
            # Jenkins drops values of parameters the job does not declare (SECURITY-170).
            params = {k: v for k, v in params.items() if k in job.parameter_names()}
            item = owner.enqueue(job, params)
            self._send(201, headers={"Location": f"{owner.url}queue/item/{item.id}/"})
        else:
            self._build_route(method, job, rest, query)

    def _build_route(self, method: str, job: Job, rest: str, query: dict[str, str]) -> None:
        m = re.fullmatch(r"(\d+)(?:/(.*))?", rest)
        build = job.builds[int(m.group(1)) - 1] if m and 0 < int(m.group(1)) <= len(job.builds) else None
        if build is None or m is None:
            self._not_found()
            return
        what = m.group(2) or ""
        if what == "":
            self._send(200, f"<html>{job.name} #{build.number}</html>", "text/html;charset=utf-8")
        elif what == "api/json":
            self._json(build_info(self.owner, build))
        elif what == "consoleText":
            self._send(200, build.log())
        elif what == "logText/progressiveText":
            text = build.log().encode("utf-8")
            start = int(query.get("start") or 0)
            headers = {"X-Text-Size": str(len(text))}
            if build.building:
                headers["X-More-Data"] = "true"
            self._send(200, text[start:], headers=headers)
        elif what == "testReport/api/json":
            if build.building or build.script.tests is None:
                self._not_found()
            else:
                self._json(test_report(build.script.tests))
        elif what == "stop" and method == "POST":
            if build.building:
                build.aborted_at = build.elapsed()
            self._send(302, headers={"Location": f"{self.owner.url}job/{job.name}/{build.number}/"})
        else:
            self._not_found()
