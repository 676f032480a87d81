"""Watermark records: ingest's event-time progress, written into every partition of every event stream.

Silences and deadlines are judged against event time, not against a device's own messages. In the
stack each rule agent sees only its partitions, so a device alone on a quiet partition would never
see time pass. Ingest sees every message, so it tells every partition how far event time has got
(a punctuation, as in MillWheel / Dataflow sources): after forwarding a batch, when the largest
event time it has forwarded moved on by ``every_ms``, it writes one watermark record into each
partition of each event stream. Kafka keeps a producer's records of one partition in order, so
when an agent reads the record, it has already read everything ingest forwarded there before it.

A watermark record has the key ``WATERMARK_KEY`` (no device id starts with a NUL byte) and a small
JSON value; every consumer of the event streams skips it (``is_watermark``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

WATERMARK_KEY = b"\x00watermark"


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


class Punctuator:
    """Decides when ingest's event-time progress is worth telling the partitions again."""

    def __init__(self, source: str, every_ms: int = 5_000) -> None:
        self.source = source
        self.every_ms = every_ms
        self.max_ms = -1
        self._told_ms = -1

    def observe(self, ts_ms: int) -> None:
        """Advance with a forwarded event's time."""
        self.max_ms = max(self.max_ms, ts_ms)

    def due(self) -> WatermarkRecord | None:
        """Return the record to write when event time moved on enough since the last one."""
        if self.max_ms < 0 or self.max_ms - self._told_ms < self.every_ms:
            return None
        self._told_ms = self.max_ms
        return WatermarkRecord(self.source, self.max_ms)
