"""The engine's PM10 background join on the demo city: stage 1 facts, stage 2 on the site key, either order."""

from __future__ import annotations

from pathlib import Path

import pytest

from devices.contracts import SiteReading
from devices.inventory import City, load_city
from rules.alerts import Alert
from rules.engine import DeviceState, Engine
from rules.facts import Fact
from rules.params import params_of

DEMO = Path(__file__).resolve().parents[2] / "cities" / "demo"
T0 = 1_789_999_200_000  # 2026-09-21 22:00 local: a window start (the demo's are hourly: Wuhan preset)
PER = round(params_of(load_city(DEMO)).pm10.window_s / 60)  # readings (one a minute) per window


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine(load_city(DEMO))


def readings(device: str, pm10: list[float], offset_s: int) -> list[SiteReading]:
    """One reading a minute from T0 + offset, the level of each window-long block from the list."""
    return [
        SiteReading(
            device_id=device, ts_ms=T0 + (offset_s + 60 * i) * 1000, seq=i, pm10_ugm3=pm10[i // PER], noise_dba=40.0
        )
        for i in range(PER * len(pm10))
    ]  # quiet: no noise or night-work alert


def stage1(engine: Engine, events: list[SiteReading]) -> list[Fact]:
    states: dict[str, DeviceState] = {}
    facts: list[Fact] = []
    for e in events:
        out = engine.process(states.get(e.device_id), e)
        states[e.device_id] = out.state
        assert out.alerts == []  # a differential site is judged on its key, not here
        facts += out.facts
    return facts


def stage2(engine: Engine, facts: list[Fact], watermark_ms: int) -> list[Alert]:
    states: dict[str, DeviceState] = {}
    alerts: list[Alert] = []
    for f in facts:
        out = engine.process_fact(states.get(f.key), f)
        states[f.key], alerts = out.state, alerts + out.alerts
    for key in engine.fact_keys():
        alerts += engine.tick_key(states.get(key), key, watermark_ms).alerts
    return alerts


def test_demo_city_ticks_the_keys_of_sites_judged_against_a_background(engine: Engine) -> None:
    assert [k for k in engine.fact_keys() if k.startswith("pm10:")] == ["pm10:C02", "pm10:C03"]


def test_site_minus_background_through_the_engine_in_either_order(engine: Engine) -> None:
    site = readings("env-c02", [400, 400, 400, 60, 60], 20)
    background = readings("env-bg01", [180, 180, 180, 50, 50], 45)
    end = T0 + 6 * PER * 60 * 1000
    by_site_first = stage2(engine, stage1(engine, site + background), end)
    by_station_first = stage2(engine, stage1(engine, background + site), end)
    interleaved = sorted(site + background, key=lambda r: r.ts_ms)
    assert by_site_first == by_station_first == stage2(engine, stage1(engine, interleaved), end)
    assert [(a.phase.value, a.severity.value, a.evidence["judged_ugm3"]) for a in by_site_first] == [
        ("open", "critical", 220.0),
        ("clear", "critical", 10.0),
    ]
    opened = by_site_first[0]
    assert opened.subject == "env-c02" and opened.evidence["background"] == "present"
    assert opened.owner == "青山城建投资有限公司" and opened.grid_code  # stamped like every stage-1 alert


def test_a_site_judged_alone_when_its_station_is_silent(engine: Engine) -> None:
    site = readings("env-c02", [400, 60], 20)
    alerts = stage2(engine, stage1(engine, site), T0 + 3 * 3600 * 1000)
    assert [(a.phase.value, a.evidence["background"], a.evidence["judged_ugm3"]) for a in alerts] == [
        ("open", "missing", 400.0)
    ]


def test_a_site_without_a_background_station_keeps_the_absolute_rule(engine: Engine) -> None:
    states: dict[str, DeviceState] = {}
    alerts: list[Alert] = []
    for e in readings("env-c01", [400, 60], 20):
        out = engine.process(states.get(e.device_id), e)
        states[e.device_id], alerts = out.state, alerts + out.alerts
        assert out.facts == []
    assert [(a.phase.value, a.evidence["judged_ugm3"]) for a in alerts] == [("open", 400.0)]


def test_without_use_background_every_site_is_absolute() -> None:
    city = load_city(DEMO)
    rules = params_of(city).model_copy(
        update={"pm10": params_of(city).pm10.model_copy(update={"use_background": False})}
    )
    absolute = Engine(City.model_validate({**city.model_dump(), "meta": {**city.meta.model_dump(), "rules": rules}}))
    assert not [k for k in absolute.fact_keys() if k.startswith("pm10:")]
    assert stage1(absolute, readings("env-bg01", [500, 500], 0)) == []


def test_a_silent_background_station_is_a_silent_device(engine: Engine) -> None:
    station = engine.city.background_stations[0]
    state: DeviceState | None = None
    for reading in readings(station.device_id, [60.0], 0)[:3]:
        state = engine.process(state, reading).state
    assert state is not None
    last = T0 + 120_000
    quiet = engine.tick(state, station.device_id, last + int(params_of(engine.city).silence.site_s * 1000))
    assert quiet.alerts == []  # exactly the allowed silence
    gone = engine.tick(quiet.state, station.device_id, last + int(params_of(engine.city).silence.site_s * 1000) + 1)
    (alert,) = gone.alerts
    assert (alert.rule, alert.phase.value, alert.subject) == ("silent_device", "open", station.device_id)
    assert (alert.lon, alert.lat) == (station.lon, station.lat)
