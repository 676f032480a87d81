"""Forward validated events to Kafka (stack mode): idempotent producer, acks=all, key = device id.

After each batch the sink writes watermark records into every partition of every event stream
when event time has moved on (see ``ingest.watermark``), so quiet partitions see time pass.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Sequence

from aiokafka import AIOKafkaProducer

from devices.catalog import DEADLETTER, EVENT_STREAMS, WATERMARK_KEY, Accepted, DeadLetter, encode_event
from ingest.watermark import Punctuator


class KafkaSink:
    """Sends each batch and waits for every record's acknowledgement before returning."""

    def __init__(
        self, bootstrap: str, topic_prefix: str = "", watermark_every_ms: int = 5_000, source: str | None = None
    ) -> None:
        self.prefix = topic_prefix
        self.punctuator = Punctuator(source or f"{socket.gethostname()}:{os.getpid()}", watermark_every_ms)
        self.watermarks_sent = 0
        self.producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap,
            enable_idempotence=True,
            acks="all",
            linger_ms=5,
            max_batch_size=256 * 1024,
            client_id="citywatch-ingest",
        )

    async def start(self) -> None:
        """Connect to the cluster."""
        await self.producer.start()

    async def stop(self) -> None:
        """Flush and disconnect."""
        await self.producer.stop()

    async def send(self, accepted: Sequence[Accepted], rejected: Sequence[DeadLetter]) -> None:
        """Send a batch; return once Kafka acknowledged all of it."""
        futures = [
            await self.producer.send(self.prefix + a.stream, key=a.key.encode(), value=encode_event(a.event))
            for a in accepted
        ]
        futures += [
            await self.producer.send(
                self.prefix + DEADLETTER,
                key=r.topic.encode(),
                value=r.encode(),
            )
            for r in rejected
        ]
        for a in accepted:
            self.punctuator.observe(a.event.ts_ms)
        futures += await self._watermarks()
        if futures:
            await asyncio.gather(*futures)

    async def _watermarks(self) -> list[asyncio.Future[object]]:
        """Write a watermark record into each partition of each event stream, if one is due."""
        record = self.punctuator.due()
        if record is None:
            return []
        value, futures = record.encode(), []
        for stream in sorted(EVENT_STREAMS):
            topic = self.prefix + stream
            for partition in sorted(await self.producer.partitions_for(topic)):  # cached metadata
                futures.append(await self.producer.send(topic, key=WATERMARK_KEY, value=value, partition=partition))
        self.watermarks_sent += len(futures)
        return futures
