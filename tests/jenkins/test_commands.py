"""``pipeline-steps jenkins sync-jobs`` and ``trigger`` through the CLI, against the stand-in.

Aspects: sync-jobs creates the four jobs from jenkins/jobs with the placeholders filled and
XML-escaped, a second run changes nothing, an unknown placeholder, a template that is not
well-formed XML (checked before any job is touched) or a missing --repo-url is bad input;
trigger streams the console, prints the test summary and exits with the build's result code;
the token (from env or --token-file) never appears in any output; malformed -p pairs, a
missing or malformed URL, an unknown job and a multibranch project (not its branch) exit 2,
refused credentials exit 4; Ctrl-C stops following (130) and leaves the build running on Jenkins.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from xml.etree import ElementTree

import pytest
from click.testing import CliRunner, Result

from pipeline_steps.cli import cli
from pipeline_steps.errors import ExitCode
from standins.jenkins import BuildScript, JenkinsStandIn
from tests.jenkins.groovy import ROOT

TOKEN = "tok-9f8e7d6c5b4a"
REPO = "https://git.example.com/team/pipeline-steps.git?a=1&b=2"


FOLDER_XML = "<?xml version='1.1' encoding='UTF-8'?><com.cloudbees.hudson.plugins.folder.Folder/>"


@pytest.fixture()
def standin() -> Iterator[JenkinsStandIn]:
    with JenkinsStandIn(token=TOKEN, queue_delay_s=0.1) as server:
        server.add_job("delivery", FOLDER_XML)  # jenkins/casc.yaml creates the chain folder
        yield server


def invoke(standin: JenkinsStandIn, *args: str, token: str = TOKEN) -> Result:
    env = {"JENKINS_URL": standin.url, "JENKINS_USER": "admin", "JENKINS_API_TOKEN": token}
    return CliRunner().invoke(cli, ["jenkins", *args], env=env, catch_exceptions=False)


def sync(standin: JenkinsStandIn, *extra: str) -> Result:
    return invoke(standin, "sync-jobs", "--jobs-dir", str(ROOT / "jenkins" / "jobs"), "--repo-url", REPO, *extra)


def test_sync_jobs_creates_the_four_jobs_then_changes_nothing(standin: JenkinsStandIn) -> None:
    first = sync(standin, "--service", "carts", "--git-credentials-id", "github")
    assert first.exit_code == 0, first.output
    assert sorted(first.stdout.split("\n")[:-1]) == [
        "carts: created", "delivery/deploy: created", "delivery/evaluation_done: created", "delivery/run_tests: created"]
    assert "Jenkins 2.440.3 at " in first.output  # the credentials were checked first (stderr)
    assert sorted(standin.jobs) == ["carts", "delivery", "delivery/deploy", "delivery/evaluation_done", "delivery/run_tests"]
    # Jenkins keeps its own form of the posted text (XmlFile's declaration, a comment line): not byte-equal.
    stored = standin.jobs["delivery/deploy"].config_xml
    assert stored.startswith("<?xml version='1.1' encoding='UTF-8'?>\n<!--")

    deploy = ElementTree.fromstring(stored.encode())
    assert deploy.findtext(".//userRemoteConfigs//url") == REPO  # escaped in the XML, intact once parsed
    assert deploy.findtext(".//credentialsId") == "github"
    assert deploy.findtext(".//scriptPath") == "Jenkinsfiles/deploy"
    assert "@" not in standin.jobs["delivery/run_tests"].config_xml.replace("@...@", "")
    carts = ElementTree.fromstring(standin.jobs["carts"].config_xml.encode())
    assert carts.findtext(".//source/remote") == REPO  # the sample service lives in this repository
    assert carts.findtext(".//factory/scriptPath") == "examples/carts/Jenkinsfile"
    assert "TIMESTAMP" in standin.jobs["delivery/run_tests"].parameter_names()

    second = sync(standin, "--service", "carts", "--git-credentials-id", "github")
    assert second.exit_code == 0 and second.output.count("unchanged") == 4, second.output
    third = sync(standin, "--service", "carts", "--branch", "release")
    assert "delivery/deploy: updated" in third.output


def test_sync_jobs_needs_the_chain_folder_and_a_real_change_is_updated(standin: JenkinsStandIn) -> None:
    del standin.jobs["delivery"]
    refused = sync(standin)
    assert refused.exit_code == 2 and "--folder: delivery: no such folder" in refused.output and standin.jobs == {}
    standin.add_job("delivery", FOLDER_XML)
    assert sync(standin).exit_code == 0
    standin.jobs["delivery/deploy"].config_xml = standin.jobs["delivery/deploy"].config_xml.replace(
        "<lightweight>true</lightweight>", "<lightweight>false</lightweight>")
    again = sync(standin)
    assert "delivery/deploy: updated" in again.output and again.output.count("unchanged") == 3, again.output


def test_sync_jobs_for_a_separate_service_repository(standin: JenkinsStandIn) -> None:
    result = sync(standin, "--service", "orders", "--service-repo-url", "https://git.example.com/team/orders.git")
    assert result.exit_code == 0, result.output
    orders = ElementTree.fromstring(standin.jobs["orders"].config_xml.encode())
    assert orders.findtext(".//source/remote") == "https://git.example.com/team/orders.git"
    assert orders.findtext(".//factory/scriptPath") == "Jenkinsfile"


def test_sync_jobs_bad_input_changes_nothing(standin: JenkinsStandIn, tmp_path: Path) -> None:
    (tmp_path / "deploy.xml").write_text("<flow-definition><url>@NOPE@</url></flow-definition>")
    bad = invoke(standin, "sync-jobs", "--jobs-dir", str(tmp_path), "--repo-url", REPO)
    assert bad.exit_code == ExitCode.BAD_INPUT
    assert "deploy.xml: @NOPE@" in bad.output
    (tmp_path / "deploy.xml").write_text("<flow-definition><url>@PIPELINE_STEPS_REPO@</url></flow-definition>")
    (tmp_path / "run_tests.xml").write_text("<flow-definition><url>x</flow-definition>")  # sorted after deploy
    broken = invoke(standin, "sync-jobs", "--jobs-dir", str(tmp_path), "--repo-url", REPO)
    assert broken.exit_code == ExitCode.BAD_INPUT, broken.output
    assert "run_tests.xml: line 1: not well-formed XML" in broken.output, broken.output
    missing = invoke(standin, "sync-jobs", "--jobs-dir", str(ROOT / "jenkins" / "jobs"))
    assert missing.exit_code == ExitCode.BAD_INPUT and "--repo-url" in missing.output
    refused = invoke(standin, "sync-jobs", "--jobs-dir", str(ROOT / "jenkins" / "jobs"), "--repo-url", REPO, token="wrong")
    assert refused.exit_code == ExitCode.INFRA and "401" in refused.output
    assert sorted(standin.jobs) == ["delivery"], "nothing but the folder casc.yaml made"


def test_sync_jobs_dry_run_does_not_contact_jenkins(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["jenkins", "sync-jobs", "--jobs-dir", str(ROOT / "jenkins" / "jobs"),
                                      "--repo-url", REPO, "--dry-run"], env={"JENKINS_URL": ""})
    assert result.exit_code == 0, result.output
    assert "deploy: would sync" in result.output


@pytest.mark.parametrize(("result", "code"), [
    ("SUCCESS", ExitCode.OK), ("UNSTABLE", ExitCode.WARNING), ("FAILURE", ExitCode.FAIL), ("ABORTED", ExitCode.ABORTED),
])
def test_trigger_streams_console_prints_tests_and_exits_with_the_result(
        standin: JenkinsStandIn, result: str, code: ExitCode) -> None:
    sync(standin)
    standin.script("delivery/run_tests", BuildScript(
        result=result, console=["+ pipeline-steps run-tests", "+ pipeline-steps evaluate"], duration_s=0.3,
        tests=[("gate", "response_time", "FAILED" if result != "SUCCESS" else "PASSED"), ("health", "health", "PASSED")]))
    out = invoke(standin, "trigger", "delivery/run_tests", "-p", "STAGE=staging", "-p", "TAG=0.7.2=rc1", "--poll", "0.05")
    assert out.exit_code == code, out.output
    assert "+ pipeline-steps evaluate" in out.output and f"Finished: {result}" in out.output
    assert f"delivery/run_tests #1: {result}" in out.output
    failed = 0 if result == "SUCCESS" else 1
    assert f"tests: {2 - failed} passed, {failed} failed, 0 skipped" in out.output
    assert standin.jobs["delivery/run_tests"].builds[0].params == {"STAGE": "staging", "TAG": "0.7.2=rc1"}
    assert TOKEN not in out.output


def test_trigger_reads_the_token_from_a_file_and_never_prints_it(standin: JenkinsStandIn, tmp_path: Path) -> None:
    sync(standin)
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    standin.script("delivery/deploy", BuildScript(console=[f"echo {TOKEN}"], duration_s=0.1))  # a build that leaks it
    out = invoke(standin, "trigger", "delivery/deploy", "--token-file", str(token_file), "--poll", "0.05", token="")
    assert out.exit_code == 0, out.output
    assert TOKEN not in out.output and "echo ***" in out.output


def test_trigger_failures_have_documented_codes(standin: JenkinsStandIn) -> None:
    sync(standin)
    assert invoke(standin, "trigger", "delivery/deploy", "-p", "no-equals-sign").exit_code == ExitCode.BAD_INPUT
    unknown = invoke(standin, "trigger", "nope")
    assert unknown.exit_code == ExitCode.BAD_INPUT and "nope" in unknown.output
    refused = invoke(standin, "trigger", "delivery/deploy", token="wrong-token")
    assert refused.exit_code == ExitCode.INFRA and "401" in refused.output and "wrong-token" not in refused.output
    no_url = CliRunner().invoke(cli, ["jenkins", "trigger", "delivery/deploy"], env={"JENKINS_URL": ""})
    assert no_url.exit_code == ExitCode.BAD_INPUT and "JENKINS_URL" in no_url.output
    for bad_url in ("jenkins.example.com:8080", "ftp://jenkins.example.com/", "http://"):
        malformed = CliRunner().invoke(cli, ["jenkins", "trigger", "delivery/deploy", "--url", bad_url],
                                       env={"JENKINS_API_TOKEN": TOKEN})
        assert malformed.exit_code == ExitCode.BAD_INPUT, (bad_url, malformed.output)
        assert malformed.output.startswith(f"error: --url: {bad_url}: "), malformed.output
    with_token = CliRunner().invoke(cli, ["jenkins", "trigger", "delivery/deploy", "--url", f"http://admin:{TOKEN}@{standin.url[7:]}"])
    assert with_token.exit_code == ExitCode.BAD_INPUT and "must not carry a user or token" in with_token.output
    assert TOKEN not in with_token.output
    no_token = CliRunner().invoke(cli, ["jenkins", "trigger", "delivery/deploy"],
                                  env={"JENKINS_URL": standin.url, "JENKINS_USER": "admin", "JENKINS_API_TOKEN": ""})
    assert no_token.exit_code == ExitCode.BAD_INPUT and "API token" in no_token.output
    multibranch = invoke(standin, "trigger", "carts", "-p", "PLATFORM=local")  # the project, not its branch job
    assert multibranch.exit_code == ExitCode.BAD_INPUT and "JOB: carts: " in multibranch.output
    assert "carts/main" in multibranch.output, "the message names the branch job to trigger instead"
    assert ("POST", "/job/carts/build") not in standin.requests
    assert all(not job.builds for job in standin.jobs.values())


def test_ctrl_c_stops_following_with_130_and_leaves_the_build_running(standin: JenkinsStandIn) -> None:
    sync(standin)
    standin.script("delivery/deploy", BuildScript(console=["+ pipeline-steps deploy"], duration_s=30))
    env = dict(os.environ, JENKINS_URL=standin.url, JENKINS_USER="admin", JENKINS_API_TOKEN=TOKEN)
    proc = subprocess.Popen(["pipeline-steps", "jenkins", "trigger", "delivery/deploy", "--poll", "0.1"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 20
    while not standin.jobs["delivery/deploy"].builds and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.5)  # into the console loop
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == ExitCode.ABORTED, err
    assert "the build continues on Jenkins" in err
    assert standin.jobs["delivery/deploy"].builds[0].building


@pytest.mark.parametrize("folder", ["..", ".", "a/b", "de livery", "x\n"])
def test_sync_jobs_refuses_a_folder_that_is_no_single_jenkins_name(standin: JenkinsStandIn, folder: str) -> None:
    """Jenkins.checkGoodName: no '.' or '..', no '/' (a job path would leave the folder), no control characters."""
    before = dict(standin.jobs)
    refused = sync(standin, "--folder", folder)
    assert refused.exit_code == 2 and "--folder" in refused.output, refused.output
    assert standin.jobs == before
