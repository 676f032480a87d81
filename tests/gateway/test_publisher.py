"""The gateway's MQTT publisher on a broker of the test's own: acknowledged means in the broker, nothing else."""

from __future__ import annotations

import asyncio
import signal
import time

import pytest

from devices.contracts import VehiclePosition
from gateway.publisher import BrokerConfig, Publisher
from tests.faults.broker import Broker

pytestmark = pytest.mark.services
MIDS = 65_535  # paho numbers messages 1..65535


def position(n: int) -> VehiclePosition:
    return VehiclePosition(
        device_id="gps-m01",
        ts_ms=1_790_000_000_000 + n * 1000,
        seq=n,
        lon=114.3,
        lat=30.58,
        speed_kmh=30.0,
        heading_deg=90.0,
    )


async def started(broker: Broker, name: str) -> Publisher:
    publisher = Publisher(BrokerConfig("127.0.0.1", broker.port, name))
    publisher.start(asyncio.get_running_loop())
    assert await asyncio.to_thread(publisher.connected.wait, 10), "no connection to the test's broker"
    return publisher


async def test_a_message_is_acknowledged_only_once_the_broker_has_it(broker: Broker) -> None:
    publisher = await started(broker, "pub-ack")
    try:
        assert await publisher.publish([position(1), position(2)], timeout_s=10)
        assert broker.proc is not None
        broker.proc.send_signal(signal.SIGSTOP)  # the broker takes nothing in
        try:
            assert not await publisher.publish([position(3)], timeout_s=1.0)
        finally:
            broker.proc.send_signal(signal.SIGCONT)
    finally:
        publisher.stop()


async def test_with_every_message_id_unacknowledged_the_next_message_is_refused_not_acknowledged(
    broker: Broker,
) -> None:
    # paho refuses (and does not send) a message whose 16-bit id is still in flight; that message must
    # come back as not taken (the terminal is not answered and sends it again), never be acknowledged
    # by the PUBACK of the older message with the same id.
    publisher = await started(broker, "pub-mids")
    assert broker.proc is not None
    try:
        broker.proc.send_signal(signal.SIGSTOP)
        try:
            window = asyncio.create_task(publisher.publish([position(n) for n in range(MIDS)], timeout_s=120))
            await asyncio.sleep(0)  # the window is handed to paho before the next one
            began = time.monotonic()
            assert not await publisher.publish([position(MIDS)], timeout_s=5)
            assert time.monotonic() - began < 5, "refused at once, not left to time out"
            assert publisher.mid_collisions > 0
        finally:
            broker.proc.send_signal(signal.SIGCONT)
        assert await window, "the window itself is acknowledged once the broker runs again"
    finally:
        publisher.stop()
