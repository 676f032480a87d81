"""The gateway's TCP edge on real Mosquitto: timeouts, take-over, hostile peers never stop the others."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from citywatch.gateway import RunningGateway, start_gateway
from citywatch.settings import Settings
from tests.conftest import Services
from tests.e2e import harness
from tests.gateway.terminal import Terminal

pytestmark = pytest.mark.services
REPO = Path(__file__).resolve().parents[2]
PHONE, PLATE = "13900003102", "鄂A·D3102"


@pytest.fixture
async def gateway(services: Services, tmp_path: Path, unique: str) -> AsyncIterator[RunningGateway]:
    settings = Settings(
        mqtt_host=services.mqtt_host,
        mqtt_port=services.mqtt_port,
        mqtt_client_id=f"gw-{unique}",
        city_dir=REPO / "cities" / "demo",
        gateway_host="127.0.0.1",
        gateway_auth_timeout_s=1.0,
        gateway_idle_timeout_s=2.0,
        gateway_deadletter_path=tmp_path / "gw-dead.jsonl",
    )
    running = await start_gateway(settings, port=0)
    try:
        yield running
    finally:
        await running.stop()
        harness.clear_retained(services.mqtt_host, services.mqtt_port, ["citywatch/v1/vehicle/gps-m02/status"])


OPEN: list[Terminal] = []


async def eventually(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    """Wait (without blocking the gateway's loop) until condition() holds; return whether it did."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition() and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.05)
    return condition()


@pytest.fixture(autouse=True)
async def _close_terminals() -> AsyncIterator[None]:
    yield
    while OPEN:
        await OPEN.pop().close()


async def connected(gateway: RunningGateway, phone: str = PHONE) -> Terminal:
    terminal = Terminal(phone, v2019=True)
    await terminal.connect(gateway.gateway.port)
    OPEN.append(terminal)
    return terminal


async def test_a_client_that_sends_nothing_is_closed_after_the_auth_timeout(gateway: RunningGateway) -> None:
    quiet = await connected(gateway)
    assert await quiet.closed(timeout=5)
    assert gateway.gateway.stats.refused["timeout_auth"] == 1


async def test_a_byte_a_while_does_not_keep_an_unauthenticated_connection_open(gateway: RunningGateway) -> None:
    slow = await connected(gateway)
    closed_after = None
    for i in range(30):  # a byte every 0.2 s: never a whole frame
        try:
            await slow.raw(b"\x7e" if i == 0 else b"\x01")
        except ConnectionError:
            closed_after = i
            break
        await asyncio.sleep(0.2)
    assert closed_after is not None or await slow.closed(timeout=1), "the slow client was never closed"
    assert gateway.gateway.stats.refused["timeout_auth"] == 1


async def test_an_authenticated_terminal_that_goes_quiet_is_closed_after_the_idle_timeout(
    gateway: RunningGateway,
) -> None:
    terminal = await connected(gateway)
    await terminal.login(PLATE)
    assert await terminal.closed(timeout=6)
    assert gateway.gateway.stats.refused["timeout_idle"] == 1
    assert await eventually(lambda: gateway.gateway.stats.published == 2), "online, then offline"


async def test_a_second_connection_with_the_same_phone_takes_over(gateway: RunningGateway) -> None:
    first = await connected(gateway)
    await first.login(PLATE)
    second = await connected(gateway)
    await second.login(PLATE)
    assert await first.closed(timeout=5)
    assert (await second.request(0x0002, b"")).result == 0
    assert gateway.gateway.stats.refused["replaced_connection"] == 1
    assert gateway.gateway.stats.published == 2, "online from each connection, no offline from the replaced one"


async def test_an_endless_frame_is_cut_off_and_other_terminals_are_served_meanwhile(
    gateway: RunningGateway, tmp_path: Path
) -> None:
    hostile = await connected(gateway, "13900003103")
    terminal = await connected(gateway)
    await hostile.raw(b"\x7e" + b"\x11" * 1500)
    await terminal.login(PLATE)  # served while the hostile one is half-way through its frame
    await hostile.raw(b"\x11" * 1500)
    assert await hostile.closed(timeout=5)
    assert (await terminal.request(0x0002, b"")).result == 0
    assert gateway.gateway.stats.refused["too_long"] == 1
    dead = [json.loads(line) for line in (tmp_path / "gw-dead.jsonl").read_text().splitlines()]
    assert [d["reason"] for d in dead] == ["too_long"]
