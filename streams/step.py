"""One step of a stream agent: decode, look up state, run the engine, store state.

Shared by the faust agents; kept free of faust so it is testable on its own. Nothing may
escape an agent (faust would ack and drop the event silently), so every failure becomes a
``StepFailed`` that the agent sends to the dead-letter topic.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from aiokafka.partitioner import murmur2
from pydantic import BaseModel

from devices.catalog import ALERTS_RAW, DEADLETTER, EVENT_STREAMS, FACTS, WatermarkRecord, decode_event, is_watermark
from devices.contracts import Message
from rules.alerts import Alert
from rules.city_index import Place
from rules.engine import DeviceState, Engine, Outcome
from rules.facts import Fact
from streams.codec import decode_alert, decode_fact, decoded
from streams.stages import StageDriver, StepFailed, TableStates

__all__ = [
    "DEADLETTER",
    "EVENT_STREAMS",
    "Prepared",
    "Record",
    "StepFailed",
    "Watermark",
    "advance_low_watermark",
    "prepare",
    "step_fact",
    "step_fusion",
    "step_prepared",
    "tick_keys",
    "tick_partition",
]


Table = MutableMapping[Any, Any]
WATERMARK_FACT = "watermark"  # sent to the facts stage so deadlines advance with event time


class Watermark:
    """The event-time progress of one partition, and when its watermark-driven rules are due.

    It moves with the partition's own events and with the watermark records ingest writes into
    the partition (``ingest.watermark``). With several ingest instances it follows the slowest
    of those still writing: an instance whose last record is more than ``idle_ms`` behind the
    newest one has stopped (or restarted under a new name) and no longer holds time back.
    """

    def __init__(self, tick_ms: int = 10_000, idle_ms: int = 300_000) -> None:
        self.tick_ms = tick_ms
        self.idle_ms = idle_ms
        self.value_ms = -1
        self._ticked_ms = -1
        self._sources: dict[str, int] = {}

    def observe(self, ts_ms: int) -> None:
        """Advance with an event's time."""
        self.value_ms = max(self.value_ms, ts_ms)

    def punctuate(self, source: str, ts_ms: int) -> None:
        """Advance with an upstream watermark record: to the slowest live source's mark."""
        self._sources[source] = max(ts_ms, self._sources.get(source, -1))
        newest = max(self._sources.values())
        self._sources = {s: t for s, t in self._sources.items() if t >= newest - self.idle_ms}
        self.observe(min(self._sources.values()))

    def due(self) -> bool:
        """Tell whether event time advanced a tick since the last tick (and mark it done)."""
        if self.value_ms - self._ticked_ms < self.tick_ms:
            return False
        self._ticked_ms = self.value_ms
        return True

    def to_dict(self) -> dict[str, Any]:
        """Return the progress as a JSON-ready dict (the embedded runner stores it with its states)."""
        return {"value_ms": self.value_ms, "ticked_ms": self._ticked_ms, "sources": dict(self._sources)}

    def restore(self, d: Mapping[str, Any]) -> None:
        """Take back the progress ``to_dict`` saved."""
        self.value_ms, self._ticked_ms = int(d["value_ms"]), int(d["ticked_ms"])
        self._sources = {str(k): int(v) for k, v in d.get("sources", {}).items()}


@dataclass(frozen=True, slots=True)
class Record:
    """One Kafka record of an event stream, as the agent got it."""

    partition: int
    key: bytes
    value: bytes


Result = Outcome | StepFailed  # an outcome to forward, or a record to dead-letter


@dataclass(frozen=True, slots=True)
class Prepared:
    """A record decoded, with where it is if it is a truck position."""

    record: Record
    item: Message | WatermarkRecord | StepFailed
    place: Place | None = None


def prepare(engine: Engine, stream: str, records: Sequence[Record]) -> list[Prepared]:
    """Decode a batch of records and locate its truck positions at once (``Engine.locate``)."""
    decoded = [_decode(stream, r) for r in records]
    places = iter(engine.locate([d for d in decoded if isinstance(d, BaseModel)]))
    return [
        Prepared(r, d, next(places) if isinstance(d, BaseModel) else None)
        for r, d in zip(records, decoded, strict=True)
    ]


def step_prepared(
    stages: StageDriver, states: TableStates, stream: str, prepared: Prepared, watermark: Watermark, partitions: int
) -> list[Result]:
    """Run one prepared record: an event through its device's rules, a watermark record into the
    partition's ``Watermark``; then tick the partition's devices if its event time advanced a tick."""
    record, item = prepared.record, prepared.item
    states.partition = record.partition
    results: list[Result] = []
    if isinstance(item, BaseModel):
        results.append(_process(stages, states, stream, record, item, prepared.place, watermark))
    elif isinstance(item, WatermarkRecord):
        watermark.punctuate(item.source, item.watermark_ms)
    else:
        results.append(item)
    if watermark.due():
        results += tick_partition(stages, states, watermark.value_ms, record.partition, partitions, source=stream)
    return results


def _decode(stream: str, record: Record) -> Message | WatermarkRecord | StepFailed:
    """Decode a record: an event, an ingest watermark record, or why it is neither."""
    try:
        if is_watermark(record.key):
            return WatermarkRecord.decode(record.value)
        return decode_event(stream, record.value)
    except Exception as exc:
        return StepFailed(stream, record.value, f"{type(exc).__name__}: {exc}", record.key)


def _process(
    stages: StageDriver,
    states: TableStates,
    stream: str,
    record: Record,
    event: Message,
    place: Place | None,
    watermark: Watermark,
) -> Result:
    """Run one event through its device's rules (state in the table); advance the watermark."""
    result = stages.event(states, event, place, stream, lambda: record.value)
    if isinstance(result, StepFailed):
        result.key = record.key
    elif not result.duplicate:
        watermark.observe(event.ts_ms)
    return result


def step_fact(stages: StageDriver, table: Table, key: bytes, value: bytes) -> Outcome:
    """Process one fact against the state of its key (a watermark fact advances every key)."""
    try:
        fact = decode_fact(value)
        if fact.kind == WATERMARK_FACT:
            low = advance_low_watermark(table, str(fact.data.get("source", "")), fact.ts_ms)
            return Outcome(DeviceState(), tick_keys(stages, table, low) if low is not None else [])
    except Exception as exc:
        raise StepFailed(FACTS, value, f"{type(exc).__name__}: {exc}") from exc
    result = stages.fact(TableStates(table), fact, FACTS, lambda: value)
    if isinstance(result, StepFailed):
        raise result
    return result


def step_fusion(stages: StageDriver, table: Table, key: bytes, value: bytes) -> list[Alert]:
    """Fuse one raw alert with the others of its key; return the final alerts."""
    try:
        alert = decode_alert(value)
    except Exception as exc:
        raise StepFailed(ALERTS_RAW, value, f"{type(exc).__name__}: {exc}") from exc
    result = stages.fuse(TableStates(table), alert, ALERTS_RAW, lambda: value)
    if isinstance(result, StepFailed):
        raise result
    return result


@lru_cache(maxsize=1 << 20)  # murmur2 is pure Python; every partition tick asks for every key of the table
def partition_of(key: bytes, partitions: int) -> int:
    """Return the partition Kafka's default partitioner gives a key (as ingest's producer does)."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


SOURCE_CLOCKS_KEY = b"\x00source-clocks"  # the facts table's record of each source partition's event time
LEGACY_SOURCE_CLOCKS_KEY = b"\x00watermarks"  # its name before 2026-12 (one letter from WATERMARK_KEY)


def advance_low_watermark(table: Table, source: str, ts_ms: int) -> int | None:
    """Record a source partition's event time; return the new low watermark if it moved up.

    Deadlines are judged at the minimum over every source partition that has reported, never at
    one partition's own clock: a partition running ahead must not declare a point missed whose
    service is still on its way from a lagging partition. A source that falls silent holds the
    low watermark back (deadlines judged late, never wrongly).
    """
    stored = decoded(table.get(SOURCE_CLOCKS_KEY)) or decoded(table.get(LEGACY_SOURCE_CLOCKS_KEY))
    record = dict(stored or {"sources": {}, "low": -1})
    sources = {**record["sources"], source: max(ts_ms, record["sources"].get(source, -1))}
    low = min(sources.values())
    table[SOURCE_CLOCKS_KEY] = {"sources": sources, "low": max(low, record["low"])}
    return low if low > record["low"] else None


def tick_partition(
    stages: StageDriver, states: TableStates, watermark_ms: int, partition: int, partitions: int, source: str = ""
) -> list[Result]:
    """Advance the device states of one partition to the watermark; return all alerts and facts (one
    ``Outcome``), then the ticks that failed (a ``StepFailed`` each: the device keeps its state).

    Runs inside the stream, on an event of that partition, so the table's changelog writes go to
    the right partition; keys of other partitions are left to their own partition's ticks. A device
    whose tick changed nothing is not written again.
    """
    total, failed = Outcome(DeviceState(), []), []
    for key in states.stored_keys():
        if partition_of(key, partitions) != partition or (state := states.get(key.decode())) is None:
            continue
        outcome = stages.tick_device(states, key.decode(), state, watermark_ms)
        if isinstance(outcome, StepFailed):
            failed.append(outcome)
            continue
        total.alerts.extend(outcome.alerts)
        total.facts.extend(outcome.facts)
    total.facts.append(Fact(WATERMARK_FACT, WATERMARK_FACT, watermark_ms, {"source": f"{source}:{partition}"}))
    return [total, *failed]


def tick_keys(stages: StageDriver, table: Table, watermark_ms: int) -> list[Alert]:
    """Advance every fact key (collection points) to the watermark; return the alerts."""
    return stages.tick_keys(TableStates(table), watermark_ms)
