"""Vehicle rules: what each truck's position is checked against, in order.

The GPS anomaly check runs first: a fix it does not trust is kept away from every rule that
uses the position (the rest still see the speed and body signals through later fixes).
"""

from __future__ import annotations

from typing import Any

from devices.contracts import VehiclePosition
from rules import (
    collection_dwell,
    dirty_truck,
    forbidden_zone,
    gps_anomaly,
    illegal_dumping,
    out_of_window,
    route_deviation,
    silence,
    speeding,
    suspended_operation,
    trip_delivery,
    uncovered_load,
)
from rules.city_index import CityIndex, Place
from rules.facts import Fact
from rules.pipelines.common import RuleOutput, Rules, register, state_of

for _module, _state in (
    (route_deviation, route_deviation.RouteDeviationState), (uncovered_load, uncovered_load.UncoveredLoadState),
    (out_of_window, out_of_window.OutOfWindowState), (forbidden_zone, forbidden_zone.ForbiddenZoneState),
    (speeding, speeding.SpeedingState), (illegal_dumping, illegal_dumping.IllegalDumpingState),
    (trip_delivery, trip_delivery.TripState), (dirty_truck, dirty_truck.DirtyTruckState),
    (silence, silence.SilenceState), (gps_anomaly, gps_anomaly.GpsAnomalyState),
    (suspended_operation, suspended_operation.SuspendedOperationState),
):
    register(_module.RULE, _state)
DWELL = "collection_dwell"
register(DWELL, collection_dwell.DwellState)


def _who(index: CityIndex, pos: VehiclePosition, rule: str) -> dict[str, Any]:
    return {"subject": pos.device_id, "matter_code": index.matter_code(rule)}


def run_vehicle(index: CityIndex, rules: Rules, pos: VehiclePosition, out: RuleOutput,
                place: Place | None = None) -> None:
    """Run the vehicle rules on one position; ``place`` is where it is (``CityIndex.locate``, batched)."""
    _silence_seen(index, rules, pos, out)
    trusted = _gps(index, rules, pos, out)
    if pos.cover_closed is not None:
        _uncovered(index, rules, pos, out)
    if not trusted:
        return
    place = place or index.locate([pos])[0]
    vehicle, permit = index.vehicles.get(pos.device_id), index.permits.get(pos.device_id)
    _speeding(index, rules, pos, place, out)  # the limit depends on where the fix is
    if vehicle is not None:
        _suspended(index, rules, pos, vehicle.company, out)
        _zones(index, rules, pos, vehicle.kind, place, out)
        _dirty(index, rules, pos, place, out)
        _collection(index, rules, pos, place, out)
    if permit is not None:
        _permit_rules(index, rules, pos, permit, place, out)


def _silence_seen(index: CityIndex, rules: Rules, pos: VehiclePosition, out: RuleOutput) -> None:
    name = silence.RULE
    rules[name], alerts = silence.seen(state_of(rules, name), pos.ts_ms, lon=pos.lon, lat=pos.lat,
                                       **_who(index, pos, name))
    out.alerts += alerts


def _gps(index: CityIndex, rules: Rules, pos: VehiclePosition, out: RuleOutput) -> bool:
    name = gps_anomaly.RULE
    rules[name], alerts, trusted = gps_anomaly.step(state_of(rules, name), pos, index.params.gps_anomaly,
                                                    **_who(index, pos, name))
    out.alerts += alerts
    return trusted


def _speeding(index: CityIndex, rules: Rules, pos: VehiclePosition, place: Place, out: RuleOutput) -> None:
    name, road = speeding.RULE, place.road
    rules[name], alerts = speeding.step(state_of(rules, name), pos, index.params.speeding, **_who(index, pos, name),
                                        limit_kmh=road.limit_kmh if road else None,
                                        segment_id=road.segment_id if road else None)
    out.alerts += alerts


def _suspended(index: CityIndex, rules: Rules, pos: VehiclePosition, company: str, out: RuleOutput) -> None:
    """A suspended company's truck driving; the state exists only while it matters (small states)."""
    name, suspended = suspended_operation.RULE, company in index.suspended
    if not suspended and name not in rules:
        return
    state, alerts = suspended_operation.step(state_of(rules, name), pos, suspended, index.params.suspended_operation,
                                             company=company, **_who(index, pos, name))
    if suspended or state.is_open:
        rules[name] = state
    else:
        rules.pop(name, None)
    out.alerts += alerts


def _uncovered(index: CityIndex, rules: Rules, pos: VehiclePosition, out: RuleOutput) -> None:
    name = uncovered_load.RULE
    rules[name], alerts = uncovered_load.step(state_of(rules, name), pos, index.params.uncovered_load,
                                              **_who(index, pos, name))
    out.alerts += alerts


def _zones(index: CityIndex, rules: Rules, pos: VehiclePosition, kind: str, place: Place, out: RuleOutput) -> None:
    name = forbidden_zone.RULE
    rules[name], alerts = forbidden_zone.step(
        state_of(rules, name), pos, list(place.zones), index.zones, index.params.forbidden_zone,
        vehicle_kind=kind, tz=index.tz, **_who(index, pos, name),
    )
    out.alerts += alerts


def _dirty(index: CityIndex, rules: Rules, pos: VehiclePosition, place: Place, out: RuleOutput) -> None:
    name = dirty_truck.RULE
    rules[name], alerts = dirty_truck.step(state_of(rules, name), pos, place.site, place.at_wash,
                                           index.params.dirty_truck,
                                           **_who(index, pos, name))
    out.alerts += alerts


def _collection(index: CityIndex, rules: Rules, pos: VehiclePosition, place: Place, out: RuleOutput) -> None:
    vehicle = index.vehicles[pos.device_id]
    if vehicle.kind != "garbage":
        return
    rules[DWELL], served = collection_dwell.step(state_of(rules, DWELL), pos, place.points, index.params.collection,
                                                 vehicle_id=vehicle.vehicle_id)
    out.facts += [Fact(collection_dwell.FACT_KIND, s.point_id, s.ts_ms, s.to_dict()) for s in served]


def _permit_rules(index: CityIndex, rules: Rules, pos: VehiclePosition, permit: Any, place: Place,
                  out: RuleOutput) -> None:
    distance = place.corridor_m
    assert distance is not None  # located with its permit
    name = route_deviation.RULE
    rules[name], alerts = route_deviation.step(
        state_of(rules, name), pos, distance, permit.corridor_m, index.params.route_deviation,
        permit_id=permit.permit_id, **_who(index, pos, name),
    )
    out.alerts += alerts
    name = out_of_window.RULE
    rules[name], alerts = out_of_window.step(state_of(rules, name), pos, permit, index.params.out_of_window,
                                             tz=index.tz, **_who(index, pos, name))
    out.alerts += alerts
    _site_rules(index, rules, pos, permit, place, out)


def _site_rules(index: CityIndex, rules: Rules, pos: VehiclePosition, permit: Any, place: Place,
                out: RuleOutput) -> None:
    zone = index.site_zone(permit, place)
    name = illegal_dumping.RULE
    rules[name], alerts = illegal_dumping.step(state_of(rules, name), pos, zone, index.params.illegal_dumping,
                                               **_who(index, pos, name))
    out.alerts += alerts
    name = trip_delivery.RULE
    rules[name], alerts = trip_delivery.step(state_of(rules, name), pos, zone, index.params.illegal_dumping,
                                             site_id=place.site, **_who(index, pos, name))
    out.alerts += alerts


def vehicle_tick(index: CityIndex, rules: Rules, device_id: str, watermark_ms: int, out: RuleOutput) -> None:
    """A muck terminal silent while its permit is in force."""
    permit = index.permits.get(device_id)
    if silence.RULE not in rules or permit is None:
        return
    required = index.permit_in_force(permit, watermark_ms)
    rules[silence.RULE], alerts = silence.check(
        rules[silence.RULE], watermark_ms, index.params.silence.vehicle_s, required=required,
        subject=device_id, matter_code=index.matter_code(silence.RULE),
    )
    out.alerts += alerts
