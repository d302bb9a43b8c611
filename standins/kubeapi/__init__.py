"""Loopback Kubernetes API stand-in (tests and benchmarks only; not shipped).

``KubeApiStandIn`` serves discovery and the kinds pipeline-steps uses (core, apps, autoscaling,
coordination, RBAC, SelfSubjectAccessReview, Istio and Prometheus Operator custom resources at
the versions a test installs) as strictly as an API server; ``write_kubeconfig`` points the
real client and kubectl at it. Run it alone with ``python -m standins.kubeapi --port 0
--kubeconfig FILE`` (``--help`` for the cluster's shape).
"""

from __future__ import annotations

from pathlib import Path

from standins.kubeapi.authn import TOKEN
from standins.kubeapi.server import Fault, KubeApiStandIn


def write_kubeconfig(url: str, path: str | Path, context: str = "standin", token: str = TOKEN) -> Path:
    """A kubeconfig whose ``context`` talks plain HTTP to ``url`` with the stand-in's token."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "apiVersion: v1\nkind: Config\n"
        f"clusters:\n- name: {context}\n  cluster:\n    server: {url}\n"
        f"users:\n- name: {context}\n  user:\n    token: {token}\n"
        f"contexts:\n- name: {context}\n  context:\n    cluster: {context}\n    user: {context}\n"
        f"current-context: {context}\n",
        encoding="utf-8",
    )
    return path


__all__ = ["Fault", "KubeApiStandIn", "write_kubeconfig"]
