"""Which rules run on which event, with what the caller computes for them (distances, zones, sites).

Each rule adapter runs one rule on one event: it takes the rule's state from ``rules`` (a
per-device dict: rule name -> state), calls the rule's pure ``step`` with what the city index
computes for it, stores the new state and collects alerts and facts.
"""

from __future__ import annotations

from devices.contracts import (
    CameraEvent,
    FacilityReading,
    Message,
    SiteReading,
    VehiclePosition,
)
from rules.city_index import CityIndex, Place
from rules.facts import Fact
from rules.pipelines import camera, collection, dust, facility, fixed, site, vehicle
from rules.pipelines.common import Applies, Rule, RuleOutput, Rules, run_catalog, run_ticks
from rules.pipelines.fusion import run_fusion

__all__ = [
    "RuleOutput",
    "fact_keys",
    "run_event",
    "run_fact",
    "run_fusion",
    "run_key_tick",
    "run_tick",
]

RULES_BY_EVENT: dict[type[Message], list[tuple[Applies, Rule]]] = {
    FacilityReading: facility.RULES,
    SiteReading: site.RULES,
    CameraEvent: camera.RULES,
}
"""Event type -> (does the rule apply to this device?, the rule), in the order they run. Truck
positions go to ``vehicle.run_vehicle`` with where they are (``CityIndex.locate``, per batch); a kind
listed nowhere (a new device kind) runs the catalog's rules that read it (``judged``)."""


def run_event(index: CityIndex, rules: Rules, event: Message, place: Place | None = None) -> RuleOutput:
    """Run every rule that applies to the event, updating ``rules`` in place (``place``: a position's)."""
    out = RuleOutput()
    if isinstance(event, VehiclePosition):  # every terminal is judged (unknown ones by the rules needing no inventory)
        vehicle.run_vehicle(index, rules, event, out, place)
        return out
    wired = RULES_BY_EVENT.get(type(event))
    if wired is None:  # a kind no pipeline module wires (a new device kind): the catalog's rules that read it
        _catalog_rules(index, rules, event, out)
        return out
    for applies, rule in wired:
        if applies(index, event):
            rule(index, rules, event, out)
    return out


def _catalog_rules(index: CityIndex, rules: Rules, event: Message, out: RuleOutput) -> None:
    """Run the catalog rules with a judge that read this kind, located at the event or where the device stands."""
    lon, lat = getattr(event, "lon", None), getattr(event, "lat", None)
    where = (lon, lat) if lon is not None and lat is not None else index.position_of(event.device_id)
    run_catalog(index, rules, event, out, where)


def run_tick(index: CityIndex, rules: Rules, device_id: str, last_ts_ms: int, watermark_ms: int) -> RuleOutput:
    """Run the watermark-driven rules of a device (silence, held exits, then the catalog's ticks: sightings that ended)."""
    out = RuleOutput()
    vehicle.vehicle_tick(index, rules, device_id, watermark_ms, out)
    fixed.fixed_tick(index, rules, device_id, watermark_ms, out)
    run_ticks(index, rules, device_id, watermark_ms, out)
    return out


def run_fact(index: CityIndex, rules: Rules, fact: Fact) -> RuleOutput:
    """Run the keyed rules a fact feeds."""
    if dust.is_key(fact.key):
        return dust.run_fact(index, rules, fact)
    return collection.run_fact(index, rules, fact)


def fact_keys(index: CityIndex) -> list[str]:
    """Return the fact keys a watermark advances: every collection point, every site judged against a background."""
    return sorted(index.points) + dust.fact_keys(index)


def run_key_tick(index: CityIndex, rules: Rules, key: str, watermark_ms: int) -> RuleOutput:
    """Run the watermark-driven rules of a fact key."""
    if dust.is_key(key):
        return dust.run_key_tick(index, rules, key, watermark_ms)
    return collection.run_key_tick(index, rules, key, watermark_ms)
