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


RULES = {
    "deviate": "route_deviation",
    "open_cover": "uncovered_load",
    "overflow": "overflow",
    "out_of_window": "out_of_window",
    "forbidden_zone": "forbidden_zone",
    "speeding": "speeding",
    "body_lift": "illegal_dumping",
    "dwell": "illegal_dumping",
    "undelivered": "trip_not_delivered",
    "skip_wash": "dirty_truck",
    "silence": "silent_device",
    "gps_jump": "gps_anomaly",
    "skip_collection": "missed_collection",
    "fill_fast": "fill_forecast",
    "odour": "odour",
    "pm10": "pm10",
    "noise": "noise",
    "night_work": "night_work",
    "camera": "camera",
}


def subject_of(i: dict[str, Any]) -> str:
    for key in ("point", "camera", "target", "vehicle", "facility", "site"):
        if key in i:
            return str(i[key])
    raise KeyError(i)


def scenario(*injections: dict[str, Any], expected: list[dict[str, str]] | None = None, **extra: Any) -> dict[str, Any]:
    if expected is None:
        expected = [{"rule": RULES[i["type"]], "subject": subject_of(i)} for i in injections
                    if not i.get("corroborates") and i["type"] != "haze"]  # fmt: skip  # a haze plants nothing
    return {"name": "t", "duration_s": 1200, "injections": list(injections), "expected": expected} | extra


def _parse_and_check(data: dict[str, Any], city: City | None) -> None:
    sc = parse_scenario(data, "scenarios/t.yaml")
    if city is not None:
        check_scenario(sc, city)


def problem(data: dict[str, Any], city: City | None = None) -> str:
    with pytest.raises(ScenarioError) as err:
        _parse_and_check(data, city)
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
    msg = problem(scenario({"type": "deviate", "vehicle": "gps-m01", "at_s": 300, "duration_s": 90, "offset_m": -5}))
    assert "injections.0.deviate.offset_m: Input should be greater than 0" in msg
    msg = problem(scenario({"type": "open_cover", "vehicle": "gps-m01", "at_s": 300, "duration_s": 90, "speed": 3}))
    assert "injections.0.open_cover.speed: Extra inputs are not permitted" in msg
    msg = problem(scenario({"type": "explode", "vehicle": "gps-m01"}, expected=[]))
    assert "injections.0: Input tag 'explode'" in msg and "'deviate', 'open_cover', 'out_of_window'" in msg
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
        scenario(expected=[{"rule": "jaywalking", "subject": "gps-m01"}])
    )


def test_injections_must_name_suitable_devices(city: City) -> None:
    msg = problem(scenario({"type": "deviate", "vehicle": "gps-g01", "at_s": 300, "duration_s": 90}), city)
    assert "injections.0.vehicle: 'gps-g01' is not a muck truck with a permit (choices: gps-m01, gps-m02" in msg
    msg = problem(scenario({"type": "overflow", "facility": "fill-s99", "at_s": 300}), city)
    assert "injections.0.facility: unknown 'fill-s99' (choices: fill-s01" in msg


def test_injections_must_clearly_break_the_city_rules(city: City) -> None:
    too_close = {"type": "deviate", "vehicle": "gps-m01", "at_s": 300, "duration_s": 90, "offset_m": 60}
    assert "injections.0.offset_m: 60 m is not clearly outside the corridor (>= 80)" in problem(
        scenario(too_close), city
    )
    brief = {"type": "open_cover", "vehicle": "gps-m01", "at_s": 300, "duration_s": 30}
    assert "injections.0.duration_s: 30 s is too short for a rule needing 20 s" in problem(scenario(brief), city)
    long = {"type": "open_cover", "vehicle": "gps-m01", "at_s": 300, "duration_s": 400}
    assert "injections.0.duration_s: route ZY-2025-0101 is too short to host 400 s" in problem(scenario(long), city)
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
    with pytest.raises(ScenarioError, match=r"missing.yaml: file is missing"):
        load_scenario(tmp_path / "missing.yaml")
    (tmp_path / "bad.yaml").write_text("name: [unclosed\n", encoding="utf-8")
    with pytest.raises(ScenarioError, match=r"bad.yaml: not valid YAML"):
        load_scenario(tmp_path / "bad.yaml")
    (tmp_path / "wrong.yaml").write_text("name: x\nduration_s: soon\n", encoding="utf-8")
    with pytest.raises(
        ScenarioError, match=r"wrong.yaml: 1 problem\(s\)\n  duration_s: Input should be a valid number"
    ):
        load_scenario(tmp_path / "wrong.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n", encoding="utf-8")
    with pytest.raises(ScenarioError, match=r"list.yaml: 1 problem\(s\)\n  \(top level\)"):
        load_scenario(tmp_path / "list.yaml")


MON21 = {"start_local": "2026-11-16T21:00", "duration_s": 12000}  # a Monday
MON23 = {"start_local": "2026-11-16T23:00", "duration_s": 12000}
CASES = [  # (injection, scenario fields, the problem reported)
    (
        {"type": "out_of_window", "vehicle": "gps-m01", "at_s": 300, "duration_s": 120},
        {},
        "injections.0.vehicle: permit ZY-2025-0101 allows any hour (choices: gps-m06)",
    ),
    (
        {"type": "out_of_window", "vehicle": "gps-m06", "at_s": 300, "duration_s": 120},
        {},
        "injections.0.at_s: permit ZY-2025-0306 has hours (22:00-06:00): pin the scenario's start_local",
    ),
    (
        {"type": "out_of_window", "vehicle": "gps-m06", "at_s": 300, "duration_s": 120},
        MON23,
        "injections.0.at_s: the trip runs inside permit ZY-2025-0306's hours (22:00-06:00)",
    ),
    (
        {"type": "open_cover", "vehicle": "gps-m06", "at_s": 300, "duration_s": 90},
        MON21,
        "injections.0.at_s: outside permit ZY-2025-0306's hours (22:00-06:00); only out_of_window runs then",
    ),
    (
        {"type": "forbidden_zone", "vehicle": "gps-m01", "zone": "Z-NOPE", "at_s": 300, "duration_s": 30},
        {},
        "injections.0.zone: unknown 'Z-NOPE' (choices: Z-HOSP, Z-SCHOOL)",
    ),
    (
        {"type": "forbidden_zone", "vehicle": "gps-m01", "zone": "Z-SCHOOL", "at_s": 300, "duration_s": 30},
        {},
        "injections.0.zone: Z-SCHOOL is not beside route ZY-2025-0101",
    ),
    (
        {"type": "forbidden_zone", "vehicle": "gps-m05", "zone": "Z-SCHOOL", "at_s": 300, "duration_s": 30},
        {},
        "injections.0.at_s: zone Z-SCHOOL has hours: pin the scenario's start_local",
    ),
    (
        {"type": "forbidden_zone", "vehicle": "gps-m05", "zone": "Z-SCHOOL", "at_s": 300, "duration_s": 30},
        MON21,
        "injections.0.at_s: zone Z-SCHOOL is not in force all the time (07:00-08:30, 16:30-18:00 on weekdays",
    ),
    (
        {"type": "forbidden_zone", "vehicle": "gps-m01", "zone": "Z-HOSP", "at_s": 300, "duration_s": 120},
        {},
        "injections.0.duration_s: Z-HOSP runs beside the route for at most 50 s of driving",
    ),
    (
        {"type": "speeding", "vehicle": "gps-m03", "at_s": 300, "duration_s": 60, "speed_kmh": 42},
        {},
        "injections.0.speed_kmh: 42 km/h is not clearly over the limit (>= 45)",
    ),
    (
        {"type": "speeding", "vehicle": "gps-m02", "at_s": 300, "duration_s": 60, "speed_kmh": 55},
        {},
        "injections.0.speed_kmh: 55 km/h is not clearly over the limit (>= 65; its route runs on R-EXPY-01 at 60 km/h)",
    ),
    (
        {"type": "body_lift", "vehicle": "gps-m04", "at_s": 300, "duration_s": 30},
        {},
        "injections.0.duration_s: the body is up 70 % of the stop; 30 s is too short for 20 s lifted",
    ),
    (
        {"type": "dwell", "vehicle": "gps-m02", "at_s": 300, "duration_s": 300},
        {},
        "injections.0.duration_s: 300 s is too short for a rule needing 600 s with 10 s reports",
    ),
    (
        {"type": "undelivered", "vehicle": "gps-m03", "at_s": 300},
        {},
        "injections.0.at_s: the scenario ends before the trip times out (7200 s after departure)",
    ),
    (
        {"type": "undelivered", "vehicle": "gps-m03", "at_s": 300, "shed_s": 700},
        {"duration_s": 9000},
        "injections.0.shed_s: 700 s would also be a loaded dwell (< 580)",
    ),
    (
        {"type": "skip_wash", "vehicle": "gps-m04", "at_s": 40},
        {},
        "injections.0.at_s: the truck must be in its site 90 s to count as a visit",
    ),
    (
        {"type": "gps_jump", "vehicle": "gps-m01", "at_s": 300, "distance_m": 400},
        {},
        "injections.0.distance_m: 400 m is not clearly a jump (>= 600 m and >= 270 km/h)",
    ),
    (
        {"type": "silence", "target": "gps-g01", "at_s": 300, "duration_s": 600},
        {},
        "injections.0.target: 'gps-g01' is not a device judged for silence (choices: env-c01, env-c02",
    ),
    (
        {"type": "silence", "target": "fill-s01", "at_s": 100, "duration_s": 1000},
        {},
        "injections.0.duration_s: 1000 s is too short for a silence of 1800 s with 60 s reports",
    ),
    (
        {"type": "skip_collection", "vehicle": "gps-m01", "point": "CP01", "at_s": 0, "duration_s": 600},
        {},
        "injections.0.vehicle: 'gps-m01' is not a garbage truck with a round (choices: gps-g01, gps-g02",
    ),
    (
        {"type": "skip_collection", "vehicle": "gps-g04", "point": "CP08", "at_s": 0, "duration_s": 600},
        {},
        "injections.0.point: 'CP08' is not served by G04 alone (choices: CP07)",
    ),
    (
        {"type": "skip_collection", "vehicle": "gps-g01", "point": "CP01", "at_s": 0, "duration_s": 600},
        {},
        "injections.0.point: deadlines are local time: pin the scenario's start_local",
    ),
    (
        {"type": "skip_collection", "vehicle": "gps-g01", "point": "CP01", "at_s": 0, "duration_s": 1800},
        MON21,
        "injections.0.duration_s: the skip must cover a whole local day up to 23:59",
    ),
    (
        {"type": "fill_fast", "facility": "fill-s02", "at_s": 0, "to_ratio": 0.85, "ramp_s": 900},
        {},
        "injections.0.to_ratio: 0.85 would overflow; stay under 0.77",
    ),
    (
        {"type": "fill_fast", "facility": "fill-s02", "at_s": 0, "to_ratio": 0.75, "ramp_s": 9000},
        {"duration_s": 12000},
        "injections.0.ramp_s: rising to 0.75 in 9000 s does not forecast full well within 3600 s",
    ),
    (
        {"type": "overflow", "facility": "fill-s01", "at_s": 300, "to_ratio": 0.9},
        {},
        "injections.0.to_ratio: 0.9 is not clearly an overflow past the full mark (>= 0.96",
    ),
    (
        {"type": "odour", "facility": "fill-s04", "at_s": 0, "duration_s": 600, "level_mgm3": 3},
        {},
        "injections.0.facility: fill-s04 has no odour sensor (choices: fill-s01, fill-s02, fill-s03)",
    ),
    (
        {"type": "odour", "facility": "fill-s01", "at_s": 0, "duration_s": 600, "level_mgm3": 1.6},
        {},
        "injections.0.level_mgm3: 1.6 is not clearly over the grade 2-new nh3 limit 1.5 (>= 1.8)",
    ),
    (
        {"type": "pm10", "site": "env-c01", "at_s": 0, "duration_s": 7200, "level_ugm3": 160},
        {"duration_s": 9600},
        "injections.0.level_ugm3: 160 is not clearly over the warning level (>= 170)",
    ),
    (
        {"type": "pm10", "site": "env-c01", "at_s": 0, "duration_s": 3600},
        {"duration_s": 4800},
        "injections.0.duration_s: 3600 s does not hold a whole 3600 s window",
    ),  # the demo's hourly windows
    (
        {"type": "pm10", "site": "env-c02", "at_s": 0, "duration_s": 7200, "level_ugm3": 200},
        {"duration_s": 9600},
        "injections.0.level_ugm3: 200 is not clearly over the warning level (>= 260)",
    ),  # judged minus its background
    (
        {"type": "haze", "station": "env-c01", "at_s": 0, "duration_s": 1800},
        {"duration_s": 2400},
        "injections.0.station: unknown 'env-c01' (choices: env-bg01)",
    ),
    (
        {"type": "haze", "station": "env-bg01", "at_s": 0, "duration_s": 3600},
        {"duration_s": 4800},
        "injections.0.duration_s: 3600 s does not hold a whole 3600 s window",
    ),
    (
        {"type": "noise", "site": "env-c01", "at_s": 0, "duration_s": 2400, "level_dba": 75},
        {"duration_s": 2400},
        "injections.0.at_s: day and night are local time: pin the scenario's start_local",
    ),
    (
        {"type": "noise", "site": "env-c01", "at_s": 3000, "duration_s": 2400, "level_dba": 75},
        MON21,
        "injections.0.at_s: the injection straddles the edge of the night (22:00-06:00)",
    ),
    (
        {"type": "noise", "site": "env-c01", "at_s": 4000, "duration_s": 2400, "level_dba": 60},
        MON21,
        "injections.0.site: night noise at env-c01 without night work in force is also night_work (choices: env-c02)",
    ),
    (
        {"type": "noise", "site": "env-c01", "at_s": 300, "duration_s": 2400, "level_dba": 72},
        MON21,
        "injections.0.level_dba: 72 is not clearly over the day limit 70 (>= 73)",
    ),
    (
        {"type": "noise", "site": "env-c01", "at_s": 300, "duration_s": 2400, "level_dba": 75, "peak_dba": 80},
        MON21,
        "injections.0.peak_dba: a peak (Lmax) counts only at night",
    ),
    (
        {"type": "night_work", "site": "env-c02", "at_s": 4000, "duration_s": 2400},
        MON21,
        "injections.0.site: env-c02 has night work in force then (choices: env-c01, env-c03)",
    ),
    (
        {"type": "night_work", "site": "env-c03", "at_s": 4000, "duration_s": 2400, "level_dba": 56},
        MON21,
        "injections.0.level_dba: 56 must be activity under the night limit (51.5..52.5)",
    ),
    (
        {"type": "night_work", "site": "env-c03", "at_s": 300, "duration_s": 2400},
        MON21,
        "injections.0.at_s: night work must be at night (22:00-06:00)",
    ),
    (
        {
            "type": "camera",
            "camera": "cam-01",
            "at_s": 300,
            "event": "spillage",
            "lon": 114.3,
            "lat": 30.59,
            "confidence": 0.5,
        },
        {},
        "injections.0.confidence: 0.5 is under the fusion minimum 0.6",
    ),
    (
        {
            "type": "camera",
            "camera": "cam-01",
            "at_s": 300,
            "event": "unsealed_truck",
            "vehicle": "gps-m05",
            "corroborates": "open_cover",
        },
        {},
        "injections.0.corroborates: no open_cover injection of gps-m05 with the same matter code has opened",
    ),
    (
        {"type": "camera", "camera": "env-c01", "at_s": 300, "event": "spillage", "lon": 114.3, "lat": 30.59},
        {},
        "injections.0.camera: 'env-c01' is not a camera of the city (choices: cam-01, cam-02)",
    ),
    (
        {"type": "camera", "camera": "cam-99", "at_s": 300, "event": "spillage", "lon": 114.3, "lat": 30.59},
        {},
        "injections.0.camera: 'cam-99' is not a camera of the city (choices: cam-01, cam-02)",
    ),
]


@pytest.mark.parametrize(("injection", "fields", "message"), CASES, ids=[c[0]["type"] for c in CASES])
def test_each_injection_type_is_checked_against_the_city(
    city: City, injection: dict[str, Any], fields: dict[str, Any], message: str
) -> None:
    assert message in problem(scenario(injection, **fields), city)


def test_model_errors_name_the_injection_type() -> None:
    assert "injections.0.camera: Value error, give a vehicle or both lon and lat" in problem(
        scenario({"type": "camera", "camera": "cam-01", "at_s": 300, "event": "spillage"})
    )
    assert "injections.0.odour.gas: Input should be 'nh3' or 'h2s'" in problem(
        scenario({"type": "odour", "facility": "fill-s01", "at_s": 0, "duration_s": 600, "gas": "co2", "level_mgm3": 3})
    )
    assert "injections.0.camera.event: Input should be" in problem(
        scenario({"type": "camera", "camera": "cam-01", "at_s": 1, "event": "ufo", "lon": 114.3, "lat": 30.59})
    )


def test_start_local_is_a_local_wall_time() -> None:
    msg = problem(scenario(start_local="2026-11-16T21:00:00+08:00"))
    assert "start_local: Value error, give the local wall time without an offset" in msg
    assert "start_local: Input should be a valid datetime" in problem(scenario(start_local="monday evening"))


def test_a_pinned_start_is_epoch_ms_in_the_city_time_zone(city: City) -> None:
    sc = parse_scenario(scenario(start_local="2026-11-16T21:00"))
    assert sc.pinned_start_ms(city.meta.timezone) == 1_794_834_000_000  # 13:00 UTC
    assert parse_scenario(scenario()).pinned_start_ms(city.meta.timezone) is None
    with pytest.raises(ScenarioError, match=r"start_local pins the start at 2026-11-16 21:00:00 \(Asia/Shanghai\)"):
        list(generate(city, sc, 1, START_MS))


def test_a_corroborating_camera_plants_nothing_of_its_own(city: City) -> None:
    cover = {"type": "open_cover", "vehicle": "gps-m05", "at_s": 300, "duration_s": 120}
    seen = {"type": "camera", "camera": "cam-02", "at_s": 370, "event": "unsealed_truck", "vehicle": "gps-m05",
            "corroborates": "open_cover"}  # fmt: skip
    sc = parse_scenario(scenario(cover, seen), "scenarios/t.yaml")
    check_scenario(sc, city)
    assert [(e.rule, e.subject) for e in sc.expected] == [("uncovered_load", "gps-m05")]
    msg = problem(scenario(cover, seen, expected=[{"rule": "uncovered_load", "subject": "gps-m05"},
                                                  {"rule": "camera", "subject": "cam-02"}]))  # fmt: skip
    assert "not injected [('camera', 'cam-02')]" in msg
