"""The engine benchmark runs, and every batch size raises the same alerts (it measures one behaviour)."""

from __future__ import annotations

from pathlib import Path

from benchmarks.engine import percentile, run
from devices.inventory import load_city
from devices.sim.generator import generate
from devices.sim.scenario import load_scenario

REPO = Path(__file__).resolve().parents[2]


def test_batch_sizes_agree_and_latencies_are_reported() -> None:
    city = load_city(REPO / "cities" / "demo")
    messages = list(generate(city, load_scenario(REPO / "scenarios" / "foundation.yaml", city), 7, 1_795_000_000_000))
    results = {batch: run(city, messages, batch) for batch in (1, 64, 1000)}
    assert len({alerts for _, _, alerts in results.values()}) == 1 and results[1][2] > 0
    assert [len(lat) for _, lat, _ in results.values()] == [
        len(messages),
        -(-len(messages) // 64),
        -(-len(messages) // 1000),
    ]
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5 and percentile([7.0], 99) == 7.0
