"""The API server's error answers, in the shapes clients see on the wire.

Most errors are ``Status`` objects built like apimachinery's constructors
(kubernetes/apimachinery ``pkg/api/errors/errors.go``: ``NewNotFound``, ``NewAlreadyExists``,
``NewConflict``, ``NewForbidden``, ``NewInvalid``, ``NewBadRequest``): the message format, the
reason, and ``details`` naming the group, the resource (in ``kind``) and the object. Two answers
are *not* Status objects, and a client that expects one misreads them:

* a path nothing serves (an API group or version that is not installed, e.g. a CRD missing or
  not served at that version) reaches the end of the handler chain, ``http.NotFound``: plain
  text ``404 page not found`` (kubernetes/apiserver ``pkg/util/notfoundhandler/not_found_handler.go``;
  the CRD handler delegates there, kubernetes/apiextensions-apiserver
  ``pkg/apiserver/customresource_handler.go``);
* API Priority and Fairness rejects with ``http.Error``: plain text ``Too many requests, please
  try again later.`` and a ``Retry-After`` header (kubernetes/apiserver
  ``pkg/server/filters/priority-and-fairness.go``, ``tooManyRequests``).
"""

from __future__ import annotations

from typing import Any

Obj = dict[str, Any]


class ApiError(Exception):
    """An error answer: HTTP code, Status reason, message, and details for the Status object.

    ``plain`` makes it a text/plain answer (no Status); ``headers`` are added to the answer."""

    def __init__(self, code: int, reason: str, message: str, details: dict[str, Any] | None = None, *,
                 plain: bool = False, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.code, self.reason, self.message, self.details = code, reason, message, details or {}
        self.plain = plain
        self.headers = headers or {}

    def status(self) -> Obj:
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": self.message,
                "reason": self.reason, "details": self.details, "code": self.code}

    def body(self) -> bytes:
        import json

        return (self.message + "\n").encode() if self.plain else json.dumps(self.status()).encode()


def qualified(group: str, plural: str) -> str:
    """``schema.GroupResource.String()``: ``deployments.apps``; the core group has no suffix."""
    return f"{plural}.{group}" if group else plural


def details(group: str, plural: str, name: str) -> Obj:
    # StatusDetails carries the *resource* (plural) in ``kind`` for these errors (errors.go).
    return {"name": name, "group": group, "kind": plural}


def not_found(group: str, plural: str, name: str) -> ApiError:
    return ApiError(404, "NotFound", f'{qualified(group, plural)} "{name}" not found', details(group, plural, name))


def page_not_found() -> ApiError:
    """A path no handler serves: Go's ``http.NotFound``, no Status and so no ``details.name``."""
    return ApiError(404, "NotFound", "404 page not found", plain=True,
                    headers={"Content-Type": "text/plain; charset=utf-8", "X-Content-Type-Options": "nosniff"})


def already_exists(group: str, plural: str, name: str) -> ApiError:
    return ApiError(409, "AlreadyExists", f'{qualified(group, plural)} "{name}" already exists',
                    details(group, plural, name))


def conflict(group: str, plural: str, name: str, why: str) -> ApiError:
    return ApiError(409, "Conflict", f'Operation cannot be fulfilled on {qualified(group, plural)} "{name}": {why}',
                    details(group, plural, name))


def forbidden(group: str, plural: str, name: str, why: str, causes: list[Obj] | None = None) -> ApiError:
    what = qualified(group, plural)
    message = f'{what} "{name}" is forbidden: {why}' if name else f"{what} is forbidden: {why}"
    found = details(group, plural, name)
    if causes:
        found["causes"] = causes
    return ApiError(403, "Forbidden", message, found)


def invalid(group: str, kind: str, name: str, causes: list[tuple[str, str, str]]) -> ApiError:
    """422 with one cause per ``(field, type, message)``; the message joins them like
    ``field.ErrorList.ToAggregate`` (one error plain, several in brackets)."""
    kind_name = f"{kind}.{group}" if group else kind
    texts = [f"{field_}: {message}" for field_, _, message in causes]
    joined = texts[0] if len(texts) == 1 else "[" + ", ".join(texts) + "]"
    return ApiError(422, "Invalid", f'{kind_name} "{name}" is invalid: {joined}',
                    {"name": name, "group": group, "kind": kind,
                     "causes": [{"type": type_, "message": message, "field": field_}
                                for field_, type_, message in causes]})


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def too_many_requests(retry_after_s: int) -> ApiError:
    return ApiError(429, "TooManyRequests", "Too many requests, please try again later.", plain=True,
                    headers={"Retry-After": str(retry_after_s), "Content-Type": "text/plain; charset=utf-8",
                             "X-Content-Type-Options": "nosniff"})


def unavailable(message: str, retry_after_s: int) -> ApiError:
    """503 Status with ``details.retryAfterSeconds`` and the header (``NewServiceUnavailable`` as the
    not-found handler sends it while the server starts; etcd trouble answers the same way)."""
    return ApiError(503, "ServiceUnavailable", message, {"retryAfterSeconds": retry_after_s},
                    headers={"Retry-After": str(retry_after_s)})
