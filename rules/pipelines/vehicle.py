"""Vehicle rules: what each truck's position is checked against, in order.

The GPS anomaly check runs first: a fix it does not trust is kept away from every rule that
uses the position (the rest still see the speed and body signals through later fixes). A fix
not newer than the terminal's newest (a blind-area upload, JT/T 808 0x0704) never reaches the live
rules: ``rules.pipelines.late`` judges it in its gap, on copies of the rules' states.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from devices.contracts import LoadState, VehiclePosition
from devices.inventory import Vehicle
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
    unpermitted_transport,
)
from rules.city_index import CityIndex, Place
from rules.facts import Fact
from rules.pipelines import late
from rules.pipelines.common import RuleOutput, Rules, run_catalog, state_of

DWELL = collection_dwell.SPEC.name


LATE_JUDGED = (
    gps_anomaly.RULE,
    uncovered_load.RULE,
    speeding.RULE,
    suspended_operation.RULE,
    unpermitted_transport.RULE,
    forbidden_zone.RULE,
    dirty_truck.RULE,
    DWELL,
    route_deviation.RULE,
    out_of_window.RULE,
    illegal_dumping.RULE,
)
"""The rules a late run steps (``rules.pipelines.late``). Silence and trips are live only; the run's site
visits only lend the live visit a wash and settle exits held for the gap (``dirty_truck.late_fix``), and a late
delivery ends the live trip."""
STATE_SLOTS = {late.STATE: late.LateState}
"""The slot of a terminal's gaps and late run (only once it had a gap)."""


def _who(index: CityIndex, pos: VehiclePosition, rule: str) -> dict[str, Any]:
    return {"subject": pos.device_id, "matter_code": index.matter_code(rule)}


def run_vehicle(
    index: CityIndex, rules: Rules, pos: VehiclePosition, out: RuleOutput, place: Place | None = None
) -> None:
    """Run the vehicle rules on one position; ``place`` is where it is (``CityIndex.locate``, batched).

    A position not newer than the terminal's newest (a blind-area upload) goes to its gap's late run
    (``rules.pipelines.late``), never to the live rules. Every alert the position produces carries the
    terminal's own alarms at that fix (``terminal_alarms``), when it reported any.
    """
    first = len(out.alerts)
    newest = state_of(rules, silence.RULE).last_seen_ms
    if newest is not None and pos.ts_ms <= newest:
        _silence_seen(index, rules, pos, out)  # not newer: the terminal was only heard (it is online now)
        _late(index, rules, pos, out, place)
    else:
        _live(index, rules, pos, out, place, newest)
    if pos.terminal_alarms:
        alarms = list(pos.terminal_alarms)
        out.alerts[first:] = [
            replace(a, evidence={**a.evidence, "terminal_alarms": alarms}) for a in out.alerts[first:]
        ]


def _live(
    index: CityIndex, rules: Rules, pos: VehiclePosition, out: RuleOutput, place: Place | None, newest: int | None
) -> None:
    """Run the live rules; remember a gap in the real-time track with the judged rules' states at its start."""
    seed = None if newest is None or pos.ts_ms - newest <= _gap_ms(index) else late.seed_of(rules, LATE_JUDGED)
    _silence_seen(index, rules, pos, out)
    _judge(index, rules, pos, out, place, live=True)
    if seed is not None and newest is not None:
        gap = late.Gap(newest, pos.ts_ms, seed, late.owned(seed, rules))
        rules[late.STATE] = state_of(rules, late.STATE).with_gap(gap)


def _gap_s(index: CityIndex) -> float:
    """Return the gap threshold: ``GAP_REPORTS`` report intervals without a fix."""
    return late.GAP_REPORTS * index.city.meta.reporting.vehicle_s


def _gap_ms(index: CityIndex) -> int:
    return round(_gap_s(index) * 1000)


def _late(index: CityIndex, rules: Rules, pos: VehiclePosition, out: RuleOutput, place: Place | None) -> None:
    """Judge a late fix in its gap's run; publish what it proves without touching a live episode."""
    state: late.LateState = state_of(rules, late.STATE)
    gap = state.gap_of(pos.ts_ms)
    run = None if gap is None else state.run_for(gap, pos.ts_ms)
    if gap is None or run is None:
        rules[late.STATE] = replace(state, unjudged=state.unjudged + 1)
        return
    place = place or index.locate([pos])[0]
    states, judged = dict(run.states), RuleOutput()
    trusted = _judge(index, states, pos, judged, place, live=False)
    for alert in judged.alerts:
        if alert.rule in (gps_anomaly.RULE, dirty_truck.RULE):
            continue  # the run's anomaly check keeps implausible late fixes out; its visits only prove washes
        alerts, live = late.route(alert, gap, rules.get(alert.rule), states.get(alert.rule))
        if live is not None:
            rules[alert.rule] = live
        out.alerts += alerts
    out.facts += judged.facts  # a service proven late: the point applies it in event time
    run = replace(run, last_ms=pos.ts_ms, states=states)
    run = run.covering(pos.ts_ms) if trusted else run
    if dirty_truck.RULE in rules and dirty_truck.RULE in states:  # a wash proven, or an exit held for this gap
        name, tolerance_ms = dirty_truck.RULE, _gap_ms(index)
        rules[name], alerts = dirty_truck.late_fix(
            rules[name],
            states[name],
            index.params.dirty_truck,
            gap=(gap.start_ms, gap.end_ms),
            filled=run.filled(gap, tolerance_ms),
            tolerance_ms=tolerance_ms,
            **_who(index, pos, name),
        )
        out.alerts += [late.mark(a, gap, pos.ts_ms) for a in alerts]
    permit = index.permits.get(pos.device_id)
    if trusted and permit is not None and trip_delivery.RULE in rules:  # a delivery is proof whenever heard of
        name = trip_delivery.RULE
        rules[name], alerts = trip_delivery.late_end(
            rules[name], pos, index.site_zone(permit, place), site_id=place.site, **_who(index, pos, name)
        )
        out.alerts += [late.mark(a, gap, pos.ts_ms) for a in alerts]
    rules[late.STATE] = replace(
        state, run=run, judged=state.judged + int(trusted), untrusted=state.untrusted + int(not trusted)
    )


def _judge(
    index: CityIndex, rules: Rules, pos: VehiclePosition, out: RuleOutput, place: Place | None, *, live: bool
) -> bool:
    """Run the position rules on a fix (the live ones, or a late run's copies); return whether GPS trusts it.

    The rules here are wired by hand for their gating (GPS trust, late runs, held exits, facts); a rule the
    catalog runs (one with a ``judge`` in its spec) follows them, on live trusted fixes.
    """
    trusted = _gps(index, rules, pos, out)
    if pos.cover_closed is not None:
        _uncovered(index, rules, pos, out)
    if not trusted:
        return False
    place = place or index.locate([pos])[0]
    vehicle, permit = index.vehicles.get(pos.device_id), index.permits.get(pos.device_id)
    if permit is not None and permit.revoked_by(pos.ts_ms):
        permit = None  # revoked before this fix: none of its rules apply, the truck is unpermitted
    _speeding(index, rules, pos, place, out)  # the limit depends on where the fix is
    if vehicle is not None:
        _suspended(index, rules, pos, vehicle.company, out)
        _unpermitted(index, rules, pos, vehicle, permit is None, out)
        _zones(index, rules, pos, vehicle.kind, place, out)
        _dirty(index, rules, pos, place, out, live=live)
        _collection(index, rules, pos, place, out)
    if permit is not None:
        _permit_rules(index, rules, pos, permit, place, out, live=live)
    if live and index.position_rules:
        _catalog_rules(index, rules, pos, place, out, vehicle is not None, permit is not None)
    return True


def _catalog_rules(
    index: CityIndex, rules: Rules, pos: VehiclePosition, place: Place, out: RuleOutput, known: bool, permitted: bool
) -> None:
    """The catalog's position rules with a ``judge`` (live trusted fixes, after the rules above), as they need."""
    needed = {"device": True, "vehicle": known, "permit": permitted}
    specs = [spec for spec in index.position_rules if needed[spec.needs]]
    run_catalog(index, rules, pos, out, (pos.lon, pos.lat), place, specs)


def _silence_seen(index: CityIndex, rules: Rules, pos: VehiclePosition, out: RuleOutput) -> None:
    name = silence.RULE
    rules[name], alerts = silence.seen(
        state_of(rules, name), pos.ts_ms, lon=pos.lon, lat=pos.lat, **_who(index, pos, name)
    )
    out.alerts += alerts


def _gps(index: CityIndex, rules: Rules, pos: VehiclePosition, out: RuleOutput) -> bool:
    name = gps_anomaly.RULE
    rules[name], alerts, trusted = gps_anomaly.step(
        state_of(rules, name), pos, index.params.gps_anomaly, **_who(index, pos, name)
    )
    out.alerts += alerts
    return trusted


def _speeding(index: CityIndex, rules: Rules, pos: VehiclePosition, place: Place, out: RuleOutput) -> None:
    name, road = speeding.RULE, place.road
    rules[name], alerts = speeding.step(
        state_of(rules, name),
        pos,
        index.params.speeding,
        **_who(index, pos, name),
        limit_kmh=road.limit_kmh if road else None,
        segment_id=road.segment_id if road else None,
    )
    out.alerts += alerts


def _unpermitted(
    index: CityIndex, rules: Rules, pos: VehiclePosition, vehicle: Vehicle, no_permit: bool, out: RuleOutput
) -> None:
    """A muck truck carrying with no standing permit; the state exists only while it matters (small states)."""
    name = unpermitted_transport.RULE
    unpermitted = vehicle.kind == "muck" and no_permit and pos.load_state is not LoadState.EMPTY
    if not unpermitted and name not in rules:
        return
    held = index.permits.get(pos.device_id)  # the revoked one, if any: named in the evidence
    state, alerts = unpermitted_transport.step(
        state_of(rules, name),
        pos,
        unpermitted,
        index.params.unpermitted_transport,
        permit_id=held.permit_id if held else None,
        revoked_ms=held.revoked_ms if held else None,
        **_who(index, pos, name),
    )
    if unpermitted or state.is_open:
        rules[name] = state
    else:
        rules.pop(name, None)
    out.alerts += alerts


def _suspended(index: CityIndex, rules: Rules, pos: VehiclePosition, company: str, out: RuleOutput) -> None:
    """A suspended company's truck driving; the state exists only while it matters (small states)."""
    name, suspended = suspended_operation.RULE, company in index.suspended
    if not suspended and name not in rules:
        return
    state, alerts = suspended_operation.step(
        state_of(rules, name),
        pos,
        suspended,
        index.params.suspended_operation,
        company=company,
        **_who(index, pos, name),
    )
    if suspended or state.is_open:
        rules[name] = state
    else:
        rules.pop(name, None)
    out.alerts += alerts


def _uncovered(index: CityIndex, rules: Rules, pos: VehiclePosition, out: RuleOutput) -> None:
    name = uncovered_load.RULE
    rules[name], alerts = uncovered_load.step(
        state_of(rules, name), pos, index.params.uncovered_load, **_who(index, pos, name)
    )
    out.alerts += alerts


def _zones(index: CityIndex, rules: Rules, pos: VehiclePosition, kind: str, place: Place, out: RuleOutput) -> None:
    name = forbidden_zone.RULE
    rules[name], alerts = forbidden_zone.step(
        state_of(rules, name),
        pos,
        list(place.zones),
        index.zones,
        index.params.forbidden_zone,
        vehicle_kind=kind,
        tz=index.tz,
        **_who(index, pos, name),
    )
    out.alerts += alerts


def _dirty(index: CityIndex, rules: Rules, pos: VehiclePosition, place: Place, out: RuleOutput, *, live: bool) -> None:
    """Site visits; live, an unwashed exit of a visit with a data gap is held for the blind-area upload."""
    name = dirty_truck.RULE
    rules[name], alerts = dirty_truck.step(
        state_of(rules, name),
        pos,
        place.site,
        place.at_wash,
        index.params.dirty_truck,
        gap_s=_gap_s(index) if live else None,
        **_who(index, pos, name),
    )
    out.alerts += alerts


def _collection(index: CityIndex, rules: Rules, pos: VehiclePosition, place: Place, out: RuleOutput) -> None:
    vehicle = index.vehicles[pos.device_id]
    if vehicle.kind != "garbage":
        return
    rules[DWELL], served = collection_dwell.step(
        state_of(rules, DWELL), pos, place.points, index.params.collection, vehicle_id=vehicle.vehicle_id
    )
    out.facts += [Fact(collection_dwell.FACT_KIND, s.point_id, s.ts_ms, s.to_dict()) for s in served]


def _permit_rules(
    index: CityIndex,
    rules: Rules,
    pos: VehiclePosition,
    permit: Any,
    place: Place,
    out: RuleOutput,
    *,
    live: bool = True,
) -> None:
    distance = place.corridor_m
    assert distance is not None  # located with its permit
    name = route_deviation.RULE
    rules[name], alerts = route_deviation.step(
        state_of(rules, name),
        pos,
        distance,
        permit.corridor_m,
        index.params.route_deviation,
        permit_id=permit.permit_id,
        **_who(index, pos, name),
    )
    out.alerts += alerts
    name = out_of_window.RULE
    rules[name], alerts = out_of_window.step(
        state_of(rules, name), pos, permit, index.params.out_of_window, tz=index.tz, **_who(index, pos, name)
    )
    out.alerts += alerts
    _site_rules(index, rules, pos, permit, place, out, live=live)


def _site_rules(
    index: CityIndex,
    rules: Rules,
    pos: VehiclePosition,
    permit: Any,
    place: Place,
    out: RuleOutput,
    *,
    live: bool = True,
) -> None:
    zone = index.site_zone(permit, place)
    name = illegal_dumping.RULE
    rules[name], alerts = illegal_dumping.step(
        state_of(rules, name), pos, zone, index.params.illegal_dumping, **_who(index, pos, name)
    )
    out.alerts += alerts
    if not live:
        return  # a trip is judged on live fixes only
    name = trip_delivery.RULE
    rules[name], alerts = trip_delivery.step(
        state_of(rules, name), pos, zone, index.params.illegal_dumping, site_id=place.site, **_who(index, pos, name)
    )
    out.alerts += alerts


def vehicle_tick(index: CityIndex, rules: Rules, device_id: str, watermark_ms: int, out: RuleOutput) -> None:
    """A held dirty-truck exit past its deadline; a muck terminal silent while its permit is in force."""
    visits = rules.get(dirty_truck.RULE)
    if visits is not None and visits.held:
        name = dirty_truck.RULE
        rules[name], alerts = dirty_truck.check(
            visits, watermark_ms, index.params.dirty_truck, subject=device_id, matter_code=index.matter_code(name)
        )
        out.alerts += alerts
    permit = index.permits.get(device_id)
    if silence.RULE not in rules or permit is None:
        return
    required = index.permit_in_force(permit, watermark_ms)
    rules[silence.RULE], alerts = silence.check(
        rules[silence.RULE],
        watermark_ms,
        index.params.silence.vehicle_s,
        required=required,
        subject=device_id,
        matter_code=index.matter_code(silence.RULE),
    )
    out.alerts += alerts
