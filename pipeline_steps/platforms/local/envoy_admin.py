"""The client of a local Envoy's admin API, over its private unix socket (see ``envoy.py``).

Weights are read and written here and nowhere else: ``/runtime_modify`` sets the route's runtime
keys, ``/runtime?format=json`` reads back what Envoy routes by. The socket's absolute path can be
longer than a socket address holds (108 bytes with its NUL), so the client connects through the
folder's descriptor, ``/proc/self/fd/<folder>/admin.sock``, which is short whatever the folder.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from pipeline_steps.documents.weights import Weights
from pipeline_steps.errors import BadInputError, InfrastructureError

ADMIN_SOCKET = "admin.sock"
"""The admin API's unix socket, relative to the stage's ``envoy/`` folder (Envoy's working folder)."""
ADMIN_CLUSTER = "envoy_admin"
"""The cluster through which the stats listener reaches the admin socket (not a colour)."""
RUNTIME_PREFIX = "routing.traffic_split"


class _UnixConnection(http.client.HTTPConnection):
    """HTTP/1.1 over the admin's unix socket, reached through the folder's descriptor (any path length)."""

    def __init__(self, socket_path: Path, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.socket_path = socket_path

    def connect(self) -> None:
        folder = os.open(self.socket_path.parent, os.O_PATH | os.O_DIRECTORY)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(self.timeout)
            sock.connect(f"/proc/self/fd/{folder}/{self.socket_path.name}")
        except OSError:
            sock.close()
            raise
        finally:
            os.close(folder)
        self.sock = sock


class InvalidSplit(InfrastructureError):
    """The route's weights, as found, are no valid split; ``found`` says what they are."""

    def __init__(self, found: str) -> None:
        self.found = found
        super().__init__("envoy", found)


class Admin:
    """Envoy's admin API on the unix socket in ``folder`` (the stage's ``envoy/``); every error
    becomes an ``InfrastructureError``."""

    def __init__(self, folder: Path | str) -> None:
        self.socket = Path(folder) / ADMIN_SOCKET

    def _call(self, path: str, method: str = "GET", timeout_s: float = 5.0) -> bytes:
        conn = _UnixConnection(self.socket, timeout_s)
        try:
            conn.request(method, path, body=b"" if method == "POST" else None)
            resp = conn.getresponse()
            body = resp.read()
        except (OSError, http.client.HTTPException) as err:
            raise InfrastructureError("envoy", f"admin {self.socket} {path.split('?')[0]} failed: {err}") from err
        finally:
            conn.close()
        if resp.status != 200:
            raise InfrastructureError("envoy", f"admin {self.socket} {path.split('?')[0]} answered HTTP {resp.status}")
        return body

    def ready(self) -> bool:
        """True once Envoy answers ``/ready`` with 200 (its listeners are up)."""
        try:
            self._call("/ready", timeout_s=1.0)
        except InfrastructureError:
            return False
        return True

    def set_weights(self, weights: Weights) -> None:
        query = urlencode({f"{RUNTIME_PREFIX}.blue": weights.blue, f"{RUNTIME_PREFIX}.green": weights.green})
        self._call(f"/runtime_modify?{query}", "POST")

    def runtime_values(self) -> dict[str, Any]:
        """The runtime's final values of ``<prefix>.blue`` and ``.green`` as Envoy reports them (text; None
        when never set), whatever someone wrote there through the admin API."""
        try:
            entries = json.loads(self._call("/runtime?format=json")).get("entries", {})
            return {c: entries.get(f"{RUNTIME_PREFIX}.{c}", {}).get("final_value") for c in ("blue", "green")}
        except (ValueError, AttributeError) as err:
            raise InfrastructureError("envoy", f"unreadable /runtime answer: {err}") from err

    def weights(self) -> Weights | None:
        """The weights Envoy routes by now (runtime layer), None when never set at runtime; an
        ``InvalidSplit`` naming the values when they are no valid split (an out-of-band edit)."""
        values = self.runtime_values()
        if values["blue"] in (None, "") or values["green"] in (None, ""):
            return None
        try:
            return Weights(blue=int(values["blue"]), green=int(values["green"]))
        except (ValueError, BadInputError):
            raise InvalidSplit(f"Envoy runtime {RUNTIME_PREFIX}.blue={values['blue']!r}, "
                               f"{RUNTIME_PREFIX}.green={values['green']!r} (weights must be two integers "
                               "0..100 summing to 100)") from None

    def endpoint_ports(self) -> dict[str, list[int]]:
        """Cluster name -> ports of its endpoints, as Envoy holds them now."""
        try:
            data = json.loads(self._call("/clusters?format=json"))
            return {c["name"]: [h["address"]["socket_address"]["port_value"] for h in c.get("host_statuses", [])]
                    for c in data.get("cluster_statuses", []) if c["name"] != ADMIN_CLUSTER}
        except (ValueError, KeyError, TypeError) as err:
            raise InfrastructureError("envoy", f"unreadable /clusters answer: {err}") from err
