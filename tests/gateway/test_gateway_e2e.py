"""A JT/T 808 terminal through the gateway, real Mosquitto and the embedded pipeline, into tickets.

The terminal is the test's own (tests/gateway/terminal.py, not the gateway's codec). It registers,
authenticates, drives gps-m01's foundation-scenario trip (which leaves its permit corridor for two
minutes), loses coverage for 100 s (on its route, or while it washes at its site) and uploads those fixes as a blind-area batch after newer ones,
and sends a run of bad frames. Exactly one route-deviation case must come of it.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from citywatch.gateway import RunningGateway, start_gateway
from citywatch.pipeline import EmbeddedPipeline
from citywatch.settings import Settings
from devices.contracts import DeviceStatus, VehiclePosition
from devices.inventory import load_city
from devices.sim.generator import generate
from devices.sim.scenario import load_scenario
from tests.conftest import Services
from tests.e2e import harness
from tests.gateway.terminal import Terminal, batch_body, frame, location_body
from tests.support import wait_for

pytestmark = pytest.mark.services
REPO = Path(__file__).resolve().parents[2]
DEVICE, PHONE, PLATE = "gps-m01", "13900003101", "鄂A·D3101"
STATUS_TOPIC = DeviceStatus.topic_for_kind("vehicle", DEVICE)


@dataclass
class Stack:
    """The gateway and the embedded pipeline on the real broker."""

    gateway: RunningGateway
    pipeline: EmbeddedPipeline
    settings: Settings


@pytest.fixture
async def stack(services: Services, tmp_path: Path, unique: str) -> AsyncIterator[Stack]:
    settings = Settings(
        mqtt_host=services.mqtt_host,
        mqtt_port=services.mqtt_port,
        mqtt_share_group=f"gw-{unique}",
        mqtt_client_id=f"gw-emb-{unique}",
        mqtt_session_expiry_s=0,
        city_dir=REPO / "cities" / "demo",
        ticket_db=tmp_path / "tickets.sqlite",
        deadletter_path=tmp_path / "deadletter.jsonl",
        gateway_deadletter_path=tmp_path / "gateway-deadletter.jsonl",
        gateway_host="127.0.0.1",
    )
    city = load_city(REPO / "cities" / "demo")  # no status another run left retained may count as ours
    harness.clear_retained(
        services.mqtt_host,
        services.mqtt_port,
        [DeviceStatus.topic_for_kind(kind, d) for d, kind in city.kind_by_device.items()],
    )
    pipeline = EmbeddedPipeline(settings)
    pipeline.start()
    gw_settings = settings.model_copy(
        update={"mqtt_client_id": f"gw-{unique}", "gateway_health_port": harness.free_port()}
    )
    gateway = await start_gateway(gw_settings, port=0)
    try:
        yield Stack(gateway, pipeline, settings)
    finally:
        await gateway.stop()
        pipeline.stop()
        harness.clear_retained(services.mqtt_host, services.mqtt_port, [STATUS_TOPIC])


def trip(seconds: float) -> list[VehiclePosition]:
    """gps-m01's fixes in the first ``seconds`` of the foundation scenario (a deviation at 300-420 s)."""
    city = load_city(REPO / "cities" / "demo")
    scenario = load_scenario(REPO / "scenarios" / "foundation.yaml", city)
    start_ms = (time.time_ns() // 1_000_000_000 - 1800) * 1000  # half an hour ago, on a whole second (BCD time)
    return [
        m
        for m in generate(city, scenario, 7, start_ms)
        if isinstance(m, VehiclePosition) and m.device_id == DEVICE and m.ts_ms <= start_ms + seconds * 1000
    ]


@pytest.mark.parametrize("gap_s", [(450, 550), (150, 250)], ids=["gap-on-the-route", "gap-over-the-wash"])
async def test_a_terminal_leaving_its_corridor_makes_exactly_one_route_deviation_case(
    stack: Stack, gap_s: tuple[int, int]
) -> None:
    fixes = trip(600)  # at 150-250 s the truck washes at its site: the wash arrives only in the blind-area batch
    blind = [p for p in fixes if p.ts_ms - fixes[0].ts_ms in range(gap_s[0] * 1000, gap_s[1] * 1000 + 1)]
    live = [p for p in fixes if p not in blind]
    terminal = Terminal(PHONE, v2019=True)
    await terminal.connect(stack.gateway.gateway.port)
    await terminal.login(PLATE)
    for p in live:  # real time, each answered only once the broker has it
        answer = await terminal.request(0x0200, location_body(p))
        assert (answer.answers_id, answer.result) == (0x0200, 0)
    answer = await terminal.request(0x0704, batch_body(blind))  # the blind-area upload, after newer fixes
    assert (answer.answers_id, answer.result) == (0x0704, 0)
    good = frame(0x0200, PHONE, 999, location_body(live[-1]), True)
    await terminal.raw(good[:-2] + bytes([good[-2] ^ 0x55]) + b"\x7e")  # a wrong check code
    assert (await terminal.reply()).result == 2
    await terminal.raw(b"garbage between frames\r\n")
    heartbeat = await terminal.request(0x0002, b"")
    assert (heartbeat.answers_id, heartbeat.result) == (0x0002, 0), "still served after bad input"
    await terminal.request(0x0003, b"")  # unregister: offline
    assert await terminal.closed()
    await terminal.close()

    published = len(fixes) + 2  # every fix, online and offline
    wait_for(lambda: stack.pipeline.ingest.stats.received >= published, timeout=60, what="every message processed")
    tickets = [t for t in stack.pipeline.store.list() if t.subject == DEVICE]
    assert [t.rule for t in tickets] == ["route_deviation"], [(t.rule, t.evidence) for t in tickets]
    assert stack.pipeline.ingest.stats.received == published and stack.pipeline.ingest.stats.deadlettered == 0
    assert stack.pipeline.runner.stats.duplicates == 0
    refused = [json.loads(line) for line in stack.settings.gateway_deadletter_path.read_text().splitlines()]
    assert [r["reason"] for r in refused] == ["bad_checksum"]
    assert base64.b64decode(refused[0]["payload_b64"]).startswith(b"\x7e\x02\x00")
    stats = stack.gateway.gateway.stats
    assert stats.refused["bad_checksum"] == 1 and stats.published == published


async def test_an_unknown_terminal_is_refused_at_registration_and_never_published(stack: Stack) -> None:
    terminal = Terminal("13999999999", v2019=False)
    await terminal.connect(stack.gateway.gateway.port)
    answer = await terminal.request(
        0x0100,
        b"\x00\x2a\x00\x64"
        + b"CWTST"
        + b"CW-T1".ljust(20, b"\0")
        + b"T000009"
        + b"\x02"
        + "鄂A·X0000".encode("gbk", "replace"),
    )
    assert (answer.msg_id, answer.result) == (0x8100, 4)  # 4: no such terminal in the database
    assert await terminal.closed()
    await terminal.close()
    assert stack.gateway.gateway.stats.refused["unknown_terminal"] == 1 and stack.gateway.gateway.stats.published == 0
    assert stack.gateway.health is not None
    metrics = await asyncio.to_thread(harness.scrape, stack.gateway.health.port)
    assert metrics['citywatch_gateway_refused_total{reason="unknown_terminal"}'] == 1
    assert metrics["citywatch_gateway_published_total"] == 0
    assert metrics["citywatch_gateway_connections_accepted_total"] == 1
    assert metrics["citywatch_gateway_connections"] == 0  # closed
    assert metrics["citywatch_gateway_mqtt_connected"] == 1
    assert sum(v for k, v in metrics.items() if k.startswith("citywatch_gateway_frames_total{")) >= 1


async def test_data_before_authentication_is_refused_dead_lettered_and_the_connection_closed(stack: Stack) -> None:
    terminal = Terminal(PHONE, v2019=True)
    await terminal.connect(stack.gateway.gateway.port)
    answer = await terminal.request(0x0200, location_body(trip(10)[0]))
    assert (answer.answers_id, answer.result) == (0x0200, 1)
    assert await terminal.closed()
    await terminal.close()
    refused = stack.settings.gateway_deadletter_path.read_text().splitlines()
    assert [json.loads(r)["reason"] for r in refused] == ["unauthenticated"]
    assert stack.gateway.gateway.stats.published == 0
