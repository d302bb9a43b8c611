"""Every test runs isolated from the machine it runs on (issue 10).

An autouse fixture gives each test its own working directory and ``HOME`` (a fresh temporary
folder, so ``out/``, the default state folder ``.pipeline-steps`` and the default history file
``.pipeline-steps/history.sqlite`` land there, and ``~/.kube/config`` or a ``~/.netrc`` of the
machine are never read) and removes the environment variables the CLI reads as defaults:
``KUBECONFIG``, every ``PIPELINE_STEPS_*``, the Jenkins parameters and the backends' URLs and
tokens. A test that needs one sets it itself. Tests marked ``live`` keep the variables that
point them at a real cluster (``KUBECONFIG``, ``PIPELINE_STEPS_LIVE_*``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

# Property tests (tests/commands/test_property.py, tests/sources/test_promql.py): CI runs a fixed,
# derandomized set of examples (the same ones every run, no example database); `HYPOTHESIS_PROFILE=
# explore` searches further with random examples locally.
settings.register_profile("ci", derandomize=True, database=None, deadline=None, max_examples=25,
                          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
settings.register_profile("explore", deadline=None, max_examples=400,
                          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

CLI_DEFAULTS = (
    # Jenkins parameters and step inputs the context and file options fall back to (commands/options.py)
    "PROJECT", "STAGE", "SERVICE", "IMAGE", "TAG", "DEPLOYMENTSTRATEGY", "TESTSTRATEGY", "KEPTNCONTEXT", "EVENT_FILE",
    "OUT_DIR", "SERVICE_CONFIG", "SHIPYARD", "TESTRUN", "GATE", "COLOUR", "PREVIOUS_COLOUR", "WEIGHTS_BEFORE", "VERDICT",
    "APPROVAL", "TEST_USERS", "TEST_LOOPS", "TEST_DURATION", "HEALTH_TIMEOUT", "BUILD_TAG",
    # backends: sources, the cluster, Jenkins
    "KUBECONFIG", "PROMETHEUS_URL", "DT_TENANT_URL", "DT_API_TOKEN", "JENKINS_URL", "JENKINS_USER", "JENKINS_API_TOKEN",
    "PIPELINE_STEPS_REPO_URL", "PIPELINE_STEPS_BRANCH", "SERVICE_REPO_URL", "NETRC", "SIDECAR_INJECTION",
    # libpq reads these for a PostgreSQL history (tests/pg.py names its server explicitly)
    "PGPASSWORD", "PGPASSFILE", "PGHOST", "PGHOSTADDR", "PGPORT", "PGUSER", "PGDATABASE", "PGSERVICE", "PGSERVICEFILE",
    "PGSSLMODE", "PGOPTIONS",
)
pytest_plugins = ["tests.pg"]  # the real PostgreSQL: fixtures pg_server, pg_url
LIVE_KEEPS = ("KUBECONFIG", "PIPELINE_STEPS_LIVE_KUBE", "PIPELINE_STEPS_LIVE_CONTEXT")


@pytest.fixture(autouse=True)
def isolated(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
             monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh working directory and HOME; no CLI default, state folder, out/ or history of the machine's."""
    live = request.node.get_closest_marker("live") is not None
    keep = LIVE_KEEPS if live else ()
    for name in [*CLI_DEFAULTS, *(n for n in os.environ if n.startswith("PIPELINE_STEPS_"))]:
        if name not in keep:
            monkeypatch.delenv(name, raising=False)
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    workdir = tmp_path_factory.mktemp("cwd")
    monkeypatch.chdir(workdir)
    yield workdir
