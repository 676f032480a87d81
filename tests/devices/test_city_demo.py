"""The demo city's data files: they load, every reference resolves, and the geometry is coherent.

Geometry is checked in UTM 50N with pyproj and shapely, independently of the simulator.
"""

from __future__ import annotations

import importlib.util
from collections import Counter
from datetime import time
from pathlib import Path

import numpy as np
import pytest
import shapely
import yaml

from devices.inventory import CITY_FILES, City, load_city
from rules.params import params_of
from tests.devices.test_sim_oracle import polygon, utm

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "cities" / "demo"


@pytest.fixture(scope="module")
def city() -> City:
    return load_city(DEMO)


@pytest.fixture(scope="module")
def grid(city: City) -> list[shapely.Polygon]:
    return [polygon(c.polygon) for c in city.grid]


def line(points: list[tuple[float, float]]) -> shapely.LineString:
    return shapely.LineString(utm(points))


def point(lon: float, lat: float) -> shapely.Point:
    return shapely.Point(utm([(lon, lat)])[0])


def test_every_file_is_present_and_loads(city: City) -> None:
    assert all((DEMO / name).is_file() for name in CITY_FILES)
    counts = (len(city.vehicles), len(city.permits), len(city.facilities), len(city.sites),
              len(city.disposal_sites), len(city.collection_points), len(city.zones), len(city.grid),
              len(city.cameras))  # fmt: skip
    assert counts == (12, 6, 6, 3, 2, 12, 2, 143, 2)


def test_cross_references_resolve(city: City) -> None:
    vehicles = {v.vehicle_id: v for v in city.vehicles}
    sites, disposal = {s.site_id for s in city.sites}, {d.site_id for d in city.disposal_sites}
    for p in city.permits:
        assert vehicles[p.vehicle_id].kind == "muck"
        assert set(p.origin_sites) <= sites and set(p.disposal_sites) <= disposal and p.origin_sites
    for cp in city.collection_points:
        assert cp.served_by and all(vehicles[v].kind == "garbage" for v in cp.served_by)
    assert set(params_of(city).matter_codes.values()) <= set(city.meta.matters)
    assert {v.vehicle_id for v in city.vehicles if v.kind == "muck"} == {p.vehicle_id for p in city.permits}


def test_owners_are_named(city: City) -> None:
    assert all(s.company for s in city.sites) and all(f.operator for f in city.facilities)
    assert all(v.company for v in city.vehicles)


def test_permit_hours_mix_any_time_and_night_only(city: City) -> None:
    hours = {p.vehicle_id: [str(w) for w in p.windows] for p in city.permits}
    assert hours == {"M01": [], "M02": [], "M03": [], "M04": [], "M05": [], "M06": ["22:00-06:00"]}


def test_one_site_has_night_work_on_weekday_nights(city: City) -> None:
    night = {s.site_id: s.night_work for s in city.sites if s.night_work}
    assert list(night) == ["C02"]
    (schedule,) = night["C02"]
    assert [str(w) for w in schedule.windows] == ["22:00-06:00"] and schedule.weekdays == [1, 2, 3, 4, 5]


def test_sites_have_a_gate_polygon_exit_and_wash_station(city: City) -> None:
    for site in city.sites:
        poly, gate = polygon(site.polygon), point(site.lon, site.lat)
        assert poly.contains(gate) and site.exits == [(site.lon, site.lat)]
        (wash,) = [point(*w) for w in site.wash_stations]
        assert poly.contains(wash) and 10.0 < gate.distance(wash) < 20.0
        routes = [line(p.route) for p in city.permits if site.site_id in p.origin_sites]
        assert routes and all(r.coords[0] == pytest.approx(gate.coords[0]) for r in routes)
        for r in routes:  # a truck is out of the polygon 20 m after the gate
            leaving = shapely.Point(r.interpolate(25.0))
            assert not poly.contains(leaving) and poly.contains(shapely.Point(r.interpolate(15.0)))


def test_loading_bay_is_far_from_the_wash_and_inside_the_corridor(city: City) -> None:
    """The simulator loads 36 m from the gate towards the polygon's middle: check that place."""
    for site in city.sites:
        poly, gate = polygon(site.polygon), np.array(utm([(site.lon, site.lat)])[0])
        middle = np.array(poly.centroid.coords[0])
        bay = gate + 36.0 * (middle - gate) / np.hypot(*(middle - gate))
        wash = np.array(utm(site.wash_stations)[0])
        assert np.hypot(*(bay - wash)) > params_of(city).dirty_truck.wash_radius_m + 12.0
        for p in (p for p in city.permits if site.site_id in p.origin_sites):
            assert line(p.route).distance(shapely.Point(bay)) < p.corridor_m - 8.0
            assert poly.contains(shapely.Point(bay))


def test_routes_end_inside_their_disposal_site(city: City) -> None:
    disposal = {d.site_id: polygon(d.polygon) for d in city.disposal_sites}
    for p in city.permits:
        end = shapely.Point(utm([p.route[-1]])[0])
        assert any(disposal[d].contains(end.buffer(100)) for d in p.disposal_sites)


def test_zones_lie_beside_routes_and_no_route_or_round_crosses_them(city: City) -> None:
    lines = [line(p.route) for p in city.permits]
    rounds = [line(v.round) for v in city.vehicles if v.round]
    for zone in city.zones:
        poly = polygon(zone.polygon)
        assert min(poly.distance(r) for r in lines) == pytest.approx(17.0, abs=0.5)
        assert all(poly.distance(r) >= 16.5 for r in lines + rounds)
        assert zone.vehicle_kinds == ["muck"]
    schedules = {z.zone_id: z.schedule for z in city.zones}
    assert schedules["Z-HOSP"].windows == [] and schedules["Z-HOSP"].weekdays is None
    assert [str(w) for w in schedules["Z-SCHOOL"].windows] == ["07:00-08:30", "16:30-18:00"]


def test_no_route_or_round_enters_another_site_or_disposal_site(city: City) -> None:
    for p in city.permits:
        route = line(p.route)
        for s in (s for s in city.sites if s.site_id not in p.origin_sites):
            assert route.distance(polygon(s.polygon)) > 100.0
    for v in (v for v in city.vehicles if v.round):
        for ring in [s.polygon for s in city.sites] + [d.polygon for d in city.disposal_sites]:
            assert line(v.round).distance(polygon(ring)) > 100.0


def test_collection_points_lie_on_the_rounds_of_the_trucks_serving_them(city: City) -> None:
    rounds = {v.vehicle_id: line(v.round) for v in city.vehicles if v.round}
    for cp in city.collection_points:
        here = point(cp.lon, cp.lat)
        assert {v for v, r in rounds.items() if r.distance(here) < 1.0} == set(cp.served_by)
    assert Counter(len(cp.served_by) for cp in city.collection_points) == {1: 10, 2: 2}
    assert {cp.deadline for cp in city.collection_points} == {time(23, 59)}  # 日产日清: within the day


def test_collection_points_are_apart_from_each_other(city: City) -> None:
    pts = [point(cp.lon, cp.lat) for cp in city.collection_points]
    assert min(a.distance(b) for i, a in enumerate(pts) for b in pts[i + 1 :]) > 100.0


def test_grid_codes_are_unique_15_digit_codes_of_two_districts(city: City) -> None:
    codes = [c.code for c in city.grid]
    assert len(set(codes)) == len(codes) == 143 and all(len(c) == 15 and c.isdigit() for c in codes)
    assert Counter(c.district for c in city.grid) == {"420106": 77, "420111": 66}
    assert len({c.code[:9] for c in city.grid}) == 8 and all(c.unit.endswith("城管中队") for c in city.grid)
    assert all(c.unit.startswith(c.name[:2]) for c in city.grid)


def test_grid_cells_tile_the_district_without_overlap(grid: list[shapely.Polygon]) -> None:
    union = shapely.union_all(grid)
    assert union.area == pytest.approx(sum(g.area for g in grid), rel=1e-6)
    assert union.area == pytest.approx(143 * 450.0 * 450.0, rel=0.01)
    assert shapely.get_num_geometries(union) == 1


def test_grid_covers_every_route_round_site_facility_point_and_zone(city: City, grid: list[shapely.Polygon]) -> None:
    union = shapely.union_all(grid)
    shapes = [line(p.route) for p in city.permits] + [line(v.round) for v in city.vehicles if v.round]
    shapes += [polygon(r) for r in [s.polygon for s in city.sites] + [d.polygon for d in city.disposal_sites]
               + [z.polygon for z in city.zones]]  # fmt: skip
    shapes += [point(f.lon, f.lat) for f in city.facilities] + [point(c.lon, c.lat) for c in city.collection_points]
    assert all(union.contains(s) for s in shapes)


def test_fixed_points_lie_inside_one_cell_not_on_an_edge(city: City, grid: list[shapely.Polygon]) -> None:
    fixed = [(f.lon, f.lat) for f in city.facilities] + [(c.lon, c.lat) for c in city.collection_points]
    fixed += [(s.lon, s.lat) for s in city.sites]
    for lon, lat in fixed:
        here = point(lon, lat)
        assert sum(g.contains(here) for g in grid) == 1 and min(g.exterior.distance(here) for g in grid) > 30.0


def test_cameras_stand_in_the_grid_cell_they_name(city: City, grid: list[shapely.Polygon]) -> None:
    cells = dict(zip([c.code for c in city.grid], grid, strict=True))
    assert city.cameras and all(c.grid_cell is not None for c in city.cameras)
    assert all(cells[str(c.grid_cell)].contains(point(c.lon, c.lat)) for c in city.cameras)


def test_every_camera_a_scenario_names_is_a_camera_of_the_city(city: City) -> None:
    named = {
        i["camera"]
        for path in (ROOT / "scenarios").glob("*.yaml")
        for i in yaml.safe_load(path.read_text(encoding="utf-8")).get("injections") or []
        if i["type"] == "camera"
    }
    assert named and named <= set(city.camera_by_device)


def test_make_grid_writes_exactly_the_committed_file(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("make_grid", ROOT / "cities" / "tools" / "make_grid.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(["make_grid", str(tmp_path / "grid.geojson")])
    assert (tmp_path / "grid.geojson").read_bytes() == (DEMO / "grid.geojson").read_bytes()
