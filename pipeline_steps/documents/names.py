"""The identifiers that become names and paths, one grammar each, checked where they enter.

Project, stage and service become a Kubernetes namespace and object names, the local platform's
state folder ``stages/<project>-<stage>/<service>/``, history series and event fields; the tag
becomes a folder (``run``'s ``OUT/<tag>/``, the local platform's ``<image>/<tag>/``) and a label;
the Keptn context becomes part of a lock holder and every event. Each arrives as a flag, a
Jenkins parameter (anyone who may build the job chooses it), an event or a document, so each is
held to a grammar that cannot name anything else: no ``/``, no ``..``, no control character,
ASCII only. A value outside it is bad input (exit 2) before anything is created.

Matching is on the whole string (``fullmatch``): with ``re.match`` and ``^...$``, ``$`` also
matches before a final newline, so ``"carts\\n"`` passed and made a folder ``carts\\n`` and a
separate history series (issue 12.3). No pattern in the package anchors with ``$``
(``tests/documents/test_names.py`` walks every module).

Sources of the grammars: Kubernetes' DNS-1123 label (``k8s.io/apimachinery/pkg/util/validation``
``IsDNS1123Label``: ``[a-z0-9]([-a-z0-9]*[a-z0-9])?``, at most 63); the image tag of the OCI /
Docker reference grammar (``github.com/distribution/reference`` ``reference.go``:
``[\\w][\\w.-]{0,127}``); Keptn's ``shkeptncontext`` is a UUID, and any token of letters, digits,
``.``, ``_``, ``-`` (up to 128, not starting with ``.`` or ``-``) is accepted as one.
"""

from __future__ import annotations

import re

from pipeline_steps.errors import BadInputError

DNS_LABEL = re.compile(r"[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?")
"""Project, stage and service names (Kubernetes DNS-1123 label)."""
TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
"""An image tag / version (OCI reference grammar); never ``.``, ``..`` or a path."""
TOKEN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
"""A Keptn context or another opaque id we put into names and events."""


def shown(value: str) -> str:
    """``value`` for a one-line message: escaped (newlines, NUL and quotes visible), cut to 80."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def has_control(value: str) -> bool:
    """Whether ``value`` holds a control character (C0, DEL, C1), e.g. CR, LF or NUL."""
    return any(ord(ch) < 0x20 or 0x7F <= ord(ch) <= 0x9F for ch in value)


def check_label(value: str, source: str, field: str | None) -> str:
    """``value`` if it is a DNS-1123 label; else ``BadInputError`` naming ``source`` and ``field``."""
    if DNS_LABEL.fullmatch(value) is None:
        raise BadInputError(source, field, f"{shown(value)} is not a DNS-1123 label (a-z, 0-9, '-', at most 63 "
                                           "characters, starting and ending with a letter or digit)")
    return value


def check_tag(value: str, source: str, field: str | None) -> str:
    """``value`` if it is an image tag (empty allowed: steps that do not deploy have none)."""
    if value and TAG.fullmatch(value) is None:
        raise BadInputError(source, field, f"{shown(value)} is not an image tag (up to 128 of A-Z a-z 0-9 _ . -, "
                                           "not starting with . or -)")
    return value


def check_token(value: str, source: str, field: str | None) -> str:
    """``value`` if it is an opaque id (a Keptn context); empty allowed."""
    if value and TOKEN.fullmatch(value) is None:
        raise BadInputError(source, field, f"{shown(value)} is not an id (up to 128 of A-Z a-z 0-9 _ . -, "
                                           "not starting with . or -; Keptn uses a UUID)")
    return value


def check_text(value: str, source: str, field: str | None) -> str:
    """``value`` if it holds no control character: for free text that is not a name (an image
    repository, which the local platform reads as a folder the user chose)."""
    if has_control(value):
        raise BadInputError(source, field, f"{shown(value)} holds a control character (CR, LF, NUL, ...)")
    return value
