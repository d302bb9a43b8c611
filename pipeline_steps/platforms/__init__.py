"""Platforms behind one Protocol (``base.Platform``), chosen by name in one explicit dict.

Each platform class declares its own option group (``OPTIONS``) and settings group, so
``commands/`` builds any platform from ``--platform NAME`` without naming one. The modules are
imported only when needed, so ``--help`` never imports a platform; adding a platform is one
module, one line in ``PLATFORMS`` and a line in ``tests/platforms/test_contract.py``.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pipeline_steps.errors import BadInputError
from pipeline_steps.platforms.base import Option, Platform

PLATFORMS: dict[str, str] = {
    "kubernetes": "pipeline_steps.platforms.kubernetes.platform:KubernetesPlatform",
    "local": "pipeline_steps.platforms.local.platform:LocalPlatform",
}
"""name -> "module:class"; each class has ``OPTIONS``, ``settings_from_options`` and ``from_settings``."""


@dataclass(frozen=True)
class PlatformSettings:
    """One settings group per platform (``groups[name]``, built by its ``settings_from_options``)."""

    groups: Mapping[str, Any] = field(default_factory=dict)

    def group(self, name: str, default: Any) -> Any:
        """The settings group of platform ``name`` (``default`` when none was given)."""
        return self.groups.get(name, default)


def platform_class(name: str) -> Any:
    """The class behind a name in ``PLATFORMS``; an unknown name lists the valid ones."""
    target = PLATFORMS.get(name)
    if target is None:
        raise BadInputError("--platform", None, f"unknown platform {name!r}; valid: {', '.join(sorted(PLATFORMS))}")
    module_name, attr = target.split(":")
    return getattr(importlib.import_module(module_name), attr)


def options() -> list[Option]:
    """Every platform's option group, in ``PLATFORMS`` order (for ``commands/``)."""
    return [option for name in PLATFORMS for option in platform_class(name).OPTIONS]


def settings_from_options(values: Mapping[str, Any]) -> PlatformSettings:
    """Every platform's settings group from the option values."""
    return PlatformSettings({name: platform_class(name).settings_from_options(values) for name in PLATFORMS})


def make_platform(name: str, settings: PlatformSettings) -> Platform:
    """Build the named platform; an unknown name lists the valid ones."""
    platform: Platform = platform_class(name).from_settings(settings)
    return platform
