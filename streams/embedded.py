"""The embedded runner: the same rule engine as the faust agents, in one process without Kafka."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Protocol

import structlog

from devices.catalog import ALERTS_RAW, FACTS, STREAM_OF, Accepted, DeadLetter, encode_event
from devices.contracts import Message
from rules.alerts import Alert
from rules.engine import DeviceState, Engine
from rules.facts import Fact
from streams.codec import encode_alert, encode_fact
from streams.stages import MemoryStates, StageDriver, StepFailed
from streams.step import Watermark

log = structlog.get_logger("streams.embedded")


@dataclass
class RunnerStats:
    """Counters of what the runner processed."""

    events: int = 0
    duplicates: int = 0
    failed: int = 0  # events, facts or alerts a stage raised on: dead-lettered, the batch went on
    alerts: Counter[str] = field(default_factory=Counter)


class Tap(Protocol):
    """Something else that wants every batch of events and alerts (e.g. a time-series writer)."""

    def on_batch(self, events: list[Message], alerts: list[Alert]) -> None:
        """Take a processed batch; must not block for long (buffer and write elsewhere)."""


class CaseStore(Protocol):
    """Where the runner commits each batch: its final alerts and the rule states that made them."""

    def apply(self, alerts: list[Alert], states: Mapping[StateKey, Mapping[str, Any] | None] | None = None) -> int:
        """Write alerts and states in one transaction; return how many alerts were new."""

    def load_states(self) -> dict[StateKey, dict[str, Any]]:
        """Return the states committed so far."""


StateKey = tuple[str, str]  # (scope, key)
DEVICE, KEY, FUSION, RUNNER = "device", "key", "fusion", "runner"  # the scopes of the runner's state
WATERMARK = (RUNNER, "watermark")
STATS = (RUNNER, "stats")  # events and duplicates over every run: published = events - duplicates + dead letters


class EmbeddedRunner:
    """Runs the engine's three stages in memory and commits each batch's alerts with its states.

    Every batch ends with one ``store.apply``: the final alerts and every state the batch changed
    (device, fact key, fusion key, the watermark), so ``resume`` after a crash starts exactly
    where the last committed batch ended.
    """

    def __init__(
        self,
        engine: Engine,
        store: CaseStore,
        taps: Sequence[Tap] = (),
        suspensions: Callable[[], frozenset[str]] | None = None,
        suspensions_every_s: float = 10.0,
    ) -> None:
        self.engine = engine
        self.store = store
        self.taps = list(taps)
        self.suspensions = suspensions  # the companies suspended now (退出机制), as the faust worker's timer:
        self.suspensions_every_s = suspensions_every_s  # read at the first batch, then at most this often
        self._suspensions_read: float | None = None
        self.stages = StageDriver(engine)
        self._next_engine: Engine | None = None  # a new city version's, taken at the next batch
        self.states, self.key_states, self.fusion_states = MemoryStates(), MemoryStates(), MemoryStates()
        self.watermark = Watermark()  # the largest event time seen; ticks every 10 s of it
        self.stats = RunnerStats()
        self.failed: list[DeadLetter] = []  # what the stages raised on since drain_failed()
        self._scopes = {DEVICE: self.states, KEY: self.key_states, FUSION: self.fusion_states}

    def resume(self) -> dict[str, int]:
        """Load the states committed by an earlier run; return how many of each scope came back."""
        counts: Counter[str] = Counter()
        for (scope, key), raw in self.store.load_states().items():
            if (scope, key) == WATERMARK:
                self.watermark.restore(raw)
            elif (scope, key) == STATS:
                self.stats.events, self.stats.duplicates = int(raw["events"]), int(raw["duplicates"])
            elif scope in self._scopes and self._restore(scope, key, raw):
                counts[scope] += 1
            else:
                counts["unreadable"] += 1
        log.info("runner.resumed", watermark_ms=self.watermark.value_ms, **counts)
        return dict(counts)

    def _restore(self, scope: str, key: str, raw: dict[str, Any]) -> bool:
        try:
            self._scopes[scope].states[key] = DeviceState.from_dict(raw)
        except (KeyError, TypeError, ValueError) as exc:  # a state of an older rule version: start that key afresh
            log.warning("runner.state_unreadable", scope=scope, key=key, error=str(exc)[:200])
            return False
        return True

    def adopt(self, engine: Engine) -> None:
        """Judge with a new city version's engine from the next batch on (any thread); rule states carry over."""
        self._next_engine = engine

    def _take_new_engine(self) -> None:
        """Switch to the engine ``adopt`` left, between batches, keeping the suspended companies."""
        engine, self._next_engine = self._next_engine, None
        if engine is not None:
            engine.set_suspended(self.engine.index.suspended)
            self.engine, self.stages = engine, StageDriver(engine)
            log.info("runner.city_adopted", city_version=engine.city.meta.version)

    def process(self, events: list[Message]) -> list[Alert]:
        """Run a batch of events through the rules; commit its alerts and states together."""
        self._take_new_engine()
        self._refresh_suspensions()
        alerts, facts = self._devices(events)
        alerts += self._facts(facts)
        final = self._fuse(alerts)
        self._record(final)
        for tap in self.taps:
            tap.on_batch(events, final)
        return final

    def _refresh_suspensions(self) -> None:
        """Give the rules the suspended companies, without a store query on every batch of the hot path."""
        now = time.monotonic()
        if self.suspensions is None or (
            self._suspensions_read is not None and now - self._suspensions_read < self.suspensions_every_s
        ):
            return
        self.engine.set_suspended(self.suspensions())
        self._suspensions_read = now

    def _devices(self, events: list[Message]) -> tuple[list[Alert], list[Fact]]:
        """Stage 1: each event through its device's rules, ticking the watermark as event time passes.

        A tick falls between the events where event time crosses it, as in the stack's agents, so a
        batch's size never changes what is judged: a terminal silent for minutes and back within one
        large batch (a backlog, a slow machine) is still seen silent.
        """
        alerts: list[Alert] = []
        facts: list[Fact] = []
        for event, place in zip(events, self.engine.locate(events), strict=True):  # geometry: once per batch
            outcome = self.stages.event(self.states, event, place, STREAM_OF[type(event)], partial(encode_event, event))
            if isinstance(outcome, StepFailed):
                self._failed(outcome)
                continue
            self.stats.duplicates += outcome.duplicate
            self.watermark.observe(event.ts_ms)
            alerts += outcome.alerts
            facts += outcome.facts
            if self.watermark.due():  # what happened before the tick reaches its keys first
                alerts += self._facts(facts) + self._tick()
                facts = []
        self.stats.events += len(events)
        return alerts, facts

    def _tick(self) -> list[Alert]:
        """Advance every device, then every fact key, to the watermark (when a tick of event time is due)."""
        watermark_ms = self.watermark.value_ms
        alerts: list[Alert] = []
        facts: list[Fact] = []
        for device_id, state in self.states.items():
            outcome = self.stages.tick_device(self.states, device_id, state, watermark_ms)
            if isinstance(outcome, StepFailed):
                self._failed(outcome)  # the device keeps its state; the others tick on
                continue
            alerts, facts = alerts + outcome.alerts, facts + outcome.facts
        alerts += self._facts(facts)
        alerts += self.stages.tick_keys(self.key_states, watermark_ms)
        return alerts

    def _facts(self, facts: list[Fact]) -> list[Alert]:
        """Stage 2: facts to the state of their key."""
        alerts: list[Alert] = []
        for fact in facts:
            outcome = self.stages.fact(self.key_states, fact, FACTS, partial(encode_fact, fact))
            if isinstance(outcome, StepFailed):
                self._failed(outcome)
                continue
            alerts += outcome.alerts
        return alerts

    def _failed(self, failed: StepFailed) -> None:
        """Keep the dead letter of an input a stage raised on (as the stack's agents send theirs)."""
        log.error("runner.step_failed", stream=failed.stream, error=failed.reason[:300])
        self.failed.append(failed.dead_letter())
        self.stats.failed += 1

    def drain_failed(self) -> list[DeadLetter]:
        """Return and forget the dead letters of the stages since the last call."""
        failed, self.failed = self.failed, []
        return failed

    def _fuse(self, alerts: list[Alert]) -> list[Alert]:
        """Stage 3: alerts of one real-world violation become one."""
        fused: list[Alert] = []
        for alert in alerts:
            out = self.stages.fuse(self.fusion_states, alert, ALERTS_RAW, partial(encode_alert, alert))
            if isinstance(out, StepFailed):
                self._failed(out)
                continue
            fused += out
        return fused

    def _record(self, alerts: list[Alert]) -> None:
        """Commit the batch: its alerts and the states it changed, in one transaction."""
        self.stats.alerts.update(f"{a.rule}:{a.phase.value}" for a in alerts)
        changes: dict[StateKey, Mapping[str, Any] | None] = {
            (scope, key): states.states[key].to_serialisable()  # orjson writes the flat states' dataclasses
            for scope, states in self._scopes.items()
            for key in states.dirty
        }
        if changes:
            changes[WATERMARK] = self.watermark.to_dict()
            changes[STATS] = {"events": self.stats.events, "duplicates": self.stats.duplicates}
        self.store.apply(alerts, changes)
        for states in self._scopes.values():
            states.dirty.clear()
        for a in alerts:
            log.info("alert", rule=a.rule, phase=a.phase.value, subject=a.subject, id=a.alert_id)


class DeadLetterFile:
    """Appends dead-letter records to a JSON-lines file (the embedded dead-letter stream)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._file = path.open("a", encoding="utf-8")

    def write(self, rejected: Sequence[DeadLetter]) -> None:
        """Append and flush the records."""
        for r in rejected:
            self._file.write(r.encode().decode("utf-8") + "\n")
        self._file.flush()

    def close(self) -> None:
        """Close the file."""
        self._file.close()


class EmbeddedSink:
    """The ingest sink of the embedded mode: events to the runner, dead letters to a file."""

    def __init__(self, runner: EmbeddedRunner, deadletters: DeadLetterFile) -> None:
        self.runner = runner
        self.deadletters = deadletters

    async def send(self, accepted: Sequence[Accepted], rejected: Sequence[DeadLetter]) -> None:
        """Process the batch in this process, off the event loop (the commit may wait for the database)."""
        await asyncio.to_thread(self._send, accepted, rejected)

    def _send(self, accepted: Sequence[Accepted], rejected: Sequence[DeadLetter]) -> None:
        if rejected:
            self.deadletters.write(rejected)
        if accepted:
            self.runner.process([a.event for a in accepted])
            failed = self.runner.drain_failed()
            if failed:
                self.deadletters.write(failed)
