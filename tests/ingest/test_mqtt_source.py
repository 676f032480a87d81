"""The MQTT source against a real Mosquitto: shared subscription, manual acks, redelivery, bad credentials."""

from __future__ import annotations

import getpass
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from citywatch.broker import find_mosquitto, free_port, wait_for_port
from ingest.mqtt_source import Inbound, IngestError, MqttConfig, MqttSource
from tests.conftest import Services
from tests.e2e.harness import publish_raw
from tests.support import wait_for

pytestmark = pytest.mark.services


def collect(source: MqttSource, n: int, topic: str, timeout: float = 20.0) -> list[Inbound]:
    """Collect n messages of this test's topic (the shared broker may hold others' retained status)."""
    got: list[Inbound] = []
    deadline = time.monotonic() + timeout
    while len(got) < n and time.monotonic() < deadline:
        got += [m for m in source.get_batch(n - len(got), timeout=0.2) if m.topic == topic]
    return got


def test_unacknowledged_messages_are_redelivered_after_a_crash(services: Services, unique: str) -> None:
    cfg = MqttConfig(services.mqtt_host, services.mqtt_port, client_id=f"src-{unique}", share_group=f"g{unique}",
                     session_expiry_s=60)
    topic = f"citywatch/v1/vehicle/dev-{unique}/telemetry"
    first = MqttSource(cfg, queue_size=100)
    first.start()
    assert first.wait_subscribed(10)
    publish_raw(services.mqtt_host, services.mqtt_port, [(topic, f"m{i}".encode()) for i in range(5)])
    assert [m.payload for m in collect(first, 5, topic)] == [f"m{i}".encode() for i in range(5)]
    first.stop()  # "crash": nothing was acknowledged
    second = MqttSource(cfg, queue_size=100)
    second.start()
    try:
        again = collect(second, 5, topic)
        assert sorted(m.payload for m in again) == [f"m{i}".encode() for i in range(5)]
        second.ack(again)
    finally:
        second.stop()
    third = MqttSource(cfg, queue_size=100)
    third.start()
    try:
        assert collect(third, 1, topic, timeout=2.0) == []  # acknowledged: not delivered a third time
    finally:
        third.stop()


def test_shared_subscription_splits_the_load(services: Services, unique: str) -> None:
    sources = [MqttSource(MqttConfig(services.mqtt_host, services.mqtt_port, client_id=f"s{i}-{unique}",
                                     share_group=f"g{unique}", session_expiry_s=0), 1000) for i in range(2)]
    for s in sources:
        s.start()
        assert s.wait_subscribed(10)
    try:
        topic = f"citywatch/v1/vehicle/dev-{unique}/telemetry"
        publish_raw(services.mqtt_host, services.mqtt_port, [(topic, str(i).encode()) for i in range(200)])
        got: list[list[Inbound]] = [[], []]

        def all_arrived() -> bool:
            for i, s in enumerate(sources):
                got[i] += [m for m in s.get_batch(200, timeout=0.05) if m.topic == topic]
            return sum(map(len, got)) >= 200

        wait_for(all_arrived, timeout=20, what="200 messages over two shared subscribers")
        assert all(len(g) > 0 for g in got), "one subscriber got everything"
        assert sorted(int(m.payload) for g in got for m in g) == list(range(200))
    finally:
        for s in sources:
            s.stop()


@pytest.fixture
def auth_broker(tmp_path: Path) -> Iterator[int]:
    binary, passwd = find_mosquitto(), shutil.which("mosquitto_passwd")
    if binary is None or passwd is None:
        pytest.fail("mosquitto and mosquitto_passwd are needed (scripts/ensure-mosquitto.sh installs them)")
    port = free_port()
    subprocess.run([passwd, "-c", "-b", str(tmp_path / "passwd"), "ingest", "right"], check=True)
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(f"user {getpass.getuser()}\nlistener {port} 127.0.0.1\nallow_anonymous false\n"
                    f"password_file {tmp_path / 'passwd'}\n")
    proc = subprocess.Popen([binary, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert wait_for_port(port, 10)
        yield port
    finally:
        proc.terminate()
        proc.wait(10)


def test_bad_credentials_stop_the_source_with_a_clear_error(auth_broker: int, unique: str) -> None:
    source = MqttSource(MqttConfig("127.0.0.1", auth_broker, client_id=f"bad-{unique}", username="ingest",
                                   password="wrong"), 10)
    source.start()
    try:
        with pytest.raises(IngestError, match="refused"):
            wait_for(lambda: source.raise_if_failed() or False, timeout=10, what="the refusal")
    finally:
        source.stop()


def test_good_credentials_subscribe(auth_broker: int, unique: str) -> None:
    source = MqttSource(MqttConfig("127.0.0.1", auth_broker, client_id=f"ok-{unique}", username="ingest",
                                   password="right"), 10)
    source.start()
    try:
        assert source.wait_subscribed(10)
    finally:
        source.stop()
