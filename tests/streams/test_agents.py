"""Faust agents under ``test_context()``: the rules run with state in the table, alerts go out."""

from __future__ import annotations

import asyncio
import importlib
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import pytest

from devices.contracts import VehiclePosition

CITY_DIR = Path(__file__).resolve().parent.parent / "data" / "city_min"
T0 = 1_790_000_000_000


@pytest.fixture(scope="module")
def app_module(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    tmp = tmp_path_factory.mktemp("faust")
    env = {
        "CITYWATCH_CITY_DIR": str(CITY_DIR),
        "CITYWATCH_TICKET_DB": str(tmp / "tickets.sqlite"),
        "CITYWATCH_FAUST_DATA_DIR": str(tmp / "faust"),
        "CITYWATCH_FAUST_APP_ID": "citywatch-agent-test",
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # read when streams.app is imported; put back after (later tests start processes)
    try:
        module = importlib.import_module("streams.app")
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    module.app.finalize()
    module.app.conf.store = "memory://"
    module.app.flow_control.resume()
    return module


async def eventually(condition: Callable[[], object], what: str, timeout: float = 10.0) -> None:
    """Wait (bounded) until the agent, which takes its events in batches, has done something."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


def position(seq: int, t_s: int, lat: float) -> bytes:
    return (
        VehiclePosition(
            device_id="gps-m1",
            ts_ms=T0 + t_s * 1000,
            seq=seq,
            lon=114.31,
            lat=lat,
            speed_kmh=30,
            heading_deg=90,
            load_state="full",
            cover_closed=True,
        )
        .model_dump_json()
        .encode()
    )


async def test_positions_agent_opens_a_deviation_and_keeps_state(app_module: ModuleType) -> None:
    agent = app_module.app.agents["rules-positions"]
    sent: list[bytes] = []
    facts: list[bytes] = []

    async def capture(key: bytes, value: bytes) -> None:
        sent.append(value)

    async def capture_fact(key: bytes, value: bytes) -> None:
        facts.append(value)

    app_module.alerts_raw_topic.send = capture  # record what the agent sends on towards fusion
    app_module.facts_topic.send = capture_fact
    async with agent.test_context() as ctx:
        for i, lat in enumerate([30.59, 30.592, 30.592, 30.592, 30.592, 30.592]):
            await ctx.put(key=b"gps-m1", value=position(i, i * 10, lat))
        table = app_module.app.tables["state-positions"]
        await eventually(lambda: (table.get(b"gps-m1") or {}).get("last_seq") == 5, "the sixth position")
        alerts = [json.loads(v) for v in sent]
        assert [(a["rule"], a["phase"]) for a in alerts] == [("route_deviation", "open")]
        ticks = [json.loads(v) for v in facts]
        assert ticks and all(t["kind"] == "watermark" for t in ticks)  # deadlines advance with event time
        assert ticks[-1]["ts_ms"] <= T0 + 50_000


async def test_bad_record_goes_to_deadletter_not_a_crash(app_module: ModuleType) -> None:
    agent = app_module.app.agents["rules-facility-readings"]
    dead: list[bytes] = []

    async def capture(key: bytes, value: bytes) -> None:
        dead.append(value)

    app_module.deadletter_topic.send = capture
    async with agent.test_context() as ctx:
        await ctx.put(key=b"fill-s1", value=b"{not json")
        await eventually(lambda: dead, "the dead letter")
    (record,) = [json.loads(v) for v in dead]
    assert record["reason"] == "processing_error" and "ValidationError" in record["detail"]


def test_low_watermark_is_the_minimum_over_source_partitions() -> None:
    from streams.step import advance_low_watermark

    table: dict[bytes, object] = {}
    assert advance_low_watermark(table, "positions:0", 1_000) == 1_000
    assert advance_low_watermark(table, "positions:1", 500) is None  # a lagging partition holds it back
    assert advance_low_watermark(table, "positions:0", 9_000) is None
    assert advance_low_watermark(table, "positions:1", 7_000) == 7_000
    assert advance_low_watermark(table, "positions:1", 6_000) is None  # never moves back


def test_source_clocks_saved_under_their_old_key_are_still_read() -> None:
    from streams.step import LEGACY_SOURCE_CLOCKS_KEY, SOURCE_CLOCKS_KEY, advance_low_watermark

    table: dict[bytes, object] = {LEGACY_SOURCE_CLOCKS_KEY: {"sources": {"positions:0": 5_000}, "low": 5_000}}
    assert advance_low_watermark(table, "positions:1", 3_000) is None  # the old record's clock still holds it
    assert table[SOURCE_CLOCKS_KEY] == {"sources": {"positions:0": 5_000, "positions:1": 3_000}, "low": 5_000}


def test_partition_watermark_follows_the_slowest_live_ingest() -> None:
    from streams.step import Watermark

    w = Watermark(tick_ms=10_000, idle_ms=60_000)
    w.punctuate("ingest-a", T0)
    assert w.value_ms == T0
    w.punctuate("ingest-b", T0 - 5_000)  # a second instance a little behind holds time back ...
    w.punctuate("ingest-a", T0 + 30_000)
    assert w.value_ms == T0
    w.punctuate("ingest-a", T0 + 70_000)  # ... until it is more than idle_ms behind: it stopped
    assert w.value_ms == T0 + 70_000
    w.observe(T0 + 80_000)  # the partition's own events move it too
    assert w.value_ms == T0 + 80_000
    w.punctuate("ingest-a", T0 + 75_000)  # never back
    assert w.value_ms == T0 + 80_000


async def test_a_device_alone_on_a_quiet_partition_is_judged_silent_by_ingest_watermarks(
    app_module: ModuleType,
) -> None:
    from devices.catalog import WATERMARK_KEY, WatermarkRecord
    from streams.step import partition_of

    agent = app_module.app.agents["rules-positions"]
    sent: list[bytes] = []

    async def capture(key: bytes, value: bytes) -> None:
        sent.append(value)

    async def drop(key: bytes, value: bytes) -> None:
        return None

    app_module.alerts_raw_topic.send = capture
    app_module.facts_topic.send = drop
    partition = partition_of(b"gps-m1", app_module.settings.kafka_partitions)  # ingest writes one into each
    async with agent.test_context() as ctx:
        await ctx.put(key=b"gps-m1", value=position(100, 1_000, 30.59), partition=partition)
        for minutes in range(1, 16):  # nothing more from the truck; ingest says time goes on
            mark = WatermarkRecord("ingest-a", T0 + (1_000 + minutes * 60) * 1000)
            await ctx.put(key=WATERMARK_KEY, value=mark.encode(), partition=partition)
        await eventually(lambda: any(json.loads(v)["rule"] == "silent_device" for v in sent), "the silence")
    rules = [(a["rule"], a["phase"], a["subject"]) for a in map(json.loads, sent)]
    assert ("silent_device", "open", "gps-m1") in rules
    table = app_module.app.tables["state-positions"]
    assert WATERMARK_KEY not in table  # a watermark record is no device


async def test_a_malformed_watermark_record_is_dead_lettered(app_module: ModuleType) -> None:
    from devices.catalog import WATERMARK_KEY

    agent = app_module.app.agents["rules-site-readings"]
    dead: list[bytes] = []

    async def capture(key: bytes, value: bytes) -> None:
        dead.append(value)

    app_module.deadletter_topic.send = capture
    async with agent.test_context() as ctx:
        await ctx.put(key=WATERMARK_KEY, value=b'{"source": "a"}')
        await eventually(lambda: dead, "the dead letter")
    (record,) = [json.loads(v) for v in dead]
    assert record["reason"] == "processing_error" and "not a watermark record" in record["detail"]
