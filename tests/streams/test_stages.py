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
    return [MemoryStates(), TableStates({}), TableStates({}, deferred=True)]


KINDS = ["memory", "table", "table-deferred"]


@pytest.mark.parametrize("states", both_kinds(), ids=KINDS)
def test_the_same_positions_give_the_same_alerts_in_either_kind_of_state(states: Any) -> None:
    driver = StageDriver(Engine(CITY))
    alerts = []
    for seq, lat in enumerate([30.59, 30.592, 30.592, 30.592, 30.592, 30.592]):
        outcome = driver.event(states, fix(seq, lat), None, "positions", lambda: b"")
        assert not isinstance(outcome, StepFailed)
        alerts += outcome.alerts
    assert [(a.rule, a.phase.value) for a in alerts] == [("route_deviation", "open")]
    assert states.get("gps-m1") is not None


@pytest.mark.parametrize("states", both_kinds(), ids=KINDS)
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


def test_a_tick_that_raises_keeps_the_devices_state_and_the_other_devices_tick_on() -> None:
    """The stack's partition tick: the failing device is one dead letter; every other device still ticks."""
    from streams.stages import TICK
    from streams.step import tick_partition

    engine = Engine(CITY)
    driver, table = StageDriver(engine), {}
    states = TableStates(table)
    for device in ("gps-m1", "gps-m2"):
        event = fix(0, 30.59).model_copy(update={"device_id": device})
        assert not isinstance(driver.event(states, event, None, "positions", lambda: b""), StepFailed)
    before = dict(table)
    tick, ticked = engine.tick, []

    def broken(state: Any, device_id: str, watermark_ms: int) -> Any:
        ticked.append(device_id)
        if device_id == "gps-m1":
            raise KeyError("no such slot")
        return tick(state, device_id, watermark_ms)

    engine.tick = broken  # type: ignore[method-assign]
    watermark_ms = T0 + 3_600_000
    outcome, *failed = tick_partition(driver, states, watermark_ms, partition=0, partitions=1, source="positions")
    assert not isinstance(outcome, StepFailed)
    assert [(f.stream, f.key, f.reason) for f in failed] == [(TICK, b"gps-m1", "KeyError: 'no such slot'")]
    assert failed[0].dead_letter().reason == "processing_error"
    assert b'"device_id": "gps-m1"' in failed[0].value
    assert table[b"gps-m1"] == before[b"gps-m1"]  # kept as it was
    assert sorted(ticked) == ["gps-m1", "gps-m2"]  # the other device ticked after the failure
    assert outcome.facts[-1].kind == "watermark"  # the partition's watermark still goes to stage 2


class CountingTable(dict[bytes, Any]):
    """A dict that counts its writes, as a faust table sends one changelog record per write."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []

    def __setitem__(self, key: bytes, value: Any) -> None:
        self.writes.append(key)
        super().__setitem__(key, value)


def test_deferred_table_states_write_a_device_once_per_batch_in_its_partition() -> None:
    table, entered = CountingTable(), []
    states = TableStates(table, deferred=True)
    driver = StageDriver(Engine(CITY))
    states.partition = 3
    for seq in range(4):
        assert not isinstance(driver.event(states, fix(seq, 30.59), None, "positions", lambda: b""), StepFailed)
        assert states.get("gps-m1").last_seq == seq  # type: ignore[union-attr]  # the held write is read back
    assert table.writes == []
    assert states.flush(entered.append) == 1
    assert (table.writes, entered) == ([b"gps-m1"], [3])
    assert table[b"gps-m1"].last_seq == 3
    states.put("gps-m1", table[b"gps-m1"])  # the same state again: nothing to write
    assert states.flush() == 0 and table.writes == [b"gps-m1"]


def test_a_tick_that_changes_nothing_writes_nothing() -> None:
    from streams.step import tick_partition

    table = CountingTable()
    states, driver = TableStates(table), StageDriver(Engine(CITY))
    driver.event(states, fix(0, 30.59), None, "positions", lambda: b"")
    tick_partition(driver, states, T0 + 1_000, partition=0, partitions=1)  # a second later: nothing is due
    first = len(table.writes)
    tick_partition(driver, states, T0 + 1_000, partition=0, partitions=1)
    assert len(table.writes) == first
    tick_partition(driver, states, T0 + 3_600_000, partition=0, partitions=1)  # an hour of silence changes it
    assert len(table.writes) == first + 1


def test_the_state_codec_writes_the_json_of_to_dict_and_reads_old_and_plain_values() -> None:
    import json

    from rules.engine import DeviceState
    from streams.codec import Encoded, decoded
    from streams.state_codec import StateCodec

    codec, states, driver = StateCodec(), TableStates({}), StageDriver(Engine(CITY))
    driver.event(states, fix(0, 30.59), None, "positions", lambda: b"")
    state = states.get("gps-m1")
    assert isinstance(state, DeviceState) and state.rules
    wire = codec.dumps(state)
    assert json.loads(wire) == json.loads(json.dumps(state.to_dict()))  # the changelog's JSON as before
    assert isinstance(codec.loads(wire), Encoded)  # a restore copies bytes; a stage decodes what it uses
    assert decoded(codec.loads(wire)) == state == TableStates({b"gps-m1": codec.loads(wire)}).get("gps-m1")
    assert decoded(codec.loads(json.dumps(state.to_dict()).encode())) == state  # a record written before the codec
    clocks = {"sources": {"positions:0": 5}, "low": 5}  # the facts table's bookkeeping stays a dict
    assert decoded(codec.loads(codec.dumps(clocks))) == clocks


def test_the_codec_json_equals_to_dict_for_every_state_the_catalog_scenario_makes() -> None:
    """The codec writes flat rule states as dataclasses (orjson, field by field): the same JSON as to_dict."""
    import json

    from devices.sim.generator import generate
    from devices.sim.scenario import load_scenario
    from streams.state_codec import StateCodec

    repo = Path(__file__).resolve().parents[2]
    city = load_city(repo / "cities" / "demo")
    scenario = load_scenario(repo / "scenarios" / "catalog.yaml", city)
    start_ms = scenario.pinned_start_ms(city.meta.timezone)
    assert start_ms is not None
    states, driver, codec = MemoryStates(), StageDriver(Engine(city)), StateCodec()
    kinds: set[str] = set()
    for event in generate(city, scenario, 7, start_ms):
        driver.event(states, event, None, "any", lambda: b"")
        state = states.get(event.device_id)
        assert state is not None
        kinds |= {type(s).__name__ for s in state.rules.values()}
        assert json.loads(codec.dumps(state)) == json.loads(json.dumps(state.to_dict()))
    assert len(kinds) >= 12  # most kinds of rule state were written
