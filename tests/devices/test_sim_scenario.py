"""Scenario files: the shipped ones load, and every kind of mistake is reported with file and field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from devices.inventory import City, load_city
from devices.sim.generator import generate
from devices.sim.scenario import (
    Deviate,
    OpenCover,
    Overflow,
    ScenarioError,
    check_scenario,
    load_scenario,
    parse_scenario,
)

ROOT = Path(__file__).resolve().parents[2]
START_MS = 1_767_225_600_000


@pytest.fixture(scope="module")
def city() -> City:
    return load_city(ROOT / "cities" / "demo")


def scenario(
    *injections: dict[str, Any], expected: list[dict[str, str]] | None = None, **extra: Any
) -> dict[str, Any]:
    rules = {"deviate": "route_deviation", "open_cover": "uncovered_load", "overflow": "overflow"}
    if expected is None:
        expected = [
            {"rule": rules[i["type"]], "subject": i.get("vehicle", i.get("facility"))} for i in injections
        ]
    return {"name": "t", "duration_s": 1200, "injections": list(injections), "expected": expected} | extra


def problem(data: dict[str, Any], city: City | None = None) -> str:
    with pytest.raises(ScenarioError) as err:
        sc = parse_scenario(data, "scenarios/t.yaml")
        if city is not None:
            check_scenario(sc, city)
    assert str(err.value).startswith("scenarios/t.yaml: ")
    return str(err.value)


def test_foundation_has_two_of_each_injection_on_six_devices(city: City) -> None:
    sc = load_scenario(ROOT / "scenarios" / "foundation.yaml", city)
    kinds = [type(i) for i in sc.injections]
    assert (kinds.count(Deviate), kinds.count(OpenCover), kinds.count(Overflow)) == (2, 2, 2)
    assert len({e.subject for e in sc.expected}) == 6
    assert sc.duration_s == 1200 and sc.report_intervals.vehicle_s == 10
    assert all(i.duration_s >= 90 for i in sc.injections if not isinstance(i, Overflow))


def test_demo_is_longer_and_loads(city: City) -> None:
    sc = load_scenario(ROOT / "scenarios" / "demo.yaml", city)
    assert sc.duration_s >= 3600 and len(sc.expected) == len(sc.injections) >= 6
    assert sc.source.endswith("demo.yaml")


def test_missing_and_mistyped_fields_are_named() -> None:
    assert "duration_s: Field required" in problem({"name": "t"})
    assert "duration_s: Input should be greater than 0" in problem({"name": "t", "duration_s": -1})
    assert "report_intervals.vehicle_s" in problem(scenario(report_intervals={"vehicle_s": 0}))
    assert "colour: Extra inputs are not permitted" in problem(scenario(colour="red"))


def test_injection_errors_name_the_injection_and_its_field() -> None:
    msg = problem(
        scenario({"type": "deviate", "vehicle": "gps-m01", "at_s": 300, "duration_s": 90, "offset_m": -5})
    )
    assert "injections.0.deviate.offset_m: Input should be greater than 0" in msg
    msg = problem(
        scenario({"type": "open_cover", "vehicle": "gps-m01", "at_s": 300, "duration_s": 90, "speed": 3})
    )
    assert "injections.0.open_cover.speed: Extra inputs are not permitted" in msg
    msg = problem(scenario({"type": "explode", "vehicle": "gps-m01"}, expected=[]))
    assert "injections.0: Input tag 'explode'" in msg and "'deviate', 'open_cover', 'overflow'" in msg
    assert "injections.0.overflow.facility: String should match pattern" in problem(
        scenario({"type": "overflow", "facility": "bad id!", "at_s": 10}, expected=[])
    )


def test_injections_must_fit_in_the_run() -> None:
    msg = problem(scenario({"type": "open_cover", "vehicle": "gps-m01", "at_s": 1150, "duration_s": 90}))
    assert "injections.0.at_s: ends at 1240 s, after the scenario (1200 s)" in msg
    msg = problem(scenario({"type": "deviate", "vehicle": "gps-m01", "at_s": 10, "duration_s": 90}))
    assert "injections.0.at_s: must leave the truck" in msg


def test_expected_must_match_the_injections() -> None:
    data = scenario(
        {"type": "overflow", "facility": "fill-s01", "at_s": 100},
        expected=[{"rule": "overflow", "subject": "fill-s02"}],
    )
    msg = problem(data)
    assert "expected: does not match the injections" in msg
    assert "('overflow', 'fill-s01')" in msg and "('overflow', 'fill-s02')" in msg
    assert "expected.0.rule: Input should be" in problem(
        scenario(expected=[{"rule": "speeding", "subject": "gps-m01"}])
    )


def test_injections_must_name_suitable_devices(city: City) -> None:
    msg = problem(scenario({"type": "deviate", "vehicle": "gps-g01", "at_s": 300, "duration_s": 90}), city)
    assert (
        "injections.0.vehicle: 'gps-g01' is not a muck truck with a permit (choices: gps-m01, gps-m02" in msg
    )
    msg = problem(scenario({"type": "overflow", "facility": "fill-s99", "at_s": 300}), city)
    assert "injections.0.facility: unknown 'fill-s99' (choices: fill-s01" in msg


def test_injections_must_clearly_break_the_city_rules(city: City) -> None:
    too_close = {"type": "deviate", "vehicle": "gps-m01", "at_s": 300, "duration_s": 90, "offset_m": 60}
    assert "injections.0.offset_m: 60 m is not clearly outside the corridor (>= 80)" in problem(
        scenario(too_close), city
    )
    brief = {"type": "open_cover", "vehicle": "gps-m01", "at_s": 300, "duration_s": 30}
    assert "injections.0.duration_s: 30 s is too short for a rule needing 20 s" in problem(
        scenario(brief), city
    )
    long = {"type": "open_cover", "vehicle": "gps-m01", "at_s": 300, "duration_s": 400}
    assert "injections.0.duration_s: route ZY-2025-0101 is too short to host 400 s" in problem(
        scenario(long), city
    )
    low = {"type": "overflow", "facility": "fill-s01", "at_s": 300, "to_ratio": 0.81}
    assert "injections.0.to_ratio: 0.81 is not clearly an overflow" in problem(scenario(low), city)


def test_generate_checks_the_scenario_against_the_city(city: City) -> None:
    sc = parse_scenario(scenario({"type": "overflow", "facility": "fill-s99", "at_s": 300}))
    with pytest.raises(ScenarioError, match="fill-s99"):
        generate(city, sc, 1, START_MS)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_injections_a_truck_cannot_serve_in_one_run_are_refused(city: City, seed: int) -> None:
    first = {"type": "open_cover", "vehicle": "gps-m01", "at_s": 300, "duration_s": 60}
    second = {"type": "open_cover", "vehicle": "gps-m01", "at_s": 600, "duration_s": 60}
    sc = parse_scenario(scenario(first, second), "scenarios/t.yaml")
    with pytest.raises(ScenarioError, match=r"scenarios/t.yaml: injection open_cover for gps-m01 at 600 s"):
        generate(city, sc, seed, START_MS)


def test_file_problems_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="missing.yaml: file is missing"):
        load_scenario(tmp_path / "missing.yaml")
    (tmp_path / "bad.yaml").write_text("name: [unclosed\n", encoding="utf-8")
    with pytest.raises(ScenarioError, match="bad.yaml: not valid YAML"):
        load_scenario(tmp_path / "bad.yaml")
    (tmp_path / "wrong.yaml").write_text("name: x\nduration_s: soon\n", encoding="utf-8")
    with pytest.raises(
        ScenarioError, match=r"wrong.yaml: 1 problem\(s\)\n  duration_s: Input should be a valid number"
    ):
        load_scenario(tmp_path / "wrong.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n", encoding="utf-8")
    with pytest.raises(ScenarioError, match=r"list.yaml: 1 problem\(s\)\n  \(top level\)"):
        load_scenario(tmp_path / "list.yaml")
