"""Batch geometry on the hot path: ``CityIndex.locate`` agrees with the one-point lookups and shapely."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import Point, shape

from devices.areas import geojson
from devices.contracts import VehiclePosition
from devices.inventory import load_city
from rules.city_index import CityIndex
from rules.engine import Engine

CITY = load_city(Path(__file__).resolve().parents[2] / "cities" / "demo")
INDEX = CityIndex(CITY)
TERMINALS = [*sorted(INDEX.vehicles), "gps-unknown"]
T0 = 1_795_000_000_000


def fix(device: str, lon: float, lat: float, seq: int = 0) -> VehiclePosition:
    return VehiclePosition(
        device_id=device, ts_ms=T0 + seq * 1000, seq=seq, lon=lon, lat=lat, speed_kmh=20, heading_deg=0
    )


def near_the_city() -> st.SearchStrategy[VehiclePosition]:
    lon0, lat0 = CITY.meta.center
    return st.builds(
        fix, st.sampled_from(TERMINALS), st.floats(lon0 - 0.06, lon0 + 0.06), st.floats(lat0 - 0.05, lat0 + 0.05)
    )


def interesting_places() -> list[tuple[float, float]]:
    """Points on and around the city's features: sites, gates, washes, zones, points, routes."""
    spots = [(s.lon, s.lat) for s in CITY.sites] + [e for s in CITY.sites for e in s.exits]
    spots += [w for s in CITY.sites for w in s.wash_stations] + [(p.lon, p.lat) for p in CITY.collection_points]
    spots += [tuple(z.polygon[0][0][0]) for z in CITY.zones] + [tuple(v) for p in CITY.permits for v in p.route]
    return [(lon + dx, lat + dy) for lon, lat in spots for dx, dy in ((0, 0), (2e-4, 0), (0, -3e-4))]


@settings(max_examples=60, deadline=None)
@given(st.lists(near_the_city(), min_size=1, max_size=40))
def test_a_batch_is_located_exactly_as_each_point_alone(positions: list[VehiclePosition]) -> None:
    for pos, place in zip(positions, INDEX.locate(positions), strict=True):
        vehicle, permit = INDEX.vehicles.get(pos.device_id), INDEX.permits.get(pos.device_id)
        assert place.site == INDEX.site_at(pos.lon, pos.lat)
        assert place.at_wash == INDEX.at_wash(pos.lon, pos.lat)
        assert list(place.zones) == INDEX.zones_at(pos.lon, pos.lat)
        assert place.road == INDEX.road_at(pos.lon, pos.lat, vehicle.kind if vehicle else None)
        assert list(place.points) == (INDEX.points_near(vehicle, pos.lon, pos.lat) if vehicle else [])
        if permit is None:
            assert place.corridor_m is None
        else:
            assert place.corridor_m == pytest.approx(INDEX.corridor(permit).distance_one_m(pos.lon, pos.lat), abs=1e-6)


def test_the_city_features_are_found_where_shapely_finds_them() -> None:
    spots = interesting_places()
    places = INDEX.locate([fix(TERMINALS[0], lon, lat, i) for i, (lon, lat) in enumerate(spots)])
    sites = {s.site_id: shape(geojson(s.polygon)) for s in CITY.sites if s.polygon}
    zones = {z.zone_id: shape(geojson(z.polygon)) for z in CITY.zones}
    disposal = {d.site_id: shape(geojson(d.polygon)) for d in CITY.disposal_sites}
    for (lon, lat), place in zip(spots, places, strict=True):
        point = Point(lon, lat)  # on an edge or a vertex either answer is right: between contains and covers
        if [sid for sid, poly in sites.items() if poly.contains(point)]:
            assert place.site in [sid for sid, poly in sites.items() if poly.covers(point)]
        for found, polygons in ((place.zones, zones), (place.disposal, disposal)):
            assert {i for i, poly in polygons.items() if poly.contains(point)} <= set(found)
            assert set(found) <= {i for i, poly in polygons.items() if poly.covers(point)}
    assert any(p.site for p in places) and any(p.at_wash for p in places) and any(p.zones for p in places)


def test_the_engine_gives_the_same_alerts_with_and_without_a_batch_locate() -> None:
    from devices.sim.generator import generate
    from devices.sim.scenario import load_scenario

    scenario = load_scenario(Path(__file__).resolve().parents[2] / "scenarios" / "foundation.yaml", CITY)
    messages = list(generate(CITY, scenario, 7, T0))
    one, batched = Engine(CITY), Engine(CITY)
    states_one: dict[str, object] = {}
    states_batched: dict[str, object] = {}
    alerts_one, alerts_batched = [], []
    for k in range(0, len(messages), 300):
        chunk = messages[k : k + 300]
        for m, place in zip(chunk, batched.locate(chunk), strict=True):
            out = one.process(states_one.get(m.device_id), m)  # type: ignore[arg-type]
            states_one[m.device_id], alerts_one = out.state, alerts_one + out.alerts
            out = batched.process(states_batched.get(m.device_id), m, place)  # type: ignore[arg-type]
            states_batched[m.device_id], alerts_batched = out.state, alerts_batched + out.alerts
    assert alerts_one == alerts_batched and states_one == states_batched
    assert {a.rule for a in alerts_one} >= {"route_deviation", "uncovered_load"}


def test_locate_leaves_other_events_alone() -> None:
    from devices.contracts import FacilityReading

    reading = FacilityReading(device_id="fill-s01", ts_ms=T0, seq=0, fill_ratio=0.5)
    places = Engine(CITY).locate([reading, fix(TERMINALS[0], *CITY.meta.center)])
    assert places[0] is None and places[1] is not None
    assert INDEX.locate([]) == []
