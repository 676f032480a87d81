"""What every rule adapter shares: the per-device rule-state dict and the output collector."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rules.alerts import Alert
from rules.catalog import state_types
from rules.city_index import CityIndex
from rules.facts import Fact

Rules = dict[str, Any]
"""A device's (or key's) rule states: rule name -> state."""


@dataclass
class RuleOutput:
    """What the rules of one event produced."""

    alerts: list[Alert] = field(default_factory=list)
    facts: list[Fact] = field(default_factory=list)


Rule = Callable[[CityIndex, Rules, Any, RuleOutput], None]
Applies = Callable[[CityIndex, Any], bool]


def state_of(rules: Rules, name: str) -> Any:
    """Return a rule's state, or its initial state (the type its spec or its pipeline's ``STATE_SLOTS`` names)."""
    return rules.get(name) or state_types()[name]()
