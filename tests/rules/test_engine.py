"""The engine: dispatch to the right rules, drop duplicates, keep state serialisable."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from devices.contracts import (
    DeviceStatus,
    FacilityReading,
    LoadState,
    SiteReading,
    VehiclePosition,
)
from devices.inventory import City, load_city
from rules.alerts import Phase
from rules.engine import DeviceState, Engine

CITY_DIR = Path(__file__).resolve().parent.parent / "data" / "city_min"
T0 = 1_790_000_000_000
ON_ROUTE_LAT = 30.59
OFF_ROUTE_LAT = 30.5920  # ~220 m north of the route


@pytest.fixture(scope="module")
def city() -> City:
    return load_city(CITY_DIR)


def pos(seq: int, t_s: float, lat: float = ON_ROUTE_LAT, device: str = "gps-m1", **over: object) -> VehiclePosition:
    fields: dict[str, object] = {
        "device_id": device,
        "ts_ms": T0 + int(t_s * 1000),
        "seq": seq,
        "lon": 114.31,
        "lat": lat,
        "speed_kmh": 30.0,
        "heading_deg": 90.0,
        "load_state": LoadState.FULL,
        "cover_closed": True,
    }
    fields.update(over)
    return VehiclePosition.model_validate(fields)


def run(engine: Engine, events: list, state: DeviceState | None = None) -> tuple[DeviceState | None, list]:
    alerts = []
    for e in events:
        out = engine.process(state, e)
        state, alerts = out.state, alerts + out.alerts
    return state, alerts


def deviation_events() -> list[VehiclePosition]:
    return [pos(0, 0), *(pos(i, i * 10, OFF_ROUTE_LAT) for i in range(1, 6)), pos(6, 60)]


def test_route_deviation_opens_and_clears_through_the_engine(city: City) -> None:
    _, alerts = run(Engine(city), deviation_events())
    assert [(a.rule, a.phase) for a in alerts] == [("route_deviation", Phase.OPEN), ("route_deviation", Phase.CLEAR)]
    assert alerts[0].episode_start_ms == T0 + 10_000 and alerts[0].ts_ms == T0 + 40_000
    assert alerts[0].alert_id == alerts[1].alert_id
    assert alerts[0].evidence["permit_id"] == "P-M1"


def test_redelivered_events_are_dropped_as_duplicates(city: City) -> None:
    engine = Engine(city)
    events = deviation_events()
    state, _ = run(engine, events[:5])
    out = engine.process(state, events[3])
    assert out.duplicate and out.alerts == [] and out.state == state


def test_a_device_that_restarts_its_counter_is_not_a_duplicate(city: City) -> None:
    engine = Engine(city)
    state, _ = run(engine, [pos(41, 0), pos(42, 10)])
    out = engine.process(state, pos(0, 20))
    assert not out.duplicate and out.state.last_seq == 0


def test_the_newest_event_sent_again_under_a_new_seq_is_a_duplicate(city: City) -> None:
    # A JT/T 808 report the gateway published but died before answering comes again on the terminal's
    # next connection, numbered anew: it must not count twice (it would advance an episode by a fix).
    engine = Engine(city)
    events = deviation_events()
    state, _ = run(engine, events[:4])
    assert state is not None
    again = events[3].model_copy(update={"seq": 10_000})
    out = engine.process(state, again)
    assert out.duplicate and out.state == state
    restored = DeviceState.from_dict(json.loads(json.dumps(state.to_dict())))
    assert engine.process(restored, again).duplicate, "the fingerprint survives the state's round trip"


def test_another_event_at_the_newest_time_or_an_older_copy_is_not_a_duplicate(city: City) -> None:
    engine = Engine(city)
    state, _ = run(engine, [pos(0, 0), pos(1, 10)])
    other = engine.process(state, pos(2, 10, speed_kmh=31.0))  # a second report in the same second, says more
    assert not other.duplicate and len(other.state.newest) == 2
    assert engine.process(other.state, pos(3, 10, speed_kmh=31.0)).duplicate
    late = engine.process(other.state, pos(4, 0))  # the first fix's time, a new seq: a late event, judged as such
    assert not late.duplicate and late.state.newest == other.state.newest


def test_a_state_saved_before_fingerprints_loads_without_them(city: City) -> None:
    state, _ = run(Engine(city), [pos(0, 0)])
    assert state is not None
    old = {k: v for k, v in state.to_dict().items() if k != "newest"}
    assert DeviceState.from_dict(old).newest == ()


def test_state_survives_a_json_round_trip_mid_episode(city: City) -> None:
    engine = Engine(city)
    events = deviation_events()
    state, first = run(engine, events[:3])
    assert first == []
    restored = DeviceState.from_dict(json.loads(json.dumps(state.to_dict())))
    _, rest = run(engine, events[3:], restored)
    _, straight = run(engine, events)
    assert rest == straight


def test_uncovered_load_needs_a_cover_sensor(city: City) -> None:
    engine = Engine(city)
    open_cover = [pos(i, i * 10, cover_closed=False) for i in range(5)]
    _, alerts = run(engine, open_cover)
    assert [(a.rule, a.phase) for a in alerts] == [("uncovered_load", Phase.OPEN)]
    no_sensor = [pos(i, i * 10, device="gps-g1", cover_closed=None) for i in range(5)]
    assert run(engine, no_sensor)[1] == []


def test_unknown_vehicle_runs_no_route_rule(city: City) -> None:
    events = [pos(i, i * 10, OFF_ROUTE_LAT, device="gps-unknown") for i in range(8)]
    assert run(Engine(city), events)[1] == []


def test_overflow_is_located_at_the_facility(city: City) -> None:
    readings = [
        FacilityReading(device_id="fill-s1", ts_ms=T0 + i * 60_000, seq=i, fill_ratio=f)
        for i, f in enumerate([0.5, 0.85, 0.97, 0.6])
    ]
    _, alerts = run(Engine(city), readings)
    assert [a.phase for a in alerts] == [Phase.OPEN, Phase.UPDATE, Phase.CLEAR]
    assert (alerts[0].lon, alerts[0].lat) == (114.31, 30.60)


def test_events_without_rules_only_advance_the_counter(city: City) -> None:
    out = Engine(city).process(None, DeviceStatus(device_id="env-c1", ts_ms=T0, seq=3, state="online"))
    assert out.alerts == [] and out.state.last_seq == 3 and out.state.rules == {}


def test_site_readings_run_the_site_rules(city: City) -> None:
    out = Engine(city).process(None, SiteReading(device_id="env-c1", ts_ms=T0, seq=3, pm10_ugm3=80, noise_dba=60))
    assert out.alerts == [] and set(out.state.rules) == {"silent_device", "pm10", "noise", "night_work"}


def test_alerts_carry_grid_cell_unit_and_owner(city: City) -> None:
    _, alerts = run(Engine(city), deviation_events())
    # lon 114.31 lies on the shared edge: cells are half-open, so it belongs to the east cell
    assert {a.grid_code for a in alerts} == {"420106001001002"}
    assert {a.unit for a in alerts} == {"青山街道城管中队"}
    assert {a.owner for a in alerts} == {"城建运输"}
    assert alerts[-1].end_ms == alerts[-1].ts_ms and alerts[0].end_ms is None


def test_alerts_outside_the_grid_have_no_cell(city: City) -> None:
    events = [pos(i, i * 10, 30.70) for i in range(8)]  # far north of every cell and the route
    _, alerts = run(Engine(city), events)
    assert alerts and all(a.grid_code == "" and a.unit == "" for a in alerts)


def test_a_suspended_companys_truck_driving_is_an_alert_and_lifting_ends_it(city: City) -> None:
    engine, state = Engine(city), None
    company = city.vehicle_by_terminal["gps-m1"].company

    def drive(seq: int) -> list[tuple[str, str]]:
        nonlocal state
        outcome = engine.process(state, pos(seq, seq * 10.0))
        state = outcome.state
        return [(a.rule, a.phase.value) for a in outcome.alerts if a.rule == "suspended_operation"]

    assert [drive(i) for i in range(3)] == [[], [], []] and "suspended_operation" not in state.rules  # type: ignore[union-attr]
    engine.set_suspended(frozenset({company}))
    assert [a for i in range(3, 11) for a in drive(i)] == [("suspended_operation", "open")]
    engine.set_suspended(frozenset())
    assert drive(11) == [("suspended_operation", "clear")] and "suspended_operation" not in state.rules  # type: ignore[union-attr]
    assert json.loads(json.dumps(state.to_dict())) == state.to_dict()  # type: ignore[union-attr]
