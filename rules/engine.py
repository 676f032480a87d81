"""The rule engine: route each event to the rules that apply to its device, per-device state in, alerts out.

Both runners (the faust agents and the embedded runner) call ``Engine.process`` and nothing
else, so the logic has one code path. The engine is pure: the city data comes in at
construction, time comes in the event; the only thing it keeps is a cache of prepared corridors.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from devices.contracts import FacilityReading, Message, VehiclePosition
from devices.inventory import City, Permit
from rules import overflow, route_deviation, uncovered_load
from rules.alerts import Alert
from rules.geometry import Corridor

STATE_TYPES: dict[str, Any] = {
    route_deviation.RULE: route_deviation.RouteDeviationState,
    uncovered_load.RULE: uncovered_load.UncoveredLoadState,
    overflow.RULE: overflow.OverflowState,
}


@dataclass(frozen=True, slots=True)
class DeviceState:
    """Everything the rules remember about one device, serialisable for a faust table."""

    last_seq: int = -1
    last_ts_ms: int = -1
    rules: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        rules = {name: s.to_dict() for name, s in self.rules.items()}
        return {"last_seq": self.last_seq, "last_ts_ms": self.last_ts_ms, "rules": rules}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DeviceState:
        """Rebuild the state from the dict ``to_dict`` made."""
        rules = {name: STATE_TYPES[name].from_dict(s) for name, s in d["rules"].items()}
        return cls(d["last_seq"], d["last_ts_ms"], rules)


@dataclass(frozen=True, slots=True)
class Outcome:
    """The result of one event: the new state, the alerts, and whether it was a duplicate."""

    state: DeviceState
    alerts: list[Alert]
    duplicate: bool = False


def is_duplicate(state: DeviceState, event: Message) -> bool:
    """Tell a redelivery (seq and time not newer) from a device that restarted its counter."""
    return event.seq <= state.last_seq and event.ts_ms <= state.last_ts_ms


class Engine:
    """Runs the rule catalog for one city."""

    def __init__(self, city: City) -> None:
        self.city = city
        self.params = city.meta.rules
        self._corridors: dict[str, Corridor] = {}

    def process(self, state: DeviceState | None, event: Message) -> Outcome:
        """Advance a device's state by one event; drop duplicates."""
        state = state or DeviceState()
        if is_duplicate(state, event):
            return Outcome(state, [], duplicate=True)
        rules = dict(state.rules)
        alerts = self._run_rules(rules, event)
        new = DeviceState(event.seq, max(state.last_ts_ms, event.ts_ms), rules)
        return Outcome(new, alerts)

    def _run_rules(self, rules: dict[str, Any], event: Message) -> list[Alert]:
        """Run the rules that apply to this event, updating ``rules`` in place."""
        if isinstance(event, VehiclePosition):
            return self._vehicle_rules(rules, event)
        if isinstance(event, FacilityReading):
            return self._facility_rules(rules, event)
        return []

    def _vehicle_rules(self, rules: dict[str, Any], pos: VehiclePosition) -> list[Alert]:
        alerts: list[Alert] = []
        permit = self.city.permit_for_terminal(pos.device_id)
        if permit is not None:
            alerts += self._route_deviation(rules, pos, permit)
        if pos.cover_closed is not None:
            alerts += self._uncovered_load(rules, pos)
        return alerts

    def _route_deviation(self, rules: dict[str, Any], pos: VehiclePosition, permit: Permit) -> list[Alert]:
        name = route_deviation.RULE
        distance = self.corridor(permit).distance_one_m(pos.lon, pos.lat)
        rules[name], alerts = route_deviation.step(
            rules.get(name) or route_deviation.RouteDeviationState(), pos, distance,
            permit.corridor_m, self.params.route_deviation,
            subject=pos.device_id, matter_code=self.params.matter_codes[name], permit_id=permit.permit_id,
        )
        return alerts

    def _uncovered_load(self, rules: dict[str, Any], pos: VehiclePosition) -> list[Alert]:
        name = uncovered_load.RULE
        rules[name], alerts = uncovered_load.step(
            rules.get(name) or uncovered_load.UncoveredLoadState(), pos, self.params.uncovered_load,
            subject=pos.device_id, matter_code=self.params.matter_codes[name],
        )
        return alerts

    def _facility_rules(self, rules: dict[str, Any], reading: FacilityReading) -> list[Alert]:
        facility = self.city.facility_by_device.get(reading.device_id)
        if facility is None:
            return []
        name = overflow.RULE
        rules[name], alerts = overflow.step(
            rules.get(name) or overflow.OverflowState(), reading, self.params.overflow,
            subject=reading.device_id, matter_code=self.params.matter_codes[name],
            lon=facility.lon, lat=facility.lat,
        )
        return alerts

    def corridor(self, permit: Permit) -> Corridor:
        """Return the prepared corridor of a permit, built once."""
        corridor = self._corridors.get(permit.permit_id)
        if corridor is None:
            corridor = Corridor.from_route(permit.route, permit.corridor_m)
            self._corridors[permit.permit_id] = corridor
        return corridor
