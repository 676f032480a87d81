"""The stack's feed of a live read model (the ticket service's map): it reads the event topics itself.

No consumer group (every ticket-service replica sees everything, commits nothing); on start it
seeks each partition to ``lookback_ms`` ago, so tracks around recent cases are there at once.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterable
from typing import Protocol

import structlog
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from devices.catalog import STREAM_OF, decode_event, is_watermark
from devices.contracts import DeviceStatus, FacilityReading, Message, SiteReading, VehiclePosition
from streams.topics import ensure_topics

log = structlog.get_logger("streams.livefeed")
STREAMS = tuple(
    STREAM_OF[m] for m in (VehiclePosition, FacilityReading, SiteReading, DeviceStatus)
)  # what the live map shows


class LiveModel(Protocol):
    """A read model the feed keeps current (``tickets.live.LiveView``)."""

    def add_all(self, events: Iterable[Message]) -> None:
        """Take in a batch of events."""


class KafkaLiveFeed:
    """Consumes the event topics into a live read model on a thread with its own event loop."""

    def __init__(self, bootstrap: str, prefix: str, live: LiveModel, lookback_ms: int, partitions: int = 4) -> None:
        self.bootstrap, self.prefix, self.live = bootstrap, prefix, live
        self.lookback_ms, self.partitions = lookback_ms, partitions
        self.received = 0
        self.skipped = 0  # records that do not decode as their stream's message (logged, never fatal)
        self.error: BaseException | None = None
        self._loop = asyncio.new_event_loop()
        self._stop = asyncio.Event()
        self._thread = threading.Thread(target=self._serve, name="live-feed", daemon=True)

    def start(self) -> None:
        """Start consuming."""
        self._thread.start()

    def _serve(self) -> None:
        try:
            self._loop.run_until_complete(self._run())
        except BaseException as exc:
            self.error = exc
            log.error("livefeed.failed", error=repr(exc))
        finally:
            self._loop.run_until_complete(self._loop.shutdown_asyncgens())
            self._loop.close()

    async def _run(self) -> None:
        await ensure_topics(self.bootstrap, self.prefix, self.partitions)
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, group_id=None, enable_auto_commit=False)
        await consumer.start()
        try:
            await self._seek_back(consumer)
            while not self._stop.is_set():
                batch = await consumer.getmany(timeout_ms=500)
                for tp, records in batch.items():
                    stream = tp.topic.removeprefix(self.prefix)
                    self.live.add_all(self._decode(stream, tp, records))
                    self.received += len(records)
        finally:
            await consumer.stop()

    def _decode(self, stream: str, tp: TopicPartition, records: list[ConsumerRecord]) -> list[Message]:
        """Decode a batch, skipping (and logging) the records that are not a valid message of the stream."""
        events: list[Message] = []
        for r in records:
            if not r.value or is_watermark(r.key):
                continue
            try:
                events.append(decode_event(stream, r.value))
            except ValueError as exc:  # pydantic's ValidationError: not JSON, wrong schema
                self.skipped += 1
                log.warning(
                    "livefeed.undecodable",
                    topic=tp.topic,
                    partition=tp.partition,
                    offset=r.offset,
                    error=str(exc).splitlines()[0],
                )
        return events

    async def _seek_back(self, consumer: AIOKafkaConsumer) -> None:
        tps = [
            TopicPartition(self.prefix + s, p)
            for s in STREAMS
            for p in sorted(consumer.partitions_for_topic(self.prefix + s) or await self._partitions(consumer, s))
        ]
        consumer.assign(tps)
        # The end offsets are taken first and sought to explicitly: seek_to_end() only resolves the
        # end at the next fetch, so records produced meanwhile (e.g. just after the topics were
        # created) were skipped. Anything past these ends is newer than ``since``, so no gap.
        ends = await consumer.end_offsets(tps)
        since = time.time_ns() // 1_000_000 - self.lookback_ms
        found = await consumer.offsets_for_times(dict.fromkeys(tps, since))
        for tp in tps:
            consumer.seek(tp, found[tp].offset if found.get(tp) is not None else ends[tp])

    async def _partitions(self, consumer: AIOKafkaConsumer, stream: str) -> set[int]:
        await consumer._client.force_metadata_update()  # a freshly created topic is not in the cache yet
        return consumer.partitions_for_topic(self.prefix + stream) or set()

    def running(self) -> bool:
        """Tell whether the feed's thread still reads (it ends on an error, kept in ``error``)."""
        return self._thread.is_alive()

    def stop(self) -> None:
        """Stop consuming and wait for the thread."""
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(timeout=15)
