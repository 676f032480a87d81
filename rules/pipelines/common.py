"""What every rule adapter shares: the per-device rule-state dict and the output collector."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from devices.contracts import Message
from rules.alerts import Alert
from rules.catalog import RuleSpec, judged, state_types, ticking
from rules.city_index import CityIndex, Place
from rules.context import At
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


def at_for(index: CityIndex, spec: RuleSpec, subject: str, lon: float, lat: float, place: Place | None = None) -> At:
    """Return what a catalog rule's judge or tick is given for a subject: its matter code, parameters, place."""
    matter, params = index.rule_setup(spec)
    return At(index, subject, matter, params, lon, lat, place)


def keep(rules: Rules, name: str, state: Any) -> None:
    """Store a rule's new state; None drops it (a rule keeping state only while it matters)."""
    if state is None:
        rules.pop(name, None)
    else:
        rules[name] = state


def run_judge(spec: RuleSpec, rules: Rules, event: Any, at: At, out: RuleOutput) -> None:
    """Run a catalog rule's judge on one event and collect its alerts."""
    assert spec.judge is not None
    state, alerts = spec.judge(state_of(rules, spec.name), event, at)
    keep(rules, spec.name, state)
    out.alerts += alerts


def run_catalog(
    index: CityIndex,
    rules: Rules,
    event: Message,
    out: RuleOutput,
    where: tuple[float, float],
    place: Place | None = None,
    specs: Sequence[RuleSpec] | None = None,
) -> None:
    """Run the catalog rules with a judge that read the event's kind (or just ``specs``), the subject at ``where``."""
    for spec in judged(type(event)) if specs is None else specs:
        run_judge(spec, rules, event, at_for(index, spec, event.device_id, *where, place), out)


def run_ticks(index: CityIndex, rules: Rules, device_id: str, watermark_ms: int, out: RuleOutput) -> None:
    """Run the catalog rules with a tick on a device that has their state."""
    for spec in ticking():
        state = rules.get(spec.name)
        if state is None or spec.tick is None:
            continue
        new, alerts = spec.tick(state, watermark_ms, at_for(index, spec, device_id, *index.position_of(device_id)))
        keep(rules, spec.name, new)
        out.alerts += alerts
