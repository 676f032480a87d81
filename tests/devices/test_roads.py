"""Road segments (roads.yaml): optional, validated with precise errors, and placed sensibly in the demo city.

Demo geometry is checked in UTM 50N with pyproj and shapely, independently of the simulator and rules.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import shapely

from devices.inventory import CityConfigError, load_city
from tests.devices.test_sim_oracle import utm

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "cities" / "demo"
GOOD = "- {segment_id: R1, name: 示例路, polyline: [[114.30, 30.59], [114.31, 30.59]], limit_kmh: 30}\n"


@pytest.fixture
def city_dir(tmp_path: Path) -> Path:
    target = tmp_path / "city"
    shutil.copytree(DEMO, target)
    return target


def load_roads(city_dir: Path, text: str) -> str:
    """Write roads.yaml, load the city and return the error message."""
    (city_dir / "roads.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(CityConfigError) as err:
        load_city(city_dir)
    return str(err.value)


def test_demo_roads_load_with_defaults() -> None:
    roads = {r.segment_id: r for r in load_city(DEMO).roads}
    assert {k: r.limit_kmh for k, r in roads.items()} == {"R-EXPY-01": 60.0, "R-SCHOOL-01": 30.0}
    assert all(r.half_width_m == 15.0 and r.vehicle_kinds == ["garbage", "muck"] for r in roads.values())


def test_a_city_without_roads_loads(city_dir: Path) -> None:
    (city_dir / "roads.yaml").unlink()
    assert load_city(city_dir).roads == []
    assert load_city(ROOT / "tests" / "data" / "city_min").roads == []


def test_an_empty_roads_file_means_no_segments(city_dir: Path) -> None:
    (city_dir / "roads.yaml").write_text("# none yet\n", encoding="utf-8")
    assert load_city(city_dir).roads == []


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("limit_kmh: 30", "limit_kmh: 0", r"\[0\]\.limit_kmh: Input should be greater than 0 \(got 0\)"),
        ("limit_kmh: 30", "limit_kmh: 200", r"\[0\]\.limit_kmh: Input should be less than or equal to 120 \(got 200\)"),
        ("limit_kmh: 30", "limit_kmh: fast", r"\[0\]\.limit_kmh: Input should be a valid number"),
        (", limit_kmh: 30", "", r"\[0\]\.limit_kmh: Field required"),
        ("name: 示例路, ", "", r"\[0\]\.name: Field required"),
        ("limit_kmh: 30", "limit_kmh: 30, half_width_m: -3", r"\[0\]\.half_width_m: Input should be greater than 0"),
        ("limit_kmh: 30", "limit_kmh: 30, half_width_m: 500", r"\[0\]\.half_width_m: Input should be less than or equal to 100"),
        ("[[114.30, 30.59], [114.31, 30.59]]", "[[114.30, 30.59]]", r"\[0\]\.polyline: List should have at least 2 items"),
        ("[114.31, 30.59]", "[114.30, 30.59]", r"\[0\]: Value error, polyline needs two distinct \(lon, lat\) points"),
        ("[114.31, 30.59]", "[194.31, 30.59]", r"\[0\]\.polyline\[1\]\[0\]: Input should be less than or equal to 180"),
        ("limit_kmh: 30", "limit_kmh: 30, vehicle_kinds: [bus]", r"\[0\]\.vehicle_kinds\[0\]: Input should be 'garbage' or 'muck' \(got 'bus'\)"),
        ("limit_kmh: 30", "limit_kmh: 30, vehicle_kinds: []", r"\[0\]\.vehicle_kinds: List should have at least 1 item"),
        ("limit_kmh: 30", "limit_kmh: 30, speed_kmh: 30", r"\[0\]\.speed_kmh: Extra inputs are not permitted"),
    ],
)  # fmt: skip
def test_each_mistake_names_file_entry_field_and_expectation(city_dir: Path, old: str, new: str, expected: str) -> None:
    assert old in GOOD
    message = load_roads(city_dir, GOOD.replace(old, new, 1))
    assert "1 problem(s)" in message
    assert f"{city_dir / 'roads.yaml'}: " in message
    assert re.search(expected, message), message


def test_duplicate_segment_ids_name_the_file(city_dir: Path) -> None:
    message = load_roads(city_dir, GOOD + GOOD.replace("示例路", "另一条路"))
    assert f"{city_dir / 'roads.yaml'}: (top level): Value error, segment_id 'R1' appears twice" in message


def test_not_a_list_names_the_file(city_dir: Path) -> None:
    assert f"{city_dir / 'roads.yaml'}: (top level): Input should be a valid list" in load_roads(city_dir, "{a: 1}\n")


def test_every_problem_is_reported_at_once(city_dir: Path) -> None:
    vehicles = city_dir / "vehicles.yaml"
    vehicles.write_text(
        vehicles.read_text(encoding="utf-8").replace("kind: muck", "kind: tractor", 1), encoding="utf-8"
    )
    text = GOOD.replace("limit_kmh: 30", "limit_kmh: 0") + GOOD.replace("R1", "R2").replace("name: 示例路, ", "")
    message = load_roads(city_dir, text)
    assert "3 problem(s)" in message and "vehicles.yaml: [0].kind" in message
    assert "roads.yaml: [0].limit_kmh" in message and "roads.yaml: [1].name: Field required" in message


def _line(points: list[tuple[float, float]]) -> shapely.LineString:
    return shapely.LineString(utm(points))


def test_the_expressway_carries_a_muck_route_and_nothing_speeds_where_it_did_not() -> None:
    city = load_city(DEMO)
    roads = {r.segment_id: _line(r.polyline) for r in city.roads}
    permits = {p.vehicle_id: _line(p.route) for p in city.permits}
    # M02's route runs the whole expressway; only garbage rounds cross it (they never pass 40 km/h)
    assert permits["M02"].buffer(1.0).contains(roads["R-EXPY-01"])
    others = [line for v, line in permits.items() if v != "M02"]
    assert min(roads["R-EXPY-01"].distance(line) for line in others) > 400


def test_the_school_street_is_off_every_route_and_round() -> None:
    # clean trucks drive 25-37 km/h: a 30 km/h street must lie where no truck drives
    city = load_city(DEMO)
    school = _line(next(r.polyline for r in city.roads if r.segment_id == "R-SCHOOL-01"))
    lines = [_line(p.route) for p in city.permits] + [_line(v.round) for v in city.vehicles if v.round]
    assert min(school.distance(line) for line in lines) > 400
