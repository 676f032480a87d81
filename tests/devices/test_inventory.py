"""City data: loads, and every broken file gives an error naming the file, the field and the problem."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from citywatch.city import load_city
from devices.inventory import CityConfigError

DEMO = Path(__file__).resolve().parents[2] / "cities" / "demo"


@pytest.fixture
def city_dir(tmp_path: Path) -> Path:
    target = tmp_path / "city"
    shutil.copytree(DEMO, target)
    return target


def break_file(city_dir: Path, name: str, old: str, new: str) -> None:
    path = city_dir / name
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {name}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_demo_city_loads() -> None:
    city = load_city(DEMO)
    assert len(city.vehicles) == 12 and len(city.permits) == 6
    assert city.permit_for_terminal("gps-m01") is not None
    assert city.permit_for_terminal("gps-g01") is None


def test_city_copies_rebuild_their_lookups() -> None:
    city = load_city(DEMO)
    trimmed = city.model_copy(update={"permits": []})
    assert trimmed.permit_for_terminal("gps-m01") is None
    assert city.permit_for_terminal("gps-m01") is not None


def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(CityConfigError, match="not a directory"):
        load_city(tmp_path / "nowhere")


def test_missing_city_yaml(city_dir: Path) -> None:
    (city_dir / "city.yaml").unlink()
    with pytest.raises(CityConfigError, match=r"city\.yaml: file is missing"):
        load_city(city_dir)


def test_invalid_yaml_names_the_file(city_dir: Path) -> None:
    (city_dir / "sites.yaml").write_text("- {site_id: C01, name: [unclosed\n", encoding="utf-8")
    with pytest.raises(CityConfigError, match=r"sites\.yaml: not valid YAML"):
        load_city(city_dir)


@pytest.mark.parametrize(
    ("name", "old", "new", "expected"),
    [
        (
            "permits.yaml",
            "corridor_m: 50",
            "corridor_m: -5",
            r"permits\.yaml: \[0\]\.corridor_m: Input should be greater than 0",
        ),
        (
            "vehicles.yaml",
            "kind: muck",
            "kind: tractor",
            r"vehicles\.yaml: \[0\]\.kind: Input should be 'garbage' or 'muck'",
        ),
        ("facilities.yaml", "kind: station", "kind: silo", r"facilities\.yaml: \[\d\]\.kind"),
        (
            "city.yaml",
            "slight_ratio: 0.8",
            "slight_ratio: 0.5",
            r"city\.yaml: rules\.overflow: .*clear_ratio < slight_ratio",
        ),
        (
            "facilities.yaml",
            "odour_grade: 2-existing",
            "odour_grade: 3",
            r"facilities\.yaml: \[\d\]\.odour_grade: Input should be '1', '2-new', '2-existing', '3-new' or '3-existing'",
        ),
    ],
)
def test_bad_field_names_file_and_field(city_dir: Path, name: str, old: str, new: str, expected: str) -> None:
    break_file(city_dir, name, old, new)
    with pytest.raises(CityConfigError, match=expected):
        load_city(city_dir)


def test_a_facility_may_take_a_grade_3_odour_limit(city_dir: Path) -> None:
    break_file(city_dir, "facilities.yaml", "odour_grade: 2-existing", "odour_grade: 3-existing")
    assert {f.odour_grade for f in load_city(city_dir).facilities} >= {"3-existing"}


def test_permit_for_unknown_vehicle(city_dir: Path) -> None:
    break_file(city_dir, "permits.yaml", "vehicle_id: M01", "vehicle_id: M99")
    with pytest.raises(CityConfigError, match="unknown vehicle 'M99'"):
        load_city(city_dir)


def test_every_problem_is_reported_at_once(city_dir: Path) -> None:
    break_file(city_dir, "permits.yaml", "corridor_m: 50", "corridor_m: -5")
    break_file(city_dir, "vehicles.yaml", "kind: muck", "kind: tractor")
    with pytest.raises(CityConfigError) as err:
        load_city(city_dir)
    assert "permits.yaml" in str(err.value) and "vehicles.yaml" in str(err.value)


def test_site_naming_an_unknown_background_station(city_dir: Path) -> None:
    break_file(city_dir, "sites.yaml", "background_device_id: env-bg01", "background_device_id: env-bg99")
    with pytest.raises(
        CityConfigError,
        match=r"sites\.yaml: site C02: background_device_id 'env-bg99' is not a "
        r"background station \(background_stations\.yaml has \['env-bg01'\]\)",
    ):
        load_city(city_dir)


def test_site_naming_a_site_monitor_as_its_background(city_dir: Path) -> None:
    break_file(city_dir, "sites.yaml", "background_device_id: env-bg01", "background_device_id: env-c01")
    with pytest.raises(CityConfigError, match="background_device_id 'env-c01' is not a background station"):
        load_city(city_dir)


def test_background_station_fields_are_checked(city_dir: Path) -> None:
    break_file(city_dir, "background_stations.yaml", "lat: 30.590000", "lat: 130.5")
    with pytest.raises(CityConfigError, match=r"background_stations\.yaml: \[0\]\.lat: .*less than or equal to 90"):
        load_city(city_dir)


def test_background_station_sharing_a_device_id(city_dir: Path) -> None:
    break_file(city_dir, "background_stations.yaml", "device_id: env-bg01", "device_id: env-c01")
    with pytest.raises(CityConfigError, match="device id 'env-c01' appears twice"):
        load_city(city_dir)


def test_a_city_without_background_stations_loads(city_dir: Path) -> None:
    (city_dir / "background_stations.yaml").unlink()
    for line in (
        "  background_device_id: env-bg01  # judged as site minus background (city.yaml rules.pm10.use_background)\n",
        "  background_device_id: env-bg01\n",
    ):
        break_file(city_dir, "sites.yaml", line, "")
    city = load_city(city_dir)
    assert city.background_stations == [] and city.sites_by_background == {}


# --- the device inventory: cameras, and every device's topic kind ---------------------------------------


def test_every_device_has_its_topic_kind() -> None:
    kinds = load_city(DEMO).kind_by_device
    assert (kinds["gps-m01"], kinds["fill-s01"], kinds["env-c01"], kinds["cam-01"]) == (
        "vehicle",
        "facility",
        "site",
        "camera",
    )
    assert kinds["env-bg01"] == "site"  # background monitors publish SiteReadings
    assert len(kinds) == 24


def test_a_city_without_cameras_yaml_has_no_cameras(city_dir: Path) -> None:
    (city_dir / "cameras.yaml").unlink()
    city = load_city(city_dir)
    assert city.cameras == [] and "camera" not in set(city.kind_by_device.values())


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            'grid_cell: "420106001002005"',
            'grid_cell: "420106001002999"',
            r"cameras\.yaml: camera cam-01: grid_cell '420106001002999' is not a cell of grid\.geojson",
        ),
        ('grid_cell: "420106001002005"', 'grid_cell: "4201"', r"cameras\.yaml: \[0\]\.grid_cell: String should match"),
        ("lat: 30.598094", "lat: 95.0", r"cameras\.yaml: \[0\]\.lat: Input should be less than or equal to 90"),
        ("device_id: cam-01", "device_id: cam 01", r"cameras\.yaml: \[0\]\.device_id: String should match"),
        (
            "device_id: cam-01",
            "device_id: gps-m01",
            r"device id 'gps-m01' appears twice \(vehicles\.yaml, cameras\.yaml\)",
        ),
        (
            "device_id: cam-02",
            "device_id: cam-01",
            r"device id 'cam-01' appears twice \(cameras\.yaml, cameras\.yaml\)",
        ),
        ("  name: 江滨路口监控", "  colour: red\n  name: 江滨路口监控", r"cameras\.yaml: \[0\]\.colour: Extra inputs"),
    ],
)
def test_camera_entries_are_checked(city_dir: Path, old: str, new: str, expected: str) -> None:
    break_file(city_dir, "cameras.yaml", old, new)
    with pytest.raises(CityConfigError, match=expected):
        load_city(city_dir)


def test_an_unknown_time_zone_is_refused_on_load(city_dir: Path) -> None:
    break_file(city_dir, "city.yaml", "timezone: Asia/Shanghai", "timezone: Asia/Wuhan")
    with pytest.raises(CityConfigError, match=r"city\.yaml: timezone: .*unknown time zone 'Asia/Wuhan'"):
        load_city(city_dir)


# --- hostile files: whatever is in them, the error is a CityConfigError naming the file ------------------


def features(text: str) -> bytes:
    """Return a GeoJSON FeatureCollection whose features member is the given JSON text."""
    return ('{"type": "FeatureCollection", "features": ' + text + "}").encode()


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("sites.yaml", b"\xff\xfe- {site_id: C01}", r"sites\.yaml: not UTF-8 text"),
        (
            "permits.yaml",
            b"- {valid_from: 2026-02-30}",
            r"permits\.yaml: not valid YAML: ValueError: day is out of range",
        ),
        ("city.yaml", b"version: " + b"9" * 5000, r"city\.yaml: not valid YAML: ValueError: Exceeds the limit"),
        (
            "zones.yaml",
            b"[" * 5000 + b"]" * 5000,
            r"zones\.yaml: (not valid YAML: RecursionError|\[0\]: Input should be a valid dictionary)",
        ),
        ("grid.geojson", features("5"), r"grid\.geojson: features must be a list"),
        ("grid.geojson", features("[[1]]"), r"grid\.geojson: features\[0\]: geometry"),
        (
            "grid.geojson",
            features('[{"geometry": "x"}]'),
            r"grid\.geojson: features\[0\]: geometry must be a Polygon or MultiPolygon, got 'str'",
        ),
        (
            "grid.geojson",
            features('[{"geometry": {"type": "Polygon", "coordinates": 5}}]'),
            r"grid\.geojson: features\[0\]: coordinates must be a non-empty list of rings",
        ),
        (
            "grid.geojson",
            features(
                '[{"geometry": {"type": "Polygon", "coordinates": [[[1, 2], [2, 3], [3, 3]]]}, "properties": [1]}]'
            ),
            r"grid\.geojson: features\[0\]: .*properties an object",
        ),
        ("vehicles.yaml", b"- {2026-01-01: x}", r"vehicles\.yaml: \[0\]"),
    ],
)
def test_hostile_file_content_is_a_config_error_naming_the_file(
    city_dir: Path, name: str, content: bytes, expected: str
) -> None:
    (city_dir / name).write_bytes(content)
    with pytest.raises(CityConfigError, match=expected):
        load_city(city_dir)


def test_a_directory_in_place_of_a_file_is_named(city_dir: Path) -> None:
    (city_dir / "sites.yaml").unlink()
    (city_dir / "sites.yaml").mkdir()
    with pytest.raises(CityConfigError, match=r"sites\.yaml: cannot be read"):
        load_city(city_dir)


def test_cross_file_problems_name_their_files(city_dir: Path) -> None:
    break_file(city_dir, "permits.yaml", "vehicle_id: M01", "vehicle_id: M99")
    with pytest.raises(CityConfigError, match=r"permits\.yaml: permit \S+ names unknown vehicle 'M99'"):
        load_city(city_dir)
