"""Facts: what a rule on one key learns for a rule on another key (re-keyed between stages)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Fact:
    """A keyed observation, e.g. ``served`` for collection point P by vehicle V at time t."""

    kind: str
    key: str
    ts_ms: int
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Fact:
        """Rebuild a fact from ``to_dict``'s output."""
        return cls(**d)
