"""Serialisation shared by the rules' flat, frozen state dataclasses (faust tables hold JSON)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from typing import Any, Self


class FlatState:
    """Mixin for a frozen dataclass of JSON scalars: ``to_dict`` / ``from_dict``."""

    __slots__ = ()

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (for a faust table): the fields as they are, which are JSON scalars
        and tuples of them (``dataclasses.asdict`` would copy them all, ten times slower)."""
        return {name: getattr(self, name) for name in field_names(type(self))}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Self:
        """Rebuild the state from the dict ``to_dict`` made."""
        return cls(**d)


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def field_names(cls: type) -> tuple[str, ...]:
    """Return the names of a dataclass's fields, in order (looked up once per class)."""
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(f.name for f in fields(cls))
    return names
