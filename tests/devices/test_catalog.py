"""The wire catalog: every message kind has one stream, dead letters and watermark records have one shape."""

from __future__ import annotations

import base64
import json
import re

from devices.catalog import (
    ALL_TOPICS,
    EVENT_STREAMS,
    MODEL_OF,
    STREAM_OF,
    WATERMARK_KEY,
    DeadLetter,
    WatermarkRecord,
    decode_event,
    encode_event,
    is_watermark,
)
from devices.contracts import DEVICE_ID_PATTERN, MODELS, Message, VehiclePosition


def test_every_message_kind_has_its_own_stream_and_back() -> None:
    contract = {m for m in Message.__subclasses__() if m.__module__ == "devices.contracts"}  # not tests' own kinds
    assert set(STREAM_OF) == set(MODELS) == contract  # a new kind: add its stream here
    assert len(set(EVENT_STREAMS)) == len(EVENT_STREAMS) == len(STREAM_OF)
    assert all(MODEL_OF[STREAM_OF[model]] is model for model in STREAM_OF)
    assert len(set(ALL_TOPICS)) == len(ALL_TOPICS)


def test_an_event_round_trips_through_its_stream() -> None:
    event = VehiclePosition(
        device_id="gps-1", ts_ms=1_767_225_600_000, seq=3, lon=114.3, lat=30.6, speed_kmh=12.5, heading_deg=90
    )
    assert decode_event(STREAM_OF[VehiclePosition], encode_event(event)) == event


def test_a_dead_letter_from_ingest_carries_when_it_arrived_and_its_size() -> None:
    record = json.loads(DeadLetter("schema", "lat: too big", "citywatch/v1/vehicle/x/telemetry", b"{}", 7).encode())
    assert record == {
        "reason": "schema",
        "detail": "lat: too big",
        "topic": "citywatch/v1/vehicle/x/telemetry",
        "received_ms": 7,
        "size_bytes": 2,
        "payload_b64": base64.b64encode(b"{}").decode(),
    }


def test_a_dead_letter_from_a_stage_keeps_chinese_detail_readable() -> None:
    encoded = DeadLetter("processing_error", "规则失败", "positions", b"\xff").encode()
    assert "规则失败".encode() in encoded
    assert json.loads(encoded) == {
        "reason": "processing_error",
        "detail": "规则失败",
        "topic": "positions",
        "payload_b64": "/w==",
    }


def test_the_watermark_key_can_never_be_a_device_id() -> None:
    assert re.fullmatch(DEVICE_ID_PATTERN, WATERMARK_KEY.decode()) is None
    assert is_watermark(WATERMARK_KEY) and not is_watermark(b"gps-1") and not is_watermark(None)
    assert WatermarkRecord.decode(WatermarkRecord("ingest-1", 42).encode()) == WatermarkRecord("ingest-1", 42)
