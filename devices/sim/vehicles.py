"""Simulated GPS terminals: sample a truck's plan at its report times and dress it as JT/T 808 would.

Muck trucks carry cover (密闭) and body-lift (举升) sensors: the cover opens only while the truck
stands loading or unloading, and the body lifts only while unloading at the disposal site, so clean
traffic never looks uncovered. Garbage trucks have neither sensor (``None``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from devices.contracts import LoadState, VehiclePosition
from devices.inventory import City, Vehicle
from devices.sim.geo import FloatArray, LocalProjection, Path
from devices.sim.motion import Activity, Leg, Phase, Plan, stand
from devices.sim.scenario import Deviate, OpenCover, Scenario
from devices.sim.schedule import DEVIATION_RAMP_S, Window, muck_plan, round_plan

GPS_SIGMA_M = 2.5
GPS_CLIP_M = 8.0
SPEED_SIGMA_KMH = 0.8
MAX_REPORTED_KMH = 39.5


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
class TruckModel:
    """Everything needed to sample one truck: its path, plan, sensors and injected episodes."""

    device_id: str
    path: Path
    plan: Plan
    loops: bool
    has_cover: bool
    deviations: list[Deviation] = field(default_factory=list)
    open_covers: list[tuple[float, float]] = field(default_factory=list)


def _windows(deviations: list[Deviate], covers: list[OpenCover]) -> list[Window]:
    label = "injection {} for {} at {:g} s".format
    ramp = DEVIATION_RAMP_S
    return [
        Window(d.at_s - ramp, d.at_s + d.duration_s + ramp, label("deviate", d.vehicle, d.at_s))
        for d in deviations
    ] + [Window(c.at_s, c.at_s + c.duration_s, label("open_cover", c.vehicle, c.at_s)) for c in covers]


def _offset_line(path: Path, offset_m: float) -> FloatArray:
    """Return the offset line (left or right) that keeps furthest from the route."""
    best: tuple[float, FloatArray] | None = None
    for side in (1.0, -1.0):
        line = path.offset_vertices(side * offset_m)
        probe = Path(line)
        samples = np.array([probe.point_at(s) for s in np.arange(0.0, probe.length, 10.0)])
        clearance = float(path.distance(samples).min())
        if best is None or clearance > best[0] + 1.0:
            best = (clearance, line)
    assert best is not None
    return best[1]


def _muck_truck(
    tid: str, path: Path, scenario: Scenario, rng: np.random.Generator, horizon_s: float
) -> TruckModel:
    devs, covers = scenario.injections_of(Deviate, tid), scenario.injections_of(OpenCover, tid)
    plan = Plan(muck_plan(rng, path.length, horizon_s, _windows(devs, covers)))
    deviations = [Deviation(d.at_s, d.at_s + d.duration_s, _offset_line(path, d.offset_m)) for d in devs]
    spans = [(c.at_s, c.at_s + c.duration_s) for c in covers]
    return TruckModel(tid, path, plan, loops=False, has_cover=True, deviations=deviations, open_covers=spans)


def build_truck(
    vehicle: Vehicle, city: City, scenario: Scenario, rng: np.random.Generator, horizon_s: float
) -> TruckModel:
    """Build a truck's model: muck on its permit route, garbage on its round, else parked at the centre."""
    proj = LocalProjection(*city.meta.center)
    tid, permit = vehicle.terminal_id, city.permit_by_vehicle.get(vehicle.vehicle_id)
    if vehicle.kind == "muck" and permit is not None:
        return _muck_truck(tid, Path.from_lonlat(permit.route, proj), scenario, rng, horizon_s)
    if vehicle.round is not None:
        closing = [vehicle.round[0]] if vehicle.round[0] != vehicle.round[-1] else []
        path = Path.from_lonlat(list(vehicle.round) + closing, proj)
        return TruckModel(
            tid, path, Plan(round_plan(rng, path.length, horizon_s)), loops=True, has_cover=False
        )
    parked = Plan([stand(0.0, horizon_s + 1.0, 0.0, Activity.STOP, Leg.EMPTY)])
    return TruckModel(tid, Path(np.array([[0.0, 0.0], [1.0, 0.0]])), parked, False, vehicle.kind == "muck")


def _muck_signals(phase: Phase, t: float) -> tuple[LoadState, bool, bool]:
    """Return (load, cover closed, body lifted) of a muck truck in a phase."""
    p = phase.progress(t)
    cover_open = 0.1 <= p < 0.8
    if phase.activity is Activity.LOAD:
        load = LoadState.EMPTY if p < 0.3 else LoadState.HALF if p < 0.7 else LoadState.FULL
        return load, not cover_open, False
    if phase.activity is Activity.UNLOAD:
        load = LoadState.FULL if p < 0.25 else LoadState.HALF if p < 0.65 else LoadState.EMPTY
        return load, not cover_open, 0.25 <= p < 0.65
    return (LoadState.FULL if phase.leg is Leg.LOADED else LoadState.EMPTY), True, False


def _round_load(model: TruckModel, s: float) -> LoadState:
    """Garbage trucks fill up as they work through their round."""
    done = (s / model.path.length) % 1.0
    return LoadState.EMPTY if done < 0.35 else LoadState.HALF if done < 0.75 else LoadState.FULL


def _signals(
    model: TruckModel, phase: Phase, t: float, s: float
) -> tuple[LoadState, bool | None, bool | None]:
    if model.loops:
        return _round_load(model, s), None, None
    load, closed, lifted = _muck_signals(phase, t)
    if any(a <= t <= b for a, b in model.open_covers):
        load, closed = LoadState.FULL, False
    return load, (closed if model.has_cover else None), (lifted if model.has_cover else None)


def _position(model: TruckModel, t: float, s: float, rng: np.random.Generator) -> FloatArray:
    xy = model.path.point_at(s)
    for dev in model.deviations:
        w = dev.weight(t)
        if w > 0.0:
            xy = xy + w * (model.path.offset_point(s, dev.offset_line) - xy)
    return xy + np.clip(rng.normal(0.0, GPS_SIGMA_M, 2), -GPS_CLIP_M, GPS_CLIP_M)


def _speed_heading(
    model: TruckModel, phase: Phase, s: float, rng: np.random.Generator
) -> tuple[float, float]:
    heading = model.path.heading_at(s) + (0.0 if phase.forward else 180.0)
    if phase.activity is not Activity.DRIVE:
        return 0.0, heading % 360.0
    speed = phase.speed_kmh + float(np.clip(rng.normal(0.0, SPEED_SIGMA_KMH), -2.0, 2.0))
    heading += float(rng.normal(0.0, 1.5))
    return min(max(speed, 0.0), MAX_REPORTED_KMH), heading % 360.0


def truck_messages(
    model: TruckModel,
    proj: LocalProjection,
    rng: np.random.Generator,
    times: list[float],
    start_ms: int,
    seq0: int,
) -> Iterator[VehiclePosition]:
    """Yield the truck's position reports at the given sim times."""
    for seq, t in enumerate(times, start=seq0):
        phase = model.plan.at(t)
        s_raw = phase.s_at(t)
        s = s_raw % model.path.length if model.loops else s_raw
        x, y = _position(model, t, s, rng)
        speed, heading = _speed_heading(model, phase, s, rng)
        load, closed, lifted = _signals(model, phase, t, s_raw)
        lon, lat = proj.to_lonlat(float(x), float(y))
        yield VehiclePosition(
            device_id=model.device_id, ts_ms=start_ms + round(t * 1000), seq=seq,
            lon=round(lon, 6), lat=round(lat, 6), speed_kmh=round(speed, 1),
            heading_deg=round(heading, 1) % 360.0, load_state=load, cover_closed=closed, body_lifted=lifted,
        )  # fmt: skip
