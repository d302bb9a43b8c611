"""Authentication: who a request is, as the API server decides before anything else.

What a client sees (kubernetes/apiserver ``pkg/endpoints/filters/authentication.go``,
``pkg/authentication/request/anonymous``; docs https://kubernetes.io/docs/reference/access-authn-authz/authentication/#anonymous-requests):

* a bearer token the server knows: the request is that user's;
* a token it does not know: 401 with the Status ``Unauthorized`` (reason and message both
  ``Unauthorized``), whatever the path;
* no credentials at all (a kubeconfig ``exec`` plugin that failed sends none): with anonymous
  access on (the default) the request is ``system:anonymous``, whom the default roles allow only
  the public info (``system:public-info-viewer``: ``/version``, ``/healthz``, ``/livez``,
  ``/readyz``); discovery is for ``system:authenticated`` only (``system:discovery``), so
  everything else answers 403 — for a path, ``forbidden: User "system:anonymous" cannot get path
  "/apis"`` (``responsewriters.forbiddenMessage`` for a non-resource request).

A stand-in that answered anonymous requests would let a deploy with broken credentials pass.
"""

from __future__ import annotations

from standins.kubeapi import errors

TOKEN = "standin-token"
"""The token ``write_kubeconfig`` puts into the kubeconfig."""
ANONYMOUS = "system:anonymous"
PUBLIC_PATHS = ("/version", "/healthz", "/livez", "/readyz")


def authenticate(authorization: str, tokens: dict[str, str]) -> str:
    """The user of a request with this ``Authorization`` header: a known bearer token's user, or
    ``ANONYMOUS`` without one; an unknown token raises the 401."""
    if not authorization:
        return ANONYMOUS
    scheme, _, token = authorization.partition(" ")
    user = tokens.get(token.strip()) if scheme.lower() == "bearer" else None
    if user is None:
        raise errors.ApiError(401, "Unauthorized", "Unauthorized")
    return user


def public(path: str) -> bool:
    return path.rstrip("/") in PUBLIC_PATHS


def forbidden_path(user: str, method: str, path: str) -> errors.ApiError:
    """403 for a non-resource path (discovery included): no ``details`` besides the empty ones."""
    verb = {"GET": "get", "POST": "post", "PUT": "put", "PATCH": "patch", "DELETE": "delete"}.get(method, method.lower())
    return errors.ApiError(403, "Forbidden", f'forbidden: User "{user}" cannot {verb} path "{path}"')
