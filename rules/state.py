"""Serialisation shared by the rules' flat, frozen state dataclasses (faust tables hold JSON)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from typing import Any, Self


class FlatState:
    """Mixin for a frozen dataclass of JSON scalars: ``to_dict`` / ``from_dict``."""

    __slots__ = ()

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (for a faust table)."""
        fields: dict[str, Any] = asdict(self)  # type: ignore[call-overload]  # a dataclass mixin: self is one
        return fields

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Self:
        """Rebuild the state from the dict ``to_dict`` made."""
        return cls(**d)
