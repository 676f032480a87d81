"""Floods: a backlog of 100,000 messages queued by the broker while ingest was down, trucks reporting at
ten times their interval, and a flood of oversized (4 KiB+) payloads. Ingest's memory stays bounded
(its queue is bounded; paho waits, TCP pushes back on the broker), and every acknowledged message is
processed or dead-lettered. Peak RSS is reported (``-rA`` shows the recorded properties)."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from devices.contracts import VehiclePosition
from devices.inventory import load_city
from tests.e2e.harness import REPO, Proc
from tests.faults.broker import Broker
from tests.faults.conftest import Report
from tests.faults.embedded import deadletters, embedded_env, progress, start_ingest
from tests.support import wait_for

pytestmark = pytest.mark.services

RSS_LIMIT_MIB = 400  # the embedded pipeline with a full 10,000-message queue of 4 KiB payloads stays well below


def peak_rss_mib(proc: Proc) -> float:
    """Return a process's peak resident memory (VmHWM) in MiB."""
    status = Path(f"/proc/{proc.popen.pid}/status").read_text()
    kib = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:"))
    return kib / 1024


def fast_positions(count: int, now_ms: int) -> list[tuple[str, bytes]]:
    """count positions of the city's trucks, standing at their route's start, one per second each (10x)."""
    city = load_city(REPO / "cities" / "demo")
    trucks = [(v.terminal_id, city.permit_for_terminal(v.terminal_id)) for v in city.vehicles]
    trucks = [(t, p.route[0]) for t, p in trucks if p is not None]
    per_truck = -(-count // len(trucks))
    out: list[tuple[str, bytes]] = []
    for i in range(per_truck):
        for terminal, (lon, lat) in trucks:
            msg = VehiclePosition(
                device_id=terminal,
                ts_ms=now_ms - (per_truck - i) * 1000,
                seq=i,
                lon=lon,
                lat=lat,
                speed_kmh=0.0,
                heading_deg=0.0,
            )
            out.append((VehiclePosition.topic_for(terminal), msg.model_dump_json().encode()))
    return out[:count]


def blast(port: int, messages: list[tuple[str, bytes]], client_id: str) -> None:
    """Publish at QoS 1 as fast as the broker takes it (1,000 in flight); wait for every acknowledgement."""
    acked = threading.Semaphore(0)
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id)
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(5000)
    client.on_publish = lambda *_: acked.release()
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        for topic, payload in messages:
            while client.publish(topic, payload, qos=1).rc == mqtt.MQTT_ERR_QUEUE_SIZE:
                time.sleep(0.01)  # paho's own queue is full: wait for acknowledgements
        for _ in messages:
            assert acked.acquire(timeout=60), "the broker stopped acknowledging"
    finally:
        client.disconnect()
        client.loop_stop()


def test_a_backlog_of_100000_messages_drains_in_bounded_memory(broker: Broker, tmp_path: Path, report: Report) -> None:
    env = embedded_env(broker.port, tmp_path)
    first = start_ingest(env, tmp_path, "ingest-1")  # creates ingest's session, then goes away
    assert first.stop() == 0
    messages = fast_positions(100_000, int(time.time() * 1000))
    started = time.monotonic()
    blast(broker.port, messages, "fleet")  # queued by the broker for the absent ingest
    report(publish_rate_msg_s=round(len(messages) / (time.monotonic() - started)))
    started = time.monotonic()
    ingest = start_ingest(env, tmp_path, "ingest-2")
    try:
        wait_for(
            lambda: progress(tmp_path / "tickets.sqlite").new + deadletters(tmp_path) >= len(messages),
            600,
            interval=0.5,
            what="the backlog to drain",
        )
        drained_s = time.monotonic() - started
        rss = peak_rss_mib(ingest)
    finally:
        assert ingest.stop() == 0, ingest.text()[-3000:]
    report(drain_rate_msg_s=round(len(messages) / drained_s))
    report(ingest_peak_rss_mib=round(rss))
    assert progress(tmp_path / "tickets.sqlite").new + deadletters(tmp_path) == len(messages)
    assert rss < RSS_LIMIT_MIB


def test_a_flood_of_oversized_payloads_is_dead_lettered_in_bounded_memory(
    broker: Broker, tmp_path: Path, report: Report
) -> None:
    ingest = start_ingest(embedded_env(broker.port, tmp_path), tmp_path, "ingest")
    body = json.loads(fast_positions(1, int(time.time() * 1000))[0][1])
    topic = VehiclePosition.topic_for(body["device_id"])
    flood = [(topic, json.dumps({**body, "seq": i, "pad": "x" * 4100}).encode()) for i in range(20_000)]
    try:
        blast(broker.port, flood, "flood")
        wait_for(lambda: deadletters(tmp_path) >= len(flood), 300, interval=0.5, what="every oversized payload")
        rss = peak_rss_mib(ingest)
    finally:
        assert ingest.stop() == 0, ingest.text()[-3000:]
    report(ingest_peak_rss_mib=round(rss))
    lines = (tmp_path / "deadletter.jsonl").read_text().splitlines()
    assert len(lines) == len(flood) and {json.loads(line)["reason"] for line in lines} == {"oversize"}
    assert progress(tmp_path / "tickets.sqlite").events == 0
    assert rss < RSS_LIMIT_MIB
