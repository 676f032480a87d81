"""Run a scenario against a broker: generate, pace, publish, count, and stop cleanly on request."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

from devices.contracts import DeviceStatus, Message
from devices.inventory import City
from devices.sim.generator import device_kinds, generate, topic_of
from devices.sim.publisher import MqttPublisher, PublisherConfig
from devices.sim.scenario import Scenario

STOP_DRAIN_S = 3.0  # after stop(): how long to wait for the acks still outstanding


class Publisher(Protocol):
    """What the runner needs from a publisher (MqttPublisher, or a fake in tests)."""

    def connect(self) -> None: ...
    def publish(self, topic: str, payload: bytes, retain: bool = False) -> bool: ...
    def drain(self, timeout_s: float | None = None) -> int: ...
    def interrupt(self) -> None: ...
    def close(self) -> None: ...


@dataclass
class SimStats:
    """What a run published: counts by message kind, unacknowledged at the end, sim and wall time."""

    published: int = 0
    by_kind: Counter[str] = field(default_factory=Counter)
    unacked: int = 0
    sim_s: float = 0.0
    wall_s: float = 0.0
    stopped: bool = False
    reconnects: int = 0

    @property
    def rate_per_s(self) -> float:
        """Messages published per wall-clock second."""
        return self.published / self.wall_s if self.wall_s > 0 else 0.0


class Pacer:
    """Maps sim time to wall time at ``speed`` x real time; ``speed`` 0 or None means no waiting."""

    def __init__(self, speed: float | None, clock: Callable[[], float] = time.monotonic) -> None:
        self.speed = speed or 0.0
        self._clock = clock
        self._origin: tuple[float, int] | None = None  # (wall, ts_ms) of the first message

    def delay_s(self, ts_ms: int) -> float:
        """Return how long to wait before sending a message stamped ``ts_ms``."""
        if self.speed <= 0:
            return 0.0
        now = self._clock()
        if self._origin is None:
            self._origin = (now, ts_ms)
        wall0, ts0 = self._origin
        return max(wall0 + (ts_ms - ts0) / 1000 / self.speed - now, 0.0)


class Simulation:
    """One run of a scenario: ``run()`` blocks until done or ``stop()`` is called from elsewhere."""

    def __init__(
        self, city: City, scenario: Scenario, seed: int, start_ms: int,
        publisher: Publisher | PublisherConfig, speed: float | None = None, duration_s: float | None = None,
        on_message: Callable[[Message], None] | None = None,
    ) -> None:  # fmt: skip
        self.city, self.scenario, self.seed, self.start_ms = city, scenario, seed, start_ms
        self.duration_s = scenario.duration_s if duration_s is None else duration_s
        self.publisher = MqttPublisher(publisher) if isinstance(publisher, PublisherConfig) else publisher
        self.pacer = Pacer(speed)
        self.on_message = on_message
        self.stats = SimStats()
        self._stop = threading.Event()
        self._last: dict[str, Message] = {}

    def stop(self) -> None:
        """Ask the run to finish early (thread-safe, idempotent; e.g. from a signal handler)."""
        self._stop.set()
        self.publisher.interrupt()

    def run(self) -> SimStats:
        """Connect, publish the scenario's messages in time order, wait for acks, disconnect."""
        started = time.monotonic()
        messages = generate(self.city, self.scenario, self.seed, self.start_ms, self.duration_s)
        self.publisher.connect()
        try:
            self._publish_all(messages)
            if self._stop.is_set():
                self._farewell()
            self.stats.unacked = self.publisher.drain(STOP_DRAIN_S if self._stop.is_set() else None)
        finally:
            self.publisher.close()
            self.stats.wall_s = time.monotonic() - started
            self.stats.stopped = self._stop.is_set()
            self.stats.reconnects = getattr(self.publisher, "reconnects", 0)
        return self.stats

    def _publish_all(self, messages: Iterator[Message]) -> None:
        kinds = device_kinds(self.city)
        for message in messages:
            delay = self.pacer.delay_s(message.ts_ms)
            if self._stop.wait(delay) if delay > 0 else self._stop.is_set():
                return
            payload = message.model_dump_json().encode()
            if not self.publisher.publish(topic_of(message, kinds), payload, isinstance(message, DeviceStatus)):
                return
            self._count(message)

    def _farewell(self) -> None:
        """Stopped early: publish each device's retained ``offline`` status that the run did not reach."""
        kinds = device_kinds(self.city)
        for last in list(self._last.values()):
            if not (isinstance(last, DeviceStatus) and last.state == "offline"):
                bye = DeviceStatus(
                    device_id=last.device_id, ts_ms=last.ts_ms, seq=last.seq + 1,
                    state="offline", reason="simulation stopped",
                )  # fmt: skip
                if self.publisher.publish(topic_of(bye, kinds), bye.model_dump_json().encode(), True):
                    self._count(bye)

    def _count(self, message: Message) -> None:
        self._last[message.device_id] = message
        self.stats.published += 1
        self.stats.by_kind[type(message).__name__] += 1
        self.stats.sim_s = (message.ts_ms - self.start_ms) / 1000
        if self.on_message is not None:
            self.on_message(message)


def run_simulation(
    city: City, scenario: Scenario, seed: int, start_ms: int, publisher_cfg: PublisherConfig,
    speed: float | None = None, duration_s: float | None = None,
) -> SimStats:  # fmt: skip
    """Publish a scenario to the broker described by ``publisher_cfg`` and return what was sent."""
    return Simulation(city, scenario, seed, start_ms, publisher_cfg, speed, duration_s).run()
