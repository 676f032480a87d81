"""The one stage driver over both kinds of state: a faust table (raw keys, JSON) and memory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from devices.contracts import VehiclePosition
from devices.inventory import load_city
from rules.engine import Engine
from streams.stages import MemoryStates, StageDriver, StepFailed, TableStates

CITY = load_city(Path(__file__).resolve().parents[1] / "data" / "city_min")
T0 = 1_790_000_000_000


def fix(seq: int, lat: float) -> VehiclePosition:
    return VehiclePosition(
        device_id="gps-m1", ts_ms=T0 + seq * 10_000, seq=seq, lon=114.31, lat=lat, speed_kmh=30, heading_deg=90
    )


def both_kinds() -> list[Any]:
    return [MemoryStates(), TableStates({})]


@pytest.mark.parametrize("states", both_kinds(), ids=["memory", "table"])
def test_the_same_positions_give_the_same_alerts_in_either_kind_of_state(states: Any) -> None:
    driver = StageDriver(Engine(CITY))
    alerts = []
    for seq, lat in enumerate([30.59, 30.592, 30.592, 30.592, 30.592, 30.592]):
        outcome = driver.event(states, fix(seq, lat), None, "positions", lambda: b"")
        assert not isinstance(outcome, StepFailed)
        alerts += outcome.alerts
    assert [(a.rule, a.phase.value) for a in alerts] == [("route_deviation", "open")]
    assert states.get("gps-m1") is not None


@pytest.mark.parametrize("states", both_kinds(), ids=["memory", "table"])
def test_a_step_that_raises_keeps_no_state_and_says_why(states: Any) -> None:
    engine = Engine(CITY)
    driver = StageDriver(engine)
    assert not isinstance(driver.event(states, fix(0, 30.59), None, "positions", lambda: b"{}"), StepFailed)
    before = states.get("gps-m1")

    def broken(*_args: object) -> None:
        raise ZeroDivisionError("division by zero")

    engine.process = broken  # type: ignore[method-assign,assignment]
    failed = driver.event(states, fix(1, 30.592), None, "positions", lambda: b"raw")
    assert isinstance(failed, StepFailed)
    assert (failed.stream, failed.value, failed.reason) == ("positions", b"raw", "ZeroDivisionError: division by zero")
    assert states.get("gps-m1") == before


def test_memory_states_remember_only_the_keys_that_changed() -> None:
    states = MemoryStates()
    driver = StageDriver(Engine(CITY))
    driver.event(states, fix(0, 30.59), None, "positions", lambda: b"")
    assert states.dirty == {"gps-m1"}
    states.dirty.clear()
    state = states.get("gps-m1")
    assert state is not None
    states.put("gps-m1", state)
    assert states.dirty == set()
