"""Polygons, the polygon index and distances: exact cases, then properties vs shapely / pyproj."""

from __future__ import annotations

import math
from unittest import mock

import numpy as np
import pytest
import shapely
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from pyproj import Geod

from rules import geometry
from rules.geometry import (
    LocalFrame,
    PolygonIndex,
    PreparedPolygon,
    distance_m,
    haversine_m,
    point_in_shape,
    within_m,
)

WUHAN = LocalFrame(114.30, 30.60)
WGS84 = Geod(ellps="WGS84")


def ring(*xy: tuple[float, float]) -> list[tuple[float, float]]:
    """Turn local x/y metres around Wuhan into a (lon, lat) ring."""
    lon, lat = WUHAN.to_lonlat([p[0] for p in xy], [p[1] for p in xy])
    return list(zip(lon.tolist(), lat.tolist(), strict=True))


SQUARE = ring((0, 0), (100, 0), (100, 100), (0, 100))
U_SHAPE = ring((0, 0), (300, 0), (300, 300), (200, 300), (200, 100), (100, 100), (100, 300), (0, 300))


def inside(polygon: list[tuple[float, float]], *xy: tuple[float, float]) -> list[bool]:
    """Test local x/y points against a polygon prepared in the Wuhan frame."""
    lon, lat = WUHAN.to_lonlat([p[0] for p in xy], [p[1] for p in xy])
    return [bool(v) for v in PreparedPolygon.from_ring(polygon, WUHAN).contains(lon, lat)]


def test_square_and_concave_polygons() -> None:
    assert inside(SQUARE, (50, 50), (1, 99), (101, 50), (50, -1), (-5, 105)) == [
        True,
        True,
        False,
        False,
        False,
    ]
    # the notch of the U is inside its bounding box but outside the polygon
    assert inside(U_SHAPE, (150, 200), (150, 50), (50, 250), (250, 250), (350, 50)) == [
        False,
        True,
        True,
        True,
        False,
    ]


def test_closing_point_is_optional() -> None:
    points = [(50, 50), (150, 200), (250, 150), (-1, 0)]
    assert inside(U_SHAPE, *points) == inside([*U_SHAPE, U_SHAPE[0]], *points)


def test_shapes_broadcast_and_scalars_work() -> None:
    poly = PreparedPolygon.from_ring(SQUARE, WUHAN)
    lon, lat = WUHAN.to_lonlat(50, 50)
    assert bool(poly.contains(float(lon), float(lat))) is True
    assert poly.contains(np.full((2, 3), lon), float(lat)).shape == (2, 3)
    assert poly.contains(np.array([]), np.array([])).shape == (0,)


def test_blocks_give_the_same_answer() -> None:
    rng = np.random.default_rng(7)
    x, y = rng.uniform(-50, 350, 500), rng.uniform(-50, 350, 500)
    lon, lat = WUHAN.to_lonlat(x, y)
    poly = PreparedPolygon.from_ring(U_SHAPE, WUHAN)
    whole = poly.contains(lon, lat)
    with mock.patch.object(geometry, "_MAX_CELLS", 17):
        np.testing.assert_array_equal(poly.contains(lon, lat), whole)


FRAME_WITH_HOLE = [ring((0, 0), (300, 0), (300, 300), (0, 300)), ring((100, 100), (200, 100), (200, 200), (100, 200))]
ISLAND = [ring((1000, 0), (1100, 0), (1100, 100), (1000, 100))]


def test_a_point_in_a_hole_is_outside_and_every_part_counts() -> None:
    multi = [FRAME_WITH_HOLE, ISLAND]  # a MultiPolygon: a square frame with a hole, and an island
    lon, lat = WUHAN.to_lonlat([50, 150, 1050, 600, 250], [50, 150, 50, 50, 250])
    prepared = PreparedPolygon.from_shape(multi, WUHAN).contains(lon, lat).tolist()
    assert prepared == [True, False, True, False, True]
    assert [point_in_shape(x, y, multi) for x, y in zip(lon, lat, strict=True)] == prepared
    index = PolygonIndex.build([("cell", multi), ("hole-filler", FRAME_WITH_HOLE[1])], frame=WUHAN)
    assert index.containing(lon, lat) == [["cell"], ["hole-filler"], ["cell"], [], ["cell"]]


@settings(deadline=None, max_examples=100)
@given(st.data())
def test_polygons_with_holes_agree_with_shapely(data: st.DataObject) -> None:
    outer = data.draw(star_polygons())
    hole = [tuple(np.mean(outer, axis=0) + 0.3 * (np.asarray(p) - np.mean(outer, axis=0))) for p in outer]
    oracle_polygon = shapely.Polygon(outer, [hole])
    assume(oracle_polygon.is_valid)
    lon, lat = data.draw(points_around([outer]))
    ours = PreparedPolygon.from_shape([outer, hole]).contains(lon, lat)
    clear = clear_of_edges([outer, hole], lon, lat)
    np.testing.assert_array_equal(ours[clear], shapely.contains_xy(oracle_polygon, lon, lat)[clear])


@pytest.mark.parametrize(
    "bad",
    [
        [(114.3, 30.6), (114.4, 30.6)],
        [(114.3, 30.6)] * 4,
        [(114.3, math.nan), (114.4, 30.6), (114.4, 30.7)],
        [],
    ],
)
def test_bad_rings_are_refused(bad: list[tuple[float, float]]) -> None:
    with pytest.raises(ValueError, match="ring"):
        PreparedPolygon.from_ring(bad)


def test_prepared_arrays_are_read_only() -> None:
    with pytest.raises(ValueError, match="read-only"):
        PreparedPolygon.from_ring(SQUARE).edges[0, 0] = 1.0
    with pytest.raises(ValueError, match="read-only"):
        PolygonIndex.build([("a", SQUARE)]).cell_keys[0] = 1


def test_index_answers_which_polygons_contain_each_point() -> None:
    far = ring((5000, 5000), (5100, 5000), (5100, 5100))
    index = PolygonIndex.build([("square", SQUARE), ("u", U_SHAPE), ("far", far)], frame=WUHAN)
    lon, lat = WUHAN.to_lonlat([50, 150, 250, 5090, 9000], [50, 200, 250, 5010, 9000])
    assert index.containing(lon, lat) == [["square", "u"], [], ["u"], ["far"], []]
    assert index.ids_at(float(lon[0]), float(lat[0])) == ["square", "u"]
    points, polygons = index.query(lon, lat)
    assert points.tolist() == [0, 0, 2, 3] and polygons.tolist() == [0, 1, 1, 2]


def test_empty_index_and_odd_points() -> None:
    assert PolygonIndex.build([]).containing([114.3, 114.4], [30.6, 30.6]) == [[], []]
    index = PolygonIndex.build([("square", SQUARE)])
    assert index.containing([math.nan, 0.0, 114.3], [30.6, 0.0, math.inf]) == [[], [], []]


def test_within_m_and_haversine() -> None:
    lon, lat = WUHAN.to_lonlat([0, 39.9, 40.1, 0], [0, 0, 0, -40.1])
    assert within_m(lon, lat, (114.30, 30.60), 40.0).tolist() == [True, True, False, False]
    assert float(haversine_m(0, 0, 0, 1)) == pytest.approx(geometry.EARTH_RADIUS_M * math.pi / 180)
    assert haversine_m(114.3, 30.6, np.array([[114.3], [114.31]]), np.array([30.6, 30.61])).shape == (2, 2)


# --- properties against independent oracles: shapely on the lon/lat rings, pyproj's geodesic ---

EPS_DEG = 1e-9  # ~0.1 mm: points closer than this to an edge may go either way


@st.composite
def star_polygons(draw: st.DrawFn) -> list[tuple[float, float]]:
    """Draw a simple star-shaped polygon (sorted angles, random radii) near Wuhan, in lon/lat."""
    cx = draw(st.floats(114.2, 114.4))
    cy = draw(st.floats(30.5, 30.7))
    n = draw(st.integers(3, 16))
    angles = sorted(draw(st.lists(st.floats(0, 2 * math.pi), min_size=n, max_size=n, unique=True)))
    assume(min(np.diff([*angles, angles[0] + 2 * math.pi])) > 0.01)
    radii = draw(st.lists(st.floats(0.0003, 0.02), min_size=n, max_size=n))
    return [(cx + r * math.cos(a), cy + r * math.sin(a)) for a, r in zip(angles, radii, strict=True)]


@st.composite
def points_around(draw: st.DrawFn, rings: list[list[tuple[float, float]]]) -> tuple[np.ndarray, np.ndarray]:
    """Draw points scattered over the rings' bounding box and beyond."""
    box = np.vstack(rings)
    (x0, y0), (x1, y1) = box.min(axis=0) - 0.005, box.max(axis=0) + 0.005
    xs = draw(st.lists(st.tuples(st.floats(x0, x1), st.floats(y0, y1)), min_size=1, max_size=60))
    pts = np.array(xs, dtype=float)
    return pts[:, 0], pts[:, 1]


def clear_of_edges(rings: list[list[tuple[float, float]]], lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Tell which points are not within EPS_DEG of any polygon's boundary."""
    pts = shapely.points(lon, lat)
    dist = [shapely.distance(shapely.Polygon(r).exterior, pts) for r in rings]
    return np.asarray(np.min(dist, axis=0) > EPS_DEG)


@settings(deadline=None, max_examples=200)
@given(st.data())
def test_contains_agrees_with_shapely(data: st.DataObject) -> None:
    polygon = data.draw(star_polygons())
    assume(shapely.Polygon(polygon).is_valid)
    lon, lat = data.draw(points_around([polygon]))
    ours = PreparedPolygon.from_ring(polygon).contains(lon, lat)
    oracle = shapely.contains_xy(shapely.Polygon(polygon), lon, lat)
    clear = clear_of_edges([polygon], lon, lat)
    np.testing.assert_array_equal(ours[clear], oracle[clear])


@settings(deadline=None, max_examples=200)
@given(st.data())
def test_one_point_in_one_ring_agrees_with_shapely(data: st.DataObject) -> None:
    polygon = data.draw(star_polygons())
    assume(shapely.Polygon(polygon).is_valid)
    lon, lat = data.draw(points_around([polygon]))
    ours = np.array([point_in_shape(x, y, polygon) for x, y in zip(lon, lat, strict=True)])
    oracle = shapely.contains_xy(shapely.Polygon(polygon), lon, lat)
    clear = clear_of_edges([polygon], lon, lat)
    np.testing.assert_array_equal(ours[clear], oracle[clear])


def test_distance_m_is_the_haversine_of_one_pair() -> None:
    assert distance_m(114.3, 30.6, 114.3, 30.6) == 0.0
    assert distance_m(0, 0, 0, 1) == pytest.approx(geometry.EARTH_RADIUS_M * math.pi / 180)


@settings(deadline=None, max_examples=150)
@given(st.data())
def test_index_agrees_with_an_strtree(data: st.DataObject) -> None:
    polygons = data.draw(st.lists(star_polygons(), min_size=1, max_size=12))
    assume(all(shapely.Polygon(p).is_valid for p in polygons))
    cell_m = data.draw(st.sampled_from([None, 30.0, 250.0, 2000.0, 50_000.0]))
    lon, lat = data.draw(points_around(polygons))
    keep = clear_of_edges(polygons, lon, lat)
    lon, lat = lon[keep], lat[keep]
    index = PolygonIndex.build([(f"p{i}", p) for i, p in enumerate(polygons)], cell_m=cell_m)
    ours = np.column_stack(index.query(lon, lat))
    tree = shapely.STRtree([shapely.Polygon(p) for p in polygons])
    pairs = tree.query(shapely.points(lon, lat), predicate="within").T
    oracle = pairs[np.lexsort((pairs[:, 1], pairs[:, 0]))]
    np.testing.assert_array_equal(ours.reshape(-1, 2), oracle.reshape(-1, 2))


@settings(deadline=None)
@given(
    st.floats(114.0, 114.6), st.floats(30.3, 30.9), st.floats(1.0, 5000.0),
    st.lists(st.tuples(st.floats(0, 360), st.floats(0, 10_000)), min_size=1, max_size=30),
)  # fmt: skip
def test_within_m_agrees_with_the_wgs84_geodesic(
    lon0: float, lat0: float, radius: float, polar: list[tuple[float, float]]
) -> None:
    az, dist = np.array(polar).T
    lon, lat, _ = WGS84.fwd(np.full(az.size, lon0), np.full(az.size, lat0), az, dist)
    np.testing.assert_allclose(haversine_m(lon0, lat0, lon, lat), dist, rtol=0.005, atol=1e-3)
    ours = within_m(lon, lat, (lon0, lat0), radius)
    sure = np.abs(dist - radius) > 0.005 * radius + 1e-3
    np.testing.assert_array_equal(ours[sure], (dist <= radius)[sure])
