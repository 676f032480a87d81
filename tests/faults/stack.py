"""Run the stack's processes (``citywatch ingest --mode stack`` and faust workers) for fault tests,
on the shared Kafka with topics and a consumer group of the test's own."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from citywatch.broker import free_port
from devices.catalog import ALERTS, ALERTS_RAW, EVENT_STREAMS, FACTS
from tests.e2e import harness
from tests.e2e.harness import BIN, REPO, Proc, stopped_on_failure
from tests.support import wait_for

READY = r"\[\^Worker\]: Ready"


@dataclass
class Stack:
    """Environment and processes of one stack under test."""

    env: dict[str, str]
    tmp: Path
    bootstrap: str

    @property
    def prefix(self) -> str:
        return self.env["CITYWATCH_TOPIC_PREFIX"]

    @property
    def group(self) -> str:
        return self.env["CITYWATCH_FAUST_APP_ID"]

    def worker(self, name: str, ready_timeout: float = 180.0) -> tuple[Proc, float]:
        """Start a faust worker; return it and the seconds it took to be Ready (tables recovered)."""
        started = time.monotonic()
        env = {**self.env, "CITYWATCH_FAUST_WEB_PORT": str(free_port())}
        proc = harness.start(
            name, [str(BIN / "faust"), "-A", "citywatch.worker", "worker", "-l", "info"], env, self.tmp
        )
        with stopped_on_failure(proc):
            proc.wait_for_line(READY, timeout=ready_timeout)
        return proc, time.monotonic() - started

    def ingest(self, name: str) -> Proc:
        """Start the stack's ingest and wait until it is subscribed."""
        proc = harness.start(
            name, [str(BIN / "citywatch"), "--log-json", "ingest", "--mode", "stack"], self.env, self.tmp
        )
        with stopped_on_failure(proc):
            proc.wait_for_line(r"ingest\.started", timeout=60)
        return proc

    def forwarded(self) -> int:
        """Count the events ingest put on the Kafka source topics (watermark records left out)."""
        return asyncio.run(harness.count_events(self.bootstrap, [self.prefix + s for s in EVENT_STREAMS]))

    def forwarded_messages(self) -> Counter[tuple[str, int]]:
        """Count each (device, seq) on the Kafka source topics: a redelivery after a crash shows as 2."""
        values = asyncio.run(harness.read_events(self.bootstrap, [self.prefix + s for s in EVENT_STREAMS]))
        return Counter((str(v["device_id"]), int(v["seq"])) for v in map(json.loads, values))

    def wait_forwarded(self, count: int, timeout: float = 120.0) -> None:
        wait_for(lambda: self.forwarded() >= count, timeout, interval=1, what=f"{count} events on Kafka")

    def wait_caught_up(self, timeout: float = 180.0) -> None:
        """Wait until the workers committed every record of every stage, in stage order."""
        for topics in (
            [self.prefix + s for s in EVENT_STREAMS],
            *([self.prefix + s] for s in (FACTS, ALERTS_RAW, ALERTS)),
        ):
            wait_for(
                lambda t=topics: harness.caught_up(self.bootstrap, self.group, t),
                timeout,
                interval=1,
                what=f"the workers to commit every record of {topics}",
            )


def stack_env(mqtt_port: int, bootstrap: str, tmp: Path, unique: str, **extra: str) -> dict[str, str]:
    """Return the environment of a stack with its own topics, group and ticket database."""
    return {
        "CITYWATCH_MQTT_HOST": "127.0.0.1",
        "CITYWATCH_MQTT_PORT": str(mqtt_port),
        "CITYWATCH_KAFKA_BOOTSTRAP": bootstrap,
        "CITYWATCH_TOPIC_PREFIX": f"f{unique}-",
        "CITYWATCH_FAUST_APP_ID": f"cwf-{unique}",
        "CITYWATCH_FAUST_DATA_DIR": str(tmp / "faust"),
        "CITYWATCH_TICKET_DB": str(tmp / "tickets.sqlite"),
        "CITYWATCH_CITY_DIR": str(REPO / "cities" / "demo"),
        **extra,
    }
