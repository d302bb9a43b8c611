"""The edge to the official ``kubernetes`` client: configuration, one call wrapper, error mapping.

Everything the platform sends goes through ``Kube.call``, so these rules hold in one place:
every request has a timeout (a hung API server must not hang a Jenkins build); the client's
exceptions become ours (``KubeApiError`` carrying the HTTP status, the Status reason and whom
the Status names, never the request headers or the kubeconfig's token); answers come back as
plain dicts in the API's own camelCase shape, which is what manifests, patches and the stand-in
speak; and a 429 (API Priority and Fairness) or 5xx answer with ``Retry-After`` is retried after
that many seconds, as client-go does (kubernetes/client-go ``rest/with_retry.go``
``checkWait``: any method, at most 10 retries), but only while the command's deadline allows.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pipeline_steps.errors import BadInputError, InfrastructureError
from pipeline_steps.files import read_yaml
from pipeline_steps.secrets import Secret

BACKEND = "kubernetes"


class KubeApiError(InfrastructureError):
    """The API server answered an error, or could not be reached (``status`` 0).

    ``details`` is the Status object's ``details`` (``name``, ``group``, ``kind`` = resource) when
    the answer was a Status; a path the server does not serve answers a plain-text 404 instead."""

    def __init__(self, what: str, status: int, reason: str, message: str,
                 details: dict[str, Any] | None = None) -> None:
        self.status, self.reason = status, reason
        self.details: dict[str, Any] = details or {}
        detail = f"HTTP {status} {reason}: {message}" if status else message
        super().__init__(BACKEND, f"{what}: {detail}{_credentials_hint(status, message)}")

    def names(self, resource: str, name: str) -> bool:
        """True if this is a Status naming ``name`` of ``resource`` (plural): the object is absent.

        apiserver's NotFound always names the object (kubernetes/apimachinery
        ``pkg/api/errors/errors.go`` ``NewNotFound``); a 404 without that comes from a path nothing
        serves (an API group, version or CRD that is not installed), which says nothing about
        the object."""
        return self.details.get("name") == name and self.details.get("kind") == resource


def _credentials_hint(status: int, message: str) -> str:
    """What a refused identity means for the user (kubernetes docs, "Authenticating": an unknown or
    expired token answers 401; a request without credentials is ``system:anonymous``, whom the
    default roles allow nothing but ``/version``)."""
    if status == 401:
        return " (the API server did not accept the kubeconfig's credentials: an expired token?)"
    if status == 403 and '"system:anonymous"' in message:
        return " (no credentials were sent: the kubeconfig's user has none, or its exec plugin failed)"
    return ""


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
    # The kubeconfig's credentials join the process's secrets, so no message can print them (cli.py masks).
    for credential in (*(cfg.api_key or {}).values(), cfg.password):
        if credential:
            Secret(str(credential).removeprefix("Bearer ").strip(), cfg.username or "")
    # Retry only failed connects; a read timeout on a write must surface, not be replayed blindly.
    # Answers with Retry-After are Kube.call's to retry: urllib3 would turn them into "max
    # retries exceeded" and hide the 429 (respect_retry_after_header).
    cfg.retries = urllib3.Retry(total=2, connect=2, read=0, redirect=0, status=0, other=0,
                                respect_retry_after_header=False)
    return client.ApiClient(cfg)


MAX_RETRIES = 10
"""client-go's maxRetries for answers with Retry-After."""


class Kube:
    """Typed API groups of one ``ApiClient`` plus ``call``; ``timeout_s`` bounds every request and
    ``deadline`` (``time.monotonic()``: ``budget_s`` from now, pushed out by a wait such as
    ``deploy --timeout``) every retry."""

    def __init__(self, client_: Any, timeout_s: float = 10.0, budget_s: float = 60.0) -> None:
        from kubernetes import client

        self.api_client = client_
        self.timeout_s = timeout_s
        self.deadline = time.monotonic() + budget_s
        self.retries = 0
        """Answers with Retry-After retried so far (for tests and messages)."""
        self.core = client.CoreV1Api(client_)
        self.apps = client.AppsV1Api(client_)
        self.custom = client.CustomObjectsApi(client_)
        self.apis = client.ApisApi(client_)
        self.autoscaling = client.AutoscalingV2Api(client_)
        self.authorization = client.AuthorizationV1Api(client_)
        self.coordination = client.CoordinationV1Api(client_)

    def call(self, what: str, method: Callable[..., Any], *args: Any, **kwargs: Any) -> dict[str, Any]:
        """Run one API method, return the answer's JSON; raise ``KubeApiError`` naming ``what``.

        A 429 or 5xx with ``Retry-After`` is sent again after that many seconds while the wait
        ends before ``deadline`` (at most ``MAX_RETRIES`` times); the error then says so."""
        waited = 0.0
        for attempt in range(MAX_RETRIES + 1):
            try:
                return self._once(what, method, *args, **kwargs)
            except _RetryAfter as retry:
                left = self.deadline - time.monotonic()
                if attempt == MAX_RETRIES or retry.seconds > left:
                    why = (f"{attempt} retries" if attempt == MAX_RETRIES else
                           f"Retry-After {retry.seconds:g}s is past the command's deadline ({max(0.0, left):.0f}s left)")
                    retry.error.args = (f"{retry.error} (waited {waited:.1f}s; {why})",)
                    raise retry.error from None
                time.sleep(retry.seconds)
                waited += retry.seconds
                self.retries += 1
        raise AssertionError("unreachable")  # pragma: no cover

    def rest(self, what: str, method: str, path: str, body: Any = None, *, query: dict[str, str] | None = None,
             content_type: str = "application/json") -> dict[str, Any]:
        """One request by path, for writes of manifests: the typed methods would judge the body
        against the client's own models first (refusing a field the API server may know), while
        the API server is the judge that counts (and ``fieldValidation`` its strictness)."""
        from kubernetes.client.exceptions import ApiException

        def send(_preload_content: bool = False, _request_timeout: float | None = None) -> Any:
            params = self.api_client.param_serialize(
                method=method, resource_path=path, query_params=list((query or {}).items()),
                header_params={"Content-Type": content_type, "Accept": "application/json"}, body=body,
                auth_settings=["BearerToken"])
            response = self.api_client.call_api(*params, _request_timeout=_request_timeout)
            data = response.read()
            if not 200 <= response.status < 300:
                raise ApiException(http_resp=response)
            return _Answer(data)

        return self.call(what, send)

    def _once(self, what: str, method: Callable[..., Any], *args: Any, **kwargs: Any) -> dict[str, Any]:
        import urllib3
        from kubernetes.client.exceptions import ApiException

        try:
            response = method(*args, _preload_content=False, _request_timeout=self.timeout_s, **kwargs)
            data = response.data
            response.release_conn()  # back to the pool: one keep-alive connection serves the whole flip
            return json.loads(data) if data else {}
        except ApiException as err:
            reason, message, details = _status_of(err)
            error = KubeApiError(what, int(err.status or 0), reason, message, details)
            seconds = _retry_after(err)
            if seconds is not None and (error.status == 429 or error.status >= 500):
                raise _RetryAfter(error, seconds) from None
            raise error from None
        except urllib3.exceptions.HTTPError as err:
            kind = "timed out" if isinstance(err, (urllib3.exceptions.TimeoutError,)) or "timed out" in str(err) \
                else "could not reach the API server"
            raise KubeApiError(what, 0, "", f"{kind} ({type(err).__name__}, timeout {self.timeout_s:g}s)") from None
        except (OSError, ValueError) as err:
            one_line = " ".join(str(err).split())[:300]
            raise KubeApiError(what, 0, "", f"{type(err).__name__}: {one_line}") from None


class _Answer:
    """A body already read, shaped like the urllib3 response ``_once`` expects."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def release_conn(self) -> None:
        return None


class _RetryAfter(Exception):
    def __init__(self, error: KubeApiError, seconds: float) -> None:
        super().__init__(str(error))
        self.error, self.seconds = error, seconds


def _retry_after(err: Any) -> float | None:
    """Seconds from a ``Retry-After: <seconds>`` header (apiserver never sends an HTTP date)."""
    headers = getattr(err, "headers", None) or {}
    value = headers.get("Retry-After") if hasattr(headers, "get") else None
    try:
        return max(0.0, float(value)) if value is not None else None
    except (TypeError, ValueError):
        return None


def _status_of(err: Any) -> tuple[str, str, dict[str, Any]]:
    """Reason, message and details from the Status object in the body; a body that is no Status
    (APF's 429, the plain 404 of an unserved path) gives the HTTP reason and its first line."""
    body = err.body
    if body is None and getattr(err, "data", None) is None and getattr(err, "http_resp", None) is not None:
        body = getattr(err.http_resp, "data", None)
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body or "")
    try:
        status = json.loads(text) if text else {}
    except ValueError:
        status = {}
    if not isinstance(status, dict) or status.get("kind") != "Status":
        first = text.strip().splitlines()[0][:200] if text.strip() else ""
        return str(err.reason or ""), first, {}
    details = status.get("details") if isinstance(status.get("details"), dict) else {}
    return str(status.get("reason") or err.reason or ""), str(status.get("message") or "")[:300], dict(details or {})
