"""The fault tests' traffic: ~3,000 scripted messages with one planted route deviation, and the
points in it where a test kills something (mid-stream, while the deviation is pending or open)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from devices.inventory import City, load_city
from devices.sim.generator import device_kinds, generate, topic_of
from devices.sim.publisher import MqttPublisher, PublisherConfig
from devices.sim.scenario import load_scenario
from tests.support import recorded_start_ms

REPO = Path(__file__).resolve().parents[2]
SCENARIO = Path(__file__).with_name("restart.yaml")
DEVIATION_AT_S, DEVIATION_S = 900, 120  # as in restart.yaml
PLANTED = ("route_deviation", "gps-m01")


@dataclass
class Traffic:
    """The messages in publish order, with their sim times."""

    city: City
    start_ms: int
    messages: list[tuple[str, bytes]]
    sim_s: list[float]
    published: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def index_at(self, sim_s: float) -> int:
        """Return the index of the first message at or after a sim time."""
        return next(i for i, t in enumerate(self.sim_s) if t >= sim_s)

    @property
    def pending_index(self) -> int:
        """A point where gps-m01 is off its route but not yet long enough for an alert."""
        return self.index_at(DEVIATION_AT_S + 15)

    @property
    def open_index(self) -> int:
        """A point where the deviation's alert is open and the truck is still off route."""
        return self.index_at(DEVIATION_AT_S + 70)


def make_traffic(now_ms: int | None = None) -> Traffic:
    """Generate the scenario as recorded traffic (``recorded_start_ms``: ending a minute ago, clear of midnight)."""
    city = load_city(REPO / "cities" / "demo")
    scenario = load_scenario(SCENARIO, city)
    start_ms = recorded_start_ms(scenario.duration_s, city.meta.timezone, now_ms)
    kinds = device_kinds(city)
    msgs = list(generate(city, scenario, 7, start_ms))
    return Traffic(
        city,
        start_ms,
        [(topic_of(m, kinds), m.model_dump_json().encode()) for m in msgs],
        [(m.ts_ms - start_ms) / 1000 for m in msgs],
    )


def publish(traffic: Traffic, port: int, client_id: str, start: int, stop: int, rate_per_s: float | None = None) -> int:
    """Publish messages[start:stop] at QoS 1 through broker restarts; wait for every ack; return the count.

    The publisher is the simulator's (reconnects and re-sends unacknowledged messages on its own), so a
    message counts as published once the broker acknowledged it, as a device would see it. rate_per_s
    paces it (a city's fleet reports at a steady rate); None is as fast as the broker takes it.
    """
    cfg = PublisherConfig(
        host="127.0.0.1",
        port=port,
        client_id=client_id,
        publish_timeout_s=120,
        drain_timeout_s=120,
        reconnect_min_s=1,
        reconnect_max_s=2,
    )
    began = time.monotonic()
    with MqttPublisher(cfg) as publisher:
        for n, (topic, payload) in enumerate(traffic.messages[start:stop]):
            if rate_per_s is not None:
                time.sleep(max(0.0, began + n / rate_per_s - time.monotonic()))
            publisher.publish(topic, payload)
        unacked = publisher.drain(120)
    assert unacked == 0, f"{unacked} messages never acknowledged by the broker"
    with traffic._lock:
        traffic.published += stop - start
    return stop - start
