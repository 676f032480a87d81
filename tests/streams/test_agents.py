"""Faust agents under ``test_context()``: the rules run with state in the table, alerts go out."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

import pytest
from faust.transport.drivers import aiokafka as aiokafka_driver
from faust.types import TP
from faust.types.tuples import Message

from citywatch.configs import worker_config
from citywatch.settings import Settings
from citywatch.ticket_store import open_store
from devices.contracts import VehiclePosition
from devices.inventory import load_city
from streams import transport
from streams.app import CityWatchApp, build_app

ROOT = Path(__file__).resolve().parents[2]
CITY_DIR = ROOT / "tests" / "data" / "city_min"
T0 = 1_790_000_000_000


class RecordingProducer:
    """Stands in for the aiokafka producer under ``test_context()`` (no Kafka there): keeps what the rule
    agents' changelog writers send. The real writer runs against Kafka in tests/faults and tests/e2e."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, int, list[tuple[bytes, bytes]]]] = []

    def create_batch(self) -> list[tuple[bytes, bytes]]:
        return RecordBatch()

    async def send_batch(self, batch: list[tuple[bytes, bytes]], topic: str, *, partition: int) -> asyncio.Future[None]:
        self.sent.append((topic, partition, list(batch)))
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


class RecordBatch(list[tuple[bytes, bytes]]):
    def append(self, *, key: bytes, value: bytes, timestamp: None) -> bool:  # type: ignore[override]
        super().append((key, value))
        return True

    def record_count(self) -> int:
        return len(self)


@pytest.fixture(scope="module")
def changelog() -> RecordingProducer:
    return RecordingProducer()


@pytest.fixture(scope="module")
def stack_app(tmp_path_factory: pytest.TempPathFactory, changelog: RecordingProducer) -> Iterator[CityWatchApp]:
    tmp = tmp_path_factory.mktemp("faust")
    settings = Settings(
        city_dir=CITY_DIR,
        ticket_db=tmp / "tickets.sqlite",
        faust_data_dir=tmp / "faust",
        faust_app_id="citywatch-agent-test",
        influx_url=None,
    )
    city = load_city(CITY_DIR)
    app = build_app(worker_config(settings), city, partial(open_store, settings, city))
    app.finalize()
    app.conf.store = "memory://"
    app.flow_control.resume()
    for writer in app.changelog_writers.values():
        writer.producer = lambda: changelog  # type: ignore[method-assign]
    yield app
    # test_context() makes the app's Kafka consumer, whose (never started) thread owns a new event
    # loop; close it, or its self-pipe sockets are reported unclosed once the app is collected.
    thread = getattr(app._consumer, "_thread", None)
    if thread is not None and not thread.thread_loop.is_closed():
        thread.thread_loop.close()


def test_importing_the_app_module_reads_no_settings_and_builds_nothing(tmp_path: Path) -> None:
    probe = (
        "import sys, faust, gc, streams.app as m; "
        "print(sorted(n for n in sys.modules if n.split('.')[0] == 'citywatch')); "
        "print(sum(isinstance(o, faust.App) for o in gc.get_objects()))"
    )
    env = {
        **os.environ,
        "CITYWATCH_CITY_DIR": str(tmp_path / "no-such-city"),
        "CITYWATCH_FAUST_DATA_DIR": str(tmp_path / "f"),
    }
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.split("\n")[:2] == ["[]", "0"]  # no settings read, no city loaded, no app built
    assert not (tmp_path / "f").exists()  # and no state directory made


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


async def test_positions_agent_opens_a_deviation_and_keeps_state(
    stack_app: CityWatchApp, changelog: RecordingProducer
) -> None:
    agent = stack_app.agents["rules-positions"]
    sent: list[bytes] = []
    facts: list[bytes] = []

    async def capture(key: bytes, value: bytes) -> None:
        sent.append(value)

    async def capture_fact(key: bytes, value: bytes) -> None:
        facts.append(value)

    stack_app.alerts_raw_topic.send = capture  # record what the agent sends on towards fusion
    stack_app.facts_topic.send = capture_fact
    async with agent.test_context() as ctx:
        for i, lat in enumerate([30.59, 30.592, 30.592, 30.592, 30.592, 30.592]):
            await ctx.put(key=b"gps-m1", value=position(i, i * 10, lat))
        table = stack_app.tables["state-positions"]
        await eventually(lambda: getattr(table.get(b"gps-m1"), "last_seq", None) == 5, "the sixth position")
        alerts = [json.loads(v) for v in sent]
        assert [(a["rule"], a["phase"]) for a in alerts] == [("route_deviation", "open")]
        ticks = [json.loads(v) for v in facts]
        assert ticks and all(t["kind"] == "watermark" for t in ticks)  # deadlines advance with event time
        assert ticks[-1]["ts_ms"] <= T0 + 50_000
    records = [(topic, r) for topic, _, batch in changelog.sent for r in batch if r[0] == b"gps-m1"]
    assert records and all(topic.endswith("state-positions-changelog") for topic, _ in records)
    assert json.loads(records[-1][1][1])["last_seq"] == 5  # the table's changelog has the newest state


async def test_bad_record_goes_to_deadletter_not_a_crash(stack_app: CityWatchApp) -> None:
    agent = stack_app.agents["rules-facility-readings"]
    dead: list[bytes] = []

    async def capture(key: bytes, value: bytes) -> None:
        dead.append(value)

    stack_app.deadletter_topic.send = capture
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


def test_source_clocks_restored_from_the_changelog_are_read() -> None:
    """After a restore the record is still the changelog's bytes (decoded on use)."""
    from streams.state_codec import StateCodec
    from streams.step import SOURCE_CLOCKS_KEY, advance_low_watermark

    codec = StateCodec()
    restored = codec.loads(codec.dumps({"sources": {"positions:0": 5_000, "positions:1": 4_000}, "low": 4_000}))
    table: dict[bytes, object] = {SOURCE_CLOCKS_KEY: restored}
    assert advance_low_watermark(table, "positions:1", 6_000) == 5_000
    assert table[SOURCE_CLOCKS_KEY] == {"sources": {"positions:0": 5_000, "positions:1": 6_000}, "low": 5_000}


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
    stack_app: CityWatchApp,
) -> None:
    from devices.catalog import WATERMARK_KEY, WatermarkRecord
    from streams.step import partition_of

    agent = stack_app.agents["rules-positions"]
    sent: list[bytes] = []

    async def capture(key: bytes, value: bytes) -> None:
        sent.append(value)

    async def drop(key: bytes, value: bytes) -> None:
        return None

    stack_app.alerts_raw_topic.send = capture
    stack_app.facts_topic.send = drop
    partition = partition_of(b"gps-m1", stack_app.worker_config.partitions)  # ingest writes one into each
    async with agent.test_context() as ctx:
        await ctx.put(key=b"gps-m1", value=position(100, 1_000, 30.59), partition=partition)
        for minutes in range(1, 16):  # nothing more from the truck; ingest says time goes on
            mark = WatermarkRecord("ingest-a", T0 + (1_000 + minutes * 60) * 1000)
            await ctx.put(key=WATERMARK_KEY, value=mark.encode(), partition=partition)
        await eventually(lambda: any(json.loads(v)["rule"] == "silent_device" for v in sent), "the silence")
    rules = [(a["rule"], a["phase"], a["subject"]) for a in map(json.loads, sent)]
    assert ("silent_device", "open", "gps-m1") in rules
    table = stack_app.tables["state-positions"]
    assert WATERMARK_KEY not in table  # a watermark record is no device


async def test_a_malformed_watermark_record_is_dead_lettered(stack_app: CityWatchApp) -> None:
    from devices.catalog import WATERMARK_KEY

    agent = stack_app.agents["rules-site-readings"]
    dead: list[bytes] = []

    async def capture(key: bytes, value: bytes) -> None:
        dead.append(value)

    stack_app.deadletter_topic.send = capture
    async with agent.test_context() as ctx:
        await ctx.put(key=WATERMARK_KEY, value=b'{"source": "a"}')
        await eventually(lambda: dead, "the dead letter")
    (record,) = [json.loads(v) for v in dead]
    assert record["reason"] == "processing_error" and "not a watermark record" in record["detail"]


def test_offsets_acked_twice_do_not_hold_back_the_commit(stack_app: CityWatchApp) -> None:
    """After a rebalance faust can hand the first records of a partition taken over to the agents twice
    (it resumes the partition before it seeks it): the worker's consumer still commits past them at once."""
    consumer = stack_app.consumer
    assert isinstance(consumer, transport.Consumer)
    tp = TP("acked-twice", 0)
    acked = [*range(100, 200), *range(100, 137)]  # 100..136 delivered and acked a second time

    def next_commit(new_offset: Callable[[TP], int | None]) -> int | None:
        consumer._committed_offset[tp] = 100
        consumer._acked[tp], consumer._acked_index[tp] = list(acked), set(acked)
        try:
            return new_offset(tp)
        finally:
            for bookkeeping in (consumer._committed_offset, consumer._acked, consumer._acked_index, consumer._gap):
                bookkeeping.pop(tp, None)

    assert next_commit(consumer._new_offset) == 200
    # faust's own bookkeeping stops at the first offset acked twice: one record further per commit
    assert next_commit(partial(aiokafka_driver.Consumer._new_offset, consumer)) == 101


def test_workers_keep_no_standby_tables_unless_asked(stack_app: CityWatchApp, tmp_path: Path) -> None:
    """A standby copy of another worker's tables costs a worker as much CPU as its rules: none by default."""
    assert stack_app.conf.table_standby_replicas == 0
    settings = Settings(city_dir=CITY_DIR, ticket_db=tmp_path / "t.sqlite", faust_standby_replicas=1, influx_url=None)
    assert worker_config(settings).standby_replicas == 1
    with pytest.raises(ValueError, match="faust_standby_replicas"):
        Settings(city_dir=CITY_DIR, faust_standby_replicas=-1)


def test_a_partition_whose_commit_waits_for_a_record_nobody_processes_is_told_stalled(stack_app: CityWatchApp) -> None:
    """Records after offset 100 acknowledged, 100-102 neither acknowledged nor in flight: faust can never commit
    past them, and the worker's commit watch restarts the worker (it reads them again)."""
    consumer = stack_app.consumer
    assert isinstance(consumer, transport.Consumer)
    tp = TP("stalled", 0)
    consumer._committed_offset[tp], consumer._acked[tp] = 100, list(range(103, 111))
    try:
        assert consumer.stalled() == {tp: (100, 103)}
        slow = Message(tp.topic, tp.partition, 101, 0.0, 0, None, b"k", b"v", None, tp=tp)  # still being processed
        consumer._unacked_messages.add(slow)
        assert consumer.stalled() == {}
        consumer._unacked_messages.discard(slow)
        consumer._acked[tp] = list(range(101, 111))  # one offset missing: faust commits past it
        assert consumer.stalled() == {}
    finally:
        consumer._committed_offset.pop(tp, None)
        consumer._acked.pop(tp, None)
