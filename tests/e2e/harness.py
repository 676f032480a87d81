"""Start and stop the project's real processes for end-to-end tests; read Kafka state."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
from aiokafka import AIOKafkaConsumer, TopicPartition
from prometheus_client.parser import text_string_to_metric_families

from citywatch.broker import free_port
from devices.catalog import is_watermark
from streams.offsets import committed, end_offsets
from tests.conftest import Services
from tests.support import wait_for

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


@dataclass
class Proc:
    """A started process whose output goes to a log file."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def text(self) -> str:
        """Return what the process wrote so far."""
        return self.log.read_text(errors="replace")

    def wait_for_line(self, pattern: str, timeout: float) -> None:
        """Wait until the log matches pattern; fail with the log tail if the process dies first."""
        regex = re.compile(pattern)

        def seen() -> bool:
            if self.popen.poll() is not None:
                raise AssertionError(f"{self.name} exited {self.popen.returncode}:\n{self.text()[-4000:]}")
            return bool(regex.search(self.text()))

        wait_for(seen, timeout, interval=0.2, what=f"{self.name} to log {pattern!r}")

    def stop(self, timeout: float = 30.0) -> int:
        """Stop with SIGTERM (SIGKILL after timeout); return the exit code."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(10)
        return self.popen.returncode


@contextmanager
def stopped_on_failure(proc: Proc) -> Iterator[Proc]:
    """Stop the process if the block fails (e.g. it never became ready), so no test leaves one behind."""
    try:
        yield proc
    except BaseException:
        proc.stop(timeout=10)
        raise


def start(name: str, args: list[str], env: Mapping[str, str], log_dir: Path) -> Proc:
    """Start one of the project's commands from the repo root with extra environment."""
    log = log_dir / f"{name}.log"
    full_env = {**os.environ, **env, "PYTHONUNBUFFERED": "1"}
    with log.open("wb") as out:
        popen = subprocess.Popen(args, cwd=REPO, env=full_env, stdout=out, stderr=subprocess.STDOUT)
    return Proc(name, popen, log)


@contextmanager
def mqtt_client(host: str, port: int) -> Iterator[mqtt.Client]:
    """Yield a connected plain paho client (network loop running), then disconnect."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"raw-{os.getpid()}-{time.monotonic_ns()}")
    client.connect(host, port)
    client.loop_start()
    try:
        yield client
    finally:
        client.disconnect()
        client.loop_stop()


def publish_raw(host: str, port: int, messages: list[tuple[str, bytes]], retain: bool = False) -> None:
    """Publish (topic, payload) pairs at QoS 1 with a plain paho client and wait for the acks."""
    with mqtt_client(host, port) as client:
        for info in [client.publish(topic, payload, qos=1, retain=retain) for topic, payload in messages]:
            info.wait_for_publish(30)


def clear_retained(host: str, port: int, topics: list[str]) -> None:
    """Delete retained messages (an empty retained payload), so a later run starts clean."""
    publish_raw(host, port, [(t, b"") for t in topics], retain=True)


async def read_topic(bootstrap: str, topic: str, expected: int, timeout: float) -> list[bytes]:
    """Read a topic from the beginning until `expected` records arrived or timeout passed."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False, group_id=None
    )
    await consumer.start()
    values: list[bytes] = []
    try:
        deadline = time.monotonic() + timeout
        while len(values) < expected and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            values += [r.value for records in batch.values() for r in records]
    finally:
        await consumer.stop()
    return values


def caught_up(bootstrap: str, group: str, topics: list[str]) -> bool:
    """Tell whether the group has committed every record of the topics (and there are some)."""
    ends = asyncio.run(end_offsets(bootstrap, topics))
    done = asyncio.run(committed(bootstrap, group))
    pending = {tp: end for tp, end in ends.items() if end > 0 and done.get(tp, -1) < end}
    return bool(ends) and not pending


async def count_events(bootstrap: str, topics: list[str]) -> int:
    """Count the records of the topics up to their current ends, leaving out ingest's watermark records."""
    return len(await read_events(bootstrap, topics))


async def read_events(bootstrap: str, topics: list[str]) -> list[bytes]:
    """Return the values of the topics' records up to their current ends, leaving out watermark records."""
    ends = {tp: end for tp, end in (await end_offsets(bootstrap, topics)).items() if end > 0}
    if not ends:
        return []
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    await consumer.start()
    values: list[bytes] = []
    try:
        consumer.assign(list(ends))
        await consumer.seek_to_beginning(*ends)
        while [tp for tp, end in ends.items() if await consumer.position(tp) < end]:
            batch = await consumer.getmany(*ends, timeout_ms=500)
            values += [
                r.value
                for records in batch.values()
                for r in records
                if r.offset < ends[TopicPartition(r.topic, r.partition)] and not is_watermark(r.key)
            ]
    finally:
        await consumer.stop()
    return values


def total(offsets: dict[TopicPartition, int]) -> int:
    """Return the number of records over all partitions (topics start at offset 0 here)."""
    return sum(offsets.values())


def decode_json(values: list[bytes]) -> list[dict[str, object]]:
    """Decode JSON records."""
    return [json.loads(v) for v in values]


def stack_env(services: Services, tmp: Path, unique: str) -> dict[str, str]:
    """Return the stack's environment for one test: its own topics, group, client, state and database."""
    return {
        "CITYWATCH_MQTT_HOST": services.mqtt_host,
        "CITYWATCH_MQTT_PORT": str(services.mqtt_port),
        "CITYWATCH_MQTT_SHARE_GROUP": f"ingest-{unique}",
        "CITYWATCH_MQTT_CLIENT_ID": f"ingest-{unique}",
        "CITYWATCH_MQTT_SESSION_EXPIRY_S": "0",
        "CITYWATCH_KAFKA_BOOTSTRAP": services.kafka_bootstrap,
        "CITYWATCH_TOPIC_PREFIX": f"t{unique}-",
        "CITYWATCH_FAUST_APP_ID": f"cw-{unique}",
        "CITYWATCH_FAUST_WEB_PORT": str(free_port()),
        "CITYWATCH_FAUST_DATA_DIR": str(tmp / "faust"),
        "CITYWATCH_TICKET_DB": str(tmp / "tickets.sqlite"),
        "CITYWATCH_CITY_DIR": str(REPO / "cities" / "demo"),
    }


def scrape(port: int) -> dict[str, float]:
    """Return a process's /metrics as {sample name with its labels: value}."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
        return metric_samples(resp.read().decode())


def metric_samples(text: str) -> dict[str, float]:
    """Return Prometheus text as {sample name with its labels: value}, e.g. {'x_total{reason="schema"}': 2.0}."""
    samples: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            samples[sample.name + (f"{{{labels}}}" if labels else "")] = sample.value
    return samples
