"""Check truck injections against the city: a muck truck with a permit that can host the violation.

Every problem names the injection and its field (``injections.3.duration_s: ...``) and, where a
device is wrong, the valid choices. Injections whose violation depends on local time (permit
hours, zone hours) need the scenario's ``start_local``.
"""

from __future__ import annotations

import numpy as np

from devices.inventory import ForbiddenZone, Permit, RoadSegment
from devices.sim.checks_context import Ctx, choices, muck_permit
from devices.sim.clock import covers, touches
from devices.sim.geo import Path
from devices.sim.injections import (
    BodyLift,
    Deviate,
    Dwell,
    EnterZone,
    GpsJump,
    OpenCover,
    OutOfWindow,
    SkipWash,
    Speeding,
    Undelivered,
)
from devices.sim.motion import MAX_CRUISE_MS
from devices.sim.schedule import DEVIATION_RAMP_S, LEAD_S, MARGIN_S, max_window_s
from devices.sim.track import build_track, zone_stretch
from devices.sim.truck_plans import ZONE_ENTRY_MARGIN_M, TruckInjection
from rules.params import RuleParams

NOISE_MARGIN_M = 20.0  # GPS noise never moves a fix this far
SPEED_MARGIN_KMH = 5.0


def _least_s(inj: TruckInjection, rules: RuleParams) -> float | None:
    """Return the rule's minimum duration an injection must outlast."""
    least = {Deviate: rules.route_deviation.min_duration_s, OpenCover: rules.uncovered_load.min_duration_s,
             OutOfWindow: rules.out_of_window.min_duration_s, EnterZone: rules.forbidden_zone.min_duration_s,
             Speeding: rules.speeding.min_duration_s, Dwell: rules.illegal_dumping.dwell_min_s}  # fmt: skip
    return least.get(type(inj))


def _duration_problems(n: int, inj: TruckInjection, ctx: Ctx, route: Path) -> list[str]:
    every, least = ctx.every.vehicle_s, _least_s(inj, ctx.rules)
    duration, problems = float(getattr(inj, "duration_s", 0.0)), []
    if least is not None and duration < least + 2 * every:
        problems.append(
            f"injections.{n}.duration_s: {duration:g} s is too short for a rule "
            f"needing {least:g} s with {every:g} s reports"
        )
    if isinstance(inj, Deviate | OpenCover | OutOfWindow):
        start, end = inj.span(ctx.every)
        if end - start > max_window_s(route.length):
            problems.append(
                f"injections.{n}.duration_s: route {_permit_id(ctx, inj)} is too short to host {end - start:.0f} s"
            )
    return problems


def _permit_id(ctx: Ctx, inj: TruckInjection) -> str:
    permit = muck_permit(ctx.city, inj.vehicle)
    return permit.permit_id if permit else "?"


def _offset_problems(n: int, inj: TruckInjection, ctx: Ctx, permit: Permit) -> list[str]:
    least = permit.corridor_m + ctx.rules.route_deviation.hysteresis_m + NOISE_MARGIN_M
    if isinstance(inj, Deviate) and inj.offset_m < least:
        return [f"injections.{n}.offset_m: {inj.offset_m:g} m is not clearly outside the corridor (>= {least:g})"]
    return []


def _hours_problems(n: int, inj: TruckInjection, ctx: Ctx, permit: Permit) -> list[str]:
    hours = ", ".join(str(w) for w in permit.windows)
    if isinstance(inj, OutOfWindow) and not permit.windows:
        trucks = [v.terminal_id for v in ctx.city.vehicles if (p := muck_permit(ctx.city, v.terminal_id)) and p.windows]
        return [f"injections.{n}.vehicle: permit {permit.permit_id} allows any hour ({choices(trucks)})"]
    if not permit.windows:
        return []
    if ctx.clock is None:
        return [f"injections.{n}.at_s: permit {permit.permit_id} has hours ({hours}): pin the scenario's start_local"]
    start, end = inj.span(ctx.every)
    if isinstance(inj, OutOfWindow) and touches(ctx.spans(permit), start - LEAD_S, end + MARGIN_S):
        return [f"injections.{n}.at_s: the trip runs inside permit {permit.permit_id}'s hours ({hours})"]
    if not isinstance(inj, OutOfWindow) and not covers(ctx.spans(permit), start - LEAD_S, end):
        return [
            f"injections.{n}.at_s: outside permit {permit.permit_id}'s hours ({hours}); only out_of_window runs then"
        ]
    return []


def _faster_roads(ctx: Ctx, inj: TruckInjection, route: Path) -> list[RoadSegment]:
    """Return the road segments along the route whose limit is over the urban one (expressways)."""
    kind = ctx.city.vehicle_by_terminal[inj.vehicle].kind
    samples = np.array([route.point_at(s) for s in np.arange(0.0, route.length, 10.0)])
    return [
        r
        for r in ctx.city.roads
        if r.limit_kmh > ctx.rules.speeding.urban_limit_kmh
        and kind in r.vehicle_kinds
        and bool((Path.from_lonlat(r.polyline, ctx.proj).distance(samples) <= r.half_width_m).any())
    ]


def _speed_problems(n: int, inj: TruckInjection, ctx: Ctx, route: Path) -> list[str]:
    if not isinstance(inj, Speeding):
        return []
    p, faster = ctx.rules.speeding, _faster_roads(ctx, inj, route)
    least = max([p.urban_limit_kmh] + [r.limit_kmh for r in faster]) + p.tolerance_kmh + SPEED_MARGIN_KMH
    if inj.speed_kmh < least:
        on = "".join(f"; its route runs on {r.segment_id} at {r.limit_kmh:g} km/h" for r in faster)
        return [f"injections.{n}.speed_kmh: {inj.speed_kmh:g} km/h is not clearly over the limit (>= {least:g}{on})"]
    needed = (LEAD_S + MARGIN_S) * MAX_CRUISE_MS + inj.duration_s * inj.speed_kmh / 3.6
    if needed > route.length:
        return [
            f"injections.{n}.duration_s: the route is too short to drive {inj.duration_s:g} s at {inj.speed_kmh:g} km/h"
        ]
    return []


def _stop_problems(n: int, inj: TruckInjection, ctx: Ctx) -> list[str]:
    p, every = ctx.rules.illegal_dumping, ctx.every.vehicle_s
    if isinstance(inj, BodyLift) and 0.7 * inj.duration_s - every < p.lifted_min_s:
        return [
            (
                f"injections.{n}.duration_s: the body is up 70 % of the stop; {inj.duration_s:g} s is too short "
                f"for {p.lifted_min_s:g} s lifted with {every:g} s reports"
            )
        ]
    if isinstance(inj, Undelivered):
        problems = []
        if inj.shed_s > p.dwell_min_s - 2 * every:
            problems.append(
                f"injections.{n}.shed_s: {inj.shed_s:g} s would also be a loaded dwell "
                f"(< {p.dwell_min_s - 2 * every:g})"
            )
        if inj.at_s + p.trip_timeout_s + 2 * every > ctx.scenario.duration_s:
            problems.append(
                f"injections.{n}.at_s: the scenario ends before the trip times out "
                f"({p.trip_timeout_s:g} s after departure)"
            )
        return problems
    return []


def _zone_problems(n: int, inj: TruckInjection, ctx: Ctx, permit: Permit) -> list[str]:
    if not isinstance(inj, EnterZone):
        return []
    zones = {z.zone_id: z for z in ctx.city.zones}
    zone = zones.get(inj.zone)
    if zone is None:
        return [f"injections.{n}.zone: unknown {inj.zone!r} ({choices(list(zones))})"]
    kind = ctx.city.vehicle_by_terminal[inj.vehicle].kind
    if kind not in zone.vehicle_kinds:
        return [f"injections.{n}.zone: {inj.zone} is not closed to {kind} trucks"]
    track = build_track(ctx.city, permit, ctx.proj)
    stretch = zone_stretch(track.route, zone, ctx.proj)
    if stretch is None:
        return [
            f"injections.{n}.zone: {inj.zone} is not beside route {permit.permit_id} (choose the truck of a route beside it)"
        ]
    anchor = track.gate_m + stretch.start_m + ZONE_ENTRY_MARGIN_M
    if anchor - track.wash_m < (DEVIATION_RAMP_S + 5.0) * MAX_CRUISE_MS:
        return [f"injections.{n}.zone: {inj.zone} is too close to the site for the truck to pull aside"]
    room_s = (stretch.end_m - stretch.start_m - 2 * ZONE_ENTRY_MARGIN_M) / MAX_CRUISE_MS
    if inj.duration_s > room_s:
        return [f"injections.{n}.duration_s: {inj.zone} runs beside the route for at most {room_s:.0f} s of driving"]
    return _zone_hours_problems(n, inj, ctx, zone)


def _zone_hours_problems(n: int, inj: EnterZone, ctx: Ctx, zone: ForbiddenZone) -> list[str]:
    schedule = zone.schedule
    if not schedule.windows and schedule.weekdays is None and schedule.dates is None:
        return []
    if ctx.clock is None:
        return [f"injections.{n}.at_s: zone {inj.zone} has hours: pin the scenario's start_local"]
    clock = ctx.clock
    if not all(schedule.active(clock.local(t)) for t in np.linspace(inj.at_s, inj.at_s + inj.duration_s, 12)):
        hours = ", ".join(str(w) for w in schedule.windows) or "all day"
        days = f" on weekdays {schedule.weekdays}" if schedule.weekdays else ""
        return [f"injections.{n}.at_s: zone {inj.zone} is not in force all the time ({hours}{days})"]
    return []


def _misc_problems(n: int, inj: TruckInjection, ctx: Ctx) -> list[str]:
    if isinstance(inj, GpsJump):
        p = ctx.rules.gps_anomaly
        implied_kmh = inj.distance_m / ctx.every.vehicle_s * 3.6
        if inj.distance_m < p.min_jump_m + 100 or implied_kmh < 1.5 * p.max_speed_kmh:
            return [
                (
                    f"injections.{n}.distance_m: {inj.distance_m:g} m is not clearly a jump "
                    f"(>= {p.min_jump_m + 100:g} m and >= {1.5 * p.max_speed_kmh:g} km/h)"
                )
            ]
    if isinstance(inj, SkipWash):
        least = ctx.rules.dirty_truck.min_visit_s + 3 * ctx.every.vehicle_s
        if inj.at_s < least:
            return [f"injections.{n}.at_s: the truck must be in its site {least:g} s to count as a visit"]
    return []


def truck_problems(n: int, inj: TruckInjection, ctx: Ctx) -> list[str]:
    """Return what is wrong with a truck injection."""
    permit = muck_permit(ctx.city, inj.vehicle)
    if permit is None:
        muck = [v.terminal_id for v in ctx.city.vehicles if muck_permit(ctx.city, v.terminal_id)]
        return [f"injections.{n}.vehicle: {inj.vehicle!r} is not a muck truck with a permit ({choices(muck)})"]
    route = Path.from_lonlat(permit.route, ctx.proj)
    return (
        _duration_problems(n, inj, ctx, route)
        + _offset_problems(n, inj, ctx, permit)
        + _hours_problems(n, inj, ctx, permit)
        + _speed_problems(n, inj, ctx, route)
        + _stop_problems(n, inj, ctx)
        + _zone_problems(n, inj, ctx, permit)
        + _misc_problems(n, inj, ctx)
    )
