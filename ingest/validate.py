"""Validate one MQTT message against the wire contract: accept it or say exactly why not."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pydantic import ValidationError

from devices.contracts import (
    TOPIC_ROOT,
    CameraEvent,
    DeviceStatus,
    FacilityReading,
    Message,
    SiteReading,
    VehiclePosition,
    model_for,
)

STREAM_OF: dict[type[Message], str] = {
    VehiclePosition: "positions",
    CameraEvent: "camera-events",
    FacilityReading: "facility-readings",
    SiteReading: "site-readings",
    DeviceStatus: "status",
}
"""The logical stream (Kafka topic, before the prefix) each message kind is forwarded to."""


class Reason(StrEnum):
    """Why a message went to the dead-letter stream."""

    OVERSIZE = "oversize"
    UNKNOWN_TOPIC = "unknown_topic"
    NOT_JSON = "not_json"
    SCHEMA = "schema"
    FUTURE_TIMESTAMP = "future_timestamp"
    TOPIC_MISMATCH = "topic_mismatch"


@dataclass(frozen=True, slots=True)
class Limits:
    """What ingest accepts: payload size and how far ahead of our clock a timestamp may be."""

    max_payload_bytes: int = 4096
    max_future_skew_ms: int = 300_000


@dataclass(frozen=True, slots=True)
class Accepted:
    """A valid event and the stream it belongs to."""

    event: Message
    stream: str

    @property
    def key(self) -> str:
        """Return the partition key: the device id."""
        return self.event.device_id


@dataclass(frozen=True, slots=True)
class Rejected:
    """A message that failed validation, with its reason and raw bytes."""

    reason: Reason
    detail: str
    topic: str
    payload: bytes
    received_ms: int

    def to_record(self) -> dict[str, Any]:
        """Return the dead-letter record (JSON-ready; raw bytes as base64)."""
        return {
            "reason": self.reason.value,
            "detail": self.detail,
            "topic": self.topic,
            "received_ms": self.received_ms,
            "size_bytes": len(self.payload),
            "payload_b64": base64.b64encode(self.payload).decode("ascii"),
        }


def parse_topic(topic: str) -> tuple[str, str, str] | None:
    """Split ``citywatch/v1/{kind}/{device_id}/{channel}``; None if it is not one of ours."""
    prefix = TOPIC_ROOT + "/"
    if not topic.startswith(prefix):
        return None
    parts = topic[len(prefix) :].split("/")
    if len(parts) != 3 or not all(parts):
        return None
    kind, device_id, channel = parts
    return kind, device_id, channel


def validate(topic: str, payload: bytes, now_ms: int, limits: Limits) -> Accepted | Rejected:
    """Validate a message once; ``now_ms`` is the receiver's clock, for future timestamps."""

    def reject(reason: Reason, detail: str) -> Rejected:
        return Rejected(reason, detail, topic, payload, now_ms)

    if len(payload) > limits.max_payload_bytes:
        return reject(Reason.OVERSIZE, f"{len(payload)} bytes > {limits.max_payload_bytes}")
    parsed = parse_topic(topic)
    model = model_for(parsed[0], parsed[2]) if parsed else None
    if parsed is None or model is None:
        return reject(Reason.UNKNOWN_TOPIC, f"no message kind is published on {topic!r}")
    context = {"latest_ts_ms": now_ms + limits.max_future_skew_ms}
    try:
        event = model.model_validate_json(payload, context=context)
    except ValidationError as exc:
        return reject(*_classify(exc))
    if event.device_id != parsed[1]:
        detail = f"body device_id {event.device_id!r} != topic device {parsed[1]!r}"
        return reject(Reason.TOPIC_MISMATCH, detail)
    return Accepted(event, STREAM_OF[model])


def _classify(exc: ValidationError) -> tuple[Reason, str]:
    """Name the reason of a validation error and keep pydantic's own description."""
    errors = exc.errors(include_url=False, include_input=False)
    types = {e["type"] for e in errors}
    detail = "; ".join(f"{'.'.join(map(str, e['loc'])) or '(body)'}: {e['msg']}" for e in errors)
    if "json_invalid" in types:
        return Reason.NOT_JSON, detail
    if any("in the future" in e["msg"] for e in errors):
        return Reason.FUTURE_TIMESTAMP, detail
    return Reason.SCHEMA, detail
