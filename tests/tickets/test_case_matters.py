"""One violation, one correctly named case (issue 10, parts 1-3), on the demo city's real matter table and
tickets.yaml, on SQLite and PostgreSQL: every kind of violation its own matter and title; grouping only of the
same real-world violation; device faults and forecasts in queues of their own that cost a company nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from devices.inventory import City, load_city
from rules.alerts import Alert, Phase, Severity, alert_id
from rules.camera import DEFAULT_CAMERA_MATTER_CODES
from rules.params import DEFAULT_MATTER_CODES, params_of
from tests.tickets.conftest import at
from tickets.config import TicketConfig, config_for_city
from tickets.lifecycle import Action, Actor, Command, Role
from tickets.store import TicketStore

REPO = Path(__file__).resolve().parents[2]
T = at("2026-03-02 09:00")
LEAD = Actor("值班长", Role.SHIFT_LEAD)
MIN = 60_000


@pytest.fixture(scope="module")
def demo_config() -> TicketConfig:
    return config_for_city(REPO / "cities" / "demo")


@pytest.fixture
def store(routed_store: TicketStore) -> TicketStore:
    """Return the store routing by the demo city (tests/tickets/conftest.py)."""
    return routed_store


def alert(
    city: City,
    rule: str,
    subject: str,
    ts_ms: int,
    phase: Phase = Phase.OPEN,
    lon: float = 114.3,
    lat: float = 30.59,
    severity: Severity = Severity.MAJOR,
    matter: str | None = None,
    episode_ms: int | None = None,
    **evidence: object,
) -> Alert:
    """An alert of a rule as the engine makes it: the city's matter code for the rule."""
    start = episode_ms if episode_ms is not None else ts_ms
    return Alert(
        alert_id=alert_id(rule, subject, start),
        rule=rule,
        phase=phase,
        subject=subject,
        ts_ms=ts_ms,
        episode_start_ms=start,
        lon=lon,
        lat=lat,
        severity=severity,
        matter_code=matter or params_of(city).matter_codes[rule],
        evidence=dict(evidence),
    )


def test_every_kind_of_violation_has_its_own_named_matter(city: City, demo_config: TicketConfig) -> None:
    codes = {rule: code for rule, code in DEFAULT_MATTER_CODES.items() if rule != "camera"}
    assert len(set(codes.values())) == len(codes), codes  # no two rules share a matter
    for code in [*DEFAULT_MATTER_CODES.values(), *DEFAULT_CAMERA_MATTER_CODES.values()]:
        assert code in city.meta.matters and code in demo_config.matters, code
    assert params_of(city).matter_codes == DEFAULT_MATTER_CODES  # the demo city keeps the per-kind table
    sensor_twin = {"unsealed_truck": "uncovered_load", "mud_on_wheels": "dirty_truck", "bin_overflow": "overflow"}
    for event, rule in sensor_twin.items():  # a camera sighting and the sensor rule it corroborates: one matter
        assert DEFAULT_CAMERA_MATTER_CODES[event] == DEFAULT_MATTER_CODES[rule]


def test_a_city_may_map_several_kinds_onto_one_code(tmp_path: Path) -> None:
    import shutil

    shutil.copytree(REPO / "cities" / "demo", tmp_path / "city")
    conf = tmp_path / "city" / "city.yaml"
    conf.write_text(conf.read_text().replace("  matter_codes: {}", '  matter_codes: {speeding: "08011"}'))
    coarse = load_city(tmp_path / "city")
    assert (
        params_of(coarse).matter_codes["speeding"] == "08011"
        and params_of(coarse).matter_codes["route_deviation"] == "08101"
    )


@pytest.mark.parametrize(
    ("rule", "subject", "title"),
    [
        ("route_deviation", "gps-m01", "渣土车未按规定路线行驶 (线路偏移) · 鄂A·D3101"),
        ("speeding", "gps-m01", "渣土车超速行驶 · 鄂A·D3101"),
        ("out_of_window", "gps-m06", "渣土车未按规定时段运输 · 鄂A·D3306"),
        ("forbidden_zone", "gps-m02", "渣土车驶入禁行区域 · 鄂A·D3102"),
        ("uncovered_load", "gps-m05", "渣土车未密闭 · 鄂A·D3305"),
        ("odour", "fill-s01", "垃圾站(箱)臭气超标 · 西园路压缩站 (grid -3,1; round G01)"),
    ],
)
def test_titles_name_the_violation(store: TicketStore, city: City, rule: str, subject: str, title: str) -> None:
    store.apply([alert(city, rule, subject, T)])
    (case,) = store.cases()
    assert case["title"] == title and case["queue"] == "enforcement"


def test_two_trucks_side_by_side_at_the_same_time_are_two_cases(store: TicketStore, city: City) -> None:
    store.apply(
        [
            alert(city, "out_of_window", "gps-m01", T, lon=114.3000),
            alert(city, "out_of_window", "gps-m02", T + MIN, lon=114.3005),
        ]
    )  # 48 m apart, a minute later
    cases = store.cases()
    assert len(cases) == 2 and {tuple(c["plates"]) for c in cases} == {("鄂A·D3101",), ("鄂A·D3102",)}


def test_one_trucks_speeding_then_route_deviation_are_two_cases(store: TicketStore, city: City) -> None:
    store.apply(
        [alert(city, "speeding", "gps-m01", T), alert(city, "route_deviation", "gps-m01", T + 10 * MIN, lon=114.318)]
    )
    titles = {c["title"] for c in store.cases()}
    assert titles == {"渣土车超速行驶 · 鄂A·D3101", "渣土车未按规定路线行驶 (线路偏移) · 鄂A·D3101"}


def test_a_camera_seeing_the_unsealed_truck_joins_the_cover_sensors_case(store: TicketStore, city: City) -> None:
    sensor = alert(city, "uncovered_load", "gps-m05", T, lon=114.31)
    camera = alert(
        city,
        "camera",
        "cam-02",
        T + 2 * MIN,
        lon=114.33,
        matter=DEFAULT_CAMERA_MATTER_CODES["unsealed_truck"],
        plate="鄂A·D3305",
        event_type="unsealed_truck",
    )  # 1.9 km on: the camera read its plate
    store.apply([sensor, camera])
    (case,) = store.cases()
    detail = store.case(case["case_id"])
    assert detail is not None and sorted(e["source"] for e in detail["evidence"]) == ["cam-02", "gps-m05"]


def test_two_stations_close_together_never_share_a_case(store: TicketStore, city: City) -> None:
    s01, s02 = city.facility_by_device["fill-s01"], city.facility_by_device["fill-s02"]
    store.apply(
        [
            alert(city, "overflow", "fill-s01", T, lon=s01.lon, lat=s01.lat),
            alert(city, "overflow", "fill-s02", T, lon=s01.lon + 0.0005, lat=s01.lat),
        ]
    )  # as if 48 m apart
    assert sorted(c["subject"] for c in store.cases()) == ["fill-s01", "fill-s02"]
    assert s02.facility_id == "S02"


def test_a_trucks_later_episode_of_the_same_matter_is_a_new_linked_case(store: TicketStore, city: City) -> None:
    first = alert(city, "speeding", "gps-m01", T)
    store.apply([first, alert(city, "speeding", "gps-m01", T + 5 * MIN, phase=Phase.CLEAR, episode_ms=T)])
    store.apply(
        [
            alert(city, "speeding", "gps-m01", T + 10 * MIN),  # within 15 min of its last evidence: one case
            alert(city, "speeding", "gps-m01", T + 12 * MIN, phase=Phase.CLEAR, episode_ms=T + 10 * MIN),
        ]
    )
    assert len(store.cases()) == 1
    store.apply([alert(city, "speeding", "gps-m01", T + 60 * MIN)])  # the next trip's speeding: another case
    newest, oldest = store.cases()
    assert newest["linked_case_id"] == oldest["case_id"]


def test_a_silent_terminal_is_a_maintenance_item_that_costs_the_company_nothing(store: TicketStore, city: City) -> None:
    store.apply([alert(city, "silent_device", "gps-m01", T, severity=Severity.WARNING)])
    (case,) = store.cases()
    assert case["queue"] == "maintenance" and case["title"] == "监测终端离线 (设备维护) · 鄂A·D3101"
    assert case["unit"] == "江城示范区数字城管监督指挥中心 (设备运维)"
    for action in (Action.ACCEPT, Action.REGISTER):  # even registered, a device fault is not a violation
        store.act(case["case_id"], Command(action), LEAD)
    assert store.company_scores(T + MIN) == []


def test_company_points_count_confirmed_cases_only(store: TicketStore, city: City) -> None:
    store.apply([alert(city, "route_deviation", "gps-m01", T)])
    (case,) = store.cases()
    assert store.company_scores(T + MIN) == []  # 发现: nobody has confirmed it
    store.act(case["case_id"], Command(Action.ACCEPT), LEAD)
    assert store.company_scores(T + MIN) == []  # 受理
    store.act(case["case_id"], Command(Action.REGISTER), LEAD)
    (score,) = store.company_scores(T + MIN)
    assert (score.company, score.cases) == ("江城顺达渣土运输有限公司", 1)


def test_a_fill_forecast_is_dispatched_at_once_to_the_stations_operator(store: TicketStore, city: City) -> None:
    s01 = city.facility_by_device["fill-s01"]
    store.apply(
        [
            alert(
                city,
                "fill_forecast",
                "fill-s01",
                T,
                lon=s01.lon,
                lat=s01.lat,
                severity=Severity.INFO,
                fill_ratio=0.74,
                time_to_full_s=2580.0,
            )
        ]
    )
    (case,) = store.cases()
    assert (case["queue"], case["stage"], case["unit"]) == ("dispatch_ahead", "dispatched", "江城环卫服务有限公司")
    assert "预计 43 分钟后满溢" in case["description"] and "74%" in case["description"]
    assert store.company_scores(T + MIN) == []


def test_a_dust_case_is_verified_against_the_citys_own_pm10_limit(store: TicketStore, city: City) -> None:
    from rules.params import RuleParams
    from tickets.auth import TokenBook
    from tickets.config import VerificationConfig
    from tickets.service import TicketService

    hebei = city.model_copy(update={"meta": city.meta.model_copy(update={"rules": RuleParams(pm10_preset="hebei")})})
    follows = VerificationConfig(kind="pm10_below")
    assert TicketService(store, TokenBook(), city=city)._pm10_limit(follows) == 150.0  # the demo: Wuhan preset
    assert TicketService(store, TokenBook(), city=hebei)._pm10_limit(follows) == 80.0
    assert (
        TicketService(store, TokenBook(), city=hebei)._pm10_limit(
            VerificationConfig(kind="pm10_below", limit_ugm3=100.0)
        )
        == 100.0
    )  # tickets.yaml may still set its own
