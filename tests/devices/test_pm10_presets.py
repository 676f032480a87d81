"""PM10 presets: one local dust rule's coherent parameter set, explicit fields win, bad names are refused."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from pydantic import ValidationError

from citywatch.city import load_city
from devices.inventory import CityConfigError
from rules.params import RuleParams, params_of
from rules.pm10 import PM10_PRESETS, Pm10Params

DEMO = Path(__file__).resolve().parents[2] / "cities" / "demo"


def preset(name: str, **fields: object) -> Pm10Params:
    """Return the PM10 parameters of a city naming this preset and setting these fields."""
    return RuleParams.model_validate({"pm10_preset": name, "pm10": fields}).pm10


def test_wuhan_is_hourly_with_the_stop_ladder_and_no_daily_count() -> None:
    p = preset("wuhan")
    assert (p.window_s, p.warn_ugm3, p.stop_ugm3, p.resume_ugm3) == (3600, 150, 200, 150)
    assert p.max_exceedances_per_day is None and not p.use_background


def test_shanghai_is_quarter_hours_one_exceedance_a_day() -> None:
    p = preset("shanghai")
    assert (p.window_s, p.max_exceedances_per_day, p.stop_ugm3, p.use_background) == (900, 1, None, False)


def test_hebei_is_80_two_exceedances_a_day_against_the_background() -> None:
    p = preset("hebei")
    assert (p.window_s, p.warn_ugm3, p.max_exceedances_per_day, p.stop_ugm3) == (3600, 80, 2, None)
    assert p.use_background


def test_without_a_preset_the_defaults_are_one_coherent_set() -> None:
    assert RuleParams().pm10_preset is None
    assert RuleParams().pm10 == preset("wuhan") == Pm10Params(**PM10_PRESETS["wuhan"])


@pytest.mark.parametrize("name", sorted(PM10_PRESETS))
def test_every_preset_is_valid_parameters(name: str) -> None:
    assert preset(name) == Pm10Params(**PM10_PRESETS[name])


def test_explicit_fields_override_the_preset() -> None:
    p = preset("hebei", warn_ugm3=70, use_background=False, background_grace_s=300)
    assert (p.warn_ugm3, p.use_background, p.background_grace_s) == (70, False, 300)
    assert (p.window_s, p.max_exceedances_per_day) == (3600, 2)  # the rest is still Hebei's


def test_an_explicit_field_still_meets_the_ladder_check() -> None:
    with pytest.raises(ValidationError, match="warn_ugm3 <= stop_ugm3"):
        preset("wuhan", warn_ugm3=250)


def test_an_unknown_preset_is_refused_with_the_choices() -> None:
    with pytest.raises(ValidationError) as caught:
        RuleParams.model_validate({"pm10_preset": "beijing"})
    (error,) = caught.value.errors()
    assert error["loc"] == ("pm10_preset",)
    assert all(name in error["msg"] for name in PM10_PRESETS)


@pytest.mark.parametrize("value", [[], ["wuhan"], {"name": "wuhan"}, 3])
def test_a_preset_that_is_not_a_name_is_refused_not_a_crash(value: object) -> None:
    # found by tests/devices/test_inventory_fuzz.py: a list here was a TypeError (unhashable), not a named error
    with pytest.raises(ValidationError) as caught:
        RuleParams.model_validate({"pm10_preset": value})
    assert [e["loc"] for e in caught.value.errors()] == [("pm10_preset",)]


def test_an_unknown_preset_in_city_yaml_names_the_file_and_field(tmp_path: Path) -> None:
    city_dir = tmp_path / "city"
    shutil.copytree(DEMO, city_dir)
    path = city_dir / "city.yaml"
    path.write_text(
        path.read_text(encoding="utf-8").replace("pm10_preset: wuhan", "pm10_preset: Wuhan"), encoding="utf-8"
    )
    with pytest.raises(CityConfigError) as caught:
        load_city(city_dir)
    assert "city.yaml: rules.pm10_preset: Input should be 'wuhan', 'shanghai' or 'hebei' (got 'Wuhan')" in str(
        caught.value
    )


def test_the_demo_city_uses_the_wuhan_preset_judged_against_its_background_station() -> None:
    rules = params_of(load_city(DEMO))
    assert rules.pm10_preset == "wuhan"
    assert rules.pm10 == preset("wuhan", use_background=True, background_grace_s=600)
