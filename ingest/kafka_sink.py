"""Forward validated events to Kafka (stack mode): idempotent producer, acks=all, key = device id."""

from __future__ import annotations

import asyncio
import json

from aiokafka import AIOKafkaProducer

from ingest.validate import Accepted, Rejected

DEADLETTER = "deadletter"  # the dead-letter stream; streams.topics creates it with the others


class KafkaSink:
    """Sends each batch and waits for every record's acknowledgement before returning."""

    def __init__(self, bootstrap: str, topic_prefix: str = "") -> None:
        self.prefix = topic_prefix
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

    async def send(self, accepted: list[Accepted], rejected: list[Rejected]) -> None:
        """Send a batch; return once Kafka acknowledged all of it."""
        futures = [
            await self.producer.send(
                self.prefix + a.stream, key=a.key.encode(), value=a.event.model_dump_json().encode()
            )
            for a in accepted
        ]
        futures += [
            await self.producer.send(
                self.prefix + DEADLETTER,
                key=r.topic.encode(),
                value=json.dumps(r.to_record(), ensure_ascii=False).encode(),
            )
            for r in rejected
        ]
        if futures:
            await asyncio.gather(*futures)
