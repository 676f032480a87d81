"""Areas: a ring, a polygon with holes, a multipolygon or a GeoJSON geometry, all kept whole by the inventory."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from pydantic import TypeAdapter, ValidationError

from devices.areas import Area, exterior, exteriors, geojson, rings
from devices.inventory import CityConfigError, load_city
from rules.city_index import CityIndex
from tickets.config import config_for_city
from tickets.routing import CityResolver

MIN_CITY = Path(__file__).resolve().parents[1] / "data" / "city_min"
OUTER = [[114.29, 30.58], [114.31, 30.58], [114.31, 30.61], [114.29, 30.61], [114.29, 30.58]]
HOLE = [[114.295, 30.59], [114.305, 30.59], [114.305, 30.60], [114.295, 30.60], [114.295, 30.59]]
ISLAND = [[114.33, 30.58], [114.34, 30.58], [114.34, 30.59], [114.33, 30.58]]
AREA = TypeAdapter(Area)


def test_every_spelling_becomes_parts_of_rings() -> None:
    one_ring = AREA.validate_python(OUTER)
    assert one_ring == [[[tuple(p) for p in OUTER]]]
    assert AREA.validate_python([OUTER, HOLE]) == AREA.validate_python(
        {"type": "Polygon", "coordinates": [OUTER, HOLE]}
    )
    multi = AREA.validate_python({"type": "MultiPolygon", "coordinates": [[OUTER, HOLE], [ISLAND]]})
    assert multi == AREA.validate_python([[OUTER, HOLE], [ISLAND]])
    assert len(rings(multi)) == 3 and exteriors(multi) == [multi[0][0], multi[1][0]] and exterior(multi) == multi[0][0]
    assert geojson(multi)["type"] == "MultiPolygon" and geojson(one_ring)["type"] == "Polygon"
    assert AREA.validate_python(geojson(multi)) == multi


@pytest.mark.parametrize(
    ("bad", "expected"),
    [
        ([[114.29, 30.58], [114.31, 30.58], [114.29, 30.58]], "three distinct"),
        ({"type": "LineString", "coordinates": OUTER}, "Polygon or MultiPolygon"),
        ([[114.29, 95.0], [114.31, 30.58], [114.31, 30.61]], "less than or equal to 90"),
        ([], "at least 1 item"),
    ],
)
def test_bad_areas_are_refused(bad: object, expected: str) -> None:
    with pytest.raises(ValidationError, match=expected):
        AREA.validate_python(bad)


def city_with_grid(tmp_path: Path, geometry: dict[str, object]) -> Path:
    """Copy the minimal city and make its first grid cell the given geometry."""
    target = tmp_path / "city"
    shutil.copytree(MIN_CITY, target)
    grid = json.loads((target / "grid.geojson").read_text(encoding="utf-8"))
    grid["features"][0]["geometry"] = geometry
    (target / "grid.geojson").write_text(json.dumps(grid), encoding="utf-8")
    return target


def test_a_grid_cell_keeps_its_hole_and_its_second_part(tmp_path: Path) -> None:
    root = city_with_grid(tmp_path, {"type": "MultiPolygon", "coordinates": [[OUTER, HOLE], [ISLAND]]})
    city = load_city(root)
    cell = city.grid[0]
    index, resolver = CityIndex(city), CityResolver(config_for_city(root), city)
    assert index.cell_at(114.292, 30.585) == cell  # in the outer ring
    assert index.cell_at(114.300, 30.595) is None  # in the hole (a lake, a closed compound)
    assert index.cell_at(114.336, 30.582) == cell  # on the island part
    assert resolver._from_grid(114.300, 30.595) == {}
    assert resolver._from_grid(114.336, 30.582)["grid_cell"] == cell.code


def test_a_grid_cell_of_another_geometry_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CityConfigError, match=r"grid\.geojson: features\[0\]: geometry must be a Polygon or Multi"):
        load_city(city_with_grid(tmp_path, {"type": "LineString", "coordinates": OUTER}))


def test_a_degenerate_hole_names_the_file_and_the_cell(tmp_path: Path) -> None:
    hole = [[114.295, 30.59], [114.305, 30.59], [114.295, 30.59]]
    with pytest.raises(CityConfigError, match=r"grid\.geojson: \[0\]\.polygon: .*ring 1: a ring needs three distinct"):
        load_city(city_with_grid(tmp_path, {"type": "Polygon", "coordinates": [OUTER, hole]}))
