"""The embedded runner: the same rule engine as the faust agents, in one process without Kafka."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import structlog

from devices.contracts import DeviceStatus, Message
from ingest.validate import Accepted, Rejected
from rules.alerts import Alert
from rules.engine import DeviceState, Engine
from rules.facts import Fact
from streams.step import Watermark
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
    """Runs the engine's three stages in memory and applies the final alerts to the ticket store."""

    def __init__(self, engine: Engine, store: TicketStore, taps: Sequence[Tap] = ()) -> None:
        self.engine = engine
        self.store = store
        self.taps = list(taps)
        self.states: dict[str, DeviceState] = {}
        self.key_states: dict[str, DeviceState] = {}
        self.fusion_states: dict[str, DeviceState] = {}
        self.watermark = Watermark()  # the largest event time seen; ticks every 10 s of it
        self.stats = RunnerStats()
        self.recent_alerts: list[Alert] = []
        self.latest: dict[str, Message] = {}  # last telemetry of each device, for live screens

    def process(self, events: list[Message]) -> list[Alert]:
        """Run a batch of events through the rules and store the resulting alerts."""
        alerts, facts = self._devices(events)
        tick_alerts, tick_facts = self._tick()
        alerts += tick_alerts + self._facts(facts + tick_facts)
        final = self._fuse(alerts)
        self._record(final)
        for tap in self.taps:
            tap.on_batch(events, final)
        return final

    def _devices(self, events: list[Message]) -> tuple[list[Alert], list[Fact]]:
        """Stage 1: each event through its device's rules."""
        alerts: list[Alert] = []
        facts: list[Fact] = []
        for event, place in zip(events, self.engine.locate(events), strict=True):  # geometry: once per batch
            outcome = self.engine.process(self.states.get(event.device_id), event, place)
            self.states[event.device_id] = outcome.state
            self.stats.duplicates += outcome.duplicate
            if not isinstance(event, DeviceStatus):
                self.latest[event.device_id] = event
            self.watermark.observe(event.ts_ms)
            alerts += outcome.alerts
            facts += outcome.facts
        self.stats.events += len(events)
        return alerts, facts

    def _tick(self) -> tuple[list[Alert], list[Fact]]:
        """Advance every device and fact key to the watermark, every tick of event time."""
        if not self.watermark.due():
            return [], []
        watermark_ms = self.watermark.value_ms
        alerts: list[Alert] = []
        facts: list[Fact] = []
        for device_id, state in self.states.items():
            outcome = self.engine.tick(state, device_id, watermark_ms)
            self.states[device_id] = outcome.state
            alerts, facts = alerts + outcome.alerts, facts + outcome.facts
        for key in self.engine.fact_keys():
            outcome = self.engine.tick_key(self.key_states.get(key), key, watermark_ms)
            self.key_states[key] = outcome.state
            alerts += outcome.alerts
        return alerts, facts

    def _facts(self, facts: list[Fact]) -> list[Alert]:
        """Stage 2: facts to the state of their key."""
        alerts: list[Alert] = []
        for fact in facts:
            outcome = self.engine.process_fact(self.key_states.get(fact.key), fact)
            self.key_states[fact.key] = outcome.state
            alerts += outcome.alerts
        return alerts

    def _fuse(self, alerts: list[Alert]) -> list[Alert]:
        """Stage 3: alerts of one real-world violation become one."""
        fused: list[Alert] = []
        for alert in alerts:
            key = self.engine.fusion_key(alert)
            self.fusion_states[key], out = self.engine.fuse(self.fusion_states.get(key), alert)
            fused += out
        return fused

    def _record(self, alerts: list[Alert]) -> None:
        self.stats.alerts.update(f"{a.rule}:{a.phase.value}" for a in alerts)
        if not alerts:
            return
        self.store.apply(alerts)
        self.recent_alerts = (self.recent_alerts + alerts)[-50:]
        for a in alerts:
            log.info("alert", rule=a.rule, phase=a.phase.value, subject=a.subject, id=a.alert_id)


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
