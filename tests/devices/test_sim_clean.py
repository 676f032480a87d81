"""Clean traffic obeys every rule of the catalog, whatever the hour the run starts.

Runs of four hours without injections start on a Monday morning (school-zone hours, the night
truck's shift ending at 06:00), afternoon and evening (22:00: night noise limits, the night
truck's shift starting; 23:59: collection deadlines) and on a Saturday night. Each is checked with
``oracle`` (no alert at all) and with direct property checks, both independent of the simulator.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest
import shapely

from devices.contracts import FacilityReading, Message, SiteReading, VehiclePosition
from devices.inventory import City, load_city
from devices.sim.generator import generate
from devices.sim.scenario import parse_scenario
from rules.params import params_of
from tests.devices.test_sim_oracle import (
    OBSERVED_S,
    Track,
    World,
    by_device,
    oracle,
    polygon,
    services,
    utm,
)

ROOT = Path(__file__).resolve().parents[2]
TZ = ZoneInfo("Asia/Shanghai")
STARTS = ["2026-11-16T05:00", "2026-11-16T15:30", "2026-11-16T20:45", "2026-11-21T23:20"]
HOURS = 4


@pytest.fixture(scope="module")
def city() -> City:
    return load_city(ROOT / "cities" / "demo")


@pytest.fixture(scope="module")
def world(city: City) -> World:
    return World(city)


def start_ms(local: str) -> int:
    return int(datetime.fromisoformat(local).replace(tzinfo=TZ).timestamp() * 1000)


@pytest.fixture(scope="module", params=[(s, seed) for s in STARTS for seed in (0, 1)], ids=lambda p: f"{p[0]}-{p[1]}")
def run(request: pytest.FixtureRequest, city: City) -> tuple[int, list[Message]]:
    local, seed = request.param
    clean = parse_scenario({"name": "clean", "duration_s": HOURS * 3600})
    return start_ms(local), list(generate(city, clean, seed, start_ms(local)))


def muck(world: World, stream: list[Message]) -> Iterator[tuple[str, Track]]:
    for device, reports in by_device(stream, VehiclePosition).items():
        if world.permit(device) is not None:
            yield device, Track.of(reports)


def test_clean_runs_raise_no_alert_at_all(city: City, run: tuple[int, list[Message]]) -> None:
    assert oracle(city, run[1]) == {}


def test_muck_trucks_move_only_in_their_permit_hours(world: World, run: tuple[int, list[Message]]) -> None:
    moved = 0
    for device, tr in muck(world, run[1]):
        permit = world.permit(device)
        assert permit is not None
        moving = tr.speed >= 1.0
        assert all(world.allowed(permit, int(t)) for t in tr.ts[moving]), device
        moved += int(moving.any())
    assert moved >= 5


def test_night_truck_waits_at_its_loading_bay_outside_its_hours(world: World, run: tuple[int, list[Message]]) -> None:
    tr = Track.of(by_device(run[1], VehiclePosition)["gps-m06"])
    permit = world.permit("gps-m06")
    assert permit is not None
    off = np.array([not world.allowed(permit, int(t)) for t in tr.ts])
    assert tr.inside([world.sites["C03"]])[off].all()
    assert np.all(tr.speed[off] == 0.0) and not tr.loaded[off].any()


def test_speeds_stay_under_the_urban_limit(run: tuple[int, list[Message]]) -> None:
    assert max(m.speed_kmh for m in run[1] if isinstance(m, VehiclePosition)) <= 39.5


def test_bodies_lift_only_inside_disposal_sites(world: World, run: tuple[int, list[Message]]) -> None:
    lifted = 0
    for _, tr in muck(world, run[1]):
        assert tr.inside(list(world.disposal.values()))[tr.lifted].all()
        assert np.all(tr.speed[tr.lifted] == 0.0)
        lifted += int(tr.lifted.sum())
    assert lifted > 0


def test_every_loaded_trip_reaches_a_disposal_site(world: World, run: tuple[int, list[Message]]) -> None:
    trips = 0
    for device, tr in muck(world, run[1]):
        in_site = tr.inside(list(world.sites.values()))
        in_dump = tr.inside(list(world.disposal.values()))
        left = np.flatnonzero(in_site[:-1] & ~in_site[1:] & tr.loaded[1:]) + 1
        for i in left[tr.ts[left] < tr.ts[-1] - 1_800_000]:  # trips the run leaves time to finish
            back = np.flatnonzero(in_site[i:])
            reach = np.flatnonzero(in_dump[i:])
            assert len(reach) and (not len(back) or reach[0] < back[0]), (device, int(tr.ts[i]))
            trips += 1
    assert trips >= 3


def test_each_departure_follows_a_wash_dwell(world: World, run: tuple[int, list[Message]]) -> None:
    exits = 0
    for device, tr in muck(world, run[1]):
        in_site = tr.inside(list(world.sites.values()))
        at_wash = tr.near(world.washes, params_of(world.city).dirty_truck.wash_radius_m)
        for i in np.flatnonzero(in_site[:-1] & ~in_site[1:] & tr.loaded[1:]) + 1:
            before = np.arange(max(i - 40, 0), i)
            washing = tr.ts[before][at_wash[before] & (tr.speed[before] == 0.0)]
            assert len(washing) and washing.max() - washing.min() >= 60_000, (device, int(tr.ts[i]))
            exits += 1
    assert exits >= 3


def test_no_device_falls_silent_and_no_fix_jumps(run: tuple[int, list[Message]]) -> None:
    limits = {VehiclePosition: 10_000, FacilityReading: 60_000, SiteReading: 60_000}
    for kind, every in limits.items():
        for device, msgs in by_device(run[1], kind).items():
            ts = np.array([m.ts_ms for m in msgs])
            assert np.diff(ts).max() <= every, device
    for device, reports in by_device(run[1], VehiclePosition).items():
        tr = Track.of(reports)
        kmh = np.hypot(*np.diff(tr.xy, axis=0).T) / (np.diff(tr.ts) / 1000) * 3.6
        assert kmh.max() < 60.0, device


def test_garbage_trucks_serve_each_point_every_loop(world: World, run: tuple[int, list[Message]]) -> None:
    start, stream = run
    served = services(world, by_device(stream, VehiclePosition))
    end = max(m.ts_ms for m in stream)
    for point in world.city.collection_points:
        times = np.array([start, *sorted(served[point.point_id]), end])
        assert np.diff(times).max() <= OBSERVED_S * 1000 * 0.6, point.point_id  # served at least every 18 min


def test_station_fills_rise_slowly_and_are_emptied(run: tuple[int, list[Message]]) -> None:
    for device, readings in by_device(run[1], FacilityReading).items():
        fills = np.array([r.fill_ratio for r in readings])
        steps = np.diff(fills)
        emptied = steps < -0.5
        assert fills.max() < 0.71 and np.all(fills[1:][emptied] < 0.12), device
        assert np.abs(steps[~emptied]).max() <= 0.012, device  # noise and 0.08 an hour at most
        hours = (readings[-1].ts_ms - readings[0].ts_ms) / 3.6e6
        assert 0.0 < (fills[-1] - fills[0] + 0.6 * emptied.sum()) / hours < 0.09, device


def test_clean_positions_lie_in_the_grid(city: City, run: tuple[int, list[Message]]) -> None:
    union = shapely.union_all([polygon(c.polygon) for c in city.grid])
    xy = utm([(m.lon, m.lat) for m in run[1] if isinstance(m, VehiclePosition)])
    assert shapely.contains_xy(union, xy[:, 0], xy[:, 1]).all()
