"""Where the platform gets its cluster from, and what its errors look like.

Aspects: ``--context`` picks a context from a kubeconfig with several; an unknown context is
bad input naming the file and context (no credentials in the message); a kubeconfig that is
not YAML or not a kubeconfig is bad input naming the file, without its text; without a
kubeconfig but inside a pod the service account is used (https to KUBERNETES_SERVICE_HOST with
the pod token), but never when a --context was asked for; with neither it is bad input; the
client's exceptions never escape (500 and a refused connection become KubeApiError, an
InfrastructureError, exit 4) and the token never shows.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline_steps.errors import BadInputError, InfrastructureError
from pipeline_steps.platforms.kubernetes.client import Kube, KubeApiError, api_client
from standins.kubeapi import KubeApiStandIn

TOKEN = "s3cret-token-value"


def two_context_kubeconfig(path: Path, good: str, dead: str) -> Path:
    path.write_text(
        "apiVersion: v1\nkind: Config\n"
        f"clusters:\n- name: good\n  cluster: {{server: '{good}'}}\n- name: dead\n  cluster: {{server: '{dead}'}}\n"
        f"users:\n- name: u\n  user: {{token: {TOKEN}}}\n"
        "contexts:\n- name: good\n  context: {cluster: good, user: u}\n- name: dead\n  context: {cluster: dead, user: u}\n"
        "current-context: dead\n", encoding="utf-8")
    return path


def test_context_selection_and_errors(api: KubeApiStandIn, tmp_path: Path) -> None:
    api.tokens[TOKEN] = api.access.user
    kubeconfig = two_context_kubeconfig(tmp_path / "kc", api.url, "http://127.0.0.1:9")
    kube = Kube(api_client(str(kubeconfig), "good"), timeout_s=2)
    assert kube.call("list namespaces", kube.core.list_namespace)["kind"] == "NamespaceList"
    assert api.requests[-1].path.startswith("/api/v1/namespaces")

    dead = Kube(api_client(str(kubeconfig), None), timeout_s=2)  # current-context: dead
    with pytest.raises(KubeApiError) as refused:
        dead.call("list namespaces", dead.core.list_namespace)
    assert isinstance(refused.value, InfrastructureError) and refused.value.status == 0
    assert "could not reach the API server" in str(refused.value) and TOKEN not in str(refused.value)

    with pytest.raises(BadInputError) as unknown:
        api_client(str(kubeconfig), "nope")
    assert str(kubeconfig) in str(unknown.value) and "nope" in str(unknown.value) and TOKEN not in str(unknown.value)


def test_api_errors_are_wrapped(api: KubeApiStandIn, tmp_path: Path) -> None:
    api.tokens[TOKEN] = api.access.user
    kubeconfig = two_context_kubeconfig(tmp_path / "kc", api.url, "http://127.0.0.1:9")
    kube = Kube(api_client(str(kubeconfig), "good"), timeout_s=2)
    api.fault("GET", r"/api/v1/namespaces$", action="500")
    with pytest.raises(KubeApiError, match=r"list namespaces: HTTP 500 InternalError: Internal error occurred") as err:
        kube.call("list namespaces", kube.core.list_namespace)
    assert err.value.exit_code == 4 and TOKEN not in str(err.value)


def test_in_cluster_config_when_no_kubeconfig(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import kubernetes.config.incluster_config as incluster

    token, cert = tmp_path / "token", tmp_path / "ca.crt"
    token.write_text(TOKEN)
    cert.write_text("-----BEGIN CERTIFICATE-----\nMA==\n-----END CERTIFICATE-----\n")
    monkeypatch.setattr(incluster, "SERVICE_TOKEN_FILENAME", str(token))
    monkeypatch.setattr(incluster, "SERVICE_CERT_FILENAME", str(cert))
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.kube/config
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    client = api_client(None, None)
    assert client.configuration.host == "https://10.0.0.1:443"
    assert client.configuration.api_key["BearerToken"].endswith(TOKEN)
    with pytest.raises(BadInputError, match=r"^--context: 'prod' needs a kubeconfig"):
        api_client(None, "prod")  # never the pod's own cluster when another was named

    monkeypatch.delenv("KUBERNETES_SERVICE_HOST")
    with pytest.raises(BadInputError, match="no kubeconfig"):
        api_client(None, None)


@pytest.mark.parametrize("text", [f"users:\n- name: u\n  user: {{token: {TOKEN}\ncontexts: [\n",
                                  f"- {TOKEN}\n- a list\n"])
def test_malformed_kubeconfig_is_bad_input_without_its_text(tmp_path: Path, text: str) -> None:
    kubeconfig = tmp_path / "kc"
    kubeconfig.write_text(text, encoding="utf-8")
    with pytest.raises(BadInputError) as err:
        api_client(str(kubeconfig), None)
    assert str(err.value).startswith(f"{kubeconfig}: is not a valid kubeconfig") and TOKEN not in str(err.value)
    assert err.value.exit_code == 2 and err.value.__cause__ is None


_BOMB = "".join(f"{c}: &{c} [{', '.join(['*' + p] * 9) if p else 'x, x, x, x, x, x, x, x, x'}]\n"
                for p, c in zip(["", "a", "b", "c", "d", "e"], "abcdef", strict=True))


@pytest.mark.parametrize(("text", "expected"), [
    ("current-context: prod\nclusters: []\ncurrent-context: dev\n", "current-context: is not a valid kubeconfig: is given twice"),
    (_BOMB, "f: is not a valid kubeconfig: expands to more than 100,000 values"),
    ("clusters: [{cluster: {server: 'https://k'}, name: k, x: .nan}]\n", "clusters[0].x: is not a valid kubeconfig: .nan is not"),
])
def test_a_kubeconfig_is_read_by_the_strict_reader_first(tmp_path: Path, text: str, expected: str) -> None:
    """Issue 11: the library read kubeconfigs with yaml.safe_load (last duplicate wins: another cluster;
    no bound on aliases); ours reads every file of KUBECONFIG first."""
    kubeconfig = tmp_path / "kc"
    kubeconfig.write_text(text, encoding="utf-8")
    with pytest.raises(BadInputError) as err:
        api_client(str(kubeconfig), None)
    assert str(err.value).startswith(f"{kubeconfig}: {expected}"), str(err.value)


def test_credentials_the_server_does_not_take_are_exit_4_saying_so(api: KubeApiStandIn, tmp_path: Path) -> None:
    """A kubeconfig ``exec`` plugin that fails leaves the request without credentials: a real API
    server answers 403 for ``system:anonymous`` (a stale token: 401), and the stand-in does too."""
    import sys

    plugin = tmp_path / "plugin.py"
    plugin.write_text("import sys\nsys.stderr.write('token refresh failed\\n')\nsys.exit(1)\n")
    kubeconfig = tmp_path / "kc"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\n"
        f"clusters:\n- name: c\n  cluster: {{server: '{api.url}'}}\n"
        f"users:\n- name: e\n  user:\n    exec: {{apiVersion: client.authentication.k8s.io/v1beta1, command: "
        f"'{sys.executable}', args: ['{plugin}'], interactiveMode: Never}}\n- name: t\n  user: {{token: {TOKEN}}}\n"
        "contexts:\n- name: exec\n  context: {cluster: c, user: e}\n- name: stale\n  context: {cluster: c, user: t}\n"
        "current-context: exec\n", encoding="utf-8")
    for context, status, words in (("exec", 403, "no credentials were sent"),
                                   ("stale", 401, "did not accept the kubeconfig's credentials")):
        kube = Kube(api_client(str(kubeconfig), context), timeout_s=2)
        with pytest.raises(KubeApiError) as err:
            kube.call("list namespaces", kube.core.list_namespace)
        assert err.value.status == status and err.value.exit_code == 4, str(err.value)
        assert words in str(err.value) and TOKEN not in str(err.value)
    assert ("", "namespaces") not in {k[:2] for k in api.store.objects if k[3] not in ("istio-system",)}
