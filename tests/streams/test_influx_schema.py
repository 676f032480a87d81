"""The InfluxDB schema: measurements, bounded tags, values as fields, millisecond timestamps."""

from __future__ import annotations

from pathlib import Path

import pytest

from devices.contracts import (
    CameraEvent,
    DeviceStatus,
    FacilityReading,
    SiteReading,
    VehiclePosition,
)
from devices.inventory import City, load_city
from rules.alerts import Alert, Phase, Severity
from rules.params import RuleParams
from streams.timeseries.schema import (
    SiteLimits,
    Tagger,
    TicketChange,
    alert_lines,
    event_lines,
    ticket_line,
)

CITY = load_city(Path(__file__).resolve().parents[1] / "data" / "city_min")
T_DAY = 1_790_000_000_000  # 2026-09-21 22:13 Asia/Shanghai: night
T_NOON = T_DAY - 10 * 3600 * 1000  # 12:13 local: day


@pytest.fixture(scope="module")
def tagger() -> Tagger:
    return Tagger(CITY)


def one(message: object, tagger: Tagger) -> str:
    (line,) = event_lines([message], tagger)  # type: ignore[list-item]
    return line


def test_position_has_bounded_tags_and_values_as_fields(tagger: Tagger) -> None:
    pos = VehiclePosition(
        device_id="gps-m1",
        ts_ms=T_DAY,
        seq=7,
        lon=114.31,
        lat=30.59,
        speed_kmh=32.5,
        heading_deg=90,
        load_state="full",
        cover_closed=False,
    )
    line = one(pos, tagger)
    tags, fields, ts = line.split(" ")
    assert tags == "position,company=城建运输,device_id=gps-m1,district=420106,vehicle_kind=muck"
    assert set(fields.split(",")) == {
        "cover_closed=false",
        "heading_deg=90",
        "lat=30.59",
        'load_state="full"',
        "lon=114.31",
        "seq=7i",
        "speed_kmh=32.5",
        'state="full"',
    }
    assert ts == str(T_DAY)  # milliseconds


def test_idle_truck_state_and_unknown_device(tagger: Tagger) -> None:
    pos = VehiclePosition(device_id="gps-x9", ts_ms=T_DAY, seq=0, lon=114.31, lat=30.59, speed_kmh=0.2, heading_deg=0)
    line = one(pos, tagger)
    assert line.startswith("position,company=none,device_id=gps-x9,district=420106,vehicle_kind=none ")
    assert 'state="idle"' in line and "cover_closed" not in line  # a missing sensor is no field


def test_site_reading_carries_the_limits_of_day_and_night(tagger: Tagger) -> None:
    night = one(SiteReading(device_id="env-c1", ts_ms=T_DAY, seq=1, pm10_ugm3=80, noise_dba=60), tagger)
    day = one(SiteReading(device_id="env-c1", ts_ms=T_NOON, seq=2, pm10_ugm3=80, noise_dba=60), tagger)
    assert night.startswith("site,device_id=env-c1,district=420106,period=night,site_id=C1 ")
    assert "noise_limit_dba=55" in night and "pm10_limit_ugm3=150" in night  # the rules' defaults (city_min)
    assert "period=day" in day and "noise_limit_dba=70" in day
    assert "lat=30.59" in day and "lon=114.3" in day


def with_rules(city: City, **rules: object) -> City:
    """Return a copy of a city whose ``city.yaml`` sets these rules."""
    return city.model_copy(update={"meta": city.meta.model_copy(update={"rules": RuleParams.model_validate(rules)})})


def test_a_city_with_other_limits_writes_other_limit_lines() -> None:
    strict = Tagger(
        with_rules(
            CITY, pm10_preset="hebei", noise={"day_limit_dba": 65, "night_limit_dba": 50, "night": "23:00-07:00"}
        )
    )
    evening = one(SiteReading(device_id="env-c1", ts_ms=T_DAY, seq=1, pm10_ugm3=80, noise_dba=60), strict)
    dawn = one(
        SiteReading(device_id="env-c1", ts_ms=T_DAY + 8 * 3600 * 1000, seq=2, pm10_ugm3=80, noise_dba=60), strict
    )  # 06:13 local
    assert "period=day" in evening and "noise_limit_dba=65" in evening  # 22:13: not yet this city's night
    assert "pm10_limit_ugm3=80" in evening and "pm10_limit_ugm3=150" not in evening
    assert "period=night" in dawn and "noise_limit_dba=50" in dawn


def test_the_default_limits_are_the_rules_defaults(tagger: Tagger) -> None:
    assert tagger.default_limits == SiteLimits.from_rules(RuleParams())
    assert (tagger.default_limits.pm10_ugm3, tagger.default_limits.noise_day_dba) == (150, 70)


def test_a_background_station_is_its_own_measurement_not_a_site() -> None:
    demo = load_city(Path(__file__).resolve().parents[2] / "cities" / "demo")
    station = demo.background_stations[0]
    line = one(SiteReading(device_id=station.device_id, ts_ms=T_DAY, seq=4, pm10_ugm3=95.5, noise_dba=50), Tagger(demo))
    tags, fields, _ = line.split(" ")
    assert tags.startswith(f"background_pm10,device_id={station.device_id},district=")
    assert set(fields.split(",")) == {"pm10_ugm3=95.5", "seq=4i", f"lat={station.lat}", f"lon={station.lon}"}


def test_facility_camera_and_status(tagger: Tagger) -> None:
    fill = one(FacilityReading(device_id="fill-s1", ts_ms=T_DAY, seq=3, fill_ratio=0.9), tagger)
    assert fill.startswith("facility,device_id=fill-s1,district=420106,facility_id=S1,facility_kind=station ")
    cam = one(
        CameraEvent(
            device_id="cam-1",
            ts_ms=T_DAY,
            seq=1,
            event_id="e-1",
            event_type="spillage",
            lon=114.3,
            lat=30.59,
            confidence=0.9,
            plate="鄂A·D0001",
        ),
        tagger,
    )
    assert cam.startswith("camera_event,device_id=cam-1,district=420106,event_type=spillage ")
    assert 'event_id="e-1"' in cam and 'plate="鄂A·D0001"' in cam
    status = one(DeviceStatus(device_id="gps-g1", ts_ms=T_DAY, seq=0, state="offline", reason="lost\nlink"), tagger)
    assert status.startswith("device_status,company=环卫一队,device_id=gps-g1,device_kind=vehicle,district=420106 ")
    assert "online=0i" in status and 'reason="lost link"' in status and "\n" not in status


def test_alert_and_ticket_lines(tagger: Tagger) -> None:
    alert = Alert(
        alert_id="route_deviation-0123",
        rule="route_deviation",
        phase=Phase.OPEN,
        subject="gps-m1",
        ts_ms=T_DAY,
        episode_start_ms=T_DAY - 30_000,
        lon=114.31,
        lat=30.59,
        severity=Severity.MAJOR,
        matter_code="08011",
        evidence={"distance_m": 120.5},
    )
    (line,) = alert_lines([alert], tagger)
    assert line.startswith(
        "alert,district=420106,matter_code=08011,phase=open,rule=route_deviation,severity=major,subject=gps-m1 "
    )
    assert 'alert_id="route_deviation-0123"' in line and 'evidence="{\\"distance_m\\": 120.5}"' in line
    ticket = ticket_line(TicketChange("T-1", "dispatched", T_DAY, "overflow", "fill-s1", "420106", assignee="中队"))
    assert ticket.startswith("ticket,district=420106,rule=overflow,state=dispatched,subject=fill-s1 ")
    assert 'ticket_id="T-1"' in ticket and ticket.endswith(f" {T_DAY}")


def test_every_message_kind_has_its_time_series_point() -> None:
    from devices.contracts import MODELS
    from streams.timeseries.schema import _EVENT_POINTS

    assert set(_EVENT_POINTS) == set(MODELS)  # a new device kind: say which point it writes
