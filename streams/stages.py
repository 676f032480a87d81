"""The one stage driver: the engine's three stages over injected state maps, for both runners.

Stage 1 runs an event through its device's rules, stage 2 a fact against the state of its key
(a collection point, a site), stage 3 fuses an alert with the others of its fusion key. Both the
faust agents (state in faust tables) and the embedded runner (state in memory) call these, so
they fail alike: a step that raises stores no state and comes back as a ``StepFailed`` carrying
the input's raw bytes and the reason, which the runner dead-letters before it goes on. A device's
watermark tick that raises keeps the device's state as it was and comes back as a ``StepFailed``
too (stream ``TICK``, the device and watermark as its record); the other devices tick on.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, MutableMapping
from typing import Any, Protocol

from devices.catalog import DeadLetter
from devices.contracts import Message
from rules.alerts import Alert
from rules.city_index import Place
from rules.engine import DeviceState, Engine, Outcome
from rules.facts import Fact
from streams.codec import decoded

__all__ = [
    "PROCESSING_ERROR",
    "TICK",
    "MemoryStates",
    "StageDriver",
    "States",
    "StepFailed",
    "TableStates",
    "as_state",
]
PROCESSING_ERROR = "processing_error"  # the dead-letter reason of an input a stage failed on
TICK = "tick"  # the dead-letter stream of a device's watermark tick that raised


class StepFailed(Exception):
    """An input could not be processed; carries what the dead-letter record needs."""

    def __init__(self, stream: str, value: bytes, reason: str, key: bytes = b"") -> None:
        super().__init__(reason)
        self.stream, self.value, self.reason, self.key = stream, value, reason, key

    def dead_letter(self) -> DeadLetter:
        """Return the dead letter of the input (reason ``processing_error``, the error as detail)."""
        return DeadLetter(PROCESSING_ERROR, self.reason, self.stream, self.value)

    def record(self) -> bytes:
        """Return the dead-letter record as JSON bytes."""
        return self.dead_letter().encode()


class States(Protocol):
    """The states of one stage, by key (device id, fact key or fusion key)."""

    def get(self, key: str) -> DeviceState | None:
        """Return the key's state, None if it has none yet."""

    def put(self, key: str, state: DeviceState) -> None:
        """Keep the key's new state."""


class TableStates:
    """A faust table as a stage's states: raw keys, ``DeviceState`` values (``streams.state_codec`` makes
    the changelog's JSON). A state equal to the one in the table is not written again.

    ``deferred`` holds the writes back until ``flush``: a device seen several times in a batch is
    written to the changelog once. ``partition`` is the source partition of the input being
    processed; ``flush`` writes each key in the context of the partition it was last put from.
    """

    def __init__(self, table: MutableMapping[Any, Any], deferred: bool = False) -> None:
        self.table, self.deferred = table, deferred
        self.partition = 0
        self.pending: dict[bytes, tuple[DeviceState, int]] = {}

    def get(self, key: str) -> DeviceState | None:
        """Return the key's state (a write not yet flushed included), None if it has none yet."""
        k = key.encode()
        if (held := self.pending.get(k)) is not None:
            return held[0]
        return as_state(self.table.get(k))

    def put(self, key: str, state: DeviceState) -> None:
        """Keep the key's new state: write it to the table now, or at ``flush`` when deferred."""
        if self.deferred:
            self.pending[key.encode()] = (state, self.partition)
        else:
            self._write(key.encode(), state)

    def stored_keys(self) -> list[bytes]:
        """Return every key with a state (in the table or waiting for ``flush``)."""
        return list(self.table.keys() | self.pending.keys())

    def flush(self, enter_partition: Callable[[int], None] = lambda partition: None) -> int:
        """Write the held states that changed, each after ``enter_partition`` of its partition; return how many."""
        changed = self.take_changed()
        for k, state, partition in changed:
            enter_partition(partition)
            self.table[k] = state
        return len(changed)

    def take_changed(self) -> list[tuple[bytes, DeviceState, int]]:
        """Return the held states that differ from the table's, with their partitions, and hold nothing more."""
        changed = [(k, state, part) for k, (state, part) in self.pending.items() if self._differs(k, state)]
        self.pending.clear()
        return changed

    def _write(self, k: bytes, state: DeviceState) -> bool:
        if not self._differs(k, state):
            return False
        self.table[k] = state
        return True

    def _differs(self, k: bytes, state: DeviceState) -> bool:
        old = self.table.get(k)
        return old is not state and old != state


def as_state(value: Any) -> DeviceState | None:
    """Return a table value as a state: decoded if read from the changelog (``Encoded``); a table without the
    state codec holds ``to_dict`` dicts."""
    value = decoded(value)
    if value is None or isinstance(value, DeviceState):
        return value
    return DeviceState.from_dict(value)


class MemoryStates:
    """States in memory that remember which keys changed since the last commit (the embedded runner's)."""

    def __init__(self) -> None:
        self.states: dict[str, DeviceState] = {}
        self.dirty: set[str] = set()

    def get(self, key: str) -> DeviceState | None:
        """Return the key's state, None if it has none yet."""
        return self.states.get(key)

    def put(self, key: str, state: DeviceState) -> None:
        """Keep the key's new state; remember it for the next commit if it changed."""
        if self.states.get(key) != state:
            self.dirty.add(key)
        self.states[key] = state

    def items(self) -> Iterator[tuple[str, DeviceState]]:
        """Return the keys and their states (a copy: a tick may put while iterating)."""
        return iter(list(self.states.items()))


class StageDriver:
    """Runs one step of a stage of the engine; a step that raises becomes a ``StepFailed``."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def event(
        self, states: States, event: Message, place: Place | None, stream: str, raw: Callable[[], bytes]
    ) -> Outcome | StepFailed:
        """Stage 1: run an event through its device's rules and keep the device's new state."""
        try:
            outcome = self.engine.process(states.get(event.device_id), event, place)
        except Exception as exc:
            return _failed(stream, raw, exc)
        states.put(event.device_id, outcome.state)
        return outcome

    def fact(self, states: States, fact: Fact, stream: str, raw: Callable[[], bytes]) -> Outcome | StepFailed:
        """Stage 2: run a fact against the state of its key and keep the key's new state."""
        try:
            outcome = self.engine.process_fact(states.get(fact.key), fact)
        except Exception as exc:
            return _failed(stream, raw, exc)
        states.put(fact.key, outcome.state)
        return outcome

    def fuse(self, states: States, alert: Alert, stream: str, raw: Callable[[], bytes]) -> list[Alert] | StepFailed:
        """Stage 3: fuse an alert with the others of its fusion key; return the final alerts."""
        key = self.engine.fusion_key(alert)
        try:
            state, alerts = self.engine.fuse(states.get(key), alert)
        except Exception as exc:
            return _failed(stream, raw, exc)
        states.put(key, state)
        return alerts

    def tick_device(
        self, states: States, device_id: str, state: DeviceState, watermark_ms: int
    ) -> Outcome | StepFailed:
        """Advance a device's watermark-driven rules (silence, expiring episodes) to the watermark."""
        try:
            outcome = self.engine.tick(state, device_id, watermark_ms)
        except Exception as exc:
            tick = json.dumps({"device_id": device_id, "watermark_ms": watermark_ms}).encode()
            return StepFailed(TICK, tick, f"{type(exc).__name__}: {exc}", device_id.encode())
        states.put(device_id, outcome.state)
        return outcome

    def tick_keys(self, states: States, watermark_ms: int) -> list[Alert]:
        """Advance every fact key (collection points, sites) to the watermark; return the alerts."""
        alerts: list[Alert] = []
        for key in self.engine.fact_keys():
            outcome = self.engine.tick_key(states.get(key), key, watermark_ms)
            states.put(key, outcome.state)
            alerts += outcome.alerts
        return alerts


def _failed(stream: str, raw: Callable[[], bytes], exc: Exception) -> StepFailed:
    return StepFailed(stream, raw(), f"{type(exc).__name__}: {exc}")
