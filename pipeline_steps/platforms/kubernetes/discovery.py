"""Which version of Istio's networking API this cluster serves, found by asking it (API discovery).

Istio 1.22 and later serve ``networking.istio.io`` at v1, v1beta1 and v1alpha3; 1.21 and older
only at v1beta1 and v1alpha3 (https://istio.io/latest/blog/2024/v1-apis/: the same schema in every
version). Asking for a version that is not served answers a plain 404 that names nothing, which a
client must not read as "no such object" (keptn/keptn-style outage: both colours replaced). So the
version comes from discovery (``GET /apis``: each group's served versions and the preferred one,
kubernetes/apimachinery ``APIGroupList``), and the three kinds we use must be listed at it
(``GET /apis/networking.istio.io/<version>``; a partial install lacks some CRDs). A cluster without
them is an infrastructure error (exit 4) before anything is written.
"""

from __future__ import annotations

from typing import Any

from pipeline_steps.errors import InfrastructureError
from pipeline_steps.platforms.kubernetes.client import BACKEND, Kube

ISTIO_GROUP = "networking.istio.io"
ISTIO_VERSIONS = ("v1", "v1beta1", "v1alpha3")
"""Versions whose VirtualService/DestinationRule/Gateway schema we speak, best first."""
ISTIO_PLURALS = {"VirtualService": "virtualservices", "DestinationRule": "destinationrules", "Gateway": "gateways"}


class Discovery:
    """Answers about what the cluster serves; each question goes to the API server once."""

    def __init__(self, kube: Kube) -> None:
        self.kube = kube
        self._groups: dict[str, tuple[str, list[str]]] | None = None
        self._istio: str | None = None

    def groups(self) -> dict[str, tuple[str, list[str]]]:
        """Group name -> (preferred version, served versions)."""
        if self._groups is None:
            found = self.kube.call("discover API groups", self.kube.apis.get_api_versions)
            self._groups = {g["name"]: ((g.get("preferredVersion") or {}).get("version", ""),
                                        [v["version"] for v in g.get("versions") or []])
                            for g in found.get("groups") or [] if isinstance(g, dict) and g.get("name")}
        return self._groups

    def serves(self, group: str, version: str) -> bool:
        return version in self.groups().get(group, ("", []))[1]

    def istio_version(self) -> str:
        """The networking.istio.io version to use: the preferred one if we speak it, else the best
        served one we speak; ``InfrastructureError`` if none, or if a kind we use is missing."""
        if self._istio is not None:
            return self._istio
        preferred, served = self.groups().get(ISTIO_GROUP, ("", []))
        if not served:
            raise InfrastructureError(BACKEND, f"the cluster does not serve {ISTIO_GROUP} (Istio's networking API): "
                                               "install Istio, or its CRDs, before deploying; nothing was changed")
        usable = [v for v in ISTIO_VERSIONS if v in served]
        if not usable:
            raise InfrastructureError(BACKEND, f"{ISTIO_GROUP} is served at {', '.join(served)}, none of which "
                                               f"pipeline-steps speaks ({', '.join(ISTIO_VERSIONS)}); nothing was changed")
        version = preferred if preferred in usable else usable[0]
        listed = self.kube.call(f"discover {ISTIO_GROUP}/{version}", self.kube.custom.get_api_resources,
                                ISTIO_GROUP, version)
        names = {r.get("name") for r in listed.get("resources") or [] if isinstance(r, dict)}
        missing = sorted(p for p in ISTIO_PLURALS.values() if p not in names)
        if missing:
            raise InfrastructureError(BACKEND, f"{ISTIO_GROUP}/{version} lacks {', '.join(missing)} (a partial Istio "
                                               "install: its CRDs are missing); nothing was changed")
        self._istio = version
        return version

    def istio_api_version(self) -> str:
        return f"{ISTIO_GROUP}/{self.istio_version()}"


def as_served(obj: dict[str, Any], discovery: Discovery) -> dict[str, Any]:
    """``obj`` with an Istio apiVersion rewritten to the served one (the chart renders v1)."""
    if str(obj.get("apiVersion", "")).startswith(f"{ISTIO_GROUP}/"):
        return {**obj, "apiVersion": discovery.istio_api_version()}
    return obj
