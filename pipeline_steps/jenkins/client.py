"""Talk to a Jenkins controller through python-jenkins: create or update jobs, Build Now with
parameters, follow the queue item to the build, stream its console and read its test results.

Why a wrapper: python-jenkins raises its own exceptions (and lets requests' connection errors
through), folds 401/403/500 into one message that may echo the server's body, and has no
progressive-console call. Here every failure becomes one of ours with a documented exit code,
messages are redacted of the API token, and the console is followed with
``logText/progressiveText`` the way Jenkins' own UI does.
"""

from __future__ import annotations

import codecs
import importlib
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any
from xml.etree import ElementTree

from pipeline_steps.errors import BadInputError, ExitCode, InfrastructureError
from pipeline_steps.secrets import Secret, longest, redact_all

# Jenkins build result -> our exit code (README "Jenkins"); anything else is an infrastructure error.
RESULT_EXIT_CODES: dict[str, ExitCode] = {
    "SUCCESS": ExitCode.OK,
    "UNSTABLE": ExitCode.WARNING,
    "FAILURE": ExitCode.FAIL,
    "NOT_BUILT": ExitCode.FAIL,
    "ABORTED": ExitCode.ABORTED,
}


@dataclass(frozen=True)
class JenkinsSettings:
    """Where Jenkins is and who we are there."""

    url: str
    """Base URL of the controller (``JENKINS_URL``)."""
    user: str = ""
    """User the API token belongs to (``JENKINS_USER``); empty: anonymous."""
    token: Secret | None = None
    """API token (``JENKINS_API_TOKEN`` or ``--token-file``); prints as ***."""
    timeout_s: float = 30.0
    """Per-request timeout."""


@dataclass(frozen=True)
class TestSummary:
    """The build's JUnit totals as Jenkins' testReport counts them."""

    passed: int
    failed: int
    skipped: int
    failed_cases: tuple[str, ...]

    def line(self) -> str:
        return f"tests: {self.passed} passed, {self.failed} failed, {self.skipped} skipped"


@dataclass(frozen=True)
class BuildOutcome:
    job: str
    number: int
    url: str
    result: str
    tests: TestSummary | None

    @property
    def exit_code(self) -> ExitCode:
        return RESULT_EXIT_CODES.get(self.result, ExitCode.INFRA)


class JenkinsClient:
    """One controller. ``server`` may be passed (tests); otherwise python-jenkins is built here."""

    def __init__(self, settings: JenkinsSettings, server: Any = None) -> None:
        if settings.token is not None and settings.user and settings.token.user != settings.user:
            # sent as HTTP Basic credentials: base64(user:token) is one of its spellings to mask
            settings = replace(settings, token=settings.token.with_user(settings.user))
        self.settings = settings
        if server is None:
            jenkins = _python_jenkins()
            token = settings.token.reveal() if settings.token else None
            server = jenkins.Jenkins(settings.url, username=settings.user or None, password=token,
                                     timeout=settings.timeout_s, retries=0)
        self._server = server

    @contextmanager
    def _calling(self, what: str, job: str | None = None) -> Iterator[None]:
        """Wrap python-jenkins/requests failures of one call into our tree (and redact the token)."""
        import requests

        jenkins = _python_jenkins()

        def clean(err: BaseException) -> str:
            return redact_all(str(err).splitlines()[0] if str(err) else type(err).__name__, [self.settings.token])

        try:
            yield
        except jenkins.NotFoundException as err:
            if job is not None:
                raise BadInputError("JOB", job, f"no such job on {self.settings.url}") from err
            raise InfrastructureError("jenkins", f"{what}: not found (404)") from err
        except jenkins.JenkinsException as err:
            message = clean(err)
            if "[401]" in message or "[403]" in message:
                raise InfrastructureError(
                    "jenkins", f"{what}: authentication refused by {self.settings.url} "
                    f"({'401' if '[401]' in message else '403'}); check JENKINS_USER and the API token") from err
            raise InfrastructureError("jenkins", f"{what}: {message}") from err
        except requests.HTTPError as err:  # python-jenkins re-raises statuses it has no exception for (400, 409...)
            status = err.response.status_code if err.response is not None else "?"
            raise InfrastructureError("jenkins", f"{what}: {self.settings.url} answered HTTP {status}") from err
        except requests.RequestException as err:
            raise InfrastructureError("jenkins", f"{what}: cannot reach {self.settings.url}: {type(err).__name__}") from err

    # -- jobs ------------------------------------------------------------------------------------
    def version(self) -> str:
        with self._calling("version"):
            self._server.get_whoami()  # get_version alone does not check credentials
            return str(self._server.get_version())

    def job_exists(self, name: str) -> bool:
        with self._calling(f"look up job {name}"):
            return bool(self._server.job_exists(name))

    def upsert_job(self, name: str, config_xml: str) -> str:
        """Create ``name`` or update its config.xml; returns created | updated | unchanged."""
        with self._calling(f"sync job {name}"):
            if not self._server.job_exists(name):
                self._server.create_job(name, config_xml)
                return "created"
            if _normalised(self._server.get_job_config(name)) == _normalised(config_xml):
                return "unchanged"
            self._server.reconfig_job(name, config_xml)
            return "updated"

    # -- builds ----------------------------------------------------------------------------------
    def trigger(self, job: str, params: dict[str, str]) -> int:
        """Build Now (with parameters when given); returns the queue item number.

        The job's declared parameters decide the endpoint: Jenkins refuses a plain ``build`` of a
        parameterized job (400) and ``buildWithParameters`` of one without parameters (500), and it
        silently drops a value for a parameter the job does not declare, so a typo in a name is
        refused here, before anything is queued. So is a job that cannot be built.
        """
        import requests

        if not self.job_exists(job):
            raise BadInputError("JOB", job, f"no such job on {self.settings.url}")
        with self._calling(f"look up job {job}", job=job):
            info = self._server.get_job_info(job)
        if info.get("buildable") is not True:  # "Build" of a multibranch project re-scans it: no build to follow
            raise BadInputError("JOB", job, "is not a buildable job (a multibranch project, a folder or disabled); "
                                f"for a multibranch job name its branch, e.g. {job}/main")
        declared = [d.get("name", "") for prop in info.get("property") or [] for d in prop.get("parameterDefinitions") or []]
        unknown = sorted(set(params) - set(declared))
        if unknown:
            takes = f"it takes {', '.join(declared)}" if declared else "it takes no parameters"
            raise BadInputError("-p", unknown[0], f"job {job} does not declare this parameter; {takes}")
        with self._calling(f"trigger {job}", job=job):
            if params or not declared:
                return int(self._server.build_job(job, parameters=params or None))
            # Build Now of a parameterized job with its defaults: python-jenkins would POST ``build``.
            return _queue_id(self._server.jenkins_request(requests.Request("POST", self._job_url(job, "buildWithParameters"))))

    def _job_url(self, job: str, rest: str) -> str:
        """``job/a/job/b/<rest>`` with python-jenkins' own folder handling and quoting."""
        folder_url, short_name = self._server._get_job_folder(job)
        return str(self._server._build_url("%(folder_url)sjob/%(short_name)s/" + rest,
                                           {"folder_url": folder_url, "short_name": short_name}))

    def wait_for_build(self, queue_id: int, timeout_s: float, poll_s: float = 0.5) -> int:
        """Follow a queue item until it becomes a build; returns the build number."""
        deadline = time.monotonic() + timeout_s
        while True:
            with self._calling(f"queue item {queue_id}"):
                item = self._server.get_queue_item(queue_id)
            if item.get("cancelled"):
                raise InfrastructureError("jenkins", f"queue item {queue_id} was cancelled before it started")
            executable = item.get("executable")
            if executable:
                return int(executable["number"])
            if time.monotonic() >= deadline:
                why = item.get("why") or "still queued"
                raise InfrastructureError("jenkins", f"queue item {queue_id} did not start within {timeout_s:.0f}s: {why}")
            time.sleep(poll_s)

    def stream_console(self, job: str, number: int, write: Callable[[str], None], *,
                       timeout_s: float, poll_s: float = 0.5) -> None:
        """Write the console as it grows (``logText/progressiveText``) until Jenkins says there is no more."""
        import requests

        # python-jenkins has no progressive-console call; send it through its session (auth, crumb).
        url = self._job_url(job, f"{number}/logText/progressiveText")
        start = 0
        held = ""  # the last characters seen, which may be the start of a token the next piece completes
        # `start` counts bytes, so a piece may end inside a UTF-8 character: decode the stream, not each piece
        decoder: codecs.IncrementalDecoder | None = None
        deadline = time.monotonic() + timeout_s
        while True:
            with self._calling(f"console of {job} #{number}"):
                response = self._server.jenkins_request(requests.Request("GET", url, params={"start": start}))
            more = response.headers.get("X-More-Data") == "true"
            if decoder is None:
                decoder = codecs.getincrementaldecoder(response.encoding or "utf-8")(errors="replace")
            text = redact_all(held + decoder.decode(response.content, final=not more), [self.settings.token])
            # hold back what could be the start of the longest spelling of the token (its base64 form, ...)
            keep = longest([self.settings.token]) - 1 if more and self.settings.token else 0
            cut = max(0, len(text) - keep)  # a piece shorter than the token is held whole, never split
            held = text[cut:]
            if text[:cut]:
                write(text[:cut])
            start = int(response.headers.get("X-Text-Size", start + len(response.content)))
            if not more:
                return
            if time.monotonic() >= deadline:
                raise InfrastructureError("jenkins", f"{job} #{number} still running after {timeout_s:.0f}s")
            time.sleep(poll_s)

    def outcome(self, job: str, number: int, *, timeout_s: float = 30.0, poll_s: float = 0.5) -> BuildOutcome:
        """The finished build's result and test summary (waits briefly for ``building`` to clear)."""
        deadline = time.monotonic() + timeout_s
        while True:
            with self._calling(f"build {job} #{number}"):
                info = self._server.get_build_info(job, number)
            if not info.get("building") or time.monotonic() >= deadline:
                break
            time.sleep(poll_s)
        result = info.get("result") or ("BUILDING" if info.get("building") else "UNKNOWN")
        return BuildOutcome(job, number, str(info.get("url", "")), str(result), self.test_summary(job, number))

    def test_summary(self, job: str, number: int) -> TestSummary | None:
        """Totals from the build's testReport; None when the build published no JUnit."""
        with self._calling(f"test report of {job} #{number}"):
            report = self._server.get_build_test_report(job, number)
        if not report:
            return None
        failed = tuple(
            f"{case.get('className', '')}.{case.get('name', '')}"
            for suite in report.get("suites", []) for case in suite.get("cases", [])
            if case.get("status") in ("FAILED", "REGRESSION")
        )
        return TestSummary(int(report.get("passCount", 0)), int(report.get("failCount", 0)),
                           int(report.get("skipCount", 0)), failed)


def _python_jenkins() -> Any:
    """The python-jenkins module, imported on first use (keeps ``--help`` fast).

    By name through importlib: this repository's top-level ``jenkins/`` folder (controller
    setup) would otherwise be taken for it by mypy and ruff; at run time the installed regular
    package always wins over a folder without ``__init__.py``.
    """
    return importlib.import_module("jenkins")


def _queue_id(response: Any) -> int:
    """The queue item number from Build Now's ``Location: <jenkins>/queue/item/N/`` header."""
    location = response.headers.get("Location", "")
    if not location.rstrip("/").rsplit("/", 1)[-1].isdigit():
        raise InfrastructureError("jenkins", f"Build Now answered without a queue item location ({location!r})")
    return int(location.rstrip("/").rsplit("/", 1)[-1])


def _normalised(xml: str) -> str:
    """config.xml by its meaning: Jenkins stores a posted config.xml with its own XML declaration
    (core's XmlFile writes ``<?xml version='1.1' encoding='UTF-8'?>``) and a client reads back text that
    differs from what it posted in declaration, comments and layout; canonical XML (C14N 2.0, stdlib)
    without comments and with whitespace stripped compares what Jenkins acts on. Text that is not XML
    compares as itself."""
    try:
        return ElementTree.canonicalize(xml_data=xml.strip(), with_comments=False, strip_text=True)
    except ElementTree.ParseError:
        return xml.strip()
