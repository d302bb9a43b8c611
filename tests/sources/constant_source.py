"""A metric source that exists only for tests: every query is one number given by ``--constant-value``.

It is what adding a source takes (docs/architecture.md): this module (the class, its settings group
and its option group) plus one line in ``SOURCES`` (``tests/sources/test_new_source.py`` adds it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from pipeline_steps.documents.evaluation import Sample, Window
from pipeline_steps.errors import BadInputError
from pipeline_steps.secrets import Secret, read_secret
from pipeline_steps.sources.base import Fetched, Option, SourceSettings, substitute_plain


@dataclass(frozen=True)
class ConstantSettings:
    value: str = ""
    token: Secret | None = None

    def secrets(self) -> list[Secret | None]:
        return [self.token]


class ConstantSource:
    name: ClassVar[str] = "constant"
    OPTIONS: ClassVar[tuple[Option, ...]] = (
        ("--constant-value", {"default": "", "help": "The number every constant query answers."}),
        ("--constant-token-env", {"metavar": "NAME", "help": "Environment variable holding a token (masked)."}),
    )

    def __init__(self, value: float, token: Secret | None) -> None:
        self.value, self.token = value, token

    @classmethod
    def check_query(cls, query: Any) -> str | None:
        return None if isinstance(query, str) and query.startswith("const:") else "must start with const:"

    @classmethod
    def substitute(cls, query: Any, values: Mapping[str, str]) -> Any:
        return substitute_plain(query, values)

    @classmethod
    def settings_from_options(cls, options: Mapping[str, Any]) -> ConstantSettings:
        return ConstantSettings(options.get("constant_value") or "",
                                read_secret(env=options.get("constant_token_env"), what="constant token"))

    @classmethod
    def from_settings(cls, settings: SourceSettings) -> ConstantSource:
        group: ConstantSettings = settings.group(cls.name, ConstantSettings())
        if not group.value:
            raise BadInputError("command line", "--constant-value", "required by indicators with source constant")
        return cls(float(group.value), group.token)

    def settle(self, window: Window) -> str:
        """Constant values need no wait."""
        return ""

    def fetch(self, query: Any, window: Window) -> Fetched:
        return Fetched(samples=[Sample(str(query), self.value)])

    def describe(self, query: Any) -> str:
        token = self.token.reveal() if self.token else ""
        return f"{query} (token {token})"  # a careless source: the step must still mask its secret

    def secrets(self) -> list[Secret | None]:
        return [self.token]

    def close(self) -> None:
        return None
