"""The local platform's controls and records belong to the user who runs it (issue 12, item 10).

Aspects: after a blue/green deployment with Prometheus, made under a umask of 000 (so nothing
holds by accident), every folder under the state folder is 0700 and every file and socket 0600
(state, lock, logs, Envoy files and admin socket, Prometheus' configuration and TSDB); Envoy's
admin API is a unix socket, not a TCP port, and its stats listener serves ``GET
/stats/prometheus`` and nothing else (``/runtime_modify``, ``/quitquitquit`` answer 404 and change
nothing); Prometheus answers 403 to ``/-/reload`` and ``/-/quit`` and reloads on the owner's
SIGHUP; another local user (``nobody``, when the tests run as root) can neither connect to the
admin socket nor read the state, a log or the TSDB.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable
from urllib.error import HTTPError
from urllib.request import Request, urlopen

import pytest

from pipeline_steps.documents.service import ServiceSpec
from pipeline_steps.documents.weights import Weights
from pipeline_steps.errors import InfrastructureError
from pipeline_steps.platforms.local import envoy, monitoring
from pipeline_steps.platforms.local.platform import LocalPlatform
from pipeline_steps.platforms.local.procs import pid_alive
from tests.platforms.local.conftest import context

NOBODY = 65534


@pytest.fixture()
def deployed(make_platform: Callable[..., LocalPlatform], carts_image: str,
             carts_service: ServiceSpec) -> LocalPlatform:
    platform = make_platform("private", auto_prometheus=True)
    ctx = context(carts_image, "1")
    previous = os.umask(0)  # the most permissive caller: every mode below is the platform's own doing
    try:
        with platform.lock(ctx, "test-build", 60):
            platform.apply(ctx, "blue", carts_service)
            platform.wait_available(ctx, "blue", 30)
            platform.wait_available(ctx, "green", 30)
            platform.set_weights(ctx, Weights(100, 0))
    finally:
        os.umask(previous)
    return platform


def _post(url: str) -> int:
    return _post_answer(url)[0]


def _post_answer(url: str) -> tuple[int, str]:
    try:
        with urlopen(Request(url, data=b"", method="POST"), timeout=5) as resp:
            return int(resp.status), resp.read().decode()
    except HTTPError as err:
        return err.code, err.read().decode()


def test_every_folder_is_0700_and_every_file_0600(deployed: LocalPlatform) -> None:
    root = deployed.state.root
    kinds: dict[str, int] = {}
    wrong = []
    for path in [root, *root.rglob("*")]:
        info = path.lstat()
        kind = "dir" if stat.S_ISDIR(info.st_mode) else "socket" if stat.S_ISSOCK(info.st_mode) else "file"
        kinds[kind] = kinds.get(kind, 0) + 1
        want = 0o700 if kind == "dir" else 0o600
        if stat.S_IMODE(info.st_mode) != want:
            wrong.append(f"{oct(stat.S_IMODE(info.st_mode))} {path.relative_to(root)}")
    assert wrong == [], "\n".join(wrong)
    names = {p.name for p in root.rglob("*")}
    assert {"state.json", "lock", "blue.log", "envoy.log", "envoy.json", envoy.ADMIN_SOCKET, "prometheus.yml",
            "prometheus.log", "prometheus.json", "tsdb"} <= names, names
    assert kinds["socket"] == 1 and kinds["file"] > 10, kinds


def test_envoy_admin_is_a_socket_and_the_stats_port_serves_only_stats(deployed: LocalPlatform, carts_image: str) -> None:
    ctx = context(carts_image, "1")
    record = json.loads(deployed.state.stage_file(ctx).read_text())["envoy"]
    assert "admin_port" not in record
    admin = envoy.Admin(deployed.state.stage_dir(ctx) / "envoy")
    assert stat.S_ISSOCK(admin.socket.lstat().st_mode) and admin.weights() == Weights(100, 0)

    stats = f"http://127.0.0.1:{record['stats_port']}"
    with urlopen(stats + envoy.STATS_PATH, timeout=5) as resp:
        assert resp.status == 200 and b"envoy_cluster_upstream_rq" in resp.read()
    assert _post(f"{stats}/runtime_modify?routing.traffic_split.blue=0&routing.traffic_split.green=100") == 404
    assert _post(stats + envoy.STATS_PATH) == 404  # GET only
    assert _post(f"{stats}/quitquitquit") == 404
    assert admin.weights() == Weights(100, 0) and pid_alive(record["process"]["pid"])


def test_prometheus_control_endpoints_are_off_and_sighup_reloads(deployed: LocalPlatform) -> None:
    server = monitoring.attached(deployed.state)
    assert server is not None
    assert _post(f"{server.url}/-/reload") == 403
    assert _post(f"{server.url}/-/quit") == 403
    status, body = _post_answer(f"{server.url}/api/v1/admin/tsdb/snapshot")
    assert status != 200 and "admin APIs disabled" in body, (status, body)  # no --web.enable-admin-api
    assert not (deployed.state.prometheus_dir / "tsdb" / "snapshots").exists()
    assert server.running()
    server.reload(server.scrape_configs, scrape_interval="2s")  # SIGHUP, confirmed by the server itself
    with urlopen(f"{server.url}/api/v1/status/config", timeout=5) as resp:
        assert "scrape_interval: 2s" in json.loads(resp.read())["data"]["yaml"]


@pytest.mark.skipif(os.geteuid() != 0, reason="switching to another user needs root; the modes are checked above")
def test_another_local_user_reaches_nothing(deployed: LocalPlatform, carts_image: str) -> None:
    ctx = context(carts_image, "1")
    stage = deployed.state.stage_dir(ctx)
    targets = {
        "state": stage / "state.json",
        "log": stage / "logs" / "blue.log",
        "prometheus config": deployed.state.prometheus_dir / "prometheus.yml",
        "tsdb": deployed.state.prometheus_dir / "tsdb",
    }
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child becomes nobody and reports what it could do
        os.close(read_end)
        outcome = {}
        try:
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            for name, path in targets.items():
                try:
                    os.listdir(path) if path.is_dir() else path.read_bytes()
                    outcome[name] = "read"
                except PermissionError:
                    outcome[name] = "refused"
            try:
                envoy.Admin(stage / "envoy").weights()
                outcome["admin socket"] = "connected"
            except InfrastructureError as err:
                outcome["admin socket"] = "refused" if "Permission denied" in str(err) else str(err)
        except BaseException as err:
            outcome["error"] = repr(err)
        os.write(write_end, json.dumps(outcome).encode())
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        outcome = json.loads(pipe.read())
    os.waitpid(pid, 0)
    assert outcome == {name: "refused" for name in [*targets, "admin socket"]}, outcome


def test_the_admin_socket_works_below_a_folder_path_longer_than_a_socket_address(
        make_platform: Callable[..., LocalPlatform], carts_image: str, carts_service: ServiceSpec) -> None:
    platform = make_platform("s" * 120)
    ctx = context(carts_image, "1")
    platform.apply(ctx, "blue", carts_service)
    platform.wait_available(ctx, "green", 30)
    socket_path = platform.state.stage_dir(ctx) / "envoy" / envoy.ADMIN_SOCKET
    assert len(str(socket_path).encode()) > 107  # sun_path holds 108 bytes with its NUL
    assert platform.set_weights(ctx, Weights(0, 100)) == Weights(0, 100)
    assert envoy.Admin(socket_path.parent).weights() == Weights(0, 100)
