"""`citywatch demo --protocol jt808`: the trucks speak JT/T 808 to the in-process gateway, same tickets as MQTT.

The JT/T 808 wire cuts a report's time to the second and its heading to the degree; the simulator's
report times carry milliseconds (each device starts at a seeded offset), so the gateway's positions
differ from the simulator's by exactly that, and no ticket may change for it.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from citywatch.broker import find_mosquitto, start_broker
from citywatch.demo import DemoGateway
from citywatch.settings import Settings
from devices.contracts import DeviceStatus, LoadState, VehiclePosition
from devices.inventory import load_city
from devices.sim.generator import generate
from devices.sim.jt808_fleet import (
    FleetConfig,
    Jt808Fleet,
    location_report,
    whole_second,
)
from devices.sim.publisher import MqttPublisher, PublisherConfig
from devices.sim.runner import Simulation
from devices.sim.scenario import load_scenario
from gateway.mapping import position
from jt808 import messages as m
from jt808.frame import FrameReader, Header, pack, unpack
from tests.support import wait_for

REPO = Path(__file__).resolve().parents[2]
CITYWATCH = Path(sys.executable).parent / "citywatch"
CITY = REPO / "cities" / "demo"
SPEED, DURATION_S, SEED = 60, 12, 7  # 720 simulated seconds: a route deviation (300 s) and an open cover (600 s)
START_LOCAL = "2025-06-10T10:00:00"  # pinned, so both runs simulate the very same 12 minutes


def pinned_scenario(tmp_path: Path) -> Path:
    """The demo scenario with its start pinned (a weekday morning: every day-time permit in force)."""
    path = tmp_path / "demo-pinned.yaml"
    path.write_text(
        (REPO / "scenarios" / "demo.yaml").read_text(encoding="utf-8") + f"start_local: {START_LOCAL}\n",
        encoding="utf-8",
    )
    return path


def start_demo(tmp_path: Path, protocol: str, scenario: Path) -> tuple[subprocess.Popen[str], Path]:
    """Start `citywatch demo` with its own broker, store and dead-letter files."""
    work = tmp_path / protocol
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("CITYWATCH_TICKET_DB_URL", "CITYWATCH_INFLUX_URL")}
    env |= {
        "CITYWATCH_TICKET_DB": str(work / "tickets.sqlite"),
        "CITYWATCH_DEADLETTER_PATH": str(work / "dl.jsonl"),
        "CITYWATCH_GATEWAY_DEADLETTER_PATH": str(work / "gateway-dl.jsonl"),
    }
    summary = work / "summary.json"
    args = [
        str(CITYWATCH),
        "demo",
        "--duration",
        str(DURATION_S),
        "--speed",
        str(SPEED),
        "--seed",
        str(SEED),
        "--scenario",
        str(scenario),
        "--protocol",
        protocol,
        "--summary-json",
        str(summary),
    ]
    proc = subprocess.Popen(args, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    return proc, summary


def finish(proc: subprocess.Popen[str], summary: Path) -> dict[str, Any]:
    try:
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err[-3000:]
    return dict(json.loads(summary.read_text(encoding="utf-8")))


def test_jt808_demo_raises_the_tickets_of_the_mqtt_demo(tmp_path: Path) -> None:
    if find_mosquitto() is None:
        pytest.fail("mosquitto is not installed: run scripts/ensure-mosquitto.sh (make test does)")
    scenario = pinned_scenario(tmp_path)
    runs = {p: start_demo(tmp_path, p, scenario) for p in ("mqtt", "jt808")}  # side by side: half the wall time
    mqtt_run, jt808_run = (finish(*runs[p]) for p in ("mqtt", "jt808"))

    def tickets(summary: dict[str, Any]) -> Counter[tuple[str, str]]:
        return Counter((t["rule"], t["subject"]) for t in summary["tickets"])

    assert jt808_run["protocol"] == "jt808" and mqtt_run["protocol"] == "mqtt"
    assert jt808_run["start_ms"] == mqtt_run["start_ms"]
    assert (
        tickets(jt808_run)
        == tickets(mqtt_run)
        == Counter({("route_deviation", "gps-m03"): 1, ("uncovered_load", "gps-m05"): 1})
    )
    opened = {(t["rule"], t["subject"]): t["opened_ms"] for t in mqtt_run["tickets"]}
    for t in jt808_run["tickets"]:  # the same episode: opened by the same report, its time cut to the second
        assert 0 <= opened[t["rule"], t["subject"]] - t["opened_ms"] < 1000

    # every truck position went through the gateway, nothing else was lost or refused on the way
    city = load_city(CITY)
    expected = list(generate(city, load_scenario(scenario, city), SEED, mqtt_run["start_ms"], SPEED * DURATION_S))
    positions = sum(isinstance(m, VehiclePosition) for m in expected)
    trucks = len({m.device_id for m in expected if isinstance(m, VehiclePosition)})
    assert trucks == len([v for v in city.vehicles if v.jt808_phone]) == 12
    gateway, fleet = jt808_run["jt808"]["gateway"], jt808_run["jt808"]["fleet"]
    assert gateway["frames"] == {
        "Register": trucks,
        "Authenticate": trucks,
        "LocationReport": positions,
        "Unregister": trucks,
    }
    assert gateway["refused"] == {}
    assert gateway["published"] == positions + 2 * trucks  # every position, and each terminal online + offline
    assert fleet["positions"] == positions and fleet["statuses_withheld"] == 2 * trucks
    assert fleet["resends"] == 0 and fleet["refused"] == {}
    for run in (mqtt_run, jt808_run):
        m = run["messages"]
        assert m["published"] == m["received"] == m["ingested"] == len(expected)
        assert m["dead_lettered"] == 0 and m["duplicates_dropped"] == 0


class Collector:
    """Subscribes to every vehicle topic of a broker and keeps what arrives."""

    def __init__(self, port: int) -> None:
        self.messages: list[VehiclePosition | DeviceStatus] = []
        self.subscribed = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="test-jt808-collector")
        self.client.on_connect = lambda c, *_: c.subscribe("citywatch/v1/vehicle/#", qos=1)
        self.client.on_subscribe = lambda *_: self.subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def _on_message(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        model = DeviceStatus if msg.topic.endswith("/status") else VehiclePosition
        self.messages.append(model.model_validate_json(msg.payload))

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def test_the_gateway_publishes_the_simulated_positions_up_to_the_second_and_the_degree(tmp_path: Path) -> None:
    city = load_city(CITY)
    scenario = load_scenario(REPO / "scenarios" / "demo.yaml", city)
    start_ms, horizon_s = 1_795_000_000_000, 300.0  # trucks part-way loading: covers open, half loads
    broker = start_broker(prefer="mosquitto")
    clock = {"ms": start_ms}
    settings = Settings().model_copy(
        update={
            "mqtt_host": broker.host,
            "mqtt_port": broker.port,
            "city_dir": CITY,
            "gateway_deadletter_path": tmp_path / "gateway-dl.jsonl",
        }
    )
    gateway: DemoGateway | None = None
    collector: Collector | None = None
    try:
        gateway = DemoGateway(settings, lambda: clock["ms"]).start()
        collector = Collector(broker.port)
        assert collector.subscribed.wait(10)
        fleet = Jt808Fleet(
            city,
            MqttPublisher(PublisherConfig(port=broker.port, client_id="test-jt808-sim")),
            FleetConfig(port=gateway.port),
        )
        sim = Simulation(
            city,
            scenario,
            SEED,
            start_ms,
            fleet,
            None,
            horizon_s,
            on_message=lambda msg: clock.update(ms=max(clock["ms"], msg.ts_ms)),
        )
        sim.run()
        sent = [m for m in generate(city, scenario, SEED, start_ms, horizon_s) if isinstance(m, VehiclePosition)]
        wait_for(lambda: len(collector.messages) >= len(sent) + 2 * 12, timeout=15, what="the gateway's messages")
    finally:
        if collector is not None:
            collector.close()
        if gateway is not None:
            gateway.stop()
        broker.stop()

    got = [m for m in collector.messages if isinstance(m, VehiclePosition)]
    assert len(got) == len(sent) and fleet.stats.positions == len(sent)

    def wire(p: VehiclePosition) -> dict[str, Any]:  # what JT/T 808 keeps of a position
        kept = p.model_copy(update={"ts_ms": whole_second(p.ts_ms), "heading_deg": float(round(p.heading_deg) % 360)})
        return kept.model_dump(exclude={"seq"})

    assert sorted((wire(p) for p in sent), key=json.dumps) == sorted(
        (m.model_dump(exclude={"seq"}) for m in got), key=json.dumps
    )
    assert {p.load_state for p in sent} == set(LoadState)
    assert {p.cover_closed for p in sent} == {True, False, None}  # open covers while loading; garbage: no sensor
    assert all(p.ts_ms % 1000 for p in sent)  # the simulator's report times are not whole seconds
    for device in {p.device_id for p in got}:  # the gateway's seq keeps each truck's order
        seqs = [m.seq for m in got if m.device_id == device]
        assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    statuses = [m for m in collector.messages if isinstance(m, DeviceStatus)]
    assert Counter(s.state for s in statuses) == {"online": 12, "offline": 12}
    assert all(start_ms <= s.ts_ms <= start_ms + horizon_s * 1000 for s in statuses)  # stamped in simulated time


@pytest.mark.parametrize(("cover_closed", "body_lifted"), [(True, False), (False, False), (True, True), (False, True)])
@pytest.mark.parametrize("load", list(LoadState))
def test_a_report_reads_back_as_the_position_it_was_made_from(
    cover_closed: bool, body_lifted: bool, load: LoadState
) -> None:
    city = load_city(CITY)
    model = city.terminal_model["ZT-M2019"]
    pos = VehiclePosition(
        device_id="gps-m01",
        ts_ms=1_795_000_012_345,
        seq=3,
        lon=114.285896,
        lat=30.59,
        speed_kmh=23.4,
        heading_deg=359.6,
        load_state=load,
        cover_closed=cover_closed,
        body_lifted=body_lifted,
        weight_kg=12_340.0,
        terminal_alarms=("overspeed",),
    )
    report = location_report(pos, model)
    back = position(type(report).decode(report.encode(True), True), "gps-m01", 3, model)
    assert back == pos.model_copy(update={"ts_ms": 1_795_000_012_000, "heading_deg": 0.0})
    garbage = pos.model_copy(update={"cover_closed": None, "body_lifted": None, "weight_kg": None})
    report = location_report(garbage, city.terminal_model["HW-G2013"])
    assert report.extras == ()
    assert position(report, "gps-m01", 3, city.terminal_model["HW-G2013"]).cover_closed is None


class FakePlatform:
    """A platform on loopback that registers and authenticates anyone and can ignore the first location report."""

    def __init__(self, drop_first_report: bool) -> None:
        self.drop_first_report = drop_first_report
        self.received: list[Header] = []
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        with self.server:
            conn, _ = self.server.accept()
        reader, serial = FrameReader(), 0
        with conn:
            while data := conn.recv(4096):
                for raw in reader.feed(data):
                    header, _body = unpack(raw)
                    self.received.append(header)
                    if header.msg_id == m.LOCATION and self.drop_first_report:
                        self.drop_first_report = False
                        continue
                    serial += 1
                    answer = (
                        m.RegisterResponse(header.serial, m.REG_OK, "code")
                        if header.msg_id == m.REGISTER
                        else m.PlatformResponse(header.serial, header.msg_id, m.OK)
                    )
                    reply = Header(answer.MSG_ID, header.phone, serial, header.version)
                    conn.sendall(pack(reply, answer.encode(header.is_2019)))


def test_a_report_without_an_answer_is_sent_again_with_its_serial_and_an_idle_terminal_beats() -> None:
    city = load_city(CITY)
    platform = FakePlatform(drop_first_report=True)
    forwarded: list[str] = []

    class NoMqtt:
        def connect(self) -> None: ...
        def publish(self, topic: str, payload: bytes, retain: bool = False) -> bool:
            forwarded.append(topic)
            return True

        def drain(self, timeout_s: float | None = None) -> int:
            return 0

        def interrupt(self) -> None: ...
        def close(self) -> None: ...

    fleet = Jt808Fleet(city, NoMqtt(), FleetConfig(port=platform.port, reply_timeout_s=0.3, heartbeat_s=0.5))
    fleet.connect()
    pos = VehiclePosition(
        device_id="gps-m01",
        ts_ms=1_795_000_000_000,
        seq=1,
        lon=114.3,
        lat=30.59,
        speed_kmh=0.0,
        heading_deg=0.0,
        cover_closed=True,
        body_lifted=False,
    )
    assert fleet.publish(VehiclePosition.topic_for("gps-m01"), pos.model_dump_json().encode())
    assert fleet.publish(DeviceStatus.topic_for_kind("vehicle", "gps-m01"), b"{}", True)  # the gateway's job
    assert fleet.publish("citywatch/v1/site/dust-c01/telemetry", b"{}")
    wait_for(lambda: any(h.msg_id == m.HEARTBEAT for h in platform.received), timeout=5, what="a heartbeat")
    fleet.close()
    ids = [h.msg_id for h in platform.received]
    assert ids[:4] == [m.REGISTER, m.AUTHENTICATE, m.LOCATION, m.LOCATION] and ids[-1] == m.UNREGISTER
    first, again = (h for h in platform.received if h.msg_id == m.LOCATION)
    assert first.serial == again.serial and first.is_2019 and first.phone.lstrip("0") == "13900003101"
    assert (fleet.stats.resends, fleet.stats.positions, fleet.stats.statuses_withheld) == (1, 1, 1)
    assert forwarded == ["citywatch/v1/site/dust-c01/telemetry"] and fleet.stats.heartbeats >= 1
