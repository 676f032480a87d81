"""One step of a stream agent: decode, look up state, run the engine, store state.

Shared by the faust agents; kept free of faust so it is testable on its own. Nothing may
escape an agent (faust would ack and drop the event silently), so every failure becomes a
``StepFailed`` that the agent sends to the dead-letter topic.
"""

from __future__ import annotations

import base64
import json
from collections.abc import MutableMapping
from typing import Any

from rules.alerts import Alert
from rules.engine import DeviceState, Engine
from streams.codec import decode_event
from streams.topics import DEADLETTER, EVENT_STREAMS

__all__ = ["DEADLETTER", "EVENT_STREAMS", "StepFailed", "step_record"]



class StepFailed(Exception):
    """An event could not be processed; carries what the dead-letter record needs."""

    def __init__(self, stream: str, value: bytes, reason: str) -> None:
        super().__init__(reason)
        self.stream, self.value, self.reason = stream, value, reason

    def record(self) -> bytes:
        """Return the dead-letter record as JSON bytes."""
        return json.dumps({
            "reason": "processing_error",
            "detail": self.reason,
            "topic": self.stream,
            "payload_b64": base64.b64encode(self.value).decode("ascii"),
        }).encode()


def step_record(
    engine: Engine, table: MutableMapping[Any, Any], stream: str, key: bytes, value: bytes
) -> list[Alert]:
    """Process one record of a stream against its state table; return the alerts."""
    try:
        event = decode_event(stream, value)
        raw = table.get(key)
        state = DeviceState.from_dict(raw) if raw is not None else None
        outcome = engine.process(state, event)
        table[key] = outcome.state.to_dict()
    except Exception as exc:  # noqa: BLE001 - a bad event is data, never a crash
        raise StepFailed(stream, value, f"{type(exc).__name__}: {exc}") from exc
    return outcome.alerts
