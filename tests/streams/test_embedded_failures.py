"""A rule that raises on one event: the embedded runner dead-letters it with the reason and goes on, as the stack does."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from pathlib import Path

from citywatch.activity import RecentAlerts
from devices.catalog import STREAM_OF, decode_event
from devices.contracts import Message, VehiclePosition
from devices.inventory import load_city
from devices.sim.generator import generate
from devices.sim.scenario import load_scenario
from rules.alerts import Alert
from rules.engine import Engine
from streams.embedded import DeadLetterFile, EmbeddedRunner, Tap
from tickets.live import LiveView
from tickets.store import TicketStore

REPO = Path(__file__).resolve().parents[2]
START_MS = 1_795_000_000_000


class RuleBug(Exception):
    """What a broken rule raises."""


def run(
    tmp_path: Path, poisoned: tuple[str, int] | None, taps: Sequence[Tap] = ()
) -> tuple[EmbeddedRunner, list[Message]]:
    """Replay the catalog scenario; the engine raises on the event of device poisoned[0] with seq poisoned[1]."""
    city = load_city(REPO / "cities" / "demo")
    scenario = load_scenario(REPO / "scenarios" / "catalog.yaml", city)
    engine = Engine(city)
    process = engine.process

    def buggy(state, event, place=None):  # type: ignore[no-untyped-def]
        if poisoned is not None and (event.device_id, event.seq) == poisoned:
            raise RuleBug("state machine reached an impossible phase")
        return process(state, event, place)

    engine.process = buggy  # type: ignore[method-assign]
    runner = EmbeddedRunner(engine, TicketStore(tmp_path / f"t{poisoned is not None}.sqlite"), taps=taps)
    messages = list(generate(city, scenario, 7, scenario.pinned_start_ms(city.meta.timezone) or START_MS))
    for i in range(0, len(messages), 200):
        runner.process(messages[i : i + 200])
    return runner, messages


def test_a_rule_raising_on_one_event_dead_letters_it_and_every_other_case_still_opens(tmp_path: Path) -> None:
    clean, messages = run(tmp_path, None)
    victim = next(m for m in messages if isinstance(m, VehiclePosition) and m.seq > 5)
    runner, _ = run(tmp_path, (victim.device_id, victim.seq))
    (dead,) = runner.drain_failed()
    record = json.loads(dead.encode())
    assert record["reason"] == "processing_error" and record["topic"] == STREAM_OF[VehiclePosition]
    assert record["detail"] == "RuleBug: state machine reached an impossible phase"
    assert decode_event(record["topic"], base64.b64decode(record["payload_b64"])) == victim
    assert runner.stats.failed == 1 and runner.drain_failed() == []
    others = sorted((t.rule, t.subject) for t in clean.store.list() if t.subject != victim.device_id)
    assert sorted((t.rule, t.subject) for t in runner.store.list() if t.subject != victim.device_id) == others


def test_the_dead_letter_file_gets_the_stage_failure(tmp_path: Path) -> None:
    runner, _ = run(tmp_path, ("gps-m01", 3))
    file = DeadLetterFile(tmp_path / "dead.jsonl")
    file.write(runner.drain_failed())
    file.close()
    (line,) = (tmp_path / "dead.jsonl").read_text(encoding="utf-8").splitlines()
    assert json.loads(line)["detail"].startswith("RuleBug")


class AllAlerts:
    """A tap that keeps every alert."""

    def __init__(self) -> None:
        self.alerts: list[Alert] = []

    def on_batch(self, events: list[Message], alerts: list[Alert]) -> None:
        self.alerts += alerts


def test_the_demo_taps_keep_the_newest_fix_and_the_last_alerts(tmp_path: Path) -> None:
    live_map, recent = LiveView(), RecentAlerts(keep=5)
    fix = {"device_id": "gps-1", "seq": 1, "lon": 114.3, "lat": 30.6, "speed_kmh": 10.0, "heading_deg": 0}
    newer = VehiclePosition(ts_ms=2_000_000_000_000, **fix)
    late = VehiclePosition(ts_ms=1_999_999_999_000, **{**fix, "seq": 2})
    live_map.on_batch([newer, late], [])
    assert live_map.latest_messages() == [newer]  # a late (blind-area) fix does not move the truck back
    everything = AllAlerts()
    run(tmp_path, None, taps=[recent, everything])
    assert len(everything.alerts) > 5 and recent.recent() == everything.alerts[-5:]


def test_a_tick_that_raises_dead_letters_that_device_and_the_run_goes_on(tmp_path: Path) -> None:
    """The embedded runner's ticks: a device whose tick raises is a dead letter per tick, never a dead thread."""
    city = load_city(REPO / "cities" / "demo")
    scenario = load_scenario(REPO / "scenarios" / "catalog.yaml", city)
    engine = Engine(city)
    tick = engine.tick

    def buggy(state, device_id, watermark_ms):  # type: ignore[no-untyped-def]
        if device_id == "gps-m01":
            raise RuleBug("tick of a broken rule")
        return tick(state, device_id, watermark_ms)

    engine.tick = buggy  # type: ignore[method-assign]
    runner = EmbeddedRunner(engine, TicketStore(tmp_path / "t.sqlite"))
    messages = list(generate(city, scenario, 7, scenario.pinned_start_ms(city.meta.timezone) or START_MS))
    for i in range(0, len(messages), 200):
        runner.process(messages[i : i + 200])
    dead = [json.loads(d.encode()) for d in runner.drain_failed()]
    assert dead, "the broken tick is reported"
    assert {(d["topic"], d["detail"]) for d in dead} == {("tick", "RuleBug: tick of a broken rule")}
    assert {json.loads(base64.b64decode(d["payload_b64"]))["device_id"] for d in dead} == {"gps-m01"}
    assert runner.stats.events == len(messages)  # every event still processed
    assert any(t.subject != "gps-m01" for t in runner.store.list())  # and the others' cases opened
