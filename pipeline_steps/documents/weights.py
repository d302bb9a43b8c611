"""Route weights between the two colours: the value deployment.json, promotion.json and every
traffic change carry.

Why a document value and not a platform type: ``deploy`` records the weights before a flip in
deployment.json so ``rollback`` can restore them, ``evaluation-done`` writes the weights it set
into promotion.json, and both platforms speak them; the documents must name them without
importing a platform. Always two integers summing to 100 (Istio's rule for a route's weights).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pipeline_steps.errors import BadInputError

COLOURS = ("blue", "green")


def other_colour(colour: str) -> str:
    """The colour that is not ``colour``."""
    return "green" if colour == "blue" else "blue"


@dataclass(frozen=True)
class Weights:
    """Route weights of one service in one stage. Always two integers summing to 100."""

    blue: int
    green: int

    def __post_init__(self) -> None:
        for name in COLOURS:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 100:
                raise BadInputError("weights", name, f"must be an integer 0..100, got {value!r}")
        if self.blue + self.green != 100:
            raise BadInputError("weights", None, f"must sum to 100, got {self.blue}+{self.green}")

    @classmethod
    def all_to(cls, colour: str) -> Weights:
        """100 % to ``colour``."""
        return cls(blue=100, green=0) if colour == "blue" else cls(blue=0, green=100)

    @classmethod
    def parse(cls, text: str, source: str = "--weights") -> Weights:
        """``"90/10"`` (blue/green) or ``"blue"``/``"green"`` for 100 % to one colour."""
        if text in COLOURS:
            return cls.all_to(text)
        parts = text.split("/")
        if len(parts) != 2 or not all(p.strip().isdigit() and len(p.strip()) <= 3 for p in parts):
            raise BadInputError(source, None, f"{text!r} is not BLUE/GREEN (e.g. 90/10) or a colour")
        return cls(blue=int(parts[0]), green=int(parts[1]))

    @property
    def live(self) -> str | None:
        """The colour taking all traffic, or None while traffic is split."""
        if self.blue == 100:
            return "blue"
        if self.green == 100:
            return "green"
        return None

    def of(self, colour: str) -> int:
        return int(getattr(self, colour))

    def to_dict(self) -> dict[str, int]:
        return {"blue": self.blue, "green": self.green}

    @classmethod
    def from_dict(cls, data: Any, source: str = "weights") -> Weights:
        if not isinstance(data, dict):
            raise BadInputError(source, None, "must be an object {blue, green}")
        return cls(blue=data.get("blue"), green=data.get("green"))  # type: ignore[arg-type]

    def __str__(self) -> str:
        return f"blue {self.blue} / green {self.green}"
