"""Fixtures for the local platform: built carts versions, a platform on a temp state folder, and
a finalizer that stops every process the test started (and checks that none is left)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pipeline_steps.documents.context import StageContext
from pipeline_steps.documents.service import ServiceSpec, load_service
from pipeline_steps.errors import BadInputError
from pipeline_steps.platforms.local import monitoring, processes, procs
from pipeline_steps.platforms.local.build import build
from pipeline_steps.platforms.local.platform import LocalPlatform
from pipeline_steps.platforms.local.state import read_json

CARTS = Path(__file__).resolve().parents[3] / "examples" / "carts"


@pytest.fixture(scope="session")
def carts_image(tmp_path_factory: pytest.TempPathFactory) -> str:
    """``<root>/carts`` with tags 1 (v1), 2 (v2, 200 ms delay) and 3 (v3)."""
    image = str(tmp_path_factory.mktemp("images") / "carts")
    build(CARTS, image, "1", {"version": "v1"})
    build(CARTS, image, "2", {"version": "v2", "delayInMillis": "200"})
    build(CARTS, image, "3", {"version": "v3"})
    return image


@pytest.fixture(scope="session")
def carts_service() -> ServiceSpec:
    return load_service(CARTS / "service.yaml")


def recorded_processes(platform: LocalPlatform) -> list[dict[str, object]]:
    """Every process record in the state folder (colours, Envoys, Prometheus); unreadable files are skipped."""
    found: list[dict[str, object]] = []
    for path in platform.state.all_stage_files():
        try:
            data = read_json(path) or {}
        except BadInputError:
            continue
        found += [r["process"] for r in data.get("colours", {}).values()]
        if (data.get("envoy") or {}).get("process"):  # a stage with reserved ports has no Envoy yet
            found.append(data["envoy"]["process"])
    prom = read_json(platform.state.prometheus_file)
    if prom:
        found.append(prom["process"])
    return found


def stop_everything(platform: LocalPlatform) -> None:
    """Whatever a test did to the state folder (even a corrupt file), nothing it started survives."""
    records = recorded_processes(platform)
    for ctx in list(platform.contexts([])):
        platform.stop_stage(ctx)
    monitoring.stop(platform.state)
    for record in records:  # belt and braces: nothing recorded may survive a test
        processes.stop(record)
    for pid in processes.started_under(platform.state.root):  # nor anything whose record was lost
        procs.stop_pid(pid)


@pytest.fixture()
def make_platform(tmp_path: Path) -> Iterator[Callable[..., LocalPlatform]]:
    made: list[LocalPlatform] = []

    def factory(name: str = "state", auto_prometheus: bool = False, scrape_interval: str = "1s") -> LocalPlatform:
        platform = LocalPlatform(tmp_path / name, auto_prometheus=auto_prometheus, scrape_interval=scrape_interval)
        made.append(platform)
        return platform

    yield factory
    for platform in made:
        stop_everything(platform)


@pytest.fixture()
def platform(make_platform: Callable[..., LocalPlatform]) -> LocalPlatform:
    """A platform without Prometheus (the Envoy and process tests do not need it)."""
    return make_platform()


def context(image: str, tag: str, stage: str = "staging", strategy: str = "blue_green_service") -> StageContext:
    return StageContext(project="sockshop", stage=stage, service="carts", image=image, tag=tag,
                        deployment_strategy=strategy, test_strategy="performance")
