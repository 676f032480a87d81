"""Corridor geometry: exact cases in the local frame; properties against shapely in UTM zone 50N."""

from __future__ import annotations

import math
from unittest import mock

import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import Transformer

from rules import geometry
from rules.geometry import Corridor, LocalFrame

WUHAN = LocalFrame(114.30, 30.60)
TO_UTM = Transformer.from_crs("EPSG:4326", "EPSG:32650", always_xy=True)
FROM_UTM = Transformer.from_crs("EPSG:32650", "EPSG:4326", always_xy=True)


def lonlat(*xy: tuple[float, float]) -> list[tuple[float, float]]:
    """Turn local x/y metres around Wuhan into (lon, lat) points."""
    lon, lat = WUHAN.to_lonlat([p[0] for p in xy], [p[1] for p in xy])
    return list(zip(lon.tolist(), lat.tolist(), strict=True))


def l_route() -> Corridor:
    """A 1 km east, then 1 km north route, in the Wuhan frame."""
    return Corridor.from_route(lonlat((0, 0), (1000, 0), (1000, 1000)), width_m=50.0, frame=WUHAN)


@pytest.mark.parametrize(
    ("x", "y", "distance", "segment", "progress"),
    [
        (500, 30, 30.0, 0, 500.0),  # beside the first leg
        (1030, 500, 30.0, 1, 1500.0),  # beside the second leg
        (-40, 0, 40.0, 0, 0.0),  # before the start: distance to the first vertex
        (1030, -40, 50.0, 0, 1000.0),  # outside the corner: distance to the vertex
        (1000, 1000, 0.0, 1, 2000.0),  # on the last vertex
        (700, 0, 0.0, 0, 700.0),  # on the route
    ],
)
def test_nearest_in_the_local_frame(x: float, y: float, distance: float, segment: int, progress: float) -> None:
    (lon, lat) = lonlat((x, y))[0]
    near = l_route().nearest(lon, lat)
    assert float(near.distance_m) == pytest.approx(distance, abs=1e-6)
    assert int(near.segment) == segment
    assert float(near.progress_m) == pytest.approx(progress, abs=1e-6)


def test_frame_round_trips() -> None:
    x, y = WUHAN.to_xy(*WUHAN.to_lonlat([-12_345.6, 0.0, 9_876.5], [3_210.0, 0.0, -14_000.0]))
    np.testing.assert_allclose(x, [-12_345.6, 0.0, 9_876.5], atol=1e-6)
    np.testing.assert_allclose(y, [3_210.0, 0.0, -14_000.0], atol=1e-6)


def test_one_degree_of_latitude_is_the_mean_radius_arc() -> None:
    _, y = WUHAN.to_xy(114.3, 31.6)
    assert float(y) == pytest.approx(geometry.EARTH_RADIUS_M * math.pi / 180)


def test_shapes_broadcast_and_scalars_give_floats() -> None:
    c = l_route()
    lon, lat = WUHAN.origin_lon, np.full((2, 3), WUHAN.origin_lat)
    assert c.distance_m(lon, lat).shape == (2, 3)
    assert c.distance_m(np.array([]), np.array([])).shape == (0,)
    assert isinstance(c.distance_one_m(114.3, 30.6), float)
    assert c.total_length_m == pytest.approx(2000.0)
    assert c.width_m == 50.0


def test_repeated_vertices_are_harmless() -> None:
    c = Corridor.from_route(lonlat((0, 0), (0, 0), (100, 0), (100, 0)), 50.0, frame=WUHAN)
    (lon, lat) = lonlat((50, 20))[0]
    assert c.distance_one_m(lon, lat) == pytest.approx(20.0, abs=1e-6)
    point = Corridor.from_route(lonlat((0, 0), (0, 0)), 50.0, frame=WUHAN)
    assert point.distance_one_m(lon, lat) == pytest.approx(math.hypot(50, 20), abs=1e-6)


@pytest.mark.parametrize(
    "route",
    [[(114.3, 30.6)], [], [(114.3, math.nan), (114.4, 30.6)], [(114.3, 30.6, 0.0)] * 2],
)
def test_bad_routes_are_refused(route: list[tuple[float, ...]]) -> None:
    with pytest.raises(ValueError, match="route"):
        Corridor.from_route(route, 50.0)  # type: ignore[arg-type]


def test_prepared_arrays_are_read_only() -> None:
    with pytest.raises(ValueError, match="read-only"):
        l_route().length_m[0] = 1.0


def test_default_frame_is_the_route_centre() -> None:
    c = Corridor.from_route([(114.2, 30.5), (114.4, 30.7)], 50.0)
    assert (c.frame.origin_lon, c.frame.origin_lat) == pytest.approx((114.3, 30.6))


# --- properties against an independent oracle: shapely distances in UTM zone 50N via pyproj ---

ANCHOR_X, ANCHOR_Y = TO_UTM.transform(114.30, 30.60)
Case = tuple[np.ndarray, np.ndarray]  # route vertices and points, UTM metres


def offsets(limit_m: float) -> st.SearchStrategy[tuple[float, float]]:
    """Draw a (dx, dy) offset in metres within a square of half-side ``limit_m``."""
    return st.tuples(st.floats(-limit_m, limit_m), st.floats(-limit_m, limit_m))


@st.composite
def routes_and_points(draw: st.DrawFn) -> Case:
    """Draw a city route (random walk, legs <= 2 km, < 30 km long) and points, in UTM metres."""
    start = np.add(draw(offsets(20_000)), (ANCHOR_X, ANCHOR_Y))
    leg = st.tuples(st.floats(0, 2_000), st.floats(0, 2 * math.pi))  # length m, bearing rad
    legs = draw(st.lists(leg, min_size=1, max_size=14))
    steps = [(r * math.cos(a), r * math.sin(a)) for r, a in legs]
    route = start + np.vstack([[0.0, 0.0], np.cumsum(steps, axis=0)])
    vertex = st.integers(0, len(route) - 1)
    near = [route[i] + d for i, d in draw(st.lists(st.tuples(vertex, offsets(300))))]
    far = [route.mean(axis=0) + d for d in draw(st.lists(offsets(15_000), max_size=10))]
    return route, np.array(near + far, dtype=float).reshape(-1, 2)


def corridor_and_lonlat(case: Case) -> tuple[Corridor, np.ndarray, np.ndarray]:
    """Build our corridor from a UTM case, with the points as lon/lat arrays."""
    route_utm, points_utm = case
    route_lon, route_lat = FROM_UTM.transform(route_utm[:, 0], route_utm[:, 1])
    lon, lat = FROM_UTM.transform(points_utm[:, 0], points_utm[:, 1])
    corridor = Corridor.from_route(list(zip(route_lon, route_lat, strict=True)), 50.0)
    return corridor, lon, lat


@settings(deadline=None, max_examples=200)
@given(routes_and_points())
def test_distance_agrees_with_shapely_in_utm(case: Case) -> None:
    corridor, lon, lat = corridor_and_lonlat(case)
    route_utm, points_utm = case
    ours = corridor.distance_m(lon, lat)
    oracle = shapely.distance(shapely.LineString(route_utm), shapely.points(points_utm))
    np.testing.assert_array_less(np.abs(ours - oracle), 0.005 * oracle + 0.5)


@settings(deadline=None)
@given(routes_and_points(), st.integers(1, 50))
def test_batch_equals_point_by_point(case: Case, max_cells: int) -> None:
    corridor, lon, lat = corridor_and_lonlat(case)
    one_by_one = [corridor.distance_one_m(a, b) for a, b in zip(lon, lat, strict=True)]
    with mock.patch.object(geometry, "_MAX_CELLS", max_cells):  # force many small blocks too
        batch = corridor.distance_m(lon, lat)
    np.testing.assert_allclose(batch, one_by_one, rtol=0, atol=1e-9)
    np.testing.assert_allclose(corridor.distance_m(lon, lat), one_by_one, rtol=0, atol=1e-9)


@given(st.floats(-180, 180), st.floats(-89.9, 89.9), st.floats(-180, 180), st.floats(-89.9, 89.9))
def test_the_scalar_distance_is_the_vectorised_haversine(lon1: float, lat1: float, lon2: float, lat2: float) -> None:
    """``distance_m`` (plain floats, for one pair) and ``haversine_m`` (numpy, for batches) agree."""
    from rules.geometry import distance_m, haversine_m

    expected = float(haversine_m(lon1, lat1, lon2, lat2))
    assert distance_m(lon1, lat1, lon2, lat2) == pytest.approx(expected, rel=1e-9, abs=1e-6)
