"""The JT/T 808 gateway across a broker restart and its own kill -9: terminals' reports are neither lost nor doubled.

Five terminals (the demo city's muck trucks, the test's own JT/T 808 client) report positions one at a
time, as terminals do: a report the platform has not answered within a few seconds is sent again with
the same serial number, and after a lost connection the terminal connects, logs in again and sends the
unanswered report first. A subscriber of the test's own (a persistent QoS 1 session) records every
position the broker passes on. The gateway answers a report only once the broker has it, so after the
fault every report must have reached the subscriber; what arrives more than once must carry the same
``seq`` (the engine drops it as a redelivery) — except, after a kill -9 of the gateway, a report it
published but had not yet answered, which the terminal sends again on a new connection and the gateway
numbers anew: at most one per terminal, the device's newest, which the engine drops by its fingerprint
(``rules.engine.fingerprint``; tests/rules/test_engine.py).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from citywatch.broker import free_port
from citywatch.gateway import start_gateway
from citywatch.settings import Settings
from devices.contracts import VehiclePosition
from devices.inventory import load_city
from tests.faults.broker import REPO, Broker
from tests.faults.conftest import Report
from tests.gateway.terminal import (
    Terminal,
    auth_body,
    frame,
    location_body,
    register_body,
)
from tests.support import wait_for

pytestmark = pytest.mark.services
CITY = REPO / "cities" / "demo"
TRUCKS = 5
REPORTS = 60  # per terminal
EVERY_S = 0.1  # a report every 0.1 s: 6 s of traffic, the fault comes in the middle of it
ANSWER_TIMEOUT_S = 4.0  # a terminal sends an unanswered report again after this long
SECRET = "fault-test-secret"  # the same secret across the gateway's restart: terminals' auth codes stay valid


@dataclass
class Positions:
    """What a persistent QoS 1 subscriber received: (device, ts_ms) -> every seq it came with."""

    seqs: dict[tuple[str, int], list[int]] = field(default_factory=lambda: defaultdict(list))
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, payload: bytes) -> None:
        msg = json.loads(payload)
        with self.lock:
            self.seqs[(msg["device_id"], msg["ts_ms"])].append(msg["seq"])

    def keys(self) -> set[tuple[str, int]]:
        with self.lock:
            return set(self.seqs)


@pytest.fixture
def positions(broker: Broker) -> Iterator[Positions]:
    """Subscribe (clean_session False: the broker keeps the session across its restart) to vehicle positions."""
    seen = Positions()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"fault-sub-{os.getpid()}", clean_session=False)
    client.on_connect = lambda c, *_: c.subscribe(VehiclePosition.topic_for("+"), qos=1)
    client.on_message = lambda c, u, m: seen.add(m.payload)
    client.reconnect_delay_set(1, 2)
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    wait_for(lambda: client.is_connected(), 10, what="the subscriber connected")
    try:
        yield seen
    finally:
        client.disconnect()
        client.loop_stop()


def fixes(device_id: str, count: int) -> list[VehiclePosition]:
    """Return a truck's count fixes, 10 s apart, ending a minute ago (positions near the demo city's centre)."""
    start = (int(time.time()) - 60 - 10 * count) * 1000
    return [
        VehiclePosition(
            device_id=device_id,
            ts_ms=start + 10_000 * i,
            seq=i,
            lon=114.30 + i * 1e-4,
            lat=30.58,
            speed_kmh=30.0,
            heading_deg=90.0,
        )
        for i in range(count)
    ]


class ReportingTerminal:
    """A terminal that reports its fixes one at a time and never gives one up (resend, reconnect, log in)."""

    def __init__(self, phone: str, plate: str, device_id: str, port: int) -> None:
        self.phone, self.plate, self.port = phone, plate, port
        self.fixes = fixes(device_id, REPORTS)
        self.terminal: Terminal | None = None
        self.resent = 0
        self.reconnects = 0
        self.slowest_answer_s = 0.0

    async def run(self) -> None:
        """Report every fix; return when each was answered."""
        for fix in self.fixes:
            await asyncio.sleep(EVERY_S)
            body = location_body(fix)
            serial: int | None = None
            began = time.monotonic()
            while True:
                try:
                    if self.terminal is None:
                        await self._connect()
                    assert self.terminal is not None
                    if serial is None:
                        serial = await self.terminal.send(0x0200, body)
                    else:  # the same frame again: same serial, same body
                        self.resent += 1
                        await self.terminal.raw(frame(0x0200, self.phone, serial, body, True))
                    if await self._answered(serial):
                        self.slowest_answer_s = max(self.slowest_answer_s, time.monotonic() - began)
                        break
                except TimeoutError:
                    continue
                except (ConnectionError, OSError, asyncio.IncompleteReadError):
                    await self._drop()
                    await asyncio.sleep(0.5)

    async def _answered(self, serial: int) -> bool:
        """Read answers until the one to serial (a resent report may be answered twice); raise on timeout."""
        assert self.terminal is not None
        async with asyncio.timeout(ANSWER_TIMEOUT_S):
            while True:
                answer = await self.terminal.reply(ANSWER_TIMEOUT_S)
                if answer.answers_serial == serial:
                    return answer.result == 0

    async def _connect(self) -> None:
        terminal = Terminal(self.phone, v2019=True)
        terminal.serial = 1000 * (self.reconnects + 1)  # serials go on after a reconnect, as a terminal's do
        self.terminal = terminal  # closed by _drop if anything below fails
        await terminal.connect(self.port)
        registered = await terminal.request(0x0100, register_body(self.plate, True))
        authed = await terminal.request(0x0102, auth_body(registered.rest.decode(), True))
        assert authed.result == 0, authed

    async def close(self) -> None:
        """Close the connection (end of the test)."""
        if self.terminal is not None:
            await self.terminal.close()
        self.terminal = None

    async def _drop(self) -> None:
        if self.terminal is not None:
            await self.terminal.close()
        self.terminal = None
        self.reconnects += 1


def fleet(port: int) -> list[ReportingTerminal]:
    """Return the demo city's first muck trucks as reporting terminals."""
    city = load_city(CITY)
    trucks = [v for v in city.vehicles if v.jt808_phone and v.kind == "muck"][:TRUCKS]
    return [ReportingTerminal(v.jt808_phone or "", v.plate, v.terminal_id, port) for v in trucks]


def sent(terminals: list[ReportingTerminal]) -> set[tuple[str, int]]:
    return {(f.device_id, f.ts_ms) for t in terminals for f in t.fixes}


async def drive(
    terminals: list[ReportingTerminal], positions: Positions, fault: Callable[[], Awaitable[object]]
) -> None:
    """Run the fleet; run fault() once a quarter of its reports reached the subscriber (mid-stream)."""
    runs = [asyncio.create_task(t.run()) for t in terminals]
    try:
        quarter = len(sent(terminals)) // 4
        await asyncio.to_thread(wait_for, lambda: len(positions.keys()) >= quarter, 30, 0.05, "a quarter delivered")
        await fault()
        async with asyncio.timeout(120):
            await asyncio.gather(*runs)
    finally:
        for run in runs:
            run.cancel()
        for terminal in terminals:
            await terminal.close()


def settings_for(broker: Broker, tmp: Path, client_id: str) -> Settings:
    return Settings(
        mqtt_host="127.0.0.1",
        mqtt_port=broker.port,
        mqtt_client_id=client_id,
        city_dir=CITY,
        gateway_host="127.0.0.1",
        gateway_auth_secret=SECRET,
        gateway_deadletter_path=tmp / "gw-dead.jsonl",
    )


async def test_a_broker_restart_under_the_gateway_loses_and_doubles_no_report(
    broker: Broker, positions: Positions, tmp_path: Path, report: Report
) -> None:
    gateway = await start_gateway(settings_for(broker, tmp_path, "fault-gw"), port=0)
    terminals = fleet(gateway.gateway.port)
    try:
        await drive(terminals, positions, lambda: asyncio.to_thread(broker.restart, signal.SIGTERM, 3))
        expected = sent(terminals)
        await asyncio.to_thread(wait_for, lambda: positions.keys() >= expected, 30, 0.2, "every report delivered")
    finally:
        await gateway.stop()
    assert positions.keys() == expected
    reseq = [k for k, seqs in positions.seqs.items() if len(set(seqs)) > 1]
    assert reseq == [], f"a report arrived again under another seq: {reseq[:5]}"
    assert max(t.slowest_answer_s for t in terminals) > 2.0, "no report waited for the broker to come back"
    report(
        published=len(expected),
        delivered=len(positions.keys()),
        repeats_same_seq=sum(len(s) - 1 for s in positions.seqs.values()),
        resent_by_terminals=sum(t.resent for t in terminals),
        tickets=0,
        cleared=0,
    )


def start_gateway_process(broker: Broker, tmp: Path, port: int, name: str) -> subprocess.Popen[bytes]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("CITYWATCH_")},
        "CITYWATCH_MQTT_HOST": "127.0.0.1",
        "CITYWATCH_MQTT_PORT": str(broker.port),
        "CITYWATCH_MQTT_CLIENT_ID": "fault-gw-proc",
        "CITYWATCH_CITY_DIR": str(CITY),
        "CITYWATCH_GATEWAY_HOST": "127.0.0.1",
        "CITYWATCH_GATEWAY_AUTH_SECRET": SECRET,
        "CITYWATCH_GATEWAY_DEADLETTER_PATH": str(tmp / "gw-dead.jsonl"),
    }
    with (tmp / f"{name}.log").open("wb") as log:
        proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "citywatch"), "gateway", "jt808", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=REPO,
        )
    wait_for(
        lambda: (tmp / f"{name}.log").read_text(errors="replace").count("gateway.listening") > 0,
        30,
        0.1,
        f"{name} listening",
    )
    return proc


async def test_a_gateway_killed_mid_stream_loses_no_report(
    broker: Broker, positions: Positions, tmp_path: Path, report: Report
) -> None:
    port = free_port()
    first = start_gateway_process(broker, tmp_path, port, "gateway-1")
    terminals = fleet(port)
    second: list[subprocess.Popen[bytes]] = []

    def crash_and_restart() -> None:
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        second.append(start_gateway_process(broker, tmp_path, port, "gateway-2"))

    try:
        await drive(terminals, positions, lambda: asyncio.to_thread(crash_and_restart))
        expected = sent(terminals)
        await asyncio.to_thread(wait_for, lambda: positions.keys() >= expected, 30, 0.2, "every report delivered")
    finally:
        for proc in [first, *second]:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                proc.wait(20)
    assert positions.keys() == expected
    assert all(t.reconnects >= 1 for t in terminals), "every terminal lost its connection with the gateway"
    reseq = [k for k, seqs in positions.seqs.items() if len(set(seqs)) > 1]
    assert len(reseq) <= TRUCKS, f"more than one report per terminal came again under a new seq: {reseq}"
    report(
        published=len(expected),
        delivered=len(positions.keys()),
        repeats_same_seq=sum(len(s) - len(set(s)) for s in positions.seqs.values()),
        repeats_new_seq=len(reseq),
        resent_by_terminals=sum(t.resent for t in terminals),
        tickets=0,
        cleared=0,
    )
