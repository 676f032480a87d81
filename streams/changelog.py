"""Write a batch of a stage's states to its faust table: into the store, and to the changelog in Kafka batches.

faust sends a changelog record per table write, each through its producer buffer, a future and a
callback: at thousands of events a second that was a third of a worker's time. A rules batch
instead puts its states into the table's store directly and sends their records as one Kafka
record batch per changelog partition (the same topic, keys and JSON values a faust write makes,
so a restore reads them as it always did), then waits until Kafka has them all. The agent awaits
that before it takes its next batch, so the batch's offsets are committed only after its states
are durable: a worker killed in between restores the states of the last committed batch and
reads the rest again.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from rules.engine import DeviceState


class ChangelogWriter:
    """Writes states to one table (raw keys, ``DeviceState`` values, the table's codec) in Kafka batches."""

    def __init__(self, app: Any, table: Any) -> None:
        self.app, self.table = app, table

    def producer(self) -> Any:
        """Return the aiokafka producer faust sends with (started with the worker)."""
        return self.app.producer._ensure_producer()

    async def write(self, writes: Iterable[tuple[bytes, DeviceState, int]]) -> int:
        """Put (key, state, partition) into the table and its changelog; wait until Kafka has them; return how many."""
        by_partition: dict[int, list[tuple[bytes, bytes]]] = defaultdict(list)
        store, dumps = self.table.data, self.table.value_serializer.dumps
        for key, state, partition in writes:
            store[key] = state
            by_partition[partition].append((key, dumps(state)))
        producer = self.producer()
        topic = self.table.changelog_topic.get_topic_name()
        sent = [fut for part, records in by_partition.items() for fut in await _send(producer, topic, part, records)]
        await asyncio.gather(*sent)
        return sum(len(records) for records in by_partition.values())


async def _send(producer: Any, topic: str, partition: int, records: list[tuple[bytes, bytes]]) -> list[Any]:
    """Send records to one partition in as few record batches as fit; return the batches' delivery futures."""
    futures, batch = [], producer.create_batch()
    for key, value in records:
        if batch.append(key=key, value=value, timestamp=None) is None:  # full: send it, start the next
            futures.append(await producer.send_batch(batch, topic, partition=partition))
            batch = producer.create_batch()
            if batch.append(key=key, value=value, timestamp=None) is None:
                raise ValueError(f"a state of {len(value)} bytes does not fit a record batch ({key!r})")
    if batch.record_count():
        futures.append(await producer.send_batch(batch, topic, partition=partition))
    return futures
