"""The local platform as a subject of the Platform contract test (``tests/platforms/test_contract.py``).

Real parts: carts processes built from ``examples/carts`` (tags 1, 2, 3), a real Envoy per
service and stage; Prometheus is left out (the contract does not read metrics). A colour is
"broken" by stopping its process, as a crash would.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pipeline_steps.documents.context import StageContext
from pipeline_steps.documents.service import ServiceSpec, load_service
from pipeline_steps.platforms.local import processes
from pipeline_steps.platforms.local.build import build
from pipeline_steps.platforms.local.platform import LocalPlatform
from tests.platforms.local.conftest import CARTS, stop_everything
from tests.platforms.test_contract import Subject


@contextmanager
def local_subject(tmp_path: Path) -> Iterator[Subject]:
    image = str(tmp_path / "images" / "carts")
    for tag in ("1", "2", "3"):
        build(CARTS, image, tag, {"version": f"v{tag}"})
    platform = LocalPlatform(tmp_path / "state", auto_prometheus=False)
    carts = load_service(CARTS / "service.yaml")

    def service(name: str) -> ServiceSpec:
        return dataclasses.replace(carts, name=name)

    def break_colour(ctx: StageContext, colour: str, reason: str) -> None:
        record = json.loads(platform.state.stage_file(ctx).read_text())["colours"][colour]["process"]
        assert processes.stop(record), f"{colour} was not running"

    try:
        yield Subject(platform=platform, service=service, image=image, break_colour=break_colour)
    finally:
        stop_everything(platform)
