"""Simulated GPS terminals: sample a truck's plan at its report times and dress it as JT/T 808 would.

Muck trucks carry cover (密闭) and body-lift (举升) sensors: the cover opens only while the truck
stands loading or unloading, and the body lifts only while unloading at the disposal site, so clean
traffic never looks uncovered or dumping. Garbage trucks have neither sensor (``None``). Reported
speeds stay under 39.5 km/h except in an injected speeding window.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from devices.contracts import LoadState, VehiclePosition
from devices.inventory import City, Vehicle
from devices.sim.geo import FloatArray, LocalProjection, Path, arc_of
from devices.sim.injections import SkipCollection
from devices.sim.motion import CRUISE_KMH, Activity, Leg, Phase, Plan, stand
from devices.sim.rounds import Skip, Stop, round_plan
from devices.sim.scenario import Scenario
from devices.sim.truck_plans import Deviation, muck_model_parts

GPS_SIGMA_M = 2.5
GPS_CLIP_M = 6.0
SPEED_SIGMA_KMH = 0.8
MAX_REPORTED_KMH = 39.5

__all__ = ["TruckModel", "build_truck", "truck_messages", "true_position"]


@dataclass(frozen=True, slots=True)
class TruckModel:
    """Everything needed to sample one truck: its path, plan, sensors and injected episodes."""

    device_id: str
    path: Path
    plan: Plan
    loops: bool
    has_cover: bool
    route: Path | None = None  # a muck truck's permit route (offsets are drawn on it)
    gate_m: float = 0.0  # where the route starts on ``path``
    deviations: list[Deviation] = field(default_factory=list)
    open_covers: list[tuple[float, float]] = field(default_factory=list)
    jumps: list[tuple[float, float, float]] = field(default_factory=list)  # (at_s, dx, dy)


def _garbage_truck(vehicle: Vehicle, city: City, scenario: Scenario, rng: np.random.Generator,
                   horizon_s: float) -> TruckModel:  # fmt: skip
    proj = LocalProjection(*city.meta.center)
    assert vehicle.round is not None
    closing = [vehicle.round[0]] if vehicle.round[0] != vehicle.round[-1] else []
    path = Path.from_lonlat(list(vehicle.round) + closing, proj)
    points = [p for p in city.collection_points if vehicle.vehicle_id in p.served_by]
    stops = sorted((Stop(p.point_id, arc_of(path, proj.to_xy([(p.lon, p.lat)])[0])) for p in points),
                   key=lambda st: st.arc_m)  # fmt: skip
    skips = [Skip(k.point, k.at_s, k.at_s + k.duration_s)
             for k in scenario.injections_of(SkipCollection, vehicle.terminal_id)]  # fmt: skip
    plan = Plan(round_plan(rng, path.length, horizon_s, stops, skips))
    return TruckModel(vehicle.terminal_id, path, plan, loops=True, has_cover=False)


def build_truck(
    vehicle: Vehicle, city: City, scenario: Scenario, rng: np.random.Generator, horizon_s: float,
    start_ms: int = 0,
) -> TruckModel:  # fmt: skip
    """Build a truck's model: muck on its permit track, garbage on its round, else parked at the centre."""
    permit = city.permit_by_vehicle.get(vehicle.vehicle_id)
    if vehicle.kind == "muck" and permit is not None:
        parts = muck_model_parts(vehicle, permit, city, scenario, rng, horizon_s, start_ms)
        return TruckModel(
            vehicle.terminal_id,
            parts.path,
            parts.plan,
            False,
            True,
            parts.route,
            parts.gate_m,
            parts.deviations,
            parts.open_covers,
            parts.jumps,
        )
    if vehicle.round is not None:
        return _garbage_truck(vehicle, city, scenario, rng, horizon_s)
    parked = Plan([stand(0.0, horizon_s + 1.0, 0.0, Activity.STOP, Leg.EMPTY)])
    return TruckModel(vehicle.terminal_id, Path(np.array([[0.0, 0.0], [1.0, 0.0]])), parked, False,
                      vehicle.kind == "muck")  # fmt: skip


def _load_by(p: float, first: float, second: float, rising: bool) -> LoadState:
    """Return the load of a truck loading (rising) or unloading part-way (progress ``p``)."""
    order = [LoadState.EMPTY, LoadState.HALF, LoadState.FULL]
    stage = order[0 if p < first else 1 if p < second else 2]
    return stage if rising else order[2 - order.index(stage)]


def _muck_signals(phase: Phase, t: float) -> tuple[LoadState, bool, bool]:
    """Return (load, cover closed, body lifted) of a muck truck in a phase."""
    p = phase.progress(t)
    cover_open = 0.1 <= p < 0.8
    if phase.activity is Activity.LOAD:
        return _load_by(p, 0.3, 0.7, rising=True), not cover_open, False
    if phase.activity is Activity.UNLOAD:
        return _load_by(p, 0.25, 0.65, rising=False), not cover_open, 0.25 <= p < 0.65
    if phase.activity is Activity.DUMP:
        return _load_by(p, 0.3, 0.7, rising=False), not cover_open, 0.15 <= p < 0.85
    if phase.activity is Activity.SHED:
        return _load_by(p, 0.3, 0.7, rising=False), True, False
    return (LoadState.FULL if phase.leg is Leg.LOADED else LoadState.EMPTY), True, False


def _round_load(model: TruckModel, s: float) -> LoadState:
    """Garbage trucks fill up as they work through their round."""
    done = (s / model.path.length) % 1.0
    return LoadState.EMPTY if done < 0.35 else LoadState.HALF if done < 0.75 else LoadState.FULL


def _signals(model: TruckModel, phase: Phase, t: float, s: float) -> tuple[LoadState, bool | None, bool | None]:
    if model.loops:
        return _round_load(model, s), None, None
    load, closed, lifted = _muck_signals(phase, t)
    if any(a <= t <= b for a, b in model.open_covers):
        load, closed = LoadState.FULL, False
    return load, (closed if model.has_cover else None), (lifted if model.has_cover else None)


def true_position(model: TruckModel, t: float) -> FloatArray:
    """Return where the truck really is at sim time ``t`` (no GPS noise), in local metres."""
    phase = model.plan.at(t)
    s = phase.s_at(t) % model.path.length if model.loops else phase.s_at(t)
    xy = model.path.point_at(s)
    if model.route is None or s < model.gate_m:
        return xy
    for dev in model.deviations:
        w = dev.weight(t)
        if w > 0.0:
            xy = xy + w * (model.route.offset_point(s - model.gate_m, dev.offset_line) - xy)
    return xy


def _speed_heading(model: TruckModel, phase: Phase, s: float, rng: np.random.Generator) -> tuple[float, float]:
    heading = model.path.heading_at(s) + (0.0 if phase.forward else 180.0)
    if phase.activity is not Activity.DRIVE:
        return 0.0, heading % 360.0
    speed = phase.speed_kmh + float(np.clip(rng.normal(0.0, SPEED_SIGMA_KMH), -2.0, 2.0))
    heading += float(rng.normal(0.0, 1.5))
    cap = MAX_REPORTED_KMH if phase.speed_kmh <= CRUISE_KMH[1] + 0.5 else 250.0
    return min(max(speed, 0.0), cap), heading % 360.0


def truck_messages(
    model: TruckModel,
    proj: LocalProjection,
    rng: np.random.Generator,
    times: list[float],
    start_ms: int,
    seq0: int,
) -> Iterator[VehiclePosition]:
    """Yield the truck's position reports at the given sim times (a jump moves the first fix at or after it)."""
    pending_jumps = sorted(model.jumps)
    for seq, t in enumerate(times, start=seq0):
        phase = model.plan.at(t)
        s_raw = phase.s_at(t)
        s = s_raw % model.path.length if model.loops else s_raw
        x, y = true_position(model, t) + np.clip(rng.normal(0.0, GPS_SIGMA_M, 2), -GPS_CLIP_M, GPS_CLIP_M)
        while pending_jumps and pending_jumps[0][0] <= t:
            _, dx, dy = pending_jumps.pop(0)
            x, y = x + dx, y + dy
        speed, heading = _speed_heading(model, phase, s, rng)
        load, closed, lifted = _signals(model, phase, t, s_raw)
        lon, lat = proj.to_lonlat(float(x), float(y))
        yield VehiclePosition(
            device_id=model.device_id, ts_ms=start_ms + round(t * 1000), seq=seq,
            lon=round(lon, 6), lat=round(lat, 6), speed_kmh=round(speed, 1),
            heading_deg=round(heading, 1) % 360.0, load_state=load, cover_closed=closed, body_lifted=lifted,
        )  # fmt: skip
