"""The pure core of the simulator: city + scenario + seed -> the time-ordered stream of messages.

No IO, no clock: sim time runs from 0 to the scenario's duration and ``ts_ms = start_ms + sim
time``; local time (permit hours, night, deadlines) follows from ``start_ms`` and the city's time
zone, so a scenario that pins ``start_local`` must be generated from exactly that start. Every device draws from its own numpy Generator seeded with (seed, stable hash of its id),
so adding a device or an injection elsewhere leaves a device's stream unchanged. Each device's
stream is its birth status (``online``, seq 0), its telemetry (seq 1, 2, ...) and, at the end, an
``offline`` status; the first report falls at a seeded offset within the first interval, so
devices do not all report in the same millisecond.
"""

from __future__ import annotations

import hashlib
import heapq
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

import numpy as np

from devices.contracts import DeviceStatus, Message
from devices.inventory import BackgroundStation, City, Facility, Site, Vehicle
from devices.sim.cameras import camera_ids, camera_messages
from devices.sim.clock import SimClock
from devices.sim.geo import LocalProjection
from devices.sim.injections import (
    CameraSighting,
    FillFast,
    Haze,
    NightWork,
    Noise,
    Odour,
    Overflow,
    Pm10,
    Silence,
)
from devices.sim.scenario import (
    ReportIntervals,
    Scenario,
    ScenarioError,
    check_scenario,
)
from devices.sim.schedule import ScheduleError
from devices.sim.sensors import build_fill, fill_messages
from devices.sim.sites import build_background, build_site, site_messages
from devices.sim.vehicles import TruckModel, build_truck, truck_messages
from rules.params import params_of

Telemetry = Callable[[int], Iterator[Message]]  # first seq -> the device's telemetry


def device_rng(seed: int, device_id: str) -> np.random.Generator:
    """Return the random generator of one device: independent of every other device."""
    digest = hashlib.blake2b(device_id.encode(), digest_size=8).digest()
    return np.random.default_rng([seed, int.from_bytes(digest, "big")])


def report_times(rng: np.random.Generator, interval_s: float, horizon_s: float) -> list[float]:
    """Return report times every ``interval_s`` from a seeded offset, up to (not including) the horizon."""
    offset = round(float(rng.uniform(0.0, interval_s)), 3)
    return [float(t) for t in np.arange(offset, horizon_s, interval_s)]


def device_kinds(city: City) -> dict[str, str]:
    """Return the topic kind of every device id of the city (cameras included: scenarios use the city's)."""
    return dict(city.kind_by_device)


def _sightings(scenario: Scenario) -> list[CameraSighting]:
    return [i for i in scenario.injections if isinstance(i, CameraSighting)]


def topic_of(message: Message, kinds: dict[str, str]) -> str:
    """Return the MQTT topic of a generated message."""
    if isinstance(message, DeviceStatus):
        return DeviceStatus.topic_for_kind(kinds[message.device_id], message.device_id)
    return type(message).topic_for(message.device_id)


def _device_stream(device_id: str, telemetry: Telemetry, start_ms: int, end_ms: int, status: bool) -> Iterator[Message]:
    seq = 0
    if status:
        yield DeviceStatus(device_id=device_id, ts_ms=start_ms, seq=0, state="online")
        seq = 1
    for message in telemetry(seq):
        seq = message.seq + 1
        yield message
    if status:
        yield DeviceStatus(device_id=device_id, ts_ms=end_ms, seq=seq, state="offline", reason="simulation ended")


@dataclass(frozen=True, slots=True)
class _Run:
    """What every device's telemetry depends on."""

    city: City
    scenario: Scenario
    seed: int
    start_ms: int
    horizon_s: float

    @property
    def intervals(self) -> ReportIntervals:
        """The scenario's report intervals."""
        return self.scenario.report_intervals

    def times(self, rng: np.random.Generator, device_id: str, interval_s: float) -> list[float]:
        """Return a device's report times, without those its injected silences swallow."""
        quiet = self.scenario.injections_of(Silence, device_id)
        return [t for t in report_times(rng, interval_s, self.horizon_s)
                if not any(q.at_s <= t < q.at_s + q.duration_s for q in quiet)]  # fmt: skip

    def truck(self, vehicle: Vehicle, rng: np.random.Generator) -> TruckModel:
        """Build a truck's model (consumes the truck's first draws)."""
        return build_truck(vehicle, self.city, self.scenario, rng, self.horizon_s, self.start_ms)


def _truck_parts(run: _Run, vehicle: Vehicle) -> tuple[np.random.Generator, list[float], TruckModel]:
    """Return a truck's generator, report times and model, drawn in that order."""
    rng = device_rng(run.seed, vehicle.terminal_id)
    times = run.times(rng, vehicle.terminal_id, run.intervals.vehicle_s)
    return rng, times, run.truck(vehicle, rng)


def _truck(run: _Run, vehicle: Vehicle) -> Telemetry:
    rng, times, model = _truck_parts(run, vehicle)
    proj = LocalProjection(*run.city.meta.center)
    return lambda seq0: truck_messages(model, proj, rng, times, run.start_ms, seq0)


def _facility(run: _Run, facility: Facility) -> Telemetry:
    rng = device_rng(run.seed, facility.device_id)
    times = run.times(rng, facility.device_id, run.intervals.facility_s)
    episodes = run.scenario.injections_of((Overflow, FillFast), facility.device_id)
    odours = run.scenario.injections_of(Odour, facility.device_id)
    model = build_fill(facility, rng, episodes, odours, params_of(run.city).fill_forecast.full_ratio)
    return lambda seq0: fill_messages(model, rng, times, run.start_ms, seq0)


def _site(run: _Run, site: Site) -> Telemetry:
    rng = device_rng(run.seed, site.device_id)
    times = run.times(rng, site.device_id, run.intervals.site_s)
    clock = SimClock(run.start_ms, run.city.meta.timezone)
    dust = run.scenario.injections_of(Pm10, site.device_id)
    loud = run.scenario.injections_of((Noise, NightWork), site.device_id)
    model = build_site(site.device_id, rng, clock, params_of(run.city).noise.night, site.night_work, dust, loud)
    if site.background_device_id is not None:  # a haze over its background station lifts the site too
        model = replace(model, haze=tuple(run.scenario.injections_of(Haze, site.background_device_id)))
    return lambda seq0: site_messages(model, rng, times, run.start_ms, seq0)


def _background(run: _Run, station: BackgroundStation) -> Telemetry:
    rng = device_rng(run.seed, station.device_id)
    times = run.times(rng, station.device_id, run.intervals.site_s)
    clock = SimClock(run.start_ms, run.city.meta.timezone)
    haze = run.scenario.injections_of(Haze, station.device_id)
    model = build_background(station.device_id, rng, clock, params_of(run.city).noise.night, haze)
    return lambda seq0: site_messages(model, rng, times, run.start_ms, seq0)


def _camera(run: _Run, camera: str) -> Telemetry:
    sightings = _sightings(run.scenario)
    seen = {s.vehicle for s in sightings if s.camera == camera and s.vehicle is not None}
    vehicles = [v for v in run.city.vehicles if v.terminal_id in seen]
    trucks = {v.terminal_id: _truck_parts(run, v)[2] for v in vehicles}  # the very model the truck runs
    return lambda seq0: camera_messages(camera, sightings, run.city, trucks, run.start_ms, seq0)


def _telemetry(run: _Run) -> dict[str, Telemetry]:
    """Return, per device id, a function that generates the device's telemetry lazily."""
    out = {v.terminal_id: _truck(run, v) for v in run.city.vehicles}
    out.update({f.device_id: _facility(run, f) for f in run.city.facilities})
    out.update({s.device_id: _site(run, s) for s in run.city.sites})
    out.update({b.device_id: _background(run, b) for b in run.city.background_stations})
    every = [c.device_id for c in run.city.cameras]  # idle cameras are online too (birth / last will)
    out.update({c: _camera(run, c) for c in dict.fromkeys([*every, *camera_ids(_sightings(run.scenario))])})
    return out


def _order(message: Message) -> tuple[int, int]:
    """Sort key: time, then births before telemetry before farewells at the same millisecond."""
    if isinstance(message, DeviceStatus):
        return message.ts_ms, 0 if message.state == "online" else 2
    return message.ts_ms, 1


def generate(
    city: City,
    scenario: Scenario,
    seed: int,
    start_ms: int,
    duration_s: float | None = None,
    *,
    status: bool = True,
) -> Iterator[Message]:
    """Return every device's messages for the scenario, in time order (births first if ``status``)."""
    check_scenario(scenario, city)
    pinned = scenario.pinned_start_ms(city.meta.timezone)
    if pinned is not None and pinned != start_ms:
        raise ScenarioError(
            f"{scenario.source}: start_local pins the start at {scenario.start_local} "
            f"({city.meta.timezone}) = {pinned} ms; got start_ms={start_ms}"
        )
    horizon_s = scenario.duration_s if duration_s is None else duration_s
    end_ms = start_ms + round(horizon_s * 1000)
    try:
        telemetry = _telemetry(_Run(city, scenario, seed, start_ms, horizon_s))
    except ScheduleError as exc:
        raise ScenarioError(f"{scenario.source}: {exc}") from exc
    streams = [_device_stream(d, make, start_ms, end_ms, status) for d, make in telemetry.items()]
    return heapq.merge(*streams, key=_order)


def suggest_start_ms(now_ms: int, duration_s: float, speed: float | None, pinned_ms: int | None = None) -> int:
    """Return the pinned start if any, else one whose messages never run ahead of the wall clock at ``speed``."""
    if pinned_ms is not None:
        return pinned_ms
    if speed is not None and 0 < speed <= 1:
        return now_ms
    ahead = 1.0 if not speed else 1.0 - 1.0 / speed
    return now_ms - round(duration_s * ahead * 1000)


def start_ms_for(scenario: Scenario, city: City, now_ms: int, speed: float | None) -> int:
    """Return the start a run of the scenario must use: its pinned ``start_local``, or a suggested one."""
    return suggest_start_ms(now_ms, scenario.duration_s, speed, scenario.pinned_start_ms(city.meta.timezone))
