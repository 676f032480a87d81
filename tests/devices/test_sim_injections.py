"""The catalog scenario: each injection produces its condition in its window, and only there.

Checked with UTM / shapely / numpy computations of our own (``test_sim_oracle``), never with the
simulator's geometry or ``rules/``. ``oracle`` then shows the whole stream plants exactly the
expected alerts.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import shapely

from devices.contracts import (
    CameraEvent,
    FacilityReading,
    Message,
    SiteReading,
    VehiclePosition,
)
from devices.inventory import City, load_city
from devices.sim.generator import device_kinds, generate, topic_of
from devices.sim.injections import AnyInjection
from devices.sim.scenario import Scenario, load_scenario
from rules.params import params_of
from tests.devices.test_sim_oracle import (
    Track,
    World,
    by_device,
    fill_forecast,
    missed_collection,
    oracle,
    polygon,
    services,
    utm,
)

ROOT = Path(__file__).resolve().parents[2]
SEEDS = [0, 1, 2]


@pytest.fixture(scope="module")
def city() -> City:
    return load_city(ROOT / "cities" / "demo")


@pytest.fixture(scope="module")
def catalog(city: City) -> Scenario:
    return load_scenario(ROOT / "scenarios" / "catalog.yaml", city)


@pytest.fixture(scope="module")
def start(city: City, catalog: Scenario) -> int:
    pinned = catalog.pinned_start_ms(city.meta.timezone)
    assert pinned is not None
    return pinned


@pytest.fixture(scope="module", params=SEEDS)
def stream(request: pytest.FixtureRequest, city: City, catalog: Scenario, start: int) -> list[Message]:
    return list(generate(city, catalog, request.param, start))


@pytest.fixture(scope="module")
def world(city: City) -> World:
    return World(city)


def injection(catalog: Scenario, kind: str, device: str | None = None) -> AnyInjection:
    return next(i for i in catalog.injections if i.type == kind and (device is None or i.device == device))


def sim_s(ts_ms: int | np.ndarray, start: int) -> np.ndarray:
    return (np.asarray(ts_ms) - start) / 1000.0


def track(stream: list[Message], device: str) -> Track:
    return Track.of(by_device(stream, VehiclePosition)[device])


def within(t: np.ndarray, a: float, b: float) -> np.ndarray:
    return (t >= a) & (t <= b)


# --- the whole catalog -------------------------------------------------------------------------------


def test_catalog_covers_every_rule_of_the_catalog(catalog: Scenario) -> None:
    rules = {e.rule for e in catalog.expected}
    assert rules == {"route_deviation", "uncovered_load", "overflow", "out_of_window", "forbidden_zone",
                     "speeding", "illegal_dumping", "trip_not_delivered", "dirty_truck", "silent_device",
                     "gps_anomaly", "missed_collection", "fill_forecast", "odour", "pm10", "noise", "night_work",
                     "camera"}  # fmt: skip
    assert len(catalog.expected) == 22 and len(catalog.injections) == 24
    assert str(catalog.start_local) == "2026-11-16 21:00:00" and catalog.duration_s == 12000


def test_catalog_plants_exactly_the_expected_alerts(city: City, catalog: Scenario, stream: list[Message]) -> None:
    assert oracle(city, stream) == Counter((e.rule, e.subject) for e in catalog.expected)


def test_catalog_is_deterministic(city: City, catalog: Scenario, start: int) -> None:
    first = list(generate(city, catalog, 11, start))
    assert first == list(generate(city, catalog, 11, start)) and first != list(generate(city, catalog, 12, start))


def test_catalog_counts_and_topics(city: City, catalog: Scenario, stream: list[Message]) -> None:
    counts = Counter(type(m).__name__ for m in stream)
    assert counts == {"VehiclePosition": 14340, "FacilityReading": 1160, "SiteReading": 800, "DeviceStatus": 48,
                      "CameraEvent": 2}  # fmt: skip
    kinds = device_kinds(city)
    assert kinds["cam-01"] == kinds["cam-02"] == "camera" and len(kinds) == 24
    assert {topic_of(m, kinds) for m in stream if m.device_id == "cam-01"} == {
        "citywatch/v1/camera/cam-01/status", "citywatch/v1/camera/cam-01/event"}  # fmt: skip


# --- trucks ------------------------------------------------------------------------------------------


def test_out_of_window_truck_runs_before_its_hours_then_waits(
    world: World, catalog: Scenario, stream: list[Message], start: int
) -> None:
    inj = injection(catalog, "out_of_window")
    tr = track(stream, inj.device)
    t = sim_s(tr.ts, start)
    window = within(t, inj.at_s, inj.at_s + inj.duration_s)
    assert window.sum() >= 11 and np.all(tr.speed[window] >= 20.0) and np.all(tr.loaded[window])
    assert not any(world.allowed(world.permit(inj.device), int(ts)) for ts in tr.ts[window])
    before_hours = t < 3600
    moving = tr.speed >= 5.0
    assert np.all(t[before_hours & moving] >= inj.at_s - 200) and np.all(t[before_hours & moving] <= inj.at_s + 900)
    assert moving[t > 3600].any()  # from 22:00 on it works its shift


def test_forbidden_zone_entry_is_inside_the_zone_and_the_corridor(
    city: City, catalog: Scenario, stream: list[Message], start: int
) -> None:
    inj = injection(catalog, "forbidden_zone")
    tr = track(stream, inj.device)
    t = sim_s(tr.ts, start)
    zone = polygon(next(z for z in city.zones if z.zone_id == inj.zone).polygon)
    inside = tr.inside([zone])
    window = within(t, inj.at_s, inj.at_s + inj.duration_s)
    assert inside[window].all() and window.sum() >= 3
    assert not inside[~within(t, inj.at_s - 20, inj.at_s + inj.duration_s + 20)].any()
    depth = shapely.distance(shapely.points(tr.xy[window]), zone.exterior)
    assert depth.min() > 8.0
    route = shapely.LineString(utm(city.permit_for_terminal(inj.device).route))
    jump = injection(catalog, "gps_jump", inj.device)
    kept = ~within(t, jump.at_s - 1, jump.at_s + 11)
    assert shapely.distance(shapely.points(tr.xy[kept]), route).max() < 46.0  # never out of the 50 m corridor


def test_speeding_is_fast_in_its_window_only(catalog: Scenario, stream: list[Message], start: int) -> None:
    inj = injection(catalog, "speeding")
    tr = track(stream, inj.device)
    window = within(sim_s(tr.ts, start), inj.at_s, inj.at_s + inj.duration_s)
    assert window.sum() >= 5 and tr.speed[window].min() > 50.0
    assert tr.speed[~within(sim_s(tr.ts, start), inj.at_s - 1, inj.at_s + inj.duration_s + 1)].max() <= 39.5


def test_body_lift_tips_the_load_outside_the_disposal_site(
    world: World, catalog: Scenario, stream: list[Message], start: int
) -> None:
    inj = injection(catalog, "body_lift")
    tr = track(stream, inj.device)
    t = sim_s(tr.ts, start)
    disposal = tr.inside(list(world.disposal.values()))
    lifted_out = tr.lifted & ~disposal
    assert np.all(within(t[lifted_out], inj.at_s, inj.at_s + inj.duration_s))
    assert np.ptp(t[lifted_out]) >= 30.0 and np.all(tr.speed[lifted_out] == 0.0)
    after = (t > inj.at_s + inj.duration_s) & (t < inj.at_s + inj.duration_s + 300)
    assert not tr.loaded[after].any()


def test_dwell_stands_loaded_outside_sites_then_delivers(
    world: World, catalog: Scenario, stream: list[Message], start: int
) -> None:
    inj = injection(catalog, "dwell")
    tr = track(stream, inj.device)
    t = sim_s(tr.ts, start)
    window = within(t, inj.at_s + 5, inj.at_s + inj.duration_s - 5)
    assert np.all(tr.speed[window] == 0.0) and tr.loaded[window].all() and not tr.lifted[window].any()
    assert not tr.inside(list(world.sites.values()) + list(world.disposal.values()))[window].any()
    assert np.hypot(*(tr.xy[window] - tr.xy[window].mean(axis=0)).T).max() < 10.0
    later = t > inj.at_s + inj.duration_s
    assert tr.inside(list(world.disposal.values()))[later].any()


def test_undelivered_sheds_its_load_and_parks_away_from_every_site(
    world: World, catalog: Scenario, stream: list[Message], start: int
) -> None:
    inj = injection(catalog, "undelivered")
    tr = track(stream, inj.device)
    t = sim_s(tr.ts, start)
    shed = within(t, inj.at_s + 5, inj.at_s + inj.shed_s - 5)
    assert np.all(tr.speed[shed] == 0.0) and tr.loaded[shed][0] and not tr.loaded[shed][-1]
    assert not tr.lifted.any() or not tr.lifted[t > inj.at_s].any()
    parked = t > inj.at_s + inj.shed_s + 120
    assert np.all(tr.speed[parked] == 0.0) and not tr.loaded[parked].any()
    places = list(world.sites.values()) + list(world.disposal.values())
    assert not tr.inside(places)[t > inj.at_s].any()
    assert t[-1] - inj.at_s > params_of(world.city).illegal_dumping.trip_timeout_s


def test_skip_wash_leaves_without_a_wash_dwell(
    world: World, catalog: Scenario, stream: list[Message], start: int
) -> None:
    inj = injection(catalog, "skip_wash")
    tr = track(stream, inj.device)
    t = sim_s(tr.ts, start)
    at_wash = tr.near(world.washes, 30.0)
    visit = within(t, inj.at_s - 400, inj.at_s + 10)
    assert tr.inside(list(world.sites.values()))[visit].sum() >= 9  # a real visit: loading inside
    washing = t[visit & at_wash]
    assert len(washing) == 0 or washing.max() - washing.min() < 30.0
    assert not tr.inside(list(world.sites.values()))[within(t, inj.at_s + 20, inj.at_s + 60)].any()


def test_gps_jump_moves_one_fix_far_away(catalog: Scenario, stream: list[Message], start: int) -> None:
    inj = injection(catalog, "gps_jump")
    tr = track(stream, inj.device)
    steps = np.hypot(*np.diff(tr.xy, axis=0).T)
    far = np.flatnonzero(steps > 1000.0)
    assert len(far) == 2 and far[1] == far[0] + 1
    jumped = far[1]
    assert sim_s(tr.ts[jumped], start) == pytest.approx(inj.at_s, abs=10.0)
    assert steps[far].min() == pytest.approx(inj.distance_m, abs=500.0)


def test_open_cover_and_the_camera_that_sees_it(
    city: City, catalog: Scenario, stream: list[Message], start: int
) -> None:
    inj = injection(catalog, "open_cover")
    tr = track(stream, inj.device)
    window = within(sim_s(tr.ts, start), inj.at_s, inj.at_s + inj.duration_s)
    assert tr.cover_open[window].all() and tr.loaded[window].all() and tr.speed[window].min() >= 5.0
    seen = next(m for m in stream if isinstance(m, CameraEvent) and m.device_id == "cam-02")
    assert seen.plate == city.vehicle_by_terminal[inj.device].plate and seen.event_type.value == "unsealed_truck"
    nearest = int(np.argmin(np.abs(tr.ts - seen.ts_ms)))
    assert np.hypot(*(utm([(seen.lon, seen.lat)])[0] - tr.xy[nearest])) < 120.0
    assert inj.at_s + 20 < sim_s(seen.ts_ms, start) < inj.at_s + inj.duration_s


def test_a_standalone_camera_event_sits_where_it_was_placed(catalog: Scenario, stream: list[Message]) -> None:
    inj = injection(catalog, "camera", "cam-01")
    (event,) = [m for m in stream if isinstance(m, CameraEvent) and m.device_id == "cam-01"]
    assert (event.lon, event.lat, event.plate, event.event_type.value) == (inj.lon, inj.lat, None, "exposed_garbage")
    assert event.confidence >= 0.6 and event.image_ref == f"sim://cam-01/{event.event_id}.jpg"


def test_silenced_devices_send_nothing_in_their_window(
    world: World, catalog: Scenario, stream: list[Message], start: int
) -> None:
    for inj in (i for i in catalog.injections if i.type == "silence"):
        t = sim_s(np.array([m.ts_ms for m in stream if m.device_id == inj.device and m.seq > 0]), start)
        gap = np.diff(t)[np.searchsorted(t, inj.at_s) - 1]
        assert not within(t, inj.at_s, inj.at_s + inj.duration_s - 1).any() and gap >= inj.duration_s
    truck = injection(catalog, "silence", "gps-m05")
    tr = track(stream, truck.device)
    t = sim_s(tr.ts, start)
    edges = [np.flatnonzero(t < truck.at_s)[-1], np.flatnonzero(t >= truck.at_s + truck.duration_s)[0]]
    assert not tr.inside(list(world.sites.values()))[edges].any()  # away from its site: no wash unseen


# --- garbage and fixed sensors ------------------------------------------------------------------------


def test_skipped_point_is_missed_and_every_other_served(
    world: World, catalog: Scenario, stream: list[Message], start: int
) -> None:
    inj = injection(catalog, "skip_collection")
    positions = by_device(stream, VehiclePosition)
    end = max(m.ts_ms for m in stream)
    assert [p for p, _ in missed_collection(world, positions, start, end)] == [inj.point]
    arrivals = sim_s(np.array(services(world, positions)[inj.point]), start)
    assert np.all(arrivals > inj.at_s + inj.duration_s)


def test_fill_fast_forecasts_full_but_stays_under_the_slight_band(
    world: World, catalog: Scenario, stream: list[Message], start: int
) -> None:
    inj = injection(catalog, "fill_fast")
    readings = by_device(stream, FacilityReading)[inj.device]
    assert max(r.fill_ratio for r in readings) < 0.78
    (opened,) = fill_forecast(world, readings)
    assert inj.at_s < sim_s(opened, start) < inj.at_s + inj.ramp_s


def test_overflow_steps_past_the_full_mark_at_once(catalog: Scenario, stream: list[Message], start: int) -> None:
    inj = injection(catalog, "overflow")
    fills = [(sim_s(r.ts_ms, start), r.fill_ratio) for r in by_device(stream, FacilityReading)[inj.device]]
    assert all(f < 0.5 for t, f in fills if t < inj.at_s) and all(f >= 0.955 for t, f in fills if t >= inj.at_s)


def test_odour_is_over_the_grade_limit_in_its_window(catalog: Scenario, stream: list[Message], start: int) -> None:
    inj = injection(catalog, "odour")
    h2s = [(sim_s(r.ts_ms, start), r.h2s_mgm3 or 0.0) for r in by_device(stream, FacilityReading)[inj.device]]
    inside = [v for t, v in h2s if inj.at_s <= t < inj.at_s + inj.duration_s]
    assert len(inside) >= 9 and min(inside) > 0.12 and max(v for t, v in h2s if t < inj.at_s) < 0.03


def test_site_injections_set_their_levels(catalog: Scenario, stream: list[Message], start: int) -> None:
    sites = by_device(stream, SiteReading)
    for inj in (i for i in catalog.injections if i.type in ("pm10", "noise", "night_work")):
        readings = [r for r in sites[inj.device] if inj.at_s <= sim_s(r.ts_ms, start) < inj.at_s + inj.duration_s]
        values = np.array([r.pm10_ugm3 if inj.type == "pm10" else r.noise_dba for r in readings])
        level = inj.level_ugm3 if inj.type == "pm10" else inj.level_dba
        peak = getattr(inj, "peak_dba", None)
        ordinary = values[values != peak] if peak else values
        assert len(readings) >= 29 and np.abs(ordinary - level).max() <= (10.0 if inj.type == "pm10" else 2.0)
        assert (values == peak).sum() == (1 if peak else 0)


def test_quiet_nights_stay_under_the_activity_level(stream: list[Message], start: int) -> None:
    quiet = {"env-c01": (3600, 12000), "env-c03": (7200, 12000)}  # after 22:00, outside night-work injections
    for device, (a, b) in quiet.items():
        levels = [r.noise_dba for r in by_device(stream, SiteReading)[device] if a <= sim_s(r.ts_ms, start) < b]
        assert len(levels) >= 80 and max(levels) <= 48.0
    permitted = [r.noise_dba for r in by_device(stream, SiteReading)["env-c02"] if 3600 <= sim_s(r.ts_ms, start) < 5400]
    assert min(permitted) >= 44.0 and max(permitted) <= 53.0  # C02 works at night with its permit, under 55
