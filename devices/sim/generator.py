"""The pure core of the simulator: city + scenario + seed -> the time-ordered stream of messages.

No IO, no clock: sim time runs from 0 to the scenario's duration and ``ts_ms = start_ms + sim
time``. Every device draws from its own numpy Generator seeded with (seed, stable hash of its id),
so adding a device or an injection elsewhere leaves a device's stream unchanged. Each device's
stream is its birth status (``online``, seq 0), its telemetry (seq 1, 2, ...) and, at the end, an
``offline`` status; the first report falls at a seeded offset within the first interval, so
devices do not all report in the same millisecond.
"""

from __future__ import annotations

import hashlib
import heapq
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from devices.contracts import DeviceStatus, Message
from devices.inventory import City, Facility, Site, Vehicle
from devices.sim.geo import LocalProjection
from devices.sim.scenario import Overflow, ReportIntervals, Scenario, ScenarioError, check_scenario
from devices.sim.schedule import ScheduleError
from devices.sim.sensors import build_fill, build_site, fill_messages, site_messages
from devices.sim.vehicles import build_truck, truck_messages

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
    """Return the contract kind (vehicle, facility, site) of every device id in the city."""
    kinds = {v.terminal_id: "vehicle" for v in city.vehicles}
    kinds.update({f.device_id: "facility" for f in city.facilities})
    kinds.update({s.device_id: "site" for s in city.sites})
    return kinds


def topic_of(message: Message, kinds: dict[str, str]) -> str:
    """Return the MQTT topic of a generated message."""
    if isinstance(message, DeviceStatus):
        return DeviceStatus.topic_for_kind(kinds[message.device_id], message.device_id)
    return type(message).topic_for(message.device_id)


def _device_stream(
    device_id: str, telemetry: Telemetry, start_ms: int, end_ms: int, status: bool
) -> Iterator[Message]:
    seq = 0
    if status:
        yield DeviceStatus(device_id=device_id, ts_ms=start_ms, seq=0, state="online")
        seq = 1
    for message in telemetry(seq):
        seq = message.seq + 1
        yield message
    if status:
        yield DeviceStatus(
            device_id=device_id, ts_ms=end_ms, seq=seq, state="offline", reason="simulation ended"
        )


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


def _truck(run: _Run, vehicle: Vehicle) -> Telemetry:
    rng = device_rng(run.seed, vehicle.terminal_id)
    times = report_times(rng, run.intervals.vehicle_s, run.horizon_s)
    model = build_truck(vehicle, run.city, run.scenario, rng, run.horizon_s)
    proj = LocalProjection(*run.city.meta.center)
    return lambda seq0: truck_messages(model, proj, rng, times, run.start_ms, seq0)


def _facility(run: _Run, facility: Facility) -> Telemetry:
    rng = device_rng(run.seed, facility.device_id)
    times = report_times(rng, run.intervals.facility_s, run.horizon_s)
    model = build_fill(facility, rng, run.scenario.injections_of(Overflow, facility.device_id))
    return lambda seq0: fill_messages(model, rng, times, run.start_ms, seq0)


def _site(run: _Run, site: Site) -> Telemetry:
    rng = device_rng(run.seed, site.device_id)
    times = report_times(rng, run.intervals.site_s, run.horizon_s)
    model = build_site(site.device_id, rng, run.city.meta.timezone)
    return lambda seq0: site_messages(model, rng, times, run.start_ms, seq0)


def _telemetry(run: _Run) -> dict[str, Telemetry]:
    """Return, per device id, a function that generates the device's telemetry lazily."""
    out = {v.terminal_id: _truck(run, v) for v in run.city.vehicles}
    out.update({f.device_id: _facility(run, f) for f in run.city.facilities})
    out.update({s.device_id: _site(run, s) for s in run.city.sites})
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
    horizon_s = scenario.duration_s if duration_s is None else duration_s
    end_ms = start_ms + round(horizon_s * 1000)
    try:
        telemetry = _telemetry(_Run(city, scenario, seed, start_ms, horizon_s))
    except ScheduleError as exc:
        raise ScenarioError(f"{scenario.source}: {exc}") from exc
    streams = [_device_stream(d, make, start_ms, end_ms, status) for d, make in telemetry.items()]
    return heapq.merge(*streams, key=_order)


def suggest_start_ms(now_ms: int, duration_s: float, speed: float | None) -> int:
    """Return a start time whose messages are never ahead of the wall clock when paced at ``speed``."""
    if speed is not None and 0 < speed <= 1:
        return now_ms
    ahead = 1.0 if not speed else 1.0 - 1.0 / speed
    return now_ms - round(duration_s * ahead * 1000)
