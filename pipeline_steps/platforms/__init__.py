"""Platforms behind one Protocol (``base.Platform``), chosen by name in one explicit dict.

The modules are imported only when chosen, so the local platform never imports kubernetes.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from pipeline_steps.errors import BadInputError
from pipeline_steps.platforms.base import Platform

# name -> "module:factory"; each factory takes PlatformSettings and returns a Platform.
PLATFORMS: dict[str, str] = {
    "kubernetes": "pipeline_steps.platforms.kubernetes.platform:from_settings",
    "local": "pipeline_steps.platforms.local.platform:from_settings",
}


@dataclass(frozen=True)
class PlatformSettings:
    """What the CLI knows about where to connect; each platform reads the fields it needs."""

    state_dir: str = ".pipeline-steps"
    """Local platform: folder of state (processes, ports, weights)."""
    kubeconfig: str | None = None
    """Kubernetes: kubeconfig path (default: standard places, then in-cluster)."""
    kube_context: str | None = None
    """Kubernetes: context name in the kubeconfig."""


def make_platform(name: str, settings: PlatformSettings) -> Platform:
    """Build the named platform; an unknown name lists the valid ones."""
    target = PLATFORMS.get(name)
    if target is None:
        raise BadInputError("--platform", None, f"unknown platform {name!r}; valid: {', '.join(sorted(PLATFORMS))}")
    module_name, attr = target.split(":")
    factory = getattr(importlib.import_module(module_name), attr)
    platform: Platform = factory(settings)
    return platform
