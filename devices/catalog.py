"""The wire catalog every room shares: the stream of each message kind, the topics, dead letters, watermarks.

Ingest forwards each validated message to the stream of its kind (a Kafka topic in the stack, a
queue in the embedded mode); the stream stages read them back with ``decode_event``. What cannot
be processed goes to the dead-letter stream as a ``DeadLetter`` record, with its reason and raw
bytes. Ingest also writes watermark records (key ``WATERMARK_KEY``) into every partition of every
event stream so quiet partitions see event time pass; every consumer skips them (``is_watermark``).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from devices.contracts import CameraEvent, DeviceStatus, FacilityReading, Message, SiteReading, VehiclePosition

STREAM_OF: dict[type[Message], str] = {
    VehiclePosition: "positions",
    CameraEvent: "camera-events",
    FacilityReading: "facility-readings",
    SiteReading: "site-readings",
    DeviceStatus: "status",
}
"""The logical stream (Kafka topic, before the prefix) each message kind is forwarded to."""

MODEL_OF: dict[str, type[Message]] = {stream: model for model, stream in STREAM_OF.items()}
EVENT_STREAMS = tuple(STREAM_OF.values())  # one per message kind, as ingest forwards them
ALERTS = "alerts"  # final alerts, keyed by alert id: what the ticket store applies
ALERTS_RAW = "alerts-raw"  # alerts before fusion, keyed by fusion key (plate or grid cell)
FACTS = "facts"  # facts between keyed stages, keyed by their key (collection point); one partition
DEADLETTER = "deadletter"  # what could not be validated or processed, with the reason
ALL_TOPICS = (*EVENT_STREAMS, ALERTS_RAW, FACTS, ALERTS, DEADLETTER)
SINGLE_PARTITION = (FACTS,)  # so one worker owns the deadline clock of every collection point


def decode_event(stream: str, value: bytes) -> Message:
    """Decode an event that ingest already validated, from its stream."""
    return MODEL_OF[stream].model_validate_json(value)


def encode_event(event: Message) -> bytes:
    """Return an event as the JSON bytes of its stream."""
    return event.model_dump_json().encode()


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
class DeadLetter:
    """A message that could not be validated or processed: why, where it came from, its raw bytes."""

    reason: str
    detail: str
    topic: str
    payload: bytes
    received_ms: int | None = None  # ingest's clock when it arrived (None: a stream stage failed on it)

    def to_record(self) -> dict[str, Any]:
        """Return the dead-letter record (JSON-ready; raw bytes as base64)."""
        record: dict[str, Any] = {"reason": str(self.reason), "detail": self.detail, "topic": self.topic}
        if self.received_ms is not None:
            record |= {"received_ms": self.received_ms, "size_bytes": len(self.payload)}
        return record | {"payload_b64": base64.b64encode(self.payload).decode("ascii")}

    def encode(self) -> bytes:
        """Return the record as JSON bytes for the dead-letter stream."""
        return json.dumps(self.to_record(), ensure_ascii=False).encode()


WATERMARK_KEY = b"\x00watermark"  # no device id starts with a NUL byte


@dataclass(frozen=True, slots=True)
class WatermarkRecord:
    """Event time up to which one ingest instance has forwarded everything it received."""

    source: str
    watermark_ms: int

    def encode(self) -> bytes:
        """Return the record's JSON value."""
        return json.dumps({"source": self.source, "watermark_ms": self.watermark_ms}).encode()

    @classmethod
    def decode(cls, value: bytes) -> WatermarkRecord:
        """Parse a record's value; raise ValueError when it is not one."""
        try:
            raw = json.loads(value)
            source, ts = raw["source"], raw["watermark_ms"]
        except (ValueError, TypeError, KeyError) as exc:
            raise ValueError(f"not a watermark record: {value[:80]!r}") from exc
        if not isinstance(source, str) or not isinstance(ts, int) or isinstance(ts, bool):
            raise ValueError(f"not a watermark record: {value[:80]!r}")
        return cls(source, ts)


def is_watermark(key: bytes | None) -> bool:
    """Tell a watermark record from an event by its key."""
    return key == WATERMARK_KEY
