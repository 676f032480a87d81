"""Ingest validation: every class of bad input gets a named reason and keeps its raw bytes."""

from __future__ import annotations

import base64
import json

import pytest

from devices.catalog import Accepted
from devices.contracts import (
    CameraEvent,
    DeviceStatus,
    FacilityReading,
    SiteReading,
    VehiclePosition,
)
from ingest.validate import Limits, Reason, Rejected, parse_topic, validate

NOW = 1_790_000_000_000
LIMITS = Limits(max_payload_bytes=4096, max_future_skew_ms=300_000)
TOPIC = "citywatch/v1/vehicle/gps-m01/telemetry"


def position(**over: object) -> dict[str, object]:
    body: dict[str, object] = {
        "schema_version": 1,
        "device_id": "gps-m01",
        "ts_ms": NOW - 1000,
        "seq": 7,
        "lon": 114.3,
        "lat": 30.59,
        "speed_kmh": 32.5,
        "heading_deg": 90.0,
        "load_state": "full",
        "cover_closed": True,
        "body_lifted": False,
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
        (
            CameraEvent,
            {
                "event_id": "e1",
                "event_type": "spillage",
                "lon": 114.3,
                "lat": 30.6,
                "confidence": 0.9,
                "plate": "鄂A·D1234",
            },
            "camera-events",
        ),
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


@pytest.mark.parametrize("payload", [b"not json", b'{"device_id": ', b"\xff\xfe\x00", b""])
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
    [
        "citywatch/v1/vehicle/gps-m01",
        "citywatch/v2/vehicle/gps-m01/telemetry",
        "citywatch/v1/tractor/gps-m01/telemetry",
        "citywatch/v1/vehicle//telemetry",
        "other/topic",
    ],
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


# --- strict types (wrong types accepted before: "seq":"1", "pm10_ugm3":true, "cover_closed":"yes") ---------

SITE_TOPIC = SiteReading.topic_for("env-c01")
SITE = {"device_id": "env-c01", "ts_ms": NOW, "seq": 3, "pm10_ugm3": 88.0, "noise_dba": 61.5}
CAMERA_TOPIC = CameraEvent.topic_for("cam-01")
CAMERA = {
    "device_id": "cam-01",
    "ts_ms": NOW,
    "seq": 1,
    "event_id": "e1",
    "event_type": "spillage",
    "lon": 114.3,
    "lat": 30.6,
    "confidence": 0.9,
    "plate": "鄂A·D1234",
    "image_ref": "sim://cam-01/e1.jpg",
}
STATUS_TOPIC = DeviceStatus.topic_for_kind("vehicle", "gps-m01")
STATUS = {"device_id": "gps-m01", "ts_ms": NOW, "seq": 0, "state": "online", "reason": None}


@pytest.mark.parametrize(
    ("topic", "body", "over", "field"),
    [
        (TOPIC, position(), {"seq": "1"}, "seq"),
        (TOPIC, position(), {"seq": True}, "seq"),
        (TOPIC, position(), {"seq": 7.0}, "seq"),  # an integer field refuses a decimal, even a whole one
        (TOPIC, position(), {"ts_ms": float(NOW)}, "ts_ms"),
        (TOPIC, position(), {"ts_ms": str(NOW)}, "ts_ms"),
        (TOPIC, position(), {"schema_version": True}, "schema_version"),
        (TOPIC, position(), {"schema_version": 1.0}, "schema_version"),
        (TOPIC, position(), {"schema_version": "1"}, "schema_version"),
        (TOPIC, position(), {"cover_closed": "yes"}, "cover_closed"),
        (TOPIC, position(), {"cover_closed": 1}, "cover_closed"),
        (TOPIC, position(), {"body_lifted": "false"}, "body_lifted"),
        (TOPIC, position(), {"lon": "114.3"}, "lon"),
        (TOPIC, position(), {"lat": True}, "lat"),
        (TOPIC, position(), {"speed_kmh": [32.5]}, "speed_kmh"),
        (TOPIC, position(), {"heading_deg": {"deg": 90}}, "heading_deg"),
        (TOPIC, position(), {"load_state": 1}, "load_state"),
        (TOPIC, position(), {"load_state": None}, "load_state"),
        (TOPIC, position(), {"device_id": 1}, "device_id"),
        (SITE_TOPIC, SITE, {"pm10_ugm3": True}, "pm10_ugm3"),
        (SITE_TOPIC, SITE, {"noise_dba": "61.5"}, "noise_dba"),
        (SITE_TOPIC, SITE, {"pm10_ugm3": None}, "pm10_ugm3"),
        (CAMERA_TOPIC, CAMERA, {"confidence": False}, "confidence"),
        (CAMERA_TOPIC, CAMERA, {"plate": 1234}, "plate"),
        (CAMERA_TOPIC, CAMERA, {"event_id": 1}, "event_id"),
        (CAMERA_TOPIC, CAMERA, {"event_type": ["spillage"]}, "event_type"),
        (STATUS_TOPIC, STATUS, {"state": True}, "state"),
        (STATUS_TOPIC, STATUS, {"reason": 5}, "reason"),
    ],
)
def test_wrong_json_types_are_schema_errors(
    topic: str, body: dict[str, object], over: dict[str, object], field: str
) -> None:
    assert isinstance(validate(topic, raw(body), NOW, LIMITS), Accepted)  # the body itself is valid
    result = rejected(topic, raw({**body, **over}))
    assert result.reason is Reason.SCHEMA and field in result.detail


def test_integers_are_numbers_for_float_fields() -> None:
    result = validate(TOPIC, raw(position(lon=114, lat=30, speed_kmh=0, heading_deg=90)), NOW, LIMITS)
    assert isinstance(result, Accepted) and isinstance(result.event, VehiclePosition)
    assert (result.event.lon, result.event.speed_kmh) == (114.0, 0.0) and type(result.event.lon) is float


@pytest.mark.parametrize("token", [b"1e999", b"-1e999", b"NaN", b"Infinity"])
@pytest.mark.parametrize("field", ["pm10_ugm3", "noise_dba"])
def test_non_finite_numbers_are_refused_in_every_float_field(token: bytes, field: str) -> None:
    payload = raw({**SITE, field: 12345.5}).replace(b"12345.5", token)
    result = rejected(SITE_TOPIC, payload)
    assert result.reason is Reason.SCHEMA and field in result.detail


@pytest.mark.parametrize(("seq", "accepted"), [(2**63 - 1, True), (2**63, False), (10**40, False)])
def test_seq_fits_a_signed_64_bit_integer(seq: int, accepted: bool) -> None:
    assert isinstance(validate(TOPIC, raw(position(seq=seq)), NOW, LIMITS), Accepted) is accepted


@pytest.mark.parametrize(
    ("over", "field"),
    [
        ({"lon": -180.01}, "lon"),
        ({"lat": 90.0001}, "lat"),
        ({"lon": 1e308}, "lon"),
        ({"heading_deg": 360.0}, "heading_deg"),
    ],
)
def test_out_of_range_values_are_refused(over: dict[str, object], field: str) -> None:
    result = rejected(TOPIC, raw(position(**over)))
    assert result.reason is Reason.SCHEMA and field in result.detail


def test_payload_at_the_size_limit_is_accepted_and_one_byte_more_is_not() -> None:
    body = position()
    payload = raw(body)
    pad = LIMITS.max_payload_bytes - len(payload)
    at_limit = payload[:-1] + b" " * pad + b"}"
    assert len(at_limit) == LIMITS.max_payload_bytes and isinstance(validate(TOPIC, at_limit, NOW, LIMITS), Accepted)
    assert rejected(TOPIC, at_limit + b" ").reason is Reason.OVERSIZE


# --- duplicate keys (pydantic's JSON parser silently keeps the last value) ----------------------------


@pytest.mark.parametrize(
    "payload",
    [
        raw(position()).replace(b'"seq": 7', b'"seq": 7, "seq": 8'),
        raw(position()).replace(b'"seq": 7', b'"seq": 7, "seq": 7'),  # even the same value twice
        raw(position()).replace(b'"seq": 7', b'"seq": "x", "seq": 7'),  # the first would have been refused
        raw(position()).replace(b'"seq": 7', b'"seq": 7, "seq": "x"'),  # the last is refused: still a repeat
        raw(position()).replace(b'"seq": 7', b'"seq": 7, "s\\u0065q": 8'),  # the same key, escaped
        raw(position()).replace(b'"device_id": "gps-m01"', b'"device_id": "gps-m02", "device_id": "gps-m01"'),
        raw(position(ts_ms=NOW + 3_600_000)).replace(b'"seq": 7', b'"seq": 7, "seq": 7'),
        raw(position(extra={"a": 1})).replace(b'"a": 1', b'"a": 1, "a": 2'),  # nested, in a refused field
    ],
)
def test_repeated_keys_are_refused(payload: bytes) -> None:
    result = rejected(TOPIC, payload)
    assert result.reason is Reason.DUPLICATE_KEY
    assert "repeated key" in result.detail


def test_repeated_key_detail_names_the_key() -> None:
    payload = raw(position()).replace(b'"lat": 30.59', b'"lat": 30.59, "lat": 31.0')
    assert "'lat'" in rejected(TOPIC, payload).detail


@pytest.mark.parametrize(
    "over",
    [
        {"plate": "鄂A,D1234"},
        {"image_ref": "sim://a,b,c.jpg", "event_id": 'x"y'},
        {"event_id": "\\,"},
        {"plate": "鄂A·D1234"},
    ],
)
def test_commas_quotes_and_escapes_in_strings_are_no_repeats(over: dict[str, object]) -> None:
    for payload in (raw({**CAMERA, **over}), json.dumps({**CAMERA, **over}, ensure_ascii=False).encode()):
        assert isinstance(validate(CAMERA_TOPIC, payload, NOW, LIMITS), Accepted), payload


# --- the city inventory: a device publishes only as itself and as its own kind ------------------------

KINDS = {
    "gps-m01": "vehicle",
    "gps-m02": "vehicle",
    "cam-01": "camera",
    "fill-s01": "facility",
    "env-c01": "site",
    "env-bg01": "site",
}
CITY_LIMITS = Limits(max_payload_bytes=4096, max_future_skew_ms=300_000, kinds=KINDS)


def test_known_devices_of_every_kind_are_accepted() -> None:
    for topic, body in [
        (TOPIC, position()),
        (CAMERA_TOPIC, CAMERA),
        (SITE_TOPIC, SITE),
        (SiteReading.topic_for("env-bg01"), {**SITE, "device_id": "env-bg01"}),
        (DeviceStatus.topic_for_kind("camera", "cam-01"), {**STATUS, "device_id": "cam-01"}),
    ]:
        assert isinstance(validate(topic, raw(body), NOW, CITY_LIMITS), Accepted), topic


@pytest.mark.parametrize(
    ("topic", "body"),
    [
        ("citywatch/v1/vehicle/gps-m99/telemetry", position(device_id="gps-m99")),
        ("citywatch/v1/camera/cam-99/event", {**CAMERA, "device_id": "cam-99"}),
        ("citywatch/v1/site/env-c99/status", {**STATUS, "device_id": "env-c99"}),
    ],
)
def test_a_device_the_city_does_not_list_is_unknown(topic: str, body: dict[str, object]) -> None:
    result = validate(topic, raw(body), NOW, CITY_LIMITS)
    assert isinstance(result, Rejected) and result.reason is Reason.UNKNOWN_DEVICE
    device = topic.split("/")[3]
    assert repr(device) in result.detail and "inventory" in result.detail


@pytest.mark.parametrize(
    ("topic", "body", "registered", "claimed"),
    [
        # a truck's account publishing a camera event that names another truck's plate
        (
            "citywatch/v1/camera/gps-m01/event",
            {**CAMERA, "device_id": "gps-m01", "plate": "鄂A·D3305"},
            "vehicle",
            "camera",
        ),
        ("citywatch/v1/vehicle/cam-01/telemetry", position(device_id="cam-01"), "camera", "vehicle"),
        (
            "citywatch/v1/facility/env-c01/telemetry",
            {"device_id": "env-c01", "ts_ms": NOW, "seq": 0, "fill_ratio": 0.5},
            "site",
            "facility",
        ),
        ("citywatch/v1/camera/gps-m01/status", STATUS, "vehicle", "camera"),  # statuses too
    ],
)
def test_a_device_publishing_as_another_kind_is_refused(
    topic: str, body: dict[str, object], registered: str, claimed: str
) -> None:
    payload = raw(body)
    result = validate(topic, payload, NOW, CITY_LIMITS)
    assert isinstance(result, Rejected) and result.reason is Reason.WRONG_KIND
    device = topic.split("/")[3]
    assert f"{device!r} is a {registered}, not a {claimed}" in result.detail
    record = result.to_record()
    assert (record["reason"], record["topic"]) == ("wrong_kind", topic)
    assert base64.b64decode(record["payload_b64"]) == payload


def test_the_inventory_is_checked_before_the_payload() -> None:
    result = validate("citywatch/v1/vehicle/gps-m99/telemetry", b"\xff not json", NOW, CITY_LIMITS)
    assert isinstance(result, Rejected) and result.reason is Reason.UNKNOWN_DEVICE


def test_without_an_inventory_any_device_id_may_publish() -> None:
    assert Limits().kinds is None
    payload = raw(position(device_id="gps-m99"))
    assert isinstance(validate("citywatch/v1/vehicle/gps-m99/telemetry", payload, NOW, LIMITS), Accepted)


def test_body_device_must_match_a_known_topic_device() -> None:
    result = validate("citywatch/v1/vehicle/gps-m02/telemetry", raw(position()), NOW, CITY_LIMITS)
    assert isinstance(result, Rejected) and result.reason is Reason.TOPIC_MISMATCH


def test_parse_topic() -> None:
    assert parse_topic("citywatch/v1/site/env-c01/telemetry") == ("site", "env-c01", "telemetry")
    assert parse_topic("citywatch/v1/site/env-c01/telemetry/extra") is None
