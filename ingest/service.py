"""The ingest owner loop: take a batch from MQTT, validate each message once, forward, then ack."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import structlog

from devices.catalog import Accepted, DeadLetter
from ingest.mqtt_source import Inbound, MqttSource
from ingest.validate import Limits, Rejected, validate

log = structlog.get_logger("ingest")


class Sink(Protocol):
    """Where validated events and dead letters go (Kafka in the stack, the runner embedded)."""

    async def send(self, accepted: Sequence[Accepted], rejected: Sequence[DeadLetter]) -> None:
        """Forward a batch; return only once it is durably handed over."""


@dataclass
class IngestStats:
    """Counters of what ingest saw."""

    received: int = 0
    accepted: int = 0
    rejected: Counter[str] = field(default_factory=Counter)

    @property
    def deadlettered(self) -> int:
        """Return the number of messages sent to the dead-letter stream."""
        return sum(self.rejected.values())


def now_ms() -> int:
    """Return the wall clock in epoch milliseconds (the receiver's clock)."""
    return time.time_ns() // 1_000_000


def split(batch: list[Inbound], at_ms: int, limits: Limits) -> tuple[list[Accepted], list[Rejected]]:
    """Validate a batch and split it into accepted events and dead letters."""
    accepted: list[Accepted] = []
    rejected: list[Rejected] = []
    for item in batch:
        result = validate(item.topic, item.payload, at_ms, limits)
        (accepted if isinstance(result, Accepted) else rejected).append(result)  # type: ignore[arg-type]
    return accepted, rejected


class CountsLog:
    """Logs what ingest did every ``every_s`` (an ``ingest.counts`` line), not one line per dead letter.

    A flood of bad messages then costs one line a minute; each dead letter, with its reason and raw
    bytes, is in the dead-letter stream. A reason never seen before is logged at once, with an example.
    """

    def __init__(self, every_s: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.every_s, self.clock = every_s, clock
        self._last_at = clock()
        self._last = IngestStats()
        self._reasons_seen: set[str] = set()

    def after_batch(self, stats: IngestStats, rejected: Sequence[Rejected]) -> None:
        """Note a batch's outcome: log new dead-letter reasons now, and the counts when they are due."""
        for r in rejected:
            if r.reason.value not in self._reasons_seen:
                self._reasons_seen.add(r.reason.value)
                log.warning(
                    "ingest.deadletter_reason_first_seen", reason=r.reason.value, topic=r.topic, detail=r.detail
                )
        if self.clock() - self._last_at >= self.every_s:
            self.flush(stats)

    def flush(self, stats: IngestStats) -> None:
        """Log the counts since the last line (and the totals), then start a new period."""
        dead = stats.rejected - self._last.rejected
        log.info(
            "ingest.counts",
            received=stats.received - self._last.received,
            accepted=stats.accepted - self._last.accepted,
            deadlettered=sum(dead.values()),
            deadlettered_by_reason=dict(dead),
            period_s=round(self.clock() - self._last_at, 1),
            received_total=stats.received,
        )
        self._last = IngestStats(stats.received, stats.accepted, Counter(stats.rejected))
        self._last_at = self.clock()


class IngestService:
    """Moves messages from an MQTT source to a sink in batches."""

    def __init__(
        self,
        source: MqttSource,
        sink: Sink,
        limits: Limits,
        batch_size: int = 500,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        self.source, self.sink, self.limits = source, sink, limits
        self.batch_size = batch_size
        self.clock = clock
        self.stats = IngestStats()
        self.sending_since: float | None = None  # monotonic time the sink has been busy with a batch since
        self.observe_batch: Callable[[float], None] | None = None  # takes each batch's seconds (/metrics)
        self.counts_log = CountsLog()

    def stuck_for(self) -> float:
        """Return how long the sink has been busy with the current batch (0 when idle), in seconds."""
        return 0.0 if self.sending_since is None else time.monotonic() - self.sending_since

    async def run(self, stop: asyncio.Event) -> None:
        """Process batches until stop is set."""
        log.info("ingest.started", subscription=self.source.cfg.subscription)
        while not stop.is_set():
            batch = await asyncio.to_thread(self.source.get_batch, self.batch_size, 0.2)
            if batch:
                await self.handle(batch)
        log.info("ingest.stopped", **self.summary())

    async def handle(self, batch: list[Inbound]) -> None:
        """Validate, forward and acknowledge one batch."""
        started = time.perf_counter()
        accepted, rejected = split(batch, self.clock(), self.limits)
        self.sending_since = time.monotonic()
        await self.sink.send(accepted, rejected)
        self.sending_since = None
        self.source.ack(batch)
        if self.observe_batch is not None:
            self.observe_batch(time.perf_counter() - started)
        self.stats.received += len(batch)
        self.stats.accepted += len(accepted)
        self.stats.rejected.update(r.reason.value for r in rejected)
        self.counts_log.after_batch(self.stats, rejected)

    def summary(self) -> dict[str, object]:
        """Return the counters as a dict."""
        s = self.stats
        return {
            "received": s.received,
            "accepted": s.accepted,
            "deadlettered": s.deadlettered,
            "rejected_by_reason": dict(s.rejected),
        }
