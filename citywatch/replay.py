"""Back-test: run recorded events through the engine with a given city and rule parameters, as fast as it goes.

The events come from ingest's archive (``CITYWATCH_INGEST_ARCHIVE_DIR``, ``ingest.archive``) or
from the stack's source topics in Kafka (read once, start to end). They run through the embedded
runner's stages (the same code the live pipelines run) with nothing stored; the cases the run
would have opened are compared with the ones in a ticket database (what was raised live).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer

from devices.catalog import EVENT_STREAMS, decode_event, is_watermark
from devices.contracts import Message
from devices.inventory import City
from rules.alerts import Alert, Phase
from rules.engine import Engine
from streams.embedded import EmbeddedRunner
from streams.offsets import end_offsets

Case = tuple[str, str, int]  # rule, subject, opened (event time, ms)


class ReplayStore:
    """The runner's store for a back-test: keeps the alerts, stores no state."""

    def __init__(self) -> None:
        self.alerts: list[Alert] = []

    def apply(self, alerts: list[Alert], states: Mapping[Any, Mapping[str, Any] | None] | None = None) -> int:
        """Keep a batch's alerts."""
        self.alerts += alerts
        return len(alerts)

    def load_states(self) -> dict[Any, dict[str, Any]]:
        """Return no states: a replay starts afresh."""
        return {}


@dataclass
class ReplayResult:
    """What a replay raised, and how fast it went."""

    events: int
    seconds: float
    alerts: list[Alert] = field(default_factory=list)

    @property
    def rate(self) -> float:
        """Events per second."""
        return self.events / self.seconds if self.seconds > 0 else 0.0

    def cases(self) -> set[Case]:
        """Return the cases the replay opened (one per OPEN alert that fusion let through)."""
        return {(a.rule, a.subject, a.ts_ms) for a in self.alerts if a.phase == Phase.OPEN}


def replay(city: City, events: Iterable[Message], batch_size: int = 2000) -> ReplayResult:
    """Run events through the engine in batches; return the alerts and the speed."""
    store = ReplayStore()
    runner = EmbeddedRunner(Engine(city), store)
    began, count, batch = time.perf_counter(), 0, []
    for event in events:
        batch.append(event)
        if len(batch) >= batch_size:
            runner.process(batch)
            count, batch = count + len(batch), []
    if batch:
        runner.process(batch)
        count += len(batch)
    return ReplayResult(count, time.perf_counter() - began, store.alerts)


def diff(replayed: set[Case], live: set[Case]) -> tuple[list[Case], list[Case]]:
    """Return the cases only the replay opened and those only the live run opened, in time order."""
    return sorted(replayed - live, key=_when), sorted(live - replayed, key=_when)


def _when(case: Case) -> tuple[int, str, str]:
    return case[2], case[0], case[1]


def kafka_events(bootstrap: str, prefix: str) -> list[Message]:
    """Return every event on the stack's source topics (watermark records left out), in event-time order."""
    return sorted(asyncio.run(_read_sources(bootstrap, prefix)), key=lambda m: (m.ts_ms, m.device_id, m.seq))


async def _read_sources(bootstrap: str, prefix: str) -> list[Message]:
    topics = {prefix + stream: stream for stream in EVENT_STREAMS}
    ends = {tp: end for tp, end in (await end_offsets(bootstrap, list(topics))).items() if end > 0}
    if not ends:
        return []
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    await consumer.start()
    events: list[Message] = []
    try:
        consumer.assign(list(ends))
        await consumer.seek_to_beginning(*ends)
        while [tp for tp, end in ends.items() if await consumer.position(tp) < end]:
            for tp, records in (await consumer.getmany(timeout_ms=500, max_records=50_000)).items():
                events += (
                    decode_event(topics[tp.topic], r.value)
                    for r in records
                    if r.offset < ends[tp] and r.value is not None and not is_watermark(r.key or b"")
                )
    finally:
        await consumer.stop()
    return events
