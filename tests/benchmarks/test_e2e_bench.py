"""The end-to-end benchmark's tools: the lean MQTT load generator against a real Mosquitto, latency, chart."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from benchmarks import mqtt_load
from benchmarks.e2e import Traffic, chart, latency, table
from tests.faults.broker import Broker


@pytest.mark.services
def test_every_packet_reaches_a_subscriber_in_order_with_its_topic_and_payload(broker: Broker) -> None:
    """5,000 QoS-1 messages arrive as sent (the packet ids wrapping past 65,535: the next test)."""
    messages = [(f"citywatch/v1/vehicle/gps-m{i % 7:02d}/position", f'{{"n": {i}}}'.encode()) for i in range(5_000)]
    got: list[tuple[str, bytes]] = []
    done, subscribed = threading.Event(), threading.Event()
    sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-sub")
    sub.on_subscribe = lambda *_: subscribed.set()

    def on_message(_c: object, _u: object, msg: mqtt.MQTTMessage) -> None:
        got.append((msg.topic, msg.payload))
        if len(got) == len(messages):
            done.set()

    sub.on_message = on_message
    sub.connect("127.0.0.1", broker.port)
    sub.subscribe("citywatch/#", qos=1)
    sub.loop_start()
    try:
        assert subscribed.wait(10), "no SUBACK"  # the subscription is in place
        sent = asyncio.run(mqtt_load.send("127.0.0.1", broker.port, "bench-pub", mqtt_load.encode(messages), None))
        assert done.wait(30), f"{len(got)} of {len(messages)} arrived"
    finally:
        sub.loop_stop()
        sub.disconnect()
    assert sent.packets == len(messages) and len(sent.sent_at) == len(messages)
    assert got == messages


@pytest.mark.services
def test_packet_ids_wrap_and_a_paced_send_takes_its_time(broker: Broker) -> None:
    packets = mqtt_load.encode([("citywatch/t", b"x")] * 70_000)
    assert packets[0][-3:-1] == b"\x00\x01" and packets[65_535][-3:-1] == b"\x00\x01"  # id 1 again after 65,535
    fast = asyncio.run(mqtt_load.send("127.0.0.1", broker.port, "bench-fast", packets, None))
    paced = asyncio.run(mqtt_load.send("127.0.0.1", broker.port, "bench-paced", packets[:2_000], 4_000.0))
    assert fast.packets == 70_000 and paced.packets == 2_000
    assert paced.seconds >= 0.45  # 2,000 at 4,000 / s: half a second


@pytest.mark.services
def test_a_refused_connection_or_a_window_past_the_packet_ids_is_an_error(broker: Broker) -> None:
    with pytest.raises(ValueError, match="window"):
        asyncio.run(mqtt_load.send("127.0.0.1", broker.port, "x", [], None, window=70_000))
    with pytest.raises(ConnectionRefusedError):
        asyncio.run(mqtt_load.send("127.0.0.1", 1, "x", mqtt_load.encode([("t", b"x")]), None))


def test_latency_is_taken_from_each_planted_case_s_opening_message(tmp_path: Path) -> None:
    traffic = Traffic(tmp_path, [], [("overflow", "fill-s01"), ("route_deviation", "gps-m01")], frozenset(), 10, 5)
    cases = {("overflow", "fill-s01"): 1_000, ("route_deviation", "gps-m01"): 2_000}
    first_seen = {("overflow", "fill-s01"): 10.5, ("route_deviation", "gps-m01"): 12.0}
    sent_at = {"fill-s01|1000": 10.0, "gps-m01|2000": 10.0}
    figures = latency(traffic, cases, first_seen, sent_at)
    assert figures["latency_n"] == 2 and figures["p50_s"] == 1.25 and figures["p99_s"] == pytest.approx(1.985, abs=0.01)
    assert latency(traffic, {}, {}, {}) == {"latency_n": 0}


def test_the_chart_and_table_are_drawn_from_the_results(tmp_path: Path) -> None:
    run = {
        "path": "embedded",
        "offered_rate": 1000.0,
        "achieved_rate": 990,
        "generator_rate": 1000,
        "p50_s": 0.1,
        "p99_s": 0.2,
        "missed_cases": [],
        "extra_cases": [],
        "processes": {"ingest": {"peak_rss_mib": 150, "cpu_s": 3.0}},
        "cpu_us_per_message": {"ingest": 200},
    }
    results = {
        "trucks": 10,
        "messages": 100,
        "cores": 2,
        "paths": ["embedded"],
        "runs": [run, {**run, "offered_rate": "max"}],
    }
    chart(results, tmp_path / "e2e.png")
    assert (tmp_path / "e2e.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "ingest=150; ingest=200" in table(results)
