"""Replay scenarios through the embedded runner in-process (no broker): exactly the planted violations.

The same scenarios run through MQTT, Kafka and faust in tests/e2e; this replay pins the rule
catalog itself, fast, for every scenario that declares what it plants.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from devices.inventory import load_city
from devices.sim.generator import generate
from devices.sim.scenario import load_scenario
from rules.engine import Engine
from streams.embedded import EmbeddedRunner
from tickets.store import TicketStore

REPO = Path(__file__).resolve().parents[2]
START_MS = 1_795_000_000_000  # a fixed start: replays are deterministic
SCENARIOS = sorted(p.name for p in (REPO / "scenarios").glob("*.yaml"))


def replay(name: str, seed: int, tmp_path: Path, batch_size: int = 200) -> list[tuple[str, str]]:
    city = load_city(REPO / "cities" / "demo")
    scenario = load_scenario(REPO / "scenarios" / name, city)
    runner = EmbeddedRunner(Engine(city), TicketStore(tmp_path / "t.sqlite"))
    start_ms = scenario.pinned_start_ms(city.meta.timezone) or START_MS
    batch = []
    for message in generate(city, scenario, seed, start_ms):
        batch.append(message)
        if len(batch) == batch_size:
            runner.process(batch)
            batch = []
    runner.process(batch)
    keys = sorted((t.rule, t.subject) for t in runner.store.list())
    runner.store.close()
    return keys


@pytest.mark.parametrize("name", SCENARIOS)
@pytest.mark.parametrize("seed", [7, 11])
def test_replay_raises_exactly_the_planted_violations(name: str, seed: int, tmp_path: Path) -> None:
    city = load_city(REPO / "cities" / "demo")
    expected = sorted((e.rule, e.subject) for e in load_scenario(REPO / "scenarios" / name, city).expected)
    assert replay(name, seed, tmp_path) == expected


@pytest.mark.parametrize("name", ["catalog.yaml"])
def test_one_batch_of_the_whole_run_raises_the_same_violations(name: str, tmp_path: Path) -> None:
    """A backlog arriving as one batch: a terminal silent and back inside it is still judged silent."""
    city = load_city(REPO / "cities" / "demo")
    expected = sorted((e.rule, e.subject) for e in load_scenario(REPO / "scenarios" / name, city).expected)
    assert ("silent_device", "gps-m05") in expected
    assert replay(name, 7, tmp_path, batch_size=1_000_000) == expected
