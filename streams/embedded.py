"""The embedded runner: the same rule engine as the faust agents, in one process without Kafka."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol
from pathlib import Path

import structlog

from devices.contracts import DeviceStatus, Message
from ingest.validate import Accepted, Rejected
from rules.alerts import Alert
from rules.engine import DeviceState, Engine
from tickets.store import TicketStore

log = structlog.get_logger("streams.embedded")


@dataclass
class RunnerStats:
    """Counters of what the runner processed."""

    events: int = 0
    duplicates: int = 0
    alerts: Counter[str] = field(default_factory=Counter)


class Tap(Protocol):
    """Something else that wants every batch of events and alerts (e.g. a time-series writer)."""

    def on_batch(self, events: list[Message], alerts: list[Alert]) -> None:
        """Take a processed batch; must not block for long (buffer and write elsewhere)."""


class EmbeddedRunner:
    """Keeps per-device rule state in memory and applies alerts to the ticket store."""

    def __init__(self, engine: Engine, store: TicketStore, taps: Sequence[Tap] = ()) -> None:
        self.engine = engine
        self.store = store
        self.taps = list(taps)
        self.states: dict[str, DeviceState] = {}
        self.stats = RunnerStats()
        self.recent_alerts: list[Alert] = []
        self.latest: dict[str, Message] = {}  # last telemetry of each device, for live screens

    def process(self, events: list[Message]) -> list[Alert]:
        """Run a batch of events through the rules and store the resulting alerts."""
        alerts: list[Alert] = []
        for event in events:
            outcome = self.engine.process(self.states.get(event.device_id), event)
            self.states[event.device_id] = outcome.state
            self.stats.duplicates += outcome.duplicate
            if not isinstance(event, DeviceStatus):
                self.latest[event.device_id] = event
            alerts.extend(outcome.alerts)
        self.stats.events += len(events)
        self.stats.alerts.update(f"{a.rule}:{a.phase.value}" for a in alerts)
        if alerts:
            self.store.apply(alerts)
            self.recent_alerts = (self.recent_alerts + alerts)[-50:]
            for a in alerts:
                log.info("alert", rule=a.rule, phase=a.phase.value, subject=a.subject, id=a.alert_id)
        for tap in self.taps:
            tap.on_batch(events, alerts)
        return alerts


class DeadLetterFile:
    """Appends dead-letter records to a JSON-lines file (the embedded dead-letter stream)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._file = path.open("a", encoding="utf-8")

    def write(self, rejected: list[Rejected]) -> None:
        """Append and flush the records."""
        for r in rejected:
            self._file.write(json.dumps(r.to_record(), ensure_ascii=False) + "\n")
        self._file.flush()

    def close(self) -> None:
        """Close the file."""
        self._file.close()


class EmbeddedSink:
    """The ingest sink of the embedded mode: events to the runner, dead letters to a file."""

    def __init__(self, runner: EmbeddedRunner, deadletters: DeadLetterFile) -> None:
        self.runner = runner
        self.deadletters = deadletters

    async def send(self, accepted: list[Accepted], rejected: list[Rejected]) -> None:
        """Process the batch in this process."""
        if rejected:
            self.deadletters.write(rejected)
        if accepted:
            self.runner.process([a.event for a in accepted])
