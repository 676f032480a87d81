"""The simulator's flat geometry, checked against pyproj (geodesics) and shapely (distances)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import shapely
from hypothesis import given
from hypothesis import strategies as st
from pyproj import Geod

from devices.sim.geo import (
    LocalProjection,
    Path,
    arc_of,
    compass_deg,
    depth,
    inside,
    polyline_distance,
)

PROJ = LocalProjection(114.30, 30.59)
GEOD = Geod(ellps="WGS84")
offsets = st.integers(min_value=-60_000, max_value=60_000).map(lambda dm: dm / 10.0)
coords = st.lists(st.tuples(offsets, offsets), min_size=2, max_size=6)


@given(offsets, offsets, offsets, offsets)
def test_local_distances_match_geodesics_across_the_district(x1: float, y1: float, x2: float, y2: float) -> None:
    (lon1, lat1), (lon2, lat2) = PROJ.to_lonlat(x1, y1), PROJ.to_lonlat(x2, y2)
    _, _, geodesic = GEOD.inv(lon1, lat1, lon2, lat2)
    assert math.hypot(x2 - x1, y2 - y1) == pytest.approx(geodesic, rel=1e-3, abs=0.05)


@given(offsets, offsets)
def test_projection_round_trips(x: float, y: float) -> None:
    assert PROJ.to_xy([PROJ.to_lonlat(x, y)])[0] == pytest.approx([x, y], abs=1e-6)


@given(coords, st.floats(min_value=0.0, max_value=1.0), st.floats(min_value=0.0, max_value=1.0))
def test_points_along_a_path_lie_on_it(points: list[tuple[float, float]], f1: float, f2: float) -> None:
    xy = np.array(points)
    if np.all(xy == xy[0]):
        return
    path = Path(xy)
    p1, p2 = path.point_at(f1 * path.length), path.point_at(f2 * path.length)
    assert path.distance(np.array([p1, p2])).max() < 1e-6
    assert np.hypot(*(p2 - p1)) <= abs(f2 - f1) * path.length + 1e-6
    assert shapely.LineString(path.xy).length == pytest.approx(path.length)


@given(coords, st.lists(st.tuples(offsets, offsets), min_size=1, max_size=20))
def test_polyline_distance_agrees_with_shapely(
    points: list[tuple[float, float]], probes: list[tuple[float, float]]
) -> None:
    line, p = np.array(points), np.array(probes)
    expected = shapely.distance(shapely.points(p), shapely.LineString(line))
    assert polyline_distance(p, line) == pytest.approx(expected, abs=1e-6)


def test_headings_are_compass_bearings() -> None:
    assert [compass_deg(0, 1), compass_deg(1, 0), compass_deg(0, -1), compass_deg(-1, 0)] == [0, 90, 180, 270]
    stair = Path(np.array([[0.0, 0.0], [100.0, 0.0], [100.0, -50.0]]))
    assert (stair.heading_at(10), stair.heading_at(120), stair.length) == (90.0, 180.0, 150.0)


def test_repeated_points_are_dropped_and_a_single_point_is_refused() -> None:
    assert len(Path(np.array([[0.0, 0.0], [0.0, 0.0], [5.0, 0.0]])).seg_len) == 1
    with pytest.raises(ValueError, match="two distinct points"):
        Path(np.array([[1.0, 1.0], [1.0, 1.0]]))


@pytest.mark.parametrize("side", [1.0, -1.0])
def test_offset_line_of_a_grid_route_keeps_its_distance(side: float) -> None:
    route = Path(np.array([[0.0, 0.0], [900.0, 0.0], [900.0, 450.0], [2700.0, 450.0], [2700.0, 1800.0]]))
    offset = Path(route.offset_vertices(side * 200.0))
    samples = np.array([offset.point_at(s) for s in np.linspace(0.0, offset.length, 400)])
    d = route.distance(samples)
    assert d.min() == pytest.approx(200.0) and d.max() <= 200.0 * math.sqrt(2) + 1e-6
    x, y = route.offset_point(450.0, offset.xy)
    assert y == pytest.approx(side * 200.0) and abs(x - 450.0) <= 100.0


@given(coords, st.tuples(offsets, offsets))
def test_arc_of_finds_the_nearest_point_of_the_path(
    points: list[tuple[float, float]], probe: tuple[float, float]
) -> None:
    xy = np.array(points)
    if np.all(xy == xy[0]):
        return
    path = Path(xy)
    s = arc_of(path, np.array(probe))
    assert np.hypot(*(path.point_at(s) - np.array(probe))) == pytest.approx(
        float(path.distance(np.array([probe]))[0]), abs=1e-6
    )


@given(st.lists(st.tuples(offsets, offsets), min_size=1, max_size=30))
def test_inside_and_depth_agree_with_shapely(probes: list[tuple[float, float]]) -> None:
    ring = np.array([[0.0, 0.0], [900.0, 0.0], [900.0, 450.0], [300.0, 800.0], [-200.0, 300.0]])
    poly, p = shapely.Polygon(ring), np.array(probes)
    on_edge = shapely.distance(shapely.points(p), poly.exterior) < 1e-6
    assert np.array_equal(inside(ring, p)[~on_edge], shapely.contains_xy(poly, p[:, 0], p[:, 1])[~on_edge])
    signed = np.where(shapely.contains_xy(poly, p[:, 0], p[:, 1]), 1.0, -1.0) * shapely.distance(
        shapely.points(p), poly.exterior
    )
    assert depth(ring, p)[~on_edge] == pytest.approx(signed[~on_edge], abs=1e-6)
