"""Which rules run on which event, with what the caller computes for them (distances, zones, sites).

Each ``_rule_*`` function runs one rule on one event: it takes the rule's state from ``rules``
(a per-device dict: rule name -> state), calls the rule's pure ``step`` and stores the new state.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from devices.contracts import FacilityReading, Message, VehiclePosition
from rules import overflow, route_deviation, uncovered_load
from rules.alerts import Alert
from rules.city_index import CityIndex
from rules.facts import Fact

STATE_TYPES: dict[str, Any] = {
    route_deviation.RULE: route_deviation.RouteDeviationState,
    uncovered_load.RULE: uncovered_load.UncoveredLoadState,
    overflow.RULE: overflow.OverflowState,
}
"""Rule name -> its state class (for rebuilding a device's state from JSON)."""


@dataclass
class RuleOutput:
    """What the rules of one event produced."""

    alerts: list[Alert] = field(default_factory=list)
    facts: list[Fact] = field(default_factory=list)


Rules = dict[str, Any]


def run_event(index: CityIndex, rules: Rules, event: Message) -> RuleOutput:
    """Run every rule that applies to the event, updating ``rules`` in place."""
    out = RuleOutput()
    for applies, rule in RULES_BY_EVENT.get(type(event), ()):
        if applies(index, event):
            rule(index, rules, event, out)
    return out


def run_tick(index: CityIndex, rules: Rules, device_id: str, last_ts_ms: int, watermark_ms: int) -> RuleOutput:
    """Run the watermark-driven rules of a device (silence, expiring episodes)."""
    return RuleOutput()


def _state(rules: Rules, name: str) -> Any:
    """Return a rule's state, or its initial state."""
    return rules.get(name) or STATE_TYPES[name]()


def _rule_route_deviation(index: CityIndex, rules: Rules, pos: VehiclePosition, out: RuleOutput) -> None:
    name, permit = route_deviation.RULE, index.permits[pos.device_id]
    distance = index.corridor(permit).distance_one_m(pos.lon, pos.lat)
    rules[name], alerts = route_deviation.step(
        _state(rules, name), pos, distance, permit.corridor_m, index.params.route_deviation,
        subject=pos.device_id, matter_code=index.matter_code(name), permit_id=permit.permit_id,
    )
    out.alerts += alerts


def _rule_uncovered_load(index: CityIndex, rules: Rules, pos: VehiclePosition, out: RuleOutput) -> None:
    name = uncovered_load.RULE
    rules[name], alerts = uncovered_load.step(
        _state(rules, name), pos, index.params.uncovered_load,
        subject=pos.device_id, matter_code=index.matter_code(name),
    )
    out.alerts += alerts


def _rule_overflow(index: CityIndex, rules: Rules, reading: FacilityReading, out: RuleOutput) -> None:
    name, facility = overflow.RULE, index.facilities[reading.device_id]
    rules[name], alerts = overflow.step(
        _state(rules, name), reading, index.params.overflow,
        subject=reading.device_id, matter_code=index.matter_code(name), lon=facility.lon, lat=facility.lat,
    )
    out.alerts += alerts


def _permitted(index: CityIndex, pos: Any) -> bool:
    return pos.device_id in index.permits


def _has_cover_sensor(index: CityIndex, pos: Any) -> bool:
    return pos.cover_closed is not None


def _known_facility(index: CityIndex, reading: Any) -> bool:
    return reading.device_id in index.facilities


Rule = Callable[[CityIndex, Rules, Any, RuleOutput], None]
Applies = Callable[[CityIndex, Any], bool]
RULES_BY_EVENT: dict[type[Message], list[tuple[Applies, Rule]]] = {
    VehiclePosition: [(_permitted, _rule_route_deviation), (_has_cover_sensor, _rule_uncovered_load)],
    FacilityReading: [(_known_facility, _rule_overflow)],
}
"""Event type -> (does the rule apply to this device?, the rule), in the order they run."""
