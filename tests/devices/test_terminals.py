"""JT/T 808 terminals in the city data: phone numbers, models and their vendor signals are checked on load."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from devices.inventory import CityConfigError, load_city
from devices.terminals import phone_key

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def city_dir(tmp_path: Path) -> Path:
    target = tmp_path / "city"
    shutil.copytree(REPO / "cities" / "demo", target)
    return target


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path.name}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_every_demo_truck_has_a_terminal_of_a_known_model() -> None:
    city = load_city(REPO / "cities" / "demo")
    assert len(city.vehicle_by_phone) == len(city.vehicles)
    assert {v.jt808_model for v in city.vehicles} <= set(city.terminal_model)
    muck = city.terminal_model["ZT-M2019"]
    assert muck.cover_closed is not None and (muck.cover_closed.tlv, muck.cover_closed.bit) == (0xE1, 0)


def test_a_phone_is_found_with_or_without_its_padding_zeros() -> None:
    city = load_city(REPO / "cities" / "demo")
    assert phone_key("00000000013900003101") == phone_key("013900003101") == "13900003101"
    assert city.vehicle_by_phone[phone_key("00000000013900003101")].terminal_id == "gps-m01"


def test_two_trucks_with_one_phone_number_are_refused(city_dir: Path) -> None:
    edit(city_dir / "vehicles.yaml", "jt808_phone: '13900003102'", "jt808_phone: '013900003101'")
    with pytest.raises(CityConfigError, match="jt808_phone '13900003101' appears twice"):
        load_city(city_dir)


@pytest.mark.parametrize("phone", ["'1390000310A'", "'123456789012345678901'", "''"])
def test_a_phone_number_must_be_1_to_20_digits(city_dir: Path, phone: str) -> None:
    edit(city_dir / "vehicles.yaml", "jt808_phone: '13900003101'", f"jt808_phone: {phone}")
    with pytest.raises(CityConfigError, match=r"vehicles.yaml: \[0\].jt808_phone: String should match pattern"):
        load_city(city_dir)


def test_an_unknown_model_is_named(city_dir: Path) -> None:
    edit(city_dir / "vehicles.yaml", "jt808_model: ZT-M2019}", "jt808_model: ZT-NOPE}")
    with pytest.raises(CityConfigError, match=r"jt808_model 'ZT-NOPE' is not in terminals.yaml"):
        load_city(city_dir)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("bit: 0, active: 1", "bit: 64, active: 1"),
        ("tlv: 0xE2, scale: 10.0", "tlv: 0xE2, scale: 0"),
        ("active: 1}   # 密闭", "active: 2}   # 密闭"),
    ],
)
def test_vendor_signal_fields_are_checked(city_dir: Path, old: str, new: str) -> None:
    edit(city_dir / "terminals.yaml", old, new)
    with pytest.raises(CityConfigError, match=r"terminals.yaml"):
        load_city(city_dir)


def test_a_city_without_terminals_yaml_loads(city_dir: Path) -> None:
    (city_dir / "terminals.yaml").unlink()
    text = (city_dir / "vehicles.yaml").read_text(encoding="utf-8")
    (city_dir / "vehicles.yaml").write_text(
        text.replace(", jt808_model: ZT-M2019", "").replace("  jt808_model: HW-G2013\n", ""), encoding="utf-8"
    )
    city = load_city(city_dir)
    assert city.terminals == [] and len(city.vehicle_by_phone) == len(city.vehicles)
