"""A muck truck's plan from its permit and the scenario: track, permit hours and injected windows."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from devices.areas import exteriors
from devices.inventory import City, Permit, Vehicle
from devices.sim.clock import SimClock, window_spans
from devices.sim.geo import FloatArray, LocalProjection, Path, depth
from devices.sim.injections import (
    TRUCK_TYPES,
    BodyLift,
    Deviate,
    Dwell,
    EnterZone,
    GpsJump,
    OpenCover,
    OutOfWindow,
    Silence,
    SkipWash,
    Speeding,
    Undelivered,
)
from devices.sim.motion import Plan
from devices.sim.schedule import (
    DEVIATION_RAMP_S,
    LEAD_S,
    Episode,
    ScheduleError,
    Window,
    muck_plan,
)
from devices.sim.track import ZONE_OFFSET_M, Track, build_track, zone_stretch

if TYPE_CHECKING:
    from devices.sim.scenario import Scenario

MIDWAY = 0.5  # stops (dwell, body lift, shed load) happen this far along the route
ZONE_ENTRY_MARGIN_M = 10.0
AVOID_MARGIN_M = 30.0  # a deviation keeps this far from zones, sites and disposal sites
AVOID_ENDS_M = 100.0
AWAY_LEAD_S = 60.0  # a silent truck has driven this long (> move_on_s) when it goes quiet
TruckInjection = (
    Deviate | OpenCover | OutOfWindow | EnterZone | Speeding | BodyLift | Dwell | Undelivered | SkipWash | GpsJump
)
Planned = TruckInjection | Silence


@dataclass(frozen=True, slots=True)
class Deviation:
    """An injected excursion: the truck drives beside its route on an offset line."""

    start_s: float
    end_s: float
    offset_line: FloatArray

    def weight(self, t: float) -> float:
        """Return how far (0-1) along the way to the offset line the truck is at ``t``."""
        up = (t - (self.start_s - DEVIATION_RAMP_S)) / DEVIATION_RAMP_S
        down = ((self.end_s + DEVIATION_RAMP_S) - t) / DEVIATION_RAMP_S
        return min(max(min(up, down), 0.0), 1.0)


@dataclass(frozen=True, slots=True)
class MuckParts:
    """What a muck truck's model is made of."""

    path: Path
    route: Path
    gate_m: float
    plan: Plan
    deviations: list[Deviation]
    open_covers: list[tuple[float, float]]
    jumps: list[tuple[float, float, float]]


def label(inj: Planned) -> str:
    """Name an injection in scheduling errors."""
    return f"injection {inj.type} for {inj.device} at {inj.at_s:g} s"


def midway_m(track: Track) -> float:
    """Return the track arc where injected stops happen."""
    return track.gate_m + MIDWAY * track.route.length


def _zone_anchor(inj: EnterZone, track: Track, city: City, proj: LocalProjection) -> tuple[float, float]:
    """Return (track arc where the truck is fully aside at at_s, side of the zone)."""
    zone = next((z for z in city.zones if z.zone_id == inj.zone), None)
    stretch = None if zone is None else zone_stretch(track.route, zone, proj)
    if stretch is None:
        raise ScheduleError(f"{label(inj)}: zone {inj.zone} is not beside the route")
    return track.gate_m + stretch.start_m + ZONE_ENTRY_MARGIN_M, stretch.side


def window_of(inj: Planned, track: Track, city: City, proj: LocalProjection) -> Window:
    """Return the scheduling window of a truck injection."""
    name, (a, b) = label(inj), (inj.at_s, inj.at_s + float(getattr(inj, "duration_s", 0.0)))
    if isinstance(inj, Silence):  # under way long enough before it that the last stop is seen to end
        return Window(a - AWAY_LEAD_S, b, name, Episode.AWAY)
    if isinstance(inj, Deviate):
        return Window(a - DEVIATION_RAMP_S, b + DEVIATION_RAMP_S, name)
    if isinstance(inj, EnterZone):
        anchor, _ = _zone_anchor(inj, track, city, proj)
        return Window(a - DEVIATION_RAMP_S, b + DEVIATION_RAMP_S, name, anchor_m=anchor, anchor_s=a)
    if isinstance(inj, Speeding):
        return Window(a, b, name, Episode.FAST, speed_kmh=inj.speed_kmh)
    if isinstance(inj, BodyLift | Dwell):
        episode = Episode.DUMP if isinstance(inj, BodyLift) else Episode.STOP
        return Window(a, b, name, episode, anchor_m=midway_m(track))
    if isinstance(inj, Undelivered):
        return Window(a, a + inj.shed_s, name, Episode.SHED, anchor_m=midway_m(track))
    if isinstance(inj, SkipWash):
        return Window(a + LEAD_S, a + LEAD_S + 30.0, name, wash=False)
    if isinstance(inj, GpsJump):
        return Window(a, a + 20.0, name)
    return Window(a, b, name, any_hours=isinstance(inj, OutOfWindow))


def avoid_rings(city: City, proj: LocalProjection) -> list[FloatArray]:
    """Return the polygons a deviating truck must keep out of: zones, sites and disposal sites."""
    areas = [z.polygon for z in city.zones] + [s.polygon for s in city.sites if s.polygon]
    return [proj.to_xy(ring) for area in areas + [d.polygon for d in city.disposal_sites] for ring in exteriors(area)]


def _offset_line(route: Path, offset_m: float, avoid: list[FloatArray]) -> FloatArray:
    """Return the offset line (left or right) that enters no polygon to avoid and keeps furthest from the route."""
    best: tuple[int, float, FloatArray] | None = None
    for side in (1.0, -1.0):
        line = route.offset_vertices(side * offset_m)
        arcs = np.arange(AVOID_ENDS_M, route.length - AVOID_ENDS_M, 10.0)  # windows never reach the ends
        samples = np.array([route.offset_point(s, line) for s in arcs])
        entered = sum(int(np.any(depth(ring, samples) > -AVOID_MARGIN_M)) for ring in avoid)
        score = (-entered, float(route.distance(samples).min()))
        if best is None or score[0] > best[0] or (score[0] == best[0] and score[1] > best[1] + 1.0):
            best = (*score, line)
    assert best is not None
    return best[2]


def _deviations(injs: list[TruckInjection], track: Track, city: City, proj: LocalProjection) -> list[Deviation]:
    avoid = avoid_rings(city, proj)
    out = [Deviation(i.at_s, i.at_s + i.duration_s, _offset_line(track.route, i.offset_m, avoid))
           for i in injs if isinstance(i, Deviate)]  # fmt: skip
    for inj in (i for i in injs if isinstance(i, EnterZone)):
        _, side = _zone_anchor(inj, track, city, proj)
        line = track.route.offset_vertices(side * ZONE_OFFSET_M)
        out.append(Deviation(inj.at_s, inj.at_s + inj.duration_s, line))
    return out


def _jump(inj: GpsJump) -> tuple[float, float, float]:
    bearing = math.radians(inj.bearing_deg)
    return inj.at_s, inj.distance_m * math.sin(bearing), inj.distance_m * math.cos(bearing)


def muck_model_parts(
    vehicle: Vehicle, permit: Permit, city: City, scenario: Scenario, rng: np.random.Generator,
    horizon_s: float, start_ms: int,
) -> MuckParts:  # fmt: skip
    """Build a muck truck's track and plan, with its permit's hours and its injected episodes."""
    proj = LocalProjection(*city.meta.center)
    track = build_track(city, permit, proj)
    injs: list[TruckInjection] = scenario.injections_of(TRUCK_TYPES, vehicle.terminal_id)
    silences: list[Silence] = scenario.injections_of(Silence, vehicle.terminal_id)
    windows = [window_of(i, track, city, proj) for i in [*injs, *silences]]
    clock = SimClock(start_ms, city.meta.timezone)
    hours = window_spans(permit.windows, clock, horizon_s, (permit.valid_from, permit.valid_to))
    plan = Plan(muck_plan(rng, track.arcs, horizon_s, windows, hours))
    covers = [(i.at_s, i.at_s + i.duration_s) for i in injs if isinstance(i, OpenCover)]
    jumps = [_jump(i) for i in injs if isinstance(i, GpsJump)]
    return MuckParts(track.path, track.route, track.gate_m, plan, _deviations(injs, track, city, proj), covers, jumps)
