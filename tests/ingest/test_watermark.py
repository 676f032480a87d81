"""Ingest's watermark records: their wire form, when they are due, and that they reach every partition."""

from __future__ import annotations

import asyncio

import pytest

from devices.catalog import STREAM_OF, WATERMARK_KEY, Accepted, WatermarkRecord, is_watermark
from devices.contracts import VehiclePosition
from ingest.kafka_sink import KafkaSink
from ingest.watermark import Punctuator
from streams.topics import ensure_topics
from tests.conftest import Services

T0 = 1_790_000_000_000


def test_record_round_trips() -> None:
    record = WatermarkRecord("ingest-a", T0)
    assert WatermarkRecord.decode(record.encode()) == record


@pytest.mark.parametrize(
    "value",
    [
        b"{not json",
        b"[]",
        b'{"source": "a"}',
        b'{"watermark_ms": 1}',
        b'{"source": 1, "watermark_ms": 1}',
        b'{"source": "a", "watermark_ms": "1"}',
        b'{"source": "a", "watermark_ms": true}',
        b'{"source": "a", "watermark_ms": 1.5}',
    ],
)
def test_a_bad_record_is_a_clear_error(value: bytes) -> None:
    with pytest.raises(ValueError, match="not a watermark record"):
        WatermarkRecord.decode(value)


def test_only_the_watermark_key_marks_a_record() -> None:
    assert is_watermark(WATERMARK_KEY)
    assert not is_watermark(b"gps-m1") and not is_watermark(None) and not is_watermark(b"")


def test_punctuator_tells_again_only_when_event_time_moved_on() -> None:
    p = Punctuator("ingest-a", every_ms=5_000)
    assert p.due() is None  # nothing forwarded yet
    p.observe(T0)
    assert p.due() == WatermarkRecord("ingest-a", T0)
    p.observe(T0 + 4_999)
    assert p.due() is None
    p.observe(T0 + 1_000)  # a late event never moves it back
    p.observe(T0 + 5_000)
    assert p.due() == WatermarkRecord("ingest-a", T0 + 5_000)
    assert p.due() is None


def position(device: str, seq: int, ts_ms: int) -> Accepted:
    event = VehiclePosition(device_id=device, ts_ms=ts_ms, seq=seq, lon=114.31, lat=30.59, speed_kmh=30, heading_deg=90)
    return Accepted(event, STREAM_OF[VehiclePosition])


@pytest.mark.services
def test_sink_writes_a_watermark_into_every_partition_of_every_event_stream(services: Services, unique: str) -> None:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    prefix, streams = f"wm{unique}-", sorted(set(STREAM_OF.values()))

    async def run() -> dict[TopicPartition, list[tuple[bytes, bytes]]]:
        await ensure_topics(services.kafka_bootstrap, prefix, 3)
        sink = KafkaSink(services.kafka_bootstrap, prefix, watermark_every_ms=5_000, source="ingest-a")
        await sink.start()
        try:
            await sink.send([position("gps-1", 1, T0), position("gps-2", 1, T0 + 1_000)], [])
            await sink.send([position("gps-1", 2, T0 + 3_000)], [])  # not yet 5 s on: no watermark
            await sink.send([position("gps-1", 3, T0 + 6_000)], [])
        finally:
            await sink.stop()
        consumer = AIOKafkaConsumer(bootstrap_servers=services.kafka_bootstrap, group_id=None)
        await consumer.start()
        try:
            tps = [TopicPartition(prefix + s, p) for s in streams for p in range(3)]
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            ends = await consumer.end_offsets(tps)
            got: dict[TopicPartition, list[tuple[bytes, bytes]]] = {tp: [] for tp in tps}
            while any(len(got[tp]) < ends[tp] for tp in tps):
                for tp, records in (await consumer.getmany(timeout_ms=1000)).items():
                    got[tp] += [(r.key, r.value) for r in records]
            return got
        finally:
            await consumer.stop()

    got = asyncio.run(run())
    assert len(got) == 3 * len(streams)
    for tp, records in got.items():
        marks = [WatermarkRecord.decode(v).watermark_ms for k, v in records if is_watermark(k)]
        assert marks == [T0 + 1_000, T0 + 6_000], tp
    positions = [
        (tp, i, VehiclePosition.model_validate_json(v).ts_ms)
        for tp, records in got.items()
        for i, (k, v) in enumerate(records)
        if not is_watermark(k)
    ]
    assert sorted(ts for _, _, ts in positions) == [T0, T0 + 1_000, T0 + 3_000, T0 + 6_000]
    for tp, i, ts in positions:  # a watermark never comes before an event it covers
        marks_before = [WatermarkRecord.decode(v).watermark_ms for k, v in got[tp][:i] if is_watermark(k)]
        assert all(mark < ts for mark in marks_before), (tp, ts, marks_before)
