"""The demo city's data files: they load, and their geometry is what the simulator relies on."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pytest

from devices.inventory import City, load_city
from devices.sim.generator import device_kinds
from devices.sim.geo import LocalProjection
from devices.sim.geo import Path as Polyline
from devices.sim.schedule import max_window_s
from rules.params import params_of

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def city() -> City:
    return load_city(ROOT / "cities" / "demo")


@pytest.fixture(scope="module")
def proj(city: City) -> LocalProjection:
    return LocalProjection(*city.meta.center)


def test_demo_city_loads_with_its_fleet_and_sensors(city: City) -> None:
    assert city.meta.center == (114.30, 30.59) and city.meta.timezone == "Asia/Shanghai"
    assert sorted(v.terminal_id for v in city.vehicles if v.kind == "muck") == [f"gps-m0{i}" for i in range(1, 7)]
    assert sorted(v.terminal_id for v in city.vehicles if v.kind == "garbage") == [f"gps-g0{i}" for i in range(1, 7)]
    assert [f.device_id for f in city.facilities] == [f"fill-s0{i}" for i in range(1, 7)]
    assert [s.device_id for s in city.sites] == ["env-c01", "env-c02", "env-c03"]
    assert [b.device_id for b in city.background_stations] == ["env-bg01"]
    assert [c.device_id for c in city.cameras] == ["cam-01", "cam-02"]
    assert len(device_kinds(city)) == 24  # 12 terminals, 6 fill sensors, 3 site and 1 background monitors, 2 cameras


def test_rule_parameters_are_the_documented_defaults(city: City) -> None:
    rules = params_of(city)
    assert (rules.route_deviation.min_duration_s, rules.route_deviation.hysteresis_m) == (30, 10)
    assert (rules.uncovered_load.min_speed_kmh, rules.uncovered_load.min_duration_s) == (5, 20)
    assert (rules.overflow.slight_ratio, rules.overflow.severe_ratio, rules.overflow.clear_ratio) == (
        0.8,
        0.95,
        0.7,
    )


def test_every_muck_truck_has_a_permit_valid_through_2030(city: City) -> None:
    for v in (v for v in city.vehicles if v.kind == "muck"):
        permit = city.permit_by_vehicle[v.vehicle_id]
        assert (
            permit.corridor_m == 50 and permit.valid_from <= date(2026, 1, 1) and permit.valid_to >= date(2030, 12, 31)
        )
        assert permit.origin_sites and permit.disposal_sites


def test_permit_routes_start_at_their_origin_site_and_follow_the_grid(city: City, proj: LocalProjection) -> None:
    sites = {s.site_id: s for s in city.sites}
    for permit in city.permits:
        route = Polyline.from_lonlat(permit.route, proj)
        gate = proj.to_xy([(sites[permit.origin_sites[0]].lon, sites[permit.origin_sites[0]].lat)])[0]
        assert np.hypot(*(route.xy[0] - gate)) < 1.0
        assert 2500 < route.length < 7000 and max_window_s(route.length) > 200
        steps = np.abs(np.diff(route.xy, axis=0))
        assert np.all(steps.min(axis=1) < 1.0), "every segment runs east-west or north-south"
        assert np.all(route.seg_len > 440), "segments are whole blocks, so offset lines stay clear"


def test_garbage_rounds_are_closed_loops_passing_a_facility(city: City, proj: LocalProjection) -> None:
    facilities = proj.to_xy([(f.lon, f.lat) for f in city.facilities])
    served = set()
    for v in (v for v in city.vehicles if v.kind == "garbage"):
        assert v.round is not None and v.round[0] == v.round[-1]
        d = Polyline.from_lonlat(v.round, proj).distance(facilities)
        served |= {i for i in range(len(facilities)) if d[i] < 5.0}
    assert served == set(range(len(facilities)))
