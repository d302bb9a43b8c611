"""Authentication as the API server does it, before authorization and before any handler.

Aspects: the kubeconfig's bearer token is the configured user; a token the server does not know
answers 401 ``Unauthorized`` on every path; no credentials (what a failed kubeconfig ``exec``
plugin leaves) is ``system:anonymous``, who may read ``/version`` and nothing else — discovery
answers 403 ``forbidden: User "system:anonymous" cannot get path "/apis"``, a resource the 403 of
the authorizer naming that user (kubernetes/apiserver ``pkg/endpoints/filters/authentication.go``,
the default ``system:public-info-viewer`` and ``system:discovery`` roles).
"""

from __future__ import annotations

import json

from tests.standins.kubeapi.conftest import Cluster


def test_a_known_token_is_its_user(cluster: Cluster) -> None:
    code, _, body = cluster.http("GET", "/api/v1/namespaces/demo")
    assert code == 200 and json.loads(body)["metadata"]["name"] == "demo"


def test_an_unknown_token_is_401_on_every_path(cluster: Cluster) -> None:
    for path in ("/version", "/apis", "/api/v1/namespaces/demo", "/nothing/here"):
        code, _, body = cluster.http("GET", path, authorization="Bearer stolen-or-expired")
        status = json.loads(body)
        assert code == 401, path
        assert (status["kind"], status["reason"], status["message"], status["code"]) == (
            "Status", "Unauthorized", "Unauthorized", 401)


def test_no_credentials_is_anonymous_who_may_read_only_the_version(cluster: Cluster) -> None:
    code, _, body = cluster.http("GET", "/version", authorization="")
    assert code == 200 and "gitVersion" in json.loads(body)
    code, _, body = cluster.http("GET", "/apis", authorization="")
    assert code == 403
    assert json.loads(body)["message"] == 'forbidden: User "system:anonymous" cannot get path "/apis"'
    code, _, body = cluster.http("GET", "/api/v1/namespaces/demo/pods", authorization="")
    status = json.loads(body)
    assert code == 403 and status["reason"] == "Forbidden"
    assert status["message"] == ('pods is forbidden: User "system:anonymous" cannot list resource "pods" in API '
                                 'group "" in the namespace "demo"')
    code, _, _ = cluster.http("POST", "/api/v1/namespaces", {"metadata": {"name": "x"}}, authorization="")
    assert code == 403 and ("", "namespaces", "", "x") not in cluster.api.store.objects
