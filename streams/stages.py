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

__all__ = ["PROCESSING_ERROR", "TICK", "MemoryStates", "StageDriver", "States", "StepFailed", "TableStates"]
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
    """A faust table as a stage's states: raw keys, JSON values (the table's changelog holds them)."""

    def __init__(self, table: MutableMapping[Any, Any]) -> None:
        self.table = table

    def get(self, key: str) -> DeviceState | None:
        """Return the key's state, None if it has none yet."""
        raw = self.table.get(key.encode())
        return DeviceState.from_dict(raw) if raw is not None else None

    def put(self, key: str, state: DeviceState) -> None:
        """Write the key's new state to the table."""
        self.table[key.encode()] = state.to_dict()


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
