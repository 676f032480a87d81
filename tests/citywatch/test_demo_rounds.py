"""Live demo rounds: the pause between them keeps the round boundary free of false alarms."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from citywatch.demo import round_gap_s
from devices.inventory import load_city
from devices.sim.generator import generate
from devices.sim.scenario import load_scenario
from rules.engine import Engine
from rules.params import params_of
from streams.embedded import EmbeddedRunner
from tickets.store import TicketStore

REPO = Path(__file__).resolve().parents[2]
START_MS = 1_795_000_000_000


def two_rounds(gap_s: float, tmp_path: Path) -> tuple[Counter[tuple[str, str]], list[tuple[str, str]]]:
    """Run the demo scenario twice, the second round after the gap, as the demo's live rounds do."""
    city = load_city(REPO / "cities" / "demo")
    scenario = load_scenario(REPO / "scenarios" / "demo.yaml", city)
    second_ms = START_MS + round((scenario.duration_s + gap_s) * 1000)
    messages = [*generate(city, scenario, 7, START_MS), *generate(city, scenario, 8, second_ms)]
    store = TicketStore(tmp_path / "t.sqlite")
    runner = EmbeddedRunner(Engine(city), store)
    for k in range(0, len(messages), 200):
        runner.process(messages[k : k + 200])
    tickets = Counter((t.rule, t.subject) for t in store.list())
    store.close()
    return tickets, sorted((e.rule, e.subject) for e in scenario.expected)


def test_the_gap_is_a_plausible_drive_and_short_of_a_silence() -> None:
    city = load_city(REPO / "cities" / "demo")
    gap = round_gap_s(city)
    assert 0 < gap < params_of(city).silence.vehicle_s
    assert gap * params_of(city).gps_anomaly.max_speed_kmh / 3.6 > 7_000  # the demo city is ~7.7 km corner to corner


def test_two_rounds_with_the_gap_raise_only_the_planted_violations_twice(tmp_path: Path) -> None:
    tickets, planted = two_rounds(round_gap_s(load_city(REPO / "cities" / "demo")), tmp_path)
    assert tickets == Counter(dict.fromkeys(planted, 2))


def test_without_the_gap_trucks_jump_between_rounds(tmp_path: Path) -> None:
    tickets, _ = two_rounds(0.0, tmp_path)
    assert any(rule == "gps_anomaly" for rule, _ in tickets)  # what the gap is for
