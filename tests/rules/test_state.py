"""The flat state mixin: its fast ``to_dict`` is exactly ``dataclasses.asdict`` for every flat rule state."""

from __future__ import annotations

import re
from dataclasses import asdict, fields

import pytest

from rules.catalog import state_types
from rules.state import FlatState

JSON_TYPES = {"int", "float", "str", "bool", "None", "tuple"}  # and tuples of them, nested


def flat_states() -> list[type[FlatState]]:
    """Every flat rule state that keeps the mixin's ``to_dict``."""
    found = {t for t in state_types().values() if issubclass(t, FlatState) and t.to_dict is FlatState.to_dict}
    return sorted(found, key=lambda t: t.__name__)


@pytest.mark.parametrize("state_type", flat_states(), ids=lambda t: t.__name__)
def test_a_flat_state_holds_json_scalars_only_so_its_dict_is_asdict(state_type: type[FlatState]) -> None:
    """A field that held a dataclass would need asdict's deep copy: such a state must write its own to_dict."""
    for f in fields(state_type):  # type: ignore[arg-type]  # every flat state is a dataclass
        names = set(re.findall(r"[A-Za-z_]\w*", str(f.type)))
        assert names <= JSON_TYPES, f"{state_type.__name__}.{f.name}: {f.type}"
    state = state_type()
    assert state.to_dict() == asdict(state)  # type: ignore[call-overload]
    assert state_type.from_dict(state.to_dict()) == state


def test_there_are_flat_states_to_check() -> None:
    assert len(flat_states()) >= 8
