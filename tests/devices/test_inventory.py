"""City data: loads, and every broken file gives an error naming the file, the field and the problem."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from devices.inventory import CityConfigError, load_city

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
        ("permits.yaml", "corridor_m: 50", "corridor_m: -5", r"permits\.yaml: \[0\]\.corridor_m: Input should be greater than 0"),
        ("vehicles.yaml", "kind: muck", "kind: tractor", r"vehicles\.yaml: \[0\]\.kind: Input should be 'garbage' or 'muck'"),
        ("facilities.yaml", "kind: station", "kind: silo", r"facilities\.yaml: \[\d\]\.kind"),
        ("city.yaml", "slight_ratio: 0.8", "slight_ratio: 0.5", r"city\.yaml: rules\.overflow: .*clear_ratio < slight_ratio"),
    ],
)
def test_bad_field_names_file_and_field(city_dir: Path, name: str, old: str, new: str, expected: str) -> None:
    break_file(city_dir, name, old, new)
    with pytest.raises(CityConfigError, match=expected):
        load_city(city_dir)


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
    with pytest.raises(CityConfigError, match=r"sites\.yaml: site C02: background_device_id 'env-bg99' is not a "
                                              r"background station \(background_stations\.yaml has \['env-bg01'\]\)"):
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
    for line in ("  background_device_id: env-bg01  # judged as site minus background (city.yaml rules.pm10.use_background)\n",
                 "  background_device_id: env-bg01\n"):
        break_file(city_dir, "sites.yaml", line, "")
    city = load_city(city_dir)
    assert city.background_stations == [] and city.sites_by_background == {}
