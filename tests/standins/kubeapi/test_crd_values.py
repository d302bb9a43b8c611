"""A custom resource's values are judged by its CRD's value validations, as apiextensions-apiserver does.

Aspects (kube-openapi ``validate`` through apiextensions-apiserver's
``kubeOpenAPIResultToFieldErrors``): a Prometheus Operator duration out of order (``30s1m``) fails
the CRD's pattern, an endpoint scheme outside its enum is ``Unsupported value``, an Istio port
number past its maximum is out of bounds — each 422 ``Invalid`` with one cause per value, on create
and on a merge patch, dry run or not; the values the chart renders pass.
"""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client

from standins.kubeapi.resources import ISTIO, MONITORING
from tests.standins.kubeapi.conftest import Cluster, status_of, virtual_service


def monitor(**endpoint: Any) -> dict[str, Any]:
    return {"apiVersion": f"{MONITORING}/v1", "kind": "ServiceMonitor", "metadata": {"name": "carts"},
            "spec": {"selector": {"matchLabels": {"app": "carts"}},
                     "endpoints": [{"port": "http", "path": "/metrics", "interval": "15s", **endpoint}]}}


@pytest.fixture()
def operator(make_cluster: Any) -> Cluster:
    made: Cluster = make_cluster(served={ISTIO: ("v1",), MONITORING: ("v1",)})
    made.namespace()
    return made


@pytest.mark.parametrize(("endpoint", "field", "message"), [
    ({"interval": "30s1m"}, "spec.endpoints[0].interval",
     'Invalid value: "30s1m": spec.endpoints[0].interval in body should match \'^(0|(([0-9]+)y)?(([0-9]+)w)?'),
    ({"scheme": "ftp"}, "spec.endpoints[0].scheme", 'Unsupported value: "ftp": supported values: '),
], ids=["pattern", "enum"])
def test_the_operators_crd_refuses_values_outside_its_validations(operator: Cluster, endpoint: dict[str, Any],
                                                                 field: str, message: str) -> None:
    for dry_run in ("All", None):
        with pytest.raises(client.ApiException) as err:
            operator.custom.create_namespaced_custom_object(MONITORING, "v1", "demo", "servicemonitors",
                                                            monitor(**endpoint), dry_run=dry_run)
        status = status_of(err.value)
        assert err.value.status == 422 and status["reason"] == "Invalid"
        assert [c["field"] for c in status["details"]["causes"]] == [field]
        assert status["message"].startswith(f'ServiceMonitor.{MONITORING} "carts" is invalid: {field}: {message}')
    operator.custom.create_namespaced_custom_object(MONITORING, "v1", "demo", "servicemonitors", monitor(interval="1m30s"))
    with pytest.raises(client.ApiException) as patched:
        operator.custom.patch_namespaced_custom_object(MONITORING, "v1", "demo", "servicemonitors", "carts",
                                                       {"spec": {"endpoints": [{"port": "http", **endpoint}]}})
    assert patched.value.status == 422


def test_istio_bounds_are_enforced(operator: Cluster) -> None:
    vs = virtual_service("web")
    vs["spec"]["http"][0]["route"][0]["destination"]["port"] = {"number": 4294967296}
    with pytest.raises(client.ApiException) as err:
        operator.custom.create_namespaced_custom_object(ISTIO, "v1", "demo", "virtualservices", vs)
    assert err.value.status == 422
    assert "spec.http[0].route[0].destination.port.number in body should be less than or equal to 4294967295" in \
        status_of(err.value)["message"]
    vs["spec"]["http"][0]["route"][0]["destination"]["port"] = {"number": 80}
    operator.custom.create_namespaced_custom_object(ISTIO, "v1", "demo", "virtualservices", vs)
