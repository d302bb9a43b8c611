"""Image references checked against the OCI/Docker reference grammar before the chart renders them.

``IMAGE`` and ``TAG`` are Jenkins build parameters: anyone who may build the job chooses them, and
they end up in a manifest. A value outside the grammar can never name an image, so it is bad input
(exit 2, nothing rendered, nothing written) rather than something to escape. The grammar is the
one registries and container runtimes parse (github.com/distribution/reference, ``reference.go``):

    name             := [domain '/'] path-component ['/' path-component]*
    domain           := host [':' port-number]        host: DNS name, IPv4, or [IPv6]
    path-component   := [a-z0-9]+ (separator [a-z0-9]+)*     separator: '.', '_', '__', '-'+
    tag              := [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}

and a repository path of at most 255 characters. IMAGE is the repository only: a tag or digest
in it (``repo:1``) would make ``repo:1:TAG``, so it is refused naming the part to move to TAG.
Matching is on the whole string (``fullmatch``, ASCII only), so a trailing newline or a Unicode
letter never slips through.
"""

from __future__ import annotations

import re

from pipeline_steps.errors import BadInputError

_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_HOST = rf"(?:{_COMPONENT}(?:\.{_COMPONENT})*|\[[a-fA-F0-9:]+\])"
_DOMAIN = rf"{_HOST}(?::[0-9]+)?"
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_PATH = rf"{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*"
NAME = re.compile(rf"(?:({_DOMAIN})/)?({_PATH})", re.ASCII)
TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}", re.ASCII)
PATH_MAX = 255


def _shown(value: str) -> str:
    """The value for a one-line message: escaped (newlines and quotes visible), cut to 80."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def check_repository(value: str, source: str = "--image") -> str:
    """``value`` if it is an image repository (no tag, no digest); else ``BadInputError``."""
    match = NAME.fullmatch(value)
    if match is None:
        hint = ""
        if "@" in value or (":" in value.rsplit("/", 1)[-1] and NAME.fullmatch(value.rsplit(":", 1)[0])):
            hint = "; give the tag in TAG (--tag), not in IMAGE"
        elif value != value.lower() and NAME.fullmatch(value.lower()):
            hint = "; repository names are lowercase"
        raise BadInputError(source, None, f"{_shown(value)} is not an image repository (OCI reference grammar: "
                                          f"[registry[:port]/]path/of/lowercase-components){hint}")
    if len(match.group(2)) > PATH_MAX:
        raise BadInputError(source, None, f"{_shown(value)}: the repository path is longer than {PATH_MAX} characters")
    return value


def check_tag(value: str, source: str = "--tag") -> str:
    """``value`` if it is an image tag (``[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}``); else ``BadInputError``."""
    if TAG.fullmatch(value) is None:
        raise BadInputError(source, None, f"{_shown(value)} is not an image tag (OCI reference grammar: up to 128 "
                                          "of A-Z a-z 0-9 _ . -, not starting with . or -)")
    return value


def image_reference(repository: str, tag: str) -> str:
    """``repository:tag`` after checking both parts."""
    return f"{check_repository(repository)}:{check_tag(tag)}"
