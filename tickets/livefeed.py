"""The stack's feed of the live read model: the ticket service reads the event topics itself.

No consumer group (every ticket-service replica sees everything, commits nothing); on start it
seeks each partition to ``lookback_ms`` ago, so tracks around recent cases are there at once.
"""

from __future__ import annotations

import asyncio
import threading
import time

import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition

from streams.codec import decode_event
from streams.topics import ensure_topics
from tickets.live import KEEP_MS, LiveView

log = structlog.get_logger("tickets.livefeed")
STREAMS = ("positions", "facility-readings", "site-readings", "status")


class KafkaLiveFeed:
    """Consumes the event topics into a LiveView on a thread with its own event loop."""

    def __init__(self, bootstrap: str, prefix: str, live: LiveView, lookback_ms: int = KEEP_MS,
                 partitions: int = 4) -> None:
        self.bootstrap, self.prefix, self.live = bootstrap, prefix, live
        self.lookback_ms, self.partitions = lookback_ms, partitions
        self.received = 0
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
        except BaseException as exc:  # reported by stop() and the health endpoint
            self.error = exc
            log.error("livefeed.failed", error=repr(exc))

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
                    self.live.add_all(decode_event(stream, r.value) for r in records if r.value)
                    self.received += len(records)
        finally:
            await consumer.stop()

    async def _seek_back(self, consumer: AIOKafkaConsumer) -> None:
        tps = [TopicPartition(self.prefix + s, p) for s in STREAMS
               for p in sorted(consumer.partitions_for_topic(self.prefix + s) or await self._partitions(consumer, s))]
        consumer.assign(tps)
        since = time.time_ns() // 1_000_000 - self.lookback_ms
        found = await consumer.offsets_for_times({tp: since for tp in tps})
        for tp in tps:
            if found.get(tp) is not None:
                consumer.seek(tp, found[tp].offset)
            else:
                await consumer.seek_to_end(tp)

    async def _partitions(self, consumer: AIOKafkaConsumer, stream: str) -> set[int]:
        await consumer._client.force_metadata_update()  # a freshly created topic is not in the cache yet
        return consumer.partitions_for_topic(self.prefix + stream) or set()

    def stop(self) -> None:
        """Stop consuming and wait for the thread."""
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(timeout=15)
