"""JenkinsClient (python-jenkins) against the loopback Jenkins stand-in.

Aspects: Build Now with parameters follows the queue item to the build and the values arrive
verbatim; the console is streamed progressively without gaps or repeats (and a token cut across two
pieces is still masked); each build result
maps to its exit code; Build Now without parameters works on parameterized jobs (their defaults)
and on plain ones, and a parameter the job does not declare is bad input before anything is
queued; test reports are summarised (and their absence is not a crash); POSTs
carry the CSRF crumb, and a Jenkins without a crumb issuer works too; jobs are created,
left unchanged and updated; wrong or missing credentials, unknown jobs, a dead server and a
stuck queue become our errors with the documented codes (an unexpected HTTP status is named, not
called unreachable) and never show the token.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from pipeline_steps.errors import BadInputError, ExitCode, InfrastructureError, PipelineStepsError
from pipeline_steps.jenkins.client import JenkinsClient, JenkinsSettings
from pipeline_steps.secrets import Secret
from standins.jenkins import BuildScript, JenkinsStandIn

TOKEN = "s3cr3t-token"
PARAM_JOB = """<flow-definition><properties><hudson.model.ParametersDefinitionProperty><parameterDefinitions>
<hudson.model.StringParameterDefinition><name>TAG</name></hudson.model.StringParameterDefinition>
<hudson.model.StringParameterDefinition><name>STAGE</name></hudson.model.StringParameterDefinition>
</parameterDefinitions></hudson.model.ParametersDefinitionProperty></properties></flow-definition>"""


@pytest.fixture()
def standin() -> Iterator[JenkinsStandIn]:
    with JenkinsStandIn(token=TOKEN, queue_delay_s=0.2) as server:
        yield server


def client_for(standin: JenkinsStandIn, token: str = TOKEN, user: str = "admin") -> JenkinsClient:
    return JenkinsClient(JenkinsSettings(url=standin.url, user=user, token=Secret(token), timeout_s=5))


def run(client: JenkinsClient, job: str, params: dict[str, str]) -> tuple[int, list[str]]:
    number = client.wait_for_build(client.trigger(job, params), timeout_s=10, poll_s=0.05)
    chunks: list[str] = []
    client.stream_console(job, number, chunks.append, timeout_s=10, poll_s=0.05)
    return number, chunks


def test_build_now_with_parameters_follows_queue_to_build_and_streams_console(standin: JenkinsStandIn) -> None:
    lines = [f"step {i}" for i in range(12)]
    standin.add_job("deploy", PARAM_JOB, BuildScript(result="SUCCESS", console=lines, duration_s=0.8))
    client = client_for(standin)
    tag = "$(touch /tmp/pwned) `id` ; rm -rf /"
    number, chunks = run(client, "deploy", {"TAG": tag, "STAGE": "dev"})

    assert number == 1
    build = standin.jobs["deploy"].builds[0]
    assert build.params == {"TAG": tag, "STAGE": "dev"}  # sent as data, verbatim
    assert len([c for c in chunks if c]) > 1, "console should arrive in several pieces while the build runs"
    full = "".join(chunks)
    assert full == build.log()  # no gap, no repeat
    assert full.splitlines()[1:13] == lines and full.rstrip().endswith("Finished: SUCCESS")
    outcome = client.outcome("deploy", number, poll_s=0.05)
    assert (outcome.result, outcome.exit_code, outcome.tests) == ("SUCCESS", ExitCode.OK, None)
    assert outcome.url.endswith("/job/deploy/1/")



def test_build_now_without_parameters_uses_the_defaults_of_a_parameterized_job(standin: JenkinsStandIn) -> None:
    standin.add_job("deploy", PARAM_JOB, BuildScript(duration_s=0.05))
    standin.add_job("plain", "<flow-definition/>", BuildScript(duration_s=0.05))
    client = client_for(standin)
    assert run(client, "deploy", {})[0] == 1
    assert ("POST", "/job/deploy/buildWithParameters") in standin.requests  # a plain build is refused (400)
    assert run(client, "plain", {})[0] == 1
    assert ("POST", "/job/plain/build") in standin.requests  # buildWithParameters is refused (500)


@pytest.mark.parametrize(("job", "params", "field"), [
    ("deploy", {"TAG": "1", "TAGG": "2"}, "TAGG"),  # Jenkins would drop it silently and build with TAG's default
    ("plain", {"TAG": "1"}, "TAG"),
])
def test_a_parameter_the_job_does_not_declare_is_bad_input(standin: JenkinsStandIn, job: str, params: dict[str, str],
                                                           field: str) -> None:
    standin.add_job("deploy", PARAM_JOB)
    standin.add_job("plain", "<flow-definition/>")
    with pytest.raises(BadInputError) as info:
        client_for(standin).trigger(job, params)
    assert str(info.value).startswith(f"-p: {field}: ") and job in str(info.value)
    assert standin.queue == {}


@pytest.mark.parametrize(("result", "code"), [
    ("SUCCESS", ExitCode.OK), ("UNSTABLE", ExitCode.WARNING), ("FAILURE", ExitCode.FAIL),
    ("ABORTED", ExitCode.ABORTED), ("NOT_BUILT", ExitCode.FAIL),
])
def test_each_build_result_maps_to_its_exit_code(standin: JenkinsStandIn, result: str, code: ExitCode) -> None:
    standin.add_job("run_tests", PARAM_JOB, BuildScript(result=result, duration_s=0.1))
    client = client_for(standin)
    number, _ = run(client, "run_tests", {"TAG": "1"})
    outcome = client.outcome("run_tests", number, poll_s=0.05)
    assert outcome.result == result
    assert outcome.exit_code == code


def test_stopping_a_running_build_ends_it_aborted(standin: JenkinsStandIn) -> None:
    standin.add_job("deploy", PARAM_JOB, BuildScript(duration_s=30))
    client = client_for(standin)
    number = client.wait_for_build(client.trigger("deploy", {"TAG": "1"}), timeout_s=10, poll_s=0.05)
    client._server.stop_build("deploy", number)
    client.stream_console("deploy", number, lambda _: None, timeout_s=5, poll_s=0.05)
    assert client.outcome("deploy", number).exit_code == ExitCode.ABORTED


def test_test_report_is_summarised_with_failed_cases(standin: JenkinsStandIn) -> None:
    tests = [("gate", "response_time_p90", "FAILED"), ("gate", "error_rate", "PASSED"), ("health", "health", "PASSED"),
             ("functional", "add item", "SKIPPED")]
    standin.add_job("run_tests", PARAM_JOB, BuildScript(result="UNSTABLE", tests=tests, duration_s=0.1))
    client = client_for(standin)
    number, _ = run(client, "run_tests", {"TAG": "2"})
    summary = client.outcome("run_tests", number).tests
    assert summary is not None
    assert (summary.passed, summary.failed, summary.skipped) == (2, 1, 1)
    assert summary.failed_cases == ("gate.response_time_p90",)
    assert summary.line() == "tests: 2 passed, 1 failed, 1 skipped"


@pytest.mark.parametrize("csrf", [True, False])
def test_posts_carry_the_crumb_when_jenkins_issues_one(csrf: bool) -> None:
    with JenkinsStandIn(token=TOKEN, csrf=csrf, queue_delay_s=0.0) as standin:
        standin.add_job("deploy", PARAM_JOB, BuildScript(duration_s=0.05))
        client = client_for(standin)
        run(client, "deploy", {"TAG": "1"})
        assert ("GET", "/crumbIssuer/api/json") in standin.requests
        assert len(standin.jobs["deploy"].builds) == 1  # with csrf on, a POST without the crumb would be refused


def test_jobs_are_created_left_unchanged_and_updated(standin: JenkinsStandIn) -> None:
    client = client_for(standin)
    assert client.upsert_job("deploy", PARAM_JOB) == "created"
    # Stored the way Jenkins stores it: XmlFile's declaration and a comment line, so never the posted text.
    assert standin.jobs["deploy"].config_xml != PARAM_JOB and PARAM_JOB in standin.jobs["deploy"].config_xml
    assert client.upsert_job("deploy", PARAM_JOB) == "unchanged", "compared by its XML, not its text"
    assert client.upsert_job("deploy", '<?xml version="1.0"?>\n<!-- a note -->\n' + PARAM_JOB.replace("><", ">\n  <")) == \
        "unchanged"
    changed = PARAM_JOB.replace("<name>STAGE</name>", "<name>STAGE</name><description>x</description>")
    assert client.upsert_job("deploy", changed) == "updated"
    assert changed in standin.jobs["deploy"].config_xml


def test_wrong_token_is_an_infrastructure_error_that_never_shows_the_token(standin: JenkinsStandIn) -> None:
    standin.add_job("deploy", PARAM_JOB)
    wrong = "wrong-token-12345"
    with pytest.raises(InfrastructureError) as info:
        client_for(standin, token=wrong).trigger("deploy", {"TAG": "1"})
    assert info.value.exit_code == ExitCode.INFRA
    assert "401" in str(info.value) and "authentication refused" in str(info.value)
    assert wrong not in str(info.value) and TOKEN not in str(info.value)
    assert standin.jobs["deploy"].builds == []


def test_anonymous_access_is_refused_with_403(standin: JenkinsStandIn) -> None:
    client = JenkinsClient(JenkinsSettings(url=standin.url, timeout_s=5))
    with pytest.raises(InfrastructureError, match="403"):
        client.version()


def test_version_checks_credentials_and_reads_x_jenkins(standin: JenkinsStandIn) -> None:
    assert client_for(standin).version() == "2.440.3"
    with pytest.raises(InfrastructureError, match="401"):
        client_for(standin, token="nope").version()


def test_unknown_job_is_bad_input_and_nothing_is_queued(standin: JenkinsStandIn) -> None:
    with pytest.raises(BadInputError) as info:
        client_for(standin).trigger("no_such_job", {"TAG": "1"})
    assert info.value.exit_code == ExitCode.BAD_INPUT
    assert "no_such_job" in str(info.value)
    assert standin.queue == {}


def test_unreachable_jenkins_is_wrapped_not_leaked() -> None:
    standin = JenkinsStandIn(token=TOKEN)
    standin.start()
    url = standin.url
    standin.stop()
    client = JenkinsClient(JenkinsSettings(url=url, user="admin", token=Secret(TOKEN), timeout_s=2))
    with pytest.raises(PipelineStepsError) as info:
        client.trigger("deploy", {})
    assert isinstance(info.value, InfrastructureError)
    assert "cannot reach" in str(info.value)


def test_build_that_never_leaves_the_queue_times_out(standin: JenkinsStandIn) -> None:
    standin.queue_delay_s = 60
    standin.add_job("deploy", PARAM_JOB)
    client = client_for(standin)
    queue_id = client.trigger("deploy", {"TAG": "1"})
    with pytest.raises(InfrastructureError, match="did not start within"):
        client.wait_for_build(queue_id, timeout_s=0.3, poll_s=0.05)


def test_console_follow_times_out_on_an_endless_build(standin: JenkinsStandIn) -> None:
    standin.add_job("deploy", PARAM_JOB, BuildScript(duration_s=60))
    client = client_for(standin)
    number = client.wait_for_build(client.trigger("deploy", {"TAG": "1"}), timeout_s=10, poll_s=0.05)
    with pytest.raises(InfrastructureError, match="still running"):
        client.stream_console("deploy", number, lambda _: None, timeout_s=0.3, poll_s=0.05)


def test_a_status_python_jenkins_has_no_exception_for_is_reported_as_that_status(standin: JenkinsStandIn) -> None:
    standin.add_job("deploy", PARAM_JOB)
    client = client_for(standin)
    with pytest.raises(InfrastructureError) as info, client._calling("trigger deploy"):
        client._server.build_job("deploy")  # a plain build of a parameterized job: Jenkins answers 400
    assert "answered HTTP 400" in str(info.value) and "cannot reach" not in str(info.value)


class SplitConsole:
    """A python-jenkins stand-in whose progressive console answers in the given pieces (a token cut in two)."""

    def __init__(self, pieces: list[str]) -> None:
        self.pieces = pieces
        self.served = 0

    def _get_job_folder(self, name: str) -> tuple[str, str]:
        return "", name

    def _build_url(self, spec: str, variables: dict[str, str]) -> str:
        return "http://jenkins.invalid/" + spec % variables

    def jenkins_request(self, request: requests.Request) -> requests.Response:
        response = requests.Response()
        response.status_code, response.encoding = 200, "utf-8"
        response._content = self.pieces[self.served].encode()
        self.served += 1
        response.headers["X-Text-Size"] = str(sum(len(p.encode()) for p in self.pieces[:self.served]))
        if self.served < len(self.pieces):
            response.headers["X-More-Data"] = "true"
        return response


def test_a_token_cut_across_console_pieces_is_still_masked() -> None:
    pieces = ["+ echo tok=" + TOKEN[:5], TOKEN[5:] + " done\n", "Finished: SUCCESS\n"]
    client = JenkinsClient(JenkinsSettings(url="http://jenkins.invalid/", user="admin", token=Secret(TOKEN)),
                           server=SplitConsole(pieces))
    chunks: list[str] = []
    client.stream_console("deploy", 1, chunks.append, timeout_s=5, poll_s=0.01)
    assert "".join(chunks) == "+ echo tok=*** done\nFinished: SUCCESS\n"
    assert not any(TOKEN[:5] in chunk or TOKEN[5:] in chunk for chunk in chunks)
