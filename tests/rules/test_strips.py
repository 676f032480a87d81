"""Strips (road segments with a half-width): exact cases, then the index against shapely as the oracle."""

from __future__ import annotations

import numpy as np
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from rules.geometry import LocalFrame
from rules.strips import StripIndex

WUHAN = LocalFrame(114.30, 30.60)


def lonlat(*xy: tuple[float, float]) -> list[tuple[float, float]]:
    """Turn local x/y metres around Wuhan into (lon, lat) points."""
    lon, lat = WUHAN.to_lonlat([p[0] for p in xy], [p[1] for p in xy])
    return list(zip(lon.tolist(), lat.tolist(), strict=True))


def ids_at(index: StripIndex, *xy: tuple[float, float]) -> list[list[str]]:
    """Return the strips containing each local x/y point."""
    points = lonlat(*xy)
    return index.containing([p[0] for p in points], [p[1] for p in points])


STREET = ("street", lonlat((0, 0), (1000, 0)), 15.0)
BEND = ("bend", lonlat((500, -500), (500, 500), (900, 500)), 10.0)


def test_points_within_the_half_width_of_the_centre_line_are_inside() -> None:
    index = StripIndex.build([STREET, BEND], frame=WUHAN)
    found = ids_at(index, (100, 14), (100, -16), (-14, 0), (1010, 10), (500, 0), (700, 505), (505, 495), (0, 500))
    assert found == [["street"], [], ["street"], ["street"], ["street", "bend"], ["bend"], ["bend"], []]


def test_round_ends_like_a_buffer() -> None:
    index = StripIndex.build([STREET], frame=WUHAN)
    assert ids_at(index, (-10, 10), (-11, 11), (1010, -10), (1011, -11)) == [["street"], [], ["street"], []]


def test_an_empty_index_finds_nothing() -> None:
    assert StripIndex.build([]).containing([114.3, 114.31], [30.6, 30.61]) == [[], []]
    assert StripIndex.build([]).ids_at(114.3, 30.6) == []


def test_far_and_non_finite_points_find_nothing() -> None:
    index = StripIndex.build([STREET, BEND], frame=WUHAN)
    assert index.containing([0.0, float("nan"), 114.30], [0.0, 30.6, float("inf")]) == [[], [], []]


coordinate = st.floats(-3000, 3000, allow_nan=False)
vertex = st.tuples(coordinate, coordinate)
strip = st.tuples(st.lists(vertex, min_size=2, max_size=5), st.floats(1.0, 200.0))


@settings(max_examples=60, deadline=None)
@given(strips=st.lists(strip, min_size=1, max_size=12), points=st.lists(vertex, min_size=1, max_size=60))
def test_matches_shapely_distance_to_each_centre_line(
    strips: list[tuple[list[tuple[float, float]], float]], points: list[tuple[float, float]]
) -> None:
    items = [(f"s{i}", lonlat(*line), half) for i, (line, half) in enumerate(strips)]
    index = StripIndex.build(items, frame=WUHAN)
    # the oracle measures in the same local frame, on lines rebuilt from the lon/lat the index got
    lines = [shapely.LineString(np.column_stack(WUHAN.to_xy(*zip(*line, strict=True)))) for _, line, _ in items]
    x, y = WUHAN.to_xy(*zip(*lonlat(*points), strict=True))
    found = index.containing(*WUHAN.to_lonlat(x, y))
    for i, (px, py) in enumerate(zip(x.tolist(), y.tolist(), strict=True)):
        distances = shapely.distance(shapely.Point(px, py), lines)
        margin = np.abs(distances - np.array([half for *_, half in items]))
        expected = [sid for (sid, _, half), d in zip(items, distances, strict=True) if d <= half]
        near_edge = {sid for (sid, _, _), m in zip(items, margin, strict=True) if m < 1e-6}
        assert set(found[i]) - near_edge == set(expected) - near_edge
        assert found[i] == sorted(found[i], key=[sid for sid, *_ in items].index)  # in index order, once each
