"""The MQTT source against a real Mosquitto: persistent sessions over restarts, shared subscription, manual acks,
redelivery, takeover, bad credentials."""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from citywatch.broker import find_mosquitto, free_port, wait_for_port
from ingest.mqtt_source import Inbound, IngestError, MqttConfig, MqttSource
from tests.conftest import Services
from tests.e2e.harness import BIN, publish_raw
from tests.faults.broker import Broker
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
    cfg = MqttConfig(
        services.mqtt_host, services.mqtt_port, client_id=f"src-{unique}", share_group=f"g{unique}", session_expiry_s=60
    )
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
    sources = [
        MqttSource(
            MqttConfig(
                services.mqtt_host,
                services.mqtt_port,
                client_id=f"s{i}-{unique}",
                share_group=f"g{unique}",
                session_expiry_s=0,
            ),
            1000,
        )
        for i in range(2)
    ]
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
    conf.write_text(
        f"user {getpass.getuser()}\nlistener {port} 127.0.0.1\nallow_anonymous false\n"
        f"password_file {tmp_path / 'passwd'}\n"
    )
    proc = subprocess.Popen([binary, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert wait_for_port(port, 10)
        yield port
    finally:
        proc.terminate()
        proc.wait(10)


def test_bad_credentials_stop_the_source_with_a_clear_error(auth_broker: int, unique: str) -> None:
    source = MqttSource(
        MqttConfig("127.0.0.1", auth_broker, client_id=f"bad-{unique}", username="ingest", password="wrong"), 10
    )
    source.start()
    try:
        with pytest.raises(IngestError, match="refused"):
            wait_for(lambda: source.raise_if_failed() or False, timeout=10, what="the refusal")
    finally:
        source.stop()


def test_good_credentials_subscribe(auth_broker: int, unique: str) -> None:
    source = MqttSource(
        MqttConfig("127.0.0.1", auth_broker, client_id=f"ok-{unique}", username="ingest", password="right"), 10
    )
    source.start()
    try:
        assert source.wait_subscribed(10)
    finally:
        source.stop()


def test_a_plain_subscription_keeps_what_arrives_over_a_broker_restart_while_ingest_is_away(
    broker: Broker, unique: str
) -> None:
    cfg = MqttConfig("127.0.0.1", broker.port, client_id=f"ingest-{unique}")  # plain: the default
    topic = f"citywatch/v1/vehicle/dev-{unique}/telemetry"
    first = MqttSource(cfg, queue_size=100)
    first.start()
    assert first.wait_subscribed(10)
    first.stop()  # ingest is away; its session stays with the broker
    broker.restart(signal.SIGTERM, down_s=0.5)
    publish_raw("127.0.0.1", broker.port, [(topic, f"m{i}".encode()) for i in range(10)])
    second = MqttSource(cfg, queue_size=100)
    second.start()
    try:
        got = collect(second, 10, topic)
        assert sorted(m.payload for m in got) == sorted(f"m{i}".encode() for i in range(10))
    finally:
        second.stop()


def test_a_message_is_acknowledged_only_on_the_connection_that_delivered_it(broker: Broker, unique: str) -> None:
    cfg = MqttConfig("127.0.0.1", broker.port, client_id=f"ingest-{unique}")
    topic = f"citywatch/v1/vehicle/dev-{unique}/telemetry"
    source = MqttSource(cfg, queue_size=100)
    source.start()
    try:
        assert source.wait_subscribed(10)
        publish_raw("127.0.0.1", broker.port, [(topic, f"m{i}".encode()) for i in range(5)])
        before = collect(source, 5, topic)
        broker.restart(signal.SIGTERM, down_s=0.5)  # the connection drops; paho reconnects
        again = collect(source, 5, topic)  # the broker sends the unacknowledged messages again
        assert source.ack(before) == 0  # their packet ids belong to the old connection
        assert source.ack(again) == 5
        assert sorted(m.payload for m in again) == sorted(m.payload for m in before)
    finally:
        source.stop()


def test_two_ingest_processes_with_one_client_id_stop_with_a_clear_error(services: Services, unique: str) -> None:
    cfg = MqttConfig(services.mqtt_host, services.mqtt_port, client_id=f"twin-{unique}", session_expiry_s=0)
    first, second = MqttSource(cfg, 10), MqttSource(cfg, 10)
    first.start()
    assert first.wait_subscribed(10)
    second.start()
    try:
        with pytest.raises(IngestError, match=r"took the session.*CITYWATCH_INGEST_INSTANCE"):
            wait_for(lambda: first.raise_if_failed() or False, timeout=10, what="the takeover error")
    finally:
        first.stop()
        second.stop()


@pytest.mark.parametrize("mode", ["embedded", "stack"])
def test_citywatch_ingest_with_a_wrong_password_exits_at_once_with_the_reason(
    auth_broker: int, tmp_path: Path, services: Services, mode: str
) -> None:
    env = {
        "CITYWATCH_MQTT_HOST": "127.0.0.1",
        "CITYWATCH_MQTT_PORT": str(auth_broker),
        "CITYWATCH_MQTT_USERNAME": "ingest",
        "CITYWATCH_MQTT_PASSWORD": "wrong",
        "CITYWATCH_KAFKA_BOOTSTRAP": services.kafka_bootstrap,
        "CITYWATCH_TOPIC_PREFIX": f"pw{tmp_path.name[-8:]}-",
        "CITYWATCH_TICKET_DB": str(tmp_path / "t.sqlite"),
        "CITYWATCH_DEADLETTER_PATH": str(tmp_path / "d.jsonl"),
    }
    started = time.monotonic()
    done = subprocess.run(
        [str(BIN / "citywatch"), "ingest", "--mode", mode],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert "ingest stopped" in done.stderr and "refused" in done.stderr and "Traceback" not in done.stderr
    assert time.monotonic() - started < 10  # at once: not after the 15-30 s subscription timeout
