"""Benchmark: the rule engine's throughput, per-batch latency and memory, per event vs batched geometry.

Runs a scenario's messages (simulated, deterministic) through ``Engine`` the way the runners do:
in batches, ``Engine.locate`` once per batch, then ``Engine.process`` per event. A batch of 1 is
the per-event path (geometry for one point at a time). Prints one table row per batch size::

    .venv/bin/python -m benchmarks.engine --scenario scenarios/catalog.yaml --batches 1 50 500
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time
import tracemalloc
from pathlib import Path

from citywatch.city import load_city
from devices.contracts import Message
from devices.inventory import City
from devices.sim.generator import generate
from devices.sim.scenario import load_scenario
from rules.engine import DeviceState, Engine

REPO = Path(__file__).resolve().parent.parent


def run(city: City, messages: list[Message], batch: int) -> tuple[float, list[float], int]:
    """Process every message; return the seconds taken, each batch's latency (ms) and the alerts raised."""
    engine, states, alerts, latencies = Engine(city), dict[str, DeviceState](), 0, []
    started = time.perf_counter()
    for k in range(0, len(messages), batch):
        chunk, t0 = messages[k : k + batch], time.perf_counter()
        for message, place in zip(chunk, engine.locate(chunk), strict=True):
            outcome = engine.process(states.get(message.device_id), message, place)
            states[message.device_id] = outcome.state
            alerts += len(outcome.alerts)
        latencies.append((time.perf_counter() - t0) * 1000)
    return time.perf_counter() - started, latencies, alerts


def percentile(values: list[float], q: float) -> float:
    """Return the q-th percentile (0-100) of the values."""
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1] if len(values) > 1 else values[0]


def main() -> None:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", type=Path, default=REPO / "scenarios" / "catalog.yaml")
    parser.add_argument("--city", type=Path, default=REPO / "cities" / "demo")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 50, 200, 500])
    args = parser.parse_args()
    city = load_city(args.city)
    scenario = load_scenario(args.scenario, city)
    messages = list(
        generate(city, scenario, args.seed, scenario.pinned_start_ms(city.meta.timezone) or 1_795_000_000_000)
    )
    print(f"{args.scenario.name}: {len(messages)} messages, seed {args.seed}")
    print(
        f"{'batch':>6} {'events/s':>10} {'us/event':>9} {'batch p50 ms':>13} {'p95 ms':>8} {'p99 ms':>8} "
        f"{'peak MiB':>9} {'alerts':>7}"
    )
    for batch in args.batches:
        tracemalloc.start()
        _, _, alerts = run(city, messages, batch)
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        seconds_plain, latencies, _ = run(city, messages, batch)  # timed again without tracemalloc's overhead
        print(
            f"{batch:>6} {len(messages) / seconds_plain:>10.0f} {seconds_plain / len(messages) * 1e6:>9.1f} "
            f"{percentile(latencies, 50):>13.2f} {percentile(latencies, 95):>8.2f} {percentile(latencies, 99):>8.2f} "
            f"{peak:>9.1f} {alerts:>7}"
        )
    print(f"max RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
