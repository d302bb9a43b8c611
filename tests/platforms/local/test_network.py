"""Everything the local platform starts listens on 127.0.0.1 only, on the ports it recorded.

Aspects: after a blue/green deployment with Prometheus, the listening TCP sockets of every
recorded process (each colour's carts, the stage's Envoy, Prometheus) are exactly the recorded
ports (colour ports, Envoy's listener and stats listener, Prometheus' port), all bound to 127.0.0.1,
none to a wildcard or an external address; the ports a colour or Envoy keeps across restarts lie
below the kernel's ephemeral range. Sockets are read from /proc, not from our records.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from pathlib import Path

from pipeline_steps.documents.service import ServiceSpec
from pipeline_steps.platforms.local import procs
from pipeline_steps.platforms.local.platform import LocalPlatform
from tests.platforms.local.conftest import context


def _address(hex_address: str) -> tuple[str, int]:
    """``0100007F:1F90`` (as /proc/net/tcp writes it) -> ("127.0.0.1", 8080); IPv6 alike."""
    ip, port = hex_address.split(":")
    raw = b"".join(bytes.fromhex(ip[i:i + 8])[::-1] for i in range(0, len(ip), 8))
    return socket.inet_ntop(socket.AF_INET if len(raw) == 4 else socket.AF_INET6, raw), int(port, 16)


def _listening() -> dict[str, tuple[str, int]]:
    """Socket inode -> address of every listening TCP socket (IPv4 and IPv6)."""
    found = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A":  # TCP_LISTEN
                found[fields[9]] = _address(fields[1])
    return found


def _group(leader: int) -> list[int]:
    """The pids of the process group ``leader`` started (the wrapper and the service under it)."""
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and int((proc / "stat").read_text().rsplit(")", 1)[1].split()[2]) == leader:
                pids.append(int(proc.name))
        except (OSError, IndexError):
            continue
    return pids


def _listens(leader: int) -> set[tuple[str, int]]:
    sockets = _listening()
    addresses = set()
    for pid in _group(leader):
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = fd.readlink().name
            except OSError:
                continue
            if target.startswith("socket:[") and target[8:-1] in sockets:
                addresses.add(sockets[target[8:-1]])
    return addresses


def test_every_process_listens_on_loopback_only_on_its_recorded_ports(make_platform: Callable[..., LocalPlatform],
                                                                       carts_image: str, carts_service: ServiceSpec) -> None:
    platform = make_platform("net", auto_prometheus=True)
    ctx = context(carts_image, "1")
    platform.apply(ctx, "blue", carts_service)
    for colour in ("blue", "green"):
        platform.wait_available(ctx, colour, 15)
    stage = json.loads(platform.state.stage_file(ctx).read_text())
    prometheus = json.loads(platform.state.prometheus_file.read_text())
    expected = {
        stage["colours"]["blue"]["process"]["pid"]: {stage["colours"]["blue"]["port"]},
        stage["colours"]["green"]["process"]["pid"]: {stage["colours"]["green"]["port"]},
        stage["envoy"]["process"]["pid"]: {stage["envoy"]["listener_port"], stage["envoy"]["stats_port"]},
        prometheus["process"]["pid"]: {prometheus["server"]["port"]},
    }
    for leader, ports in expected.items():
        assert _listens(leader) == {("127.0.0.1", port) for port in ports}, (leader, ports)
    # ports kept across restarts lie below the ephemeral range, where no client connection can take them
    ephemeral_from = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    kept = [stage["colours"][c]["port"] for c in ("blue", "green")] + [stage["envoy"]["listener_port"],
                                                                         stage["envoy"]["stats_port"]]
    assert all(procs.STABLE_PORTS_FROM <= port < ephemeral_from for port in kept), (kept, ephemeral_from)
