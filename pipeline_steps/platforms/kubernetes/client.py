"""The edge to the official ``kubernetes`` client: configuration, one call wrapper, error mapping.

Everything the platform sends goes through ``Kube.call``, so three rules hold in one place:
every request has a timeout (a hung API server must not hang a Jenkins build); the client's
exceptions become ours (``KubeApiError`` carrying the HTTP status and the Status reason, never
the request headers or the kubeconfig's token); answers come back as plain dicts in the API's
own camelCase shape, which is what manifests, patches and the stand-in speak.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pipeline_steps.errors import BadInputError, InfrastructureError
from pipeline_steps.files import read_yaml

BACKEND = "kubernetes"


class KubeApiError(InfrastructureError):
    """The API server answered an error, or could not be reached (``status`` 0)."""

    def __init__(self, what: str, status: int, reason: str, message: str) -> None:
        self.status, self.reason = status, reason
        detail = f"HTTP {status} {reason}: {message}" if status else message
        super().__init__(BACKEND, f"{what}: {detail}")


def api_client(kubeconfig: str | None, context: str | None) -> Any:
    """An ``ApiClient`` from ``kubeconfig`` (else ``$KUBECONFIG`` / ``~/.kube/config``), with
    ``context``; inside a pod without a kubeconfig, the pod's service account."""
    import urllib3
    import yaml
    from kubernetes import client, config

    cfg = client.Configuration()
    default_file = Path(os.path.expanduser("~/.kube/config"))
    use_file = kubeconfig or os.environ.get("KUBECONFIG") or default_file.exists()
    if use_file:
        # The library reads the file with yaml.safe_load (no bound on aliases, last duplicate key
        # wins); our strict reader sees every file of KUBECONFIG first, so a malformed one is bad
        # input naming it and the field, never a hang or a silently different cluster.
        for name in (kubeconfig or os.environ.get("KUBECONFIG") or str(default_file)).split(os.pathsep):
            if name and Path(os.path.expanduser(name)).is_file():
                try:
                    read_yaml(os.path.expanduser(name))
                except BadInputError as err:  # a syntax error shows its position only: the text may hold a token
                    mark = getattr(err.__cause__, "problem_mark", None)
                    why = f"YAML syntax error (line {mark.line + 1})" if mark is not None else err.message
                    raise BadInputError(name, None if mark is not None else err.field,
                                        f"is not a valid kubeconfig: {why}") from None
    try:
        if use_file:
            config.load_kube_config(config_file=kubeconfig, context=context, client_configuration=cfg,
                                    persist_config=False)
        elif context:
            # A context names a cluster in a kubeconfig; falling back to the pod's own cluster
            # would deploy somewhere the user did not ask for.
            raise BadInputError("--context", None, f"{context!r} needs a kubeconfig (--kubeconfig, KUBECONFIG, "
                                                   "~/.kube/config) and none was found")
        elif os.environ.get("KUBERNETES_SERVICE_HOST"):
            config.load_incluster_config(client_configuration=cfg)
        else:
            raise BadInputError("--kubeconfig", None, "no kubeconfig (KUBECONFIG, ~/.kube/config) and not inside a pod")
    except config.ConfigException as err:
        # The message names what is wrong (missing context, bad file) but never credentials.
        source = kubeconfig or os.environ.get("KUBECONFIG") or str(default_file)
        raise BadInputError(source, f"context {context}" if context else None, str(err).splitlines()[0][:200]) from err
    except (yaml.YAMLError, TypeError, AttributeError, KeyError, ValueError) as err:
        # A file that is not YAML, or YAML that is not a kubeconfig, makes the loader fail with
        # these; only the position is shown, never the text (it could hold a token).
        source = kubeconfig or os.environ.get("KUBECONFIG") or str(default_file)
        mark = getattr(err, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise BadInputError(source, None, f"is not a valid kubeconfig: {type(err).__name__}{where}") from None
    # Retry only failed connects; a read timeout on a write must surface, not be replayed blindly.
    cfg.retries = urllib3.Retry(total=2, connect=2, read=0, redirect=0, status=0, other=0)
    return client.ApiClient(cfg)


class Kube:
    """Typed API groups of one ``ApiClient`` plus ``call``; ``timeout_s`` bounds every request."""

    def __init__(self, client_: Any, timeout_s: float = 10.0) -> None:
        from kubernetes import client

        self.api_client = client_
        self.timeout_s = timeout_s
        self.core = client.CoreV1Api(client_)
        self.apps = client.AppsV1Api(client_)
        self.custom = client.CustomObjectsApi(client_)
        self.coordination = client.CoordinationV1Api(client_)

    def call(self, what: str, method: Callable[..., Any], *args: Any, **kwargs: Any) -> dict[str, Any]:
        """Run one API method, return the answer's JSON; raise ``KubeApiError`` naming ``what``."""
        import urllib3
        from kubernetes.client.exceptions import ApiException

        try:
            response = method(*args, _preload_content=False, _request_timeout=self.timeout_s, **kwargs)
            data = response.data
            response.release_conn()  # back to the pool: one keep-alive connection serves the whole flip
            return json.loads(data) if data else {}
        except ApiException as err:
            reason, message = _status_of(err)
            raise KubeApiError(what, int(err.status or 0), reason, message) from None
        except urllib3.exceptions.HTTPError as err:
            kind = "timed out" if isinstance(err, (urllib3.exceptions.TimeoutError,)) or "timed out" in str(err) \
                else "could not reach the API server"
            raise KubeApiError(what, 0, "", f"{kind} ({type(err).__name__}, timeout {self.timeout_s:g}s)") from None
        except (OSError, ValueError) as err:
            raise KubeApiError(what, 0, "", f"{type(err).__name__}: {err}") from None


def _status_of(err: Any) -> tuple[str, str]:
    """Reason and message from the Status object in the body (falls back to the HTTP reason)."""
    body = err.body
    if body is None and getattr(err, "data", None) is None and getattr(err, "http_resp", None) is not None:
        body = getattr(err.http_resp, "data", None)
    try:
        status = json.loads(body) if body else {}
    except (TypeError, ValueError):
        status = {}
    if not isinstance(status, dict):
        status = {}
    return str(status.get("reason") or err.reason or ""), str(status.get("message") or "")[:300]
