"""Watermark records: ingest's event-time progress, written into every partition of every event stream.

Silences and deadlines are judged against event time, not against a device's own messages. In the
stack each rule agent sees only its partitions, so a device alone on a quiet partition would never
see time pass. Ingest sees every message, so it tells every partition how far event time has got
(a punctuation, as in MillWheel / Dataflow sources): after forwarding a batch, when the largest
event time it has forwarded moved on by ``every_ms``, it writes one watermark record into each
partition of each event stream. Kafka keeps a producer's records of one partition in order, so
when an agent reads the record, it has already read everything ingest forwarded there before it.

The record itself (key ``WATERMARK_KEY``, a small JSON value, skipped by every consumer of the event
streams) is part of the wire catalog, ``devices.catalog``.
"""

from __future__ import annotations

from devices.catalog import WatermarkRecord


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
