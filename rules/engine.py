"""The rule engine: route each event to the rules that apply to its device, per-device state in, alerts out.

Both runners (the faust agents and the embedded runner) call the engine and nothing else, so the
logic has one code path. The engine is pure: the city data comes in at construction, time comes
in the events (or, for silences and deadlines, in an event-time watermark the runner passes).

Three keyed stages, each a pure function of (state, input):
1. per device: ``process`` (an event) and ``tick`` (a watermark) -> alerts and facts;
2. per fact key (a collection point; a site judged against a background station): ``process_fact`` and
   ``tick_key``;
3. per fusion key (a plate or grid cell): ``fuse`` merges alerts of one real-world violation.
The faust app re-keys between stages through Kafka topics; the embedded runner calls them in turn.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, cast

from devices.contracts import Message, VehiclePosition
from devices.inventory import City
from rules import pipelines
from rules.alerts import Alert
from rules.catalog import state_types
from rules.city_index import CityIndex, Place
from rules.facts import Fact
from rules.state import FlatState


@dataclass(frozen=True, slots=True)
class DeviceState:
    """Everything the rules remember about one device, serialisable for a faust table."""

    last_seq: int = -1
    last_ts_ms: int = -1
    rules: Mapping[str, Any] = field(default_factory=dict)
    newest: tuple[str, ...] = ()  # fingerprints of the events at last_ts_ms (a few)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        rules = {name: s.to_dict() for name, s in self.rules.items()}
        return {"last_seq": self.last_seq, "last_ts_ms": self.last_ts_ms, "rules": rules, "newest": list(self.newest)}

    def to_serialisable(self) -> dict[str, Any]:
        """Return what ``to_dict`` returns, with each flat rule state left a dataclass: a JSON encoder that
        writes dataclasses field by field (orjson) makes the same JSON without the copies."""
        rules = {name: s if type(s).to_dict is FlatState.to_dict else s.to_dict() for name, s in self.rules.items()}
        return {"last_seq": self.last_seq, "last_ts_ms": self.last_ts_ms, "rules": rules, "newest": list(self.newest)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DeviceState:
        """Rebuild the state from the dict ``to_dict`` made (a state saved before ``newest`` existed has none)."""
        rules = {name: state_types()[name].from_dict(s) for name, s in d["rules"].items()}
        return cls(d["last_seq"], d["last_ts_ms"], rules, tuple(d.get("newest", ())))


@dataclass(frozen=True, slots=True)
class Outcome:
    """The result of one input: the new state, alerts, facts for other keys, and whether it was a duplicate."""

    state: DeviceState
    alerts: list[Alert]
    duplicate: bool = False
    facts: list[Fact] = field(default_factory=list)


NEWEST_KEPT = 4  # events of one device at one timestamp whose fingerprints are kept


def is_duplicate(state: DeviceState, event: Message, mark: str | None = None) -> bool:
    """Tell a redelivery from a device that restarted its counter: seq and time not newer, or the device's
    newest event again under a new seq (same time, same fingerprint ``mark``)."""
    if event.seq <= state.last_seq and event.ts_ms <= state.last_ts_ms:
        return True
    return event.ts_ms == state.last_ts_ms and mark in state.newest


def fingerprint(event: Message) -> str:
    """Return a short digest of everything an event says but its ``seq``."""
    return hashlib.blake2b(event.model_dump_json(exclude={"seq"}).encode(), digest_size=8).hexdigest()


def _newest(state: DeviceState, ts_ms: int, mark: str | None) -> tuple[str, ...]:
    """Return the fingerprints of the device's newest events once an event of ts_ms (fingerprint mark) is in."""
    if mark is None:  # an older event: the newest stay
        return state.newest
    if ts_ms == state.last_ts_ms:
        return (*state.newest, mark)[-NEWEST_KEPT:]
    return (mark,)


class Engine:
    """Runs the rule catalog for one city."""

    def __init__(self, city: City) -> None:
        self.city = city
        self.index = CityIndex(city)

    def set_suspended(self, companies: frozenset[str]) -> None:
        """Take the companies suspended now (退出机制): their trucks must not drive. Input, like a city change."""
        self.index.suspended = frozenset(companies)

    def locate(self, events: Sequence[Message]) -> list[Place | None]:
        """Return where each truck position of a batch is (None for other events), vectorised over the batch."""
        rows = [i for i, e in enumerate(events) if isinstance(e, VehiclePosition)]
        places: list[Place | None] = [None] * len(events)
        located = self.index.locate([cast(VehiclePosition, events[i]) for i in rows])
        for i, place in zip(rows, located, strict=True):
            places[i] = place
        return places

    def process(self, state: DeviceState | None, event: Message, place: Place | None = None) -> Outcome:
        """Advance a device's state by one event; drop duplicates. ``place``: from ``locate``, for a batch.

        An event older than the device's newest but with a newer ``seq`` is not a duplicate: a truck's
        blind-area upload, judged in its gap apart from the live rules (``rules/pipelines/late.py``).
        A device's newest event sent again under a new ``seq`` is a duplicate too: a JT/T 808 report the
        gateway published but could not answer before it died comes again on the terminal's next
        connection, which numbers it anew. It has the newest time and says the same (its fingerprint).
        """
        state = state or DeviceState()
        mark = fingerprint(event) if event.ts_ms >= state.last_ts_ms else None
        if is_duplicate(state, event, mark):
            return Outcome(state, [], duplicate=True)
        rules = dict(state.rules)
        out = pipelines.run_event(self.index, rules, event, place)
        new = DeviceState(event.seq, max(state.last_ts_ms, event.ts_ms), rules, _newest(state, event.ts_ms, mark))
        return Outcome(new, self.enrich(out.alerts), facts=out.facts)

    def tick(self, state: DeviceState, device_id: str, watermark_ms: int) -> Outcome:
        """Advance a device's state to an event-time watermark (silences, expiring episodes)."""
        rules = dict(state.rules)
        out = pipelines.run_tick(self.index, rules, device_id, state.last_ts_ms, watermark_ms)
        return Outcome(replace(state, rules=rules), self.enrich(out.alerts), facts=out.facts)

    def process_fact(self, state: DeviceState | None, fact: Fact) -> Outcome:
        """Advance the state of a fact's key (e.g. a collection point) by the fact."""
        state = state or DeviceState()
        rules = dict(state.rules)
        out = pipelines.run_fact(self.index, rules, fact)
        new = DeviceState(state.last_seq, max(state.last_ts_ms, fact.ts_ms), rules)
        return Outcome(new, self.enrich(out.alerts), facts=out.facts)

    def fact_keys(self) -> list[str]:
        """Return every fact key whose state a watermark can advance (collection points, PM10 site keys)."""
        return pipelines.fact_keys(self.index)

    def tick_key(self, state: DeviceState | None, key: str, watermark_ms: int) -> Outcome:
        """Advance a fact key's state to a watermark (deadlines)."""
        state = state or DeviceState()
        rules = dict(state.rules)
        out = pipelines.run_key_tick(self.index, rules, key, watermark_ms)
        return Outcome(replace(state, rules=rules), self.enrich(out.alerts), facts=out.facts)

    def fusion_key(self, alert: Alert) -> str:
        """Return the key alerts of one real-world violation share: the plate, else the grid cell."""
        return pipelines.fusion.fusion_key(self.index, alert)[0]

    def fuse(self, state: DeviceState | None, alert: Alert) -> tuple[DeviceState, list[Alert]]:
        """Merge an alert into the open alert of the same violation, if any (one violation, one alert)."""
        state = state or DeviceState()
        rules = dict(state.rules)
        alerts = pipelines.run_fusion(self.index, rules, alert)
        return DeviceState(state.last_seq, max(state.last_ts_ms, alert.ts_ms), rules), alerts

    def enrich(self, alerts: list[Alert]) -> list[Alert]:
        """Stamp alerts with their grid cell, responsible unit, owner and the city version they were judged under."""
        return [self._enrich_one(a) for a in alerts]

    def _enrich_one(self, alert: Alert) -> Alert:
        cell = self.index.cell_at(alert.lon, alert.lat)
        owner = alert.owner or self.index.owner_of(alert.subject)
        version = self.city.meta.version
        if cell is None:
            return replace(alert, owner=owner, city_version=version)
        return replace(alert, grid_code=cell.code, unit=cell.unit, owner=owner, city_version=version)
