"""The controller's files: casc.yaml, plugins.txt, the job templates, the agent image and the README.

Aspects: (13) no secret in casc.yaml has a default, so CASC_STRICT_SECRET_RESOLUTION (which the README
requires, from configuration-as-code 2065 on) stops a start with a secret unset, and a secret holding quotes,
backslashes or `$` reaches its credential exactly (the seed script resolved as JCasC does, run by Groovy); (2) the controller runs
no builds and the chain credentials are folder-scoped per stage, not global, and only the release group
may build in that folder; (16) the PostgreSQL history's password is a credential of that folder whose id
the controller names (the library binds it to PGPASSWORD: test_library.py); (10) the service job fetches
tags, and a fetch as the git plugin does it for that trait lets `git describe` find the version tag (a
real git repository); (11) the README installs the CLI into a venv from this repository at a tag and the
agent image does the same; every plugin is pinned `id:version` and every step the Jenkinsfiles and vars/
call (seen by the harness, or written in them) comes from a listed plugin.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from xml.etree import ElementTree

import yaml

from tests.jenkins.pipeline import ROOT, casc_env

CASC = yaml.safe_load((ROOT / "jenkins" / "casc.yaml").read_text(encoding="utf-8"))
CASC_TEXT = (ROOT / "jenkins" / "casc.yaml").read_text(encoding="utf-8")
README = (ROOT / "README.md").read_text(encoding="utf-8")
HISTORY_ID = "${PIPELINE_STEPS_HISTORY_CREDENTIALS_ID:-pipeline-steps-history}"
STEP_PLUGINS = {
    "pipeline": "pipeline-model-definition", "libraries": "pipeline-model-definition", "sh": "workflow-durable-task-step",
    "node": "workflow-durable-task-step", "dir": "workflow-basic-steps", "echo": "workflow-basic-steps",
    "error": "workflow-basic-steps", "unstable": "workflow-basic-steps", "timeout": "workflow-basic-steps",
    "withEnv": "workflow-basic-steps", "fileExists": "workflow-basic-steps", "archiveArtifacts": "workflow-basic-steps",
    "input": "pipeline-input-step", "milestone": "pipeline-milestone-step", "build": "pipeline-build-step",
    "lock": "lockable-resources", "readJSON": "pipeline-utility-steps", "readYaml": "pipeline-utility-steps",
    "junit": "junit", "publishHTML": "htmlpublisher", "withCredentials": "credentials-binding",
    "libraryResource": "pipeline-groovy-lib", "checkout": "git", "getBuildCauses": "workflow-support",
    "stash": "workflow-basic-steps", "unstash": "workflow-basic-steps",
}


def plugins() -> dict[str, str]:
    lines = [line.strip() for line in (ROOT / "jenkins" / "plugins.txt").read_text().splitlines()]
    return dict(line.split(":", 1) for line in lines if line and not line.startswith("#"))


def test_13_secrets_have_no_defaults_and_strict_resolution_is_required() -> None:
    secrets = re.findall(r"(?:password|secret|secretBytes|fromString)\W+[^\n]*?\$\{([^}]*)\}", CASC_TEXT)
    assert secrets and all(":-" not in name for name in secrets), secrets
    assert "CASC_STRICT_SECRET_RESOLUTION=true" in README and "CASC_STRICT_SECRET_RESOLUTION=true" in CASC_TEXT
    version = plugins()["configuration-as-code"]
    assert int(version.split(".")[0]) >= 2065, "strict secret resolution came with configuration-as-code 2065"


def test_2_no_controller_executors_and_chain_credentials_only_in_the_folder() -> None:
    assert CASC["jenkins"]["numExecutors"] == 0
    assert "credentials" not in CASC, "no global credentials: every build could read them"
    seed = CASC["jobs"][0]["script"]
    assert "folder('${PIPELINE_STEPS_FOLDER:-delivery}')" in seed and "nonInheriting()" in seed
    assert re.findall(r"id\('([^']+)'\)", seed) == ["kubeconfig-dev", "kubeconfig-staging", "kubeconfig-production",
                                                      "dynatrace-api-token", HISTORY_ID]
    release = re.search(r"name\('\$\{RELEASE_GROUP:-release-managers\}'\)\s*permissions\(\[([^\]]*)\]\)", seed)
    assert release and "'Job/Build'" in release.group(1)
    everyone = re.search(r"name\('authenticated'\)\s*permissions\(\[([^\]]*)\]\)", seed)
    assert everyone and "Job/Build" not in everyone.group(1)
    assert [n["permanent"]["labelString"] for n in CASC["jenkins"]["nodes"]] == ["pipeline-steps"]


def test_16_the_history_password_is_a_folder_credential_named_on_the_controller() -> None:
    env = casc_env()
    assert env["PIPELINE_STEPS_HISTORY_CREDENTIALS_ID"] == "pipeline-steps-history"
    assert HISTORY_ID == "${PIPELINE_STEPS_HISTORY_CREDENTIALS_ID:-pipeline-steps-history}", "the id the library binds"
    secret = re.search(r"id\('\$\{PIPELINE_STEPS_HISTORY_CREDENTIALS_ID[^)]*\)\s*description\('[^']*'\)\s*"
                       r"secret\(hudson\.util\.Secret\.fromString\(new String\('\$\{base64:\$\{([A-Z_]+)\}\}'",
                       CASC["jobs"][0]["script"])
    assert secret and secret.group(1) == "PIPELINE_STEPS_HISTORY_PASSWORD"
    assert "PIPELINE_STEPS_HISTORY_PASSWORD" in README and "postgresql://" in env["PIPELINE_STEPS_HISTORY"] + README


def test_10_the_service_job_fetches_tags_and_describe_finds_the_version(tmp_path: Path) -> None:
    root = ElementTree.parse(ROOT / "jenkins" / "jobs" / "service.xml").getroot()
    clone = root.find(".//jenkins.plugins.git.traits.CloneOptionTrait/extension")
    assert clone is not None and clone.findtext("noTags") == "false" and clone.findtext("shallow") == "false"
    origin, work = tmp_path / "origin", tmp_path / "ws"
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "init.defaultBranch=main"]
    origin.mkdir()
    (origin / "README").write_text("carts\n")
    for args in (["init", "-q"], ["add", "README"], ["commit", "-q", "-m", "v1"], ["tag", "1.2.3"]):
        subprocess.run([*git, *args], cwd=origin, check=True, capture_output=True)
    work.mkdir()
    # The git plugin's fetch of a branch build: --no-tags unless the CloneOption says noTags=false.
    tags = ["--tags"] if clone.findtext("noTags") == "false" else ["--no-tags"]
    for args in (["init", "-q"], ["fetch", "-q", *tags, str(origin), "+refs/heads/main:refs/remotes/origin/main"],
                 ["checkout", "-q", "origin/main"]):
        subprocess.run([*git, *args], cwd=work, check=True, capture_output=True)
    described = subprocess.run(["git", "describe", "--tags", "--always"], cwd=work, capture_output=True, text=True)
    assert described.stdout.strip() == "1.2.3"


def test_11_the_cli_is_installed_into_a_venv_from_this_repository_at_a_tag() -> None:
    assert not re.search(r"pip install pipeline-steps\b", README), "pipeline-steps is not on PyPI"
    assert "python3 -m venv" in README and re.search(r'pip install "git\+https://[^"@]+@v[0-9.]+"', README)
    dockerfile = (ROOT / "jenkins" / "agent" / "Dockerfile").read_text()
    assert "python3 -m venv /opt/pipeline-steps" in dockerfile
    assert '"git+${PIPELINE_STEPS_REPO}@${PIPELINE_STEPS_REF}"' in dockerfile
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert "helm-python-sdk" in pyproject, "the Helm library comes with the package"


def test_plugins_are_pinned_and_every_step_comes_from_a_listed_plugin() -> None:
    pinned = plugins()
    assert all(re.fullmatch(r"[a-z0-9-]+", k) and re.fullmatch(r"[0-9][0-9A-Za-z._-]*", v) for k, v in pinned.items()), pinned
    assert "LTS 2.541.3" in (ROOT / "jenkins" / "plugins.txt").read_text()
    sources = [*(ROOT / "Jenkinsfiles").iterdir(), ROOT / "examples" / "carts" / "Jenkinsfile",
               *(ROOT / "vars").glob("*.groovy"), *(ROOT / "src").rglob("*.groovy")]
    text = "\n".join(p.read_text(encoding="utf-8") for p in sources)
    called = {step for step in STEP_PLUGINS if re.search(rf"\b{step}\s*[({{]", text)}
    assert len(called) >= 20, sorted(set(STEP_PLUGINS) - called)
    assert {STEP_PLUGINS[s] for s in called} <= set(pinned), {STEP_PLUGINS[s] for s in called} - set(pinned)
    harness_steps = set(re.findall(r"^    \w+ (\w+)\(", (ROOT / "tests/jenkins/harness/harness/PipelineScript.groovy")
                                   .read_text(), re.M))
    unmapped = harness_steps - set(STEP_PLUGINS) - {"getProperty", "methodMissing", "script", "file", "string",
                                                    "usernamePassword", "booleanParam", "library", "stage", "parallel",
                                                    "catchError", "sleep", "isUnix", "deleteDir", "writeFile",
                                                    "readFile", "retry"}
    assert unmapped == set(), f"steps the harness offers with no plugin in the table: {unmapped}"


# -- the seed script with hostile secret values --------------------------------------------------------------
HOSTILE_SECRETS = {
    # Generated secrets hold every printable character: a quote ends a Groovy string, a backslash starts an
    # escape (\t, \n, \u0041 silently become other characters), `$` starts Groovy interpolation. (A `${NAME}`
    # in a value is JCasC's own business: its resolver substitutes inside values, escape it as ^${NAME}.)
    "DYNATRACE_API_TOKEN": "dt0c01.AB'CD\\tEF\\u0041\"$y",
    "PIPELINE_STEPS_HISTORY_PASSWORD": "p@ss'w\\0rd\"\\n}'; throw new Error('x'); '",
}
_STUBS = {
    "hudson/util/Secret.groovy": "package hudson.util\nclass Secret {\n    static String fromString(String s) { s }\n}\n",
    # credentials' SecretBytes.fromString: not an encrypted value, so base64 of the plain bytes
    "com/cloudbees/plugins/credentials/SecretBytes.groovy": (
        "package com.cloudbees.plugins.credentials\nclass SecretBytes {\n"
        "    static String fromString(String s) { new String(s.decodeBase64(), 'UTF-8') }\n}\n"),
}
_RECORDER = """
import groovy.json.JsonOutput
class Dsl {
    List<Map> calls = []
    def methodMissing(String name, Object args) {
        Object[] given = args as Object[]
        if (given && given[-1] instanceof Closure) {
            Closure body = (Closure) given[-1]
            body.delegate = this
            body.resolveStrategy = Closure.DELEGATE_FIRST
            body()
        } else {
            calls << [name: name, value: given ? given[0] : null]
        }
        return null
    }
}
Dsl dsl = new Dsl()
Closure seed = new GroovyShell(this.class.classLoader).evaluate('{ -> ' + new File(args[0]).text + '\\n}')
seed.delegate = dsl
seed.resolveStrategy = Closure.DELEGATE_FIRST
seed()
println JsonOutput.toJson(dsl.calls)
"""


def _casc_resolve(text: str, env: dict[str, str]) -> str:
    """JCasC's substitution (SecretSourceResolver, commons-text StringSubstitutor with substitution in
    variable names) of what casc.yaml uses: ${VAR}, ${VAR:-default}, ${readFileBase64:PATH} and
    ${base64:VALUE}, the name resolved first. (Values are not scanned again here.)"""
    import base64

    def lookup(body: str) -> str:
        if body.startswith("readFileBase64:"):
            return base64.b64encode(Path(body.split(":", 1)[1]).read_bytes()).decode()
        if body.startswith("base64:"):
            return base64.b64encode(body.split(":", 1)[1].encode()).decode()
        name, _, default = body.partition(":-")
        return env.get(name, default)

    def resolve(at: int, nested: bool) -> tuple[str, int]:
        """The text from ``at`` resolved up to the '}' closing a variable (``nested``) or the end; where it stopped."""
        out: list[str] = []
        while at < len(text):
            if text.startswith("${", at):
                name, at = resolve(at + 2, True)
                out.append(lookup(name))
                at += 1  # the closing brace
            elif nested and text[at] == "}":
                return "".join(out), at
            else:
                out.append(text[at])
                at += 1
        return "".join(out), at

    return resolve(0, False)[0]


def test_13_secret_values_reach_the_credentials_exactly_whatever_characters_they_hold(tmp_path: Path) -> None:
    """The seed script is Groovy: a secret spliced into a '...' literal would end the string at a quote (the
    load fails and its error quotes the line, secret and all) or lose characters to escapes. Resolved as JCasC
    does and run by Groovy 2.4 with the credential classes stubbed, every credential holds its value exactly."""
    from tests.jenkins.pipeline import groovy, java_home

    kubeconfigs = {}
    env = dict(HOSTILE_SECRETS)
    for stage in ("DEV", "STAGING", "PRODUCTION"):
        path = tmp_path / f"kubeconfig-{stage}"
        kubeconfigs[stage.lower()] = f"apiVersion: v1\n# {stage} 'quoted' \\ back $x \u00fc\n"
        path.write_text(kubeconfigs[stage.lower()])
        env[f"KUBECONFIG_{stage}_FILE"] = str(path)
    for rel, text in _STUBS.items():
        (tmp_path / "stubs" / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "stubs" / rel).write_text(text)
    (tmp_path / "seed.groovy").write_text(_casc_resolve(CASC["jobs"][0]["script"], env))
    (tmp_path / "record.groovy").write_text(_RECORDER)
    done = subprocess.run([groovy(), "-cp", str(tmp_path / "stubs"), str(tmp_path / "record.groovy"),
                           str(tmp_path / "seed.groovy")], capture_output=True, text=True, timeout=300,
                          env={"PATH": "/usr/bin:/bin", "JAVA_HOME": java_home()}, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    import json

    calls = json.loads(done.stdout.strip().splitlines()[-1])
    ids = [c["value"] for c in calls if c["name"] == "id"]
    values = [c["value"] for c in calls if c["name"] in ("secret", "secretBytes")]
    held = dict(zip(ids, values, strict=True))
    assert held == {"kubeconfig-dev": kubeconfigs["dev"], "kubeconfig-staging": kubeconfigs["staging"],
                    "kubeconfig-production": kubeconfigs["production"],
                    "dynatrace-api-token": HOSTILE_SECRETS["DYNATRACE_API_TOKEN"],
                    "pipeline-steps-history": HOSTILE_SECRETS["PIPELINE_STEPS_HISTORY_PASSWORD"]}
