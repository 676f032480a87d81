"""Ingest validation: every class of bad input gets a named reason and keeps its raw bytes."""

from __future__ import annotations

import base64
import json

import pytest

from devices.contracts import (
    CameraEvent,
    DeviceStatus,
    FacilityReading,
    SiteReading,
    VehiclePosition,
)
from ingest.validate import Accepted, Limits, Reason, Rejected, parse_topic, validate

NOW = 1_790_000_000_000
LIMITS = Limits(max_payload_bytes=4096, max_future_skew_ms=300_000)
TOPIC = "citywatch/v1/vehicle/gps-m01/telemetry"


def position(**over: object) -> dict[str, object]:
    body: dict[str, object] = {
        "schema_version": 1, "device_id": "gps-m01", "ts_ms": NOW - 1000, "seq": 7,
        "lon": 114.3, "lat": 30.59, "speed_kmh": 32.5, "heading_deg": 90.0,
        "load_state": "full", "cover_closed": True, "body_lifted": False,
    }
    body.update(over)
    return body


def raw(body: dict[str, object]) -> bytes:
    return json.dumps(body).encode()


def rejected(topic: str, payload: bytes) -> Rejected:
    result = validate(topic, payload, NOW, LIMITS)
    assert isinstance(result, Rejected), result
    assert result.payload == payload
    return result


def test_valid_position_is_accepted_keyed_by_device() -> None:
    result = validate(TOPIC, raw(position()), NOW, LIMITS)
    assert isinstance(result, Accepted)
    assert result.stream == "positions"
    assert result.key == "gps-m01"
    assert isinstance(result.event, VehiclePosition)
    assert result.event.speed_kmh == 32.5


@pytest.mark.parametrize(
    ("model", "body", "stream"),
    [
        (CameraEvent, {"event_id": "e1", "event_type": "spillage", "lon": 114.3, "lat": 30.6,
                       "confidence": 0.9, "plate": "鄂A·D1234"}, "camera-events"),
        (FacilityReading, {"fill_ratio": 0.42, "nh3_mgm3": 0.5}, "facility-readings"),
        (SiteReading, {"pm10_ugm3": 88.0, "noise_dba": 61.5}, "site-readings"),
    ],
)
def test_each_kind_goes_to_its_stream(model: type, body: dict[str, object], stream: str) -> None:
    payload = raw({"device_id": "dev-1", "ts_ms": NOW, "seq": 0, **body})
    result = validate(model.topic_for("dev-1"), payload, NOW, LIMITS)
    assert isinstance(result, Accepted) and isinstance(result.event, model)
    assert result.stream == stream


def test_status_is_accepted_on_every_device_kind() -> None:
    payload = raw({"device_id": "fill-s01", "ts_ms": NOW, "seq": 0, "state": "offline"})
    result = validate(DeviceStatus.topic_for_kind("facility", "fill-s01"), payload, NOW, LIMITS)
    assert isinstance(result, Accepted) and result.stream == "status"


@pytest.mark.parametrize("payload", [b"not json", b"{\"device_id\": ", b"\xff\xfe\x00", b""])
def test_not_json(payload: bytes) -> None:
    assert rejected(TOPIC, payload).reason is Reason.NOT_JSON


@pytest.mark.parametrize(
    ("over", "field"),
    [
        ({"lon": 181.0}, "lon"),
        ({"lat": -90.5}, "lat"),
        ({"speed_kmh": "fast"}, "speed_kmh"),
        ({"speed_kmh": -1}, "speed_kmh"),
        ({"load_state": "overloaded"}, "load_state"),
        ({"seq": -1}, "seq"),
        ({"ts_ms": 12}, "ts_ms"),
        ({"schema_version": 2}, "schema_version"),
        ({"unknown_field": 1}, "unknown_field"),
        ({"device_id": "bad id with spaces"}, "device_id"),
    ],
)
def test_schema_errors_name_the_field(over: dict[str, object], field: str) -> None:
    result = rejected(TOPIC, raw(position(**over)))
    assert result.reason is Reason.SCHEMA
    assert field in result.detail


def test_missing_field_is_a_schema_error() -> None:
    body = position()
    del body["lat"]
    result = rejected(TOPIC, raw(body))
    assert result.reason is Reason.SCHEMA and "lat" in result.detail


@pytest.mark.parametrize("token", [b"NaN", b"Infinity", b"-Infinity"])
def test_non_finite_coordinates_are_refused(token: bytes) -> None:
    payload = raw(position()).replace(b"114.3", token)
    result = rejected(TOPIC, payload)
    assert result.reason is Reason.SCHEMA and "lon" in result.detail


def test_future_timestamp_beyond_skew_is_refused() -> None:
    result = rejected(TOPIC, raw(position(ts_ms=NOW + 300_001)))
    assert result.reason is Reason.FUTURE_TIMESTAMP


def test_timestamp_within_skew_is_accepted() -> None:
    assert isinstance(validate(TOPIC, raw(position(ts_ms=NOW + 300_000)), NOW, LIMITS), Accepted)


def test_oversize_is_refused_before_parsing() -> None:
    payload = raw(position(image_ref="x" * 5000))
    result = rejected(TOPIC, payload)
    assert result.reason is Reason.OVERSIZE and str(len(payload)) in result.detail


@pytest.mark.parametrize(
    "topic",
    ["citywatch/v1/vehicle/gps-m01", "citywatch/v2/vehicle/gps-m01/telemetry",
     "citywatch/v1/tractor/gps-m01/telemetry", "citywatch/v1/vehicle//telemetry", "other/topic"],
)
def test_unknown_topics_are_refused(topic: str) -> None:
    assert rejected(topic, raw(position())).reason is Reason.UNKNOWN_TOPIC


def test_body_device_must_match_topic() -> None:
    result = rejected("citywatch/v1/vehicle/gps-m02/telemetry", raw(position()))
    assert result.reason is Reason.TOPIC_MISMATCH


def test_dead_letter_record_keeps_raw_bytes_and_reason() -> None:
    payload = b"\x00\x01garbage"
    record = rejected(TOPIC, payload).to_record()
    assert base64.b64decode(record["payload_b64"]) == payload
    assert record["reason"] == "not_json"
    assert record["topic"] == TOPIC and record["received_ms"] == NOW and record["size_bytes"] == 9
    json.dumps(record)  # must be JSON-serialisable as is


def test_parse_topic() -> None:
    assert parse_topic("citywatch/v1/site/env-c01/telemetry") == ("site", "env-c01", "telemetry")
    assert parse_topic("citywatch/v1/site/env-c01/telemetry/extra") is None
