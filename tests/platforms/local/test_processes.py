"""Processes of the local platform are reported when they crash and are never confused with strangers.

Aspects: a colour that exits at start fails wait_available with its exit code and log tail, and
status shows it as not available with the reason; a colour killed later is reported as gone;
a recorded pid that now runs another command line is neither "ours" nor signalled; a service
whose wrapper was killed is reported gone, and stopped (Envoy: replaced on the same port); stopping
returns only when the whole process group is gone (a service that ignores SIGTERM is killed, it does
not outlive its wrapper); bad input (no built folder, no local.command, a colour that does not fit
the strategy) starts nothing.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline_steps.documents.service import ServiceSpec
from pipeline_steps.errors import BadInputError, NotReadyError
from pipeline_steps.platforms.local import processes
from pipeline_steps.platforms.local.platform import LocalPlatform
from pipeline_steps.platforms.local.procs import pid_alive
from tests.platforms.local.conftest import context

CRASHING = ("{python}", "-c", "import sys; print('cannot open the cart database'); sys.exit(3)")


def test_crash_at_start_is_reported_with_exit_code_and_log(platform: LocalPlatform, carts_image: str,
                                                           carts_service: ServiceSpec) -> None:
    broken = dataclasses.replace(carts_service, local_command=CRASHING)
    ctx = context(carts_image, "1", stage="dev", strategy="direct")
    platform.apply(ctx, None, broken)
    started = time.monotonic()
    with pytest.raises(NotReadyError) as err:
        platform.wait_available(ctx, None, timeout_s=30)
    assert time.monotonic() - started < 10, "a crashed process must fail fast, not wait for the timeout"
    assert "exited with code 3" in str(err.value) and "cannot open the cart database" in str(err.value)
    (state,) = platform.status(ctx).colours
    assert not state.available and state.ready == 0 and "exited with code 3" in state.reasons[0]


def test_killed_colour_is_reported_gone(platform: LocalPlatform, carts_image: str, carts_service: ServiceSpec) -> None:
    ctx = context(carts_image, "1", stage="dev", strategy="direct")
    platform.apply(ctx, None, carts_service)
    assert platform.wait_available(ctx, None, 15).available
    record = json.loads(platform.state.stage_file(ctx).read_text())["colours"]["direct"]["process"]
    assert processes.stop(record)
    (state,) = platform.status(ctx).colours
    assert not state.available and "is gone" in state.reasons[0]
    with pytest.raises(NotReadyError, match="is gone"):
        platform.wait_available(ctx, None, 5)


def test_a_reused_pid_is_not_ours_and_not_signalled(tmp_path) -> None:  # type: ignore[no-untyped-def]
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"], start_new_session=True)
    try:
        record = {"pid": stranger.pid, "argv": ["sh", "-c", "something we started once"]}
        assert not processes.is_ours(record)
        assert processes.stop(record) is False
        time.sleep(0.2)
        assert stranger.poll() is None, "a process that is not ours was signalled"
    finally:
        stranger.kill()
        stranger.wait()


def test_bad_input_starts_nothing(platform: LocalPlatform, carts_image: str, carts_service: ServiceSpec) -> None:
    with pytest.raises(BadInputError, match="not a built folder"):
        platform.apply(context(carts_image, "9.9.9"), "blue", carts_service)
    with pytest.raises(BadInputError, match=r"local\.command"):
        platform.apply(context(carts_image, "1"), "blue", dataclasses.replace(carts_service, local_command=()))
    with pytest.raises(BadInputError, match="colour"):
        platform.apply(context(carts_image, "1"), None, carts_service)
    assert platform.state.all_stage_files() == []
    assert not platform.status(context(carts_image, "1")).deployed


def test_service_outliving_its_killed_wrapper_is_reported_and_stopped(platform: LocalPlatform, carts_image: str,
                                                                      carts_service: ServiceSpec) -> None:
    ctx = context(carts_image, "1")
    platform.apply(ctx, "blue", carts_service)
    platform.wait_available(ctx, "blue", 15)
    data = json.loads(platform.state.stage_file(ctx).read_text())
    for record in (data["colours"]["green"]["process"], data["envoy"]["process"]):
        os.kill(record["pid"], signal.SIGKILL)  # the sh wrapper only: carts / envoy live on
        deadline = time.monotonic() + 5
        while processes.pid_alive(record["pid"]) and time.monotonic() < deadline:  # also reaps our child
            time.sleep(0.01)
    green = data["colours"]["green"]["process"]
    (orphan,) = processes.orphans_of(green)
    assert not processes.is_ours(green)
    described = platform.describe(ctx)
    assert "traffic switch of sockshop-staging/carts is not running" in described["error"]
    assert [c["available"] for c in described["colours"]] == [True, False]
    assert "is gone" in described["colours"][1]["reasons"][0]

    old_envoy = processes.orphans_of(data["envoy"]["process"])
    assert platform.revive(ctx) == platform.endpoints(ctx).public_url  # a fresh Envoy on the same port
    assert old_envoy and not any(pid_alive(p) for p in old_envoy)
    assert platform.status(ctx).weights is not None

    assert platform.stop_stage(ctx) >= 2
    assert not pid_alive(orphan) and processes.orphans_of(green) == []


def test_stop_waits_for_the_whole_group_and_kills_a_service_ignoring_sigterm(tmp_path) -> None:  # type: ignore[no-untyped-def]
    stubborn = ("import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ignoring SIGTERM', flush=True); "
                "time.sleep(60)")
    record = processes.start([sys.executable, "-c", stubborn], cwd=tmp_path, log=tmp_path / "stubborn.log").to_dict()
    try:
        deadline = time.monotonic() + 10
        # the log's first line quotes the command; the service's own line comes after it
        while "ignoring SIGTERM" not in (tmp_path / "stubborn.log").read_text().splitlines() and time.monotonic() < deadline:
            time.sleep(0.02)
        (service,) = processes.orphans_of(record)  # the python under the sh wrapper
        assert processes.stop(record, timeout_s=0.5)
        assert not pid_alive(service) and processes.members(record["pid"]) == []
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(record["pid"], signal.SIGKILL)


def test_a_started_service_carries_none_of_the_jenkins_steps_kill_cookies(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Under Jenkins, the end of ``node`` kills what carries JENKINS_NODE_COOKIE (BUILD_ID for freestyle) and an
    aborted ``sh`` what carries JENKINS_SERVER_COOKIE: a stage's services must outlive the deploy step."""
    monkeypatch.setenv("JENKINS_NODE_COOKIE", "node-cookie-1")
    monkeypatch.setenv("BUILD_ID", "42")
    monkeypatch.setenv("JENKINS_SERVER_COOKIE", "durable-abc")
    monkeypatch.setenv("KEPT_AS_IS", "yes")
    started = processes.start([sys.executable, "-c", "import time; time.sleep(30)"], cwd=tmp_path,
                              log=tmp_path / "svc.log", env={"EXTRA": "1"})
    try:
        raw = Path(f"/proc/{started.pid}/environ").read_bytes().split(b"\0")
        environ = dict(item.decode().split("=", 1) for item in raw if b"=" in item)
        assert environ["JENKINS_NODE_COOKIE"] == environ["BUILD_ID"] == "dontKillMe"
        assert "JENKINS_SERVER_COOKIE" not in environ
        assert environ["KEPT_AS_IS"] == "yes" and environ["EXTRA"] == "1"
    finally:
        processes.stop(started.to_dict())
    assert not pid_alive(started.pid)


def test_a_stopped_servers_port_is_bindable_again_once_its_keep_alive_clients_close(tmp_path: Path) -> None:
    """A colour stopped while Envoy and Prometheus hold keep-alive connections: its side of each stays in
    FIN_WAIT until they close theirs, and Linux may refuse the bind meanwhile (a window of milliseconds
    the kernel times: an immediate check failed in 1 of 3 runs here, and in 1 of 5 demos). ``wait_port_free``
    returns once the port binds (the colour keeps its port, Prometheus its target); a port someone
    listens on stays taken."""
    import socket
    import threading

    from pipeline_steps.platforms.local import procs

    port = procs.stable_port()
    carts = Path(__file__).resolve().parents[3] / "examples" / "carts" / "app.py"
    server = subprocess.Popen([sys.executable, str(carts), "--port", str(port)], cwd=tmp_path, start_new_session=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    clients: list[socket.socket] = []
    try:
        procs.wait_http(f"http://127.0.0.1:{port}/health", timeout_s=15, what="carts", proc=server)
        for _ in range(5):
            client = socket.create_connection(("127.0.0.1", port))
            client.sendall(b"GET /health HTTP/1.1\r\nHost: carts\r\n\r\n")  # answered; the connection stays open
            clients.append(client)
        time.sleep(0.3)
    finally:
        procs.stop_pid(server.pid)
    closer = threading.Timer(0.3, lambda: [c.close() for c in clients])
    closer.start()
    try:
        assert procs.wait_port_free(port, timeout_s=10.0)
    finally:
        closer.cancel()
        for client in clients:
            client.close()

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        assert not procs.wait_port_free(listener.getsockname()[1], timeout_s=0.1)
