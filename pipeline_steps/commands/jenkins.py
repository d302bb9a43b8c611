"""``pipeline-steps jenkins``: set up the jobs on a Jenkins from ``jenkins/jobs/`` and press
"Build Now" from a terminal, following the build to its end.

Why: the Jenkinsfiles are the product's Jenkins face; a user (or CI) needs to put them onto a
controller and run them without clicking, and a script needs the build's result as an exit
code it already knows (README "Exit codes"): SUCCESS 0, UNSTABLE 3, FAILURE 1, ABORTED 130.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from xml.etree import ElementTree
from xml.sax.saxutils import escape

import click

from pipeline_steps.commands.options import Number
from pipeline_steps.documents.names import check_label
from pipeline_steps.errors import AbortedError, BadInputError, ExitCode
from pipeline_steps.files import read_text
from pipeline_steps.finite import DAY_S
from pipeline_steps.jenkins.client import JenkinsClient, JenkinsSettings
from pipeline_steps.secrets import read_secret, split_url

_PLACEHOLDER = re.compile(r"@([A-Z][A-Z0-9_]*)@")
_PARAM_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
SERVICE_TEMPLATE = "service"
"""``jenkins/jobs/service.xml`` is the multibranch job; it is named after ``--service`` and lives at the top
level, outside the chain folder, so it sees none of the folder's credentials."""


def _connection_options(func: Any) -> Any:
    options = [
        click.option("--url", envvar="JENKINS_URL", default="", help="Jenkins base URL [env JENKINS_URL]."),
        click.option("--user", envvar="JENKINS_USER", default="", help="Jenkins user [env JENKINS_USER]."),
        click.option("--token-env", default="JENKINS_API_TOKEN", show_default=True,
                     help="Environment variable holding the user's API token."),
        click.option("--token-file", type=click.Path(dir_okay=False), default=None,
                     help="File holding the API token (first line); wins over --token-env."),
        click.option("--request-timeout", type=Number(minimum=0.1, maximum=DAY_S), default=30.0, show_default=True,
                     help="Seconds per HTTP request."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _client(url: str, user: str, token_env: str, token_file: str | None, request_timeout: float) -> JenkinsClient:
    if not url:
        raise BadInputError("--url", None, "Jenkins URL is required (--url or env JENKINS_URL)")
    given = split_url(url)  # before anything checks or prints it
    try:
        given.check_http("--url", None)
    except BadInputError:
        raise BadInputError("--url", given.url, "must be an http:// or https:// URL of the Jenkins controller") from None
    if given.has_credentials:
        # Refused, not used: a URL is echoed in messages, so a token inside it would be printed.
        raise BadInputError("--url", None, f"{given.url!r} must not carry a user or token; use JENKINS_USER and "
                                           "JENKINS_API_TOKEN")
    # python-jenkins sends the token as HTTP Basic credentials of the user: masked as base64(user:token) too
    token = read_secret(env=token_env, file=token_file, what="Jenkins API token", user=user)
    if user and not token:
        raise BadInputError(token_file or token_env, None, f"no API token for Jenkins user {user!r}")
    return JenkinsClient(JenkinsSettings(url=given.url, user=user, token=token, timeout_s=request_timeout))


@click.group()
def jenkins() -> None:
    """Create jobs on Jenkins, Build Now and follow a build."""


def render_jobs(jobs_dir: Path, values: dict[str, str], service: str, folder: str = "delivery") -> dict[str, str]:
    """Job full name -> config.xml with ``@NAME@`` placeholders filled (XML-escaped): the chain jobs go
    into ``folder``, the service's multibranch job is named after ``service``. A placeholder without a
    value, or a template that is not well-formed XML, is bad input naming the template."""
    templates = sorted(jobs_dir.glob("*.xml"))
    if not templates:
        raise BadInputError(str(jobs_dir), None, "no *.xml job templates found")
    rendered: dict[str, str] = {}
    for path in templates:
        text = read_text(path)  # UTF-8 and a size bound, or bad input naming the template
        missing = sorted({m.group(1) for m in _PLACEHOLDER.finditer(text) if m.group(1) not in values})
        if missing:
            raise BadInputError(str(path), f"@{missing[0]}@", "unknown placeholder (sync-jobs has no value for it)")
        name = service if path.stem == SERVICE_TEMPLATE else f"{folder}/{path.stem}"
        rendered[name] = _PLACEHOLDER.sub(lambda m: escape(values[m.group(1)]), text)
        try:  # every template is checked before the first job is touched
            ElementTree.fromstring(rendered[name].encode("utf-8"))
        except ElementTree.ParseError as err:
            raise BadInputError(str(path), f"line {err.position[0]}", f"not well-formed XML ({err})") from None
    return rendered


@jenkins.command("sync-jobs")
@_connection_options
@click.option("--jobs-dir", type=click.Path(file_okay=False, exists=True), default="jenkins/jobs", show_default=True,
              help="Folder of config.xml templates (one job per file; service.xml is the multibranch job).")
@click.option("--repo-url", envvar="PIPELINE_STEPS_REPO_URL", default="", help="Git URL of the repository holding "
              "Jenkinsfiles/ (this one) [env PIPELINE_STEPS_REPO_URL]. Required.")
@click.option("--branch", envvar="PIPELINE_STEPS_BRANCH", default="main", show_default=True,
              help="Branch of --repo-url the jobs run [env PIPELINE_STEPS_BRANCH].")
@click.option("--service", envvar="SERVICE", default="carts", show_default=True,
              help="Service name; names the multibranch job [env SERVICE].")
@click.option("--service-repo-url", envvar="SERVICE_REPO_URL", default="", help="Git URL of the service's repository "
              "[env SERVICE_REPO_URL]; empty: --repo-url (the sample service in examples/).")
@click.option("--service-jenkinsfile", default=None, help="Path of the Jenkinsfile in the service repository "
              "[default: Jenkinsfile; examples/SERVICE/Jenkinsfile when the service lives in --repo-url].")
@click.option("--git-credentials-id", default="", help="Jenkins credentials id for cloning private repositories.")
@click.option("--folder", envvar="PIPELINE_STEPS_FOLDER", default="delivery", show_default=True,
              help="Folder of the chain jobs, created with its credentials and permissions by jenkins/casc.yaml "
              "[env PIPELINE_STEPS_FOLDER].")
@click.option("--dry-run", is_flag=True, help="Render the jobs and print their names without contacting Jenkins.")
def sync_jobs(*, url: str, user: str, token_env: str, token_file: str | None, request_timeout: float, jobs_dir: str,
              repo_url: str, branch: str, service: str, service_repo_url: str, service_jenkinsfile: str | None,
              git_credentials_id: str, folder: str, dry_run: bool) -> int:
    """Create or update the jobs defined in --jobs-dir: deploy, run_tests, evaluation_done in --folder and
    the service's multibranch job. Prints one line per job: created, updated or unchanged (config.xml
    compared by its XML, as Jenkins stores it with its own declaration)."""
    check_label(service, "--service", None)  # it names a job and the path examples/<service>/Jenkinsfile
    if not repo_url:
        raise BadInputError("--repo-url", None, "the Git URL of the repository holding Jenkinsfiles/ is required")
    for flag, given in (("--repo-url", split_url(repo_url)), ("--service-repo-url", split_url(service_repo_url))):
        if given.password is not None or (given.user and given.url.startswith(("http://", "https://"))):
            # it would be stored in the job's config.xml on Jenkins, readable by everyone who may configure jobs
            raise BadInputError(flag, None, f"{given.url!r} must not carry a password or token; give a Jenkins "
                                            "credentials id with --git-credentials-id")
    if service_jenkinsfile is None:
        service_jenkinsfile = "Jenkinsfile" if service_repo_url else f"examples/{service}/Jenkinsfile"
    values = {"PIPELINE_STEPS_REPO": repo_url, "PIPELINE_STEPS_BRANCH": branch, "SERVICE": service,
              "SERVICE_REPO": service_repo_url or repo_url, "SERVICE_JENKINSFILE": service_jenkinsfile,
              "GIT_CREDENTIALS_ID": git_credentials_id}
    folder = folder.strip("/")
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", folder) or folder in (".", ".."):  # Jenkins.checkGoodName refuses . and ..
        raise BadInputError("--folder", folder, "must be one folder name (letters, digits, . _ -)")
    jobs = render_jobs(Path(jobs_dir), values, service, folder)
    if dry_run:
        for name in jobs:
            click.echo(f"{name}: would sync")
        return int(ExitCode.OK)
    client = _client(url, user, token_env, token_file, request_timeout)
    click.echo(f"Jenkins {client.version()} at {url}", err=True)  # checks the credentials before any change
    if not client.job_exists(folder):
        raise BadInputError("--folder", folder, "no such folder on Jenkins: start the controller with jenkins/casc.yaml, "
                            "which creates it with its per-stage credentials and permissions")
    for name, config_xml in jobs.items():
        click.echo(f"{name}: {client.upsert_job(name, config_xml)}")
    return int(ExitCode.OK)


def parse_params(pairs: tuple[str, ...]) -> dict[str, str]:
    """``KEY=VALUE`` pairs -> dict; the value may contain ``=`` and anything else (it is sent, never run)."""
    params: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not _PARAM_NAME.fullmatch(key):
            raise BadInputError("-p", pair.split("=")[0] or pair, "must be KEY=VALUE with KEY a parameter name")
        params[key] = value
    return params


@jenkins.command("trigger")
@_connection_options
@click.argument("job")
@click.option("-p", "--param", "params", multiple=True, metavar="KEY=VALUE", help="Build parameter (repeatable).")
@click.option("--follow/--no-follow", default=True, show_default=True, help="Stream the console and wait for the result.")
@click.option("--queue-timeout", type=Number(minimum=0, maximum=DAY_S), default=300.0, show_default=True,
              help="Seconds to wait for the build to leave the queue.")
@click.option("--timeout", type=Number(minimum=0, maximum=7 * DAY_S), default=3600.0, show_default=True,
              help="Seconds to wait for the build to finish.")
@click.option("--poll", type=Number(minimum=0.05, maximum=3600), default=1.0, show_default=True, help="Seconds between polls.")
def trigger(*, url: str, user: str, token_env: str, token_file: str | None, request_timeout: float, job: str,
            params: tuple[str, ...], follow: bool, queue_timeout: float, timeout: float, poll: float) -> int:
    """Build Now on JOB (a folder job as folder/name), follow the queue item to the build,
    stream its console, print the test summary and exit with the build's result:
    SUCCESS 0, UNSTABLE 3, FAILURE/NOT_BUILT 1, ABORTED 130; unknown job or undeclared parameter 2; Jenkins
    unreachable, credentials refused or timeouts 4."""
    parameters = parse_params(params)
    client = _client(url, user, token_env, token_file, request_timeout)
    queue_id = client.trigger(job, parameters)
    click.echo(f"{job}: queued (queue item {queue_id})", err=True)
    number = client.wait_for_build(queue_id, queue_timeout, poll_s=poll)
    click.echo(f"{job}: build #{number} started", err=True)
    if not follow:
        return int(ExitCode.OK)
    try:
        client.stream_console(job, number, lambda text: click.echo(text, nl=False), timeout_s=timeout, poll_s=poll)
    except KeyboardInterrupt:
        # Only the following stops: the build belongs to Jenkins and keeps running there.
        raise AbortedError(f"stopped following {job} #{number}; the build continues on Jenkins") from None
    outcome = client.outcome(job, number, poll_s=poll)
    click.echo(f"{job} #{number}: {outcome.result} {outcome.url}")
    if outcome.tests is not None:
        click.echo(outcome.tests.line())
        for case in outcome.tests.failed_cases:
            click.echo(f"  failed: {case}")
    return int(outcome.exit_code)
