"""The stack's live feed (``citywatch tickets serve --live kafka``) against the real Kafka.

Records go onto a per-test set of topics (``t<unique>-positions`` ...) with aiokafka, the feed is
started as ``citywatch.ticket_service.run_service`` starts it, and the read model ``/api/live`` serves
(``LiveView.snapshot()``) must show each device's latest position, let a later fix replace an
earlier one, and survive records it cannot decode.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from devices.catalog import EVENT_STREAMS
from devices.contracts import DeviceStatus, LoadState, VehiclePosition
from streams.livefeed import KafkaLiveFeed
from streams.topics import ensure_topics
from tests.conftest import Services
from tests.support import wait_for
from tickets.live import KEEP_MS, LiveView

pytestmark = pytest.mark.services

PARTITIONS = 2
TIMEOUT = 30.0


def fix(device: str, ts_ms: int, seq: int, lon: float, lat: float, **kw: Any) -> VehiclePosition:
    return VehiclePosition(
        device_id=device,
        ts_ms=ts_ms,
        seq=seq,
        lon=lon,
        lat=lat,
        speed_kmh=kw.pop("speed", 20.0),
        heading_deg=90.0,
        load_state=LoadState.FULL,
        cover_closed=True,
        **kw,
    )


def produce(bootstrap: str, topic: str, records: list[tuple[bytes, bytes]]) -> None:
    """Send (key, value) records and wait until the broker has them all."""

    async def send() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
        await producer.start()
        try:
            for key, value in records:
                await producer.send_and_wait(topic, value, key=key)
        finally:
            await producer.stop()

    asyncio.run(send())


def send_positions(bootstrap: str, prefix: str, *positions: VehiclePosition) -> None:
    produce(bootstrap, prefix + "positions", [(p.device_id.encode(), p.model_dump_json().encode()) for p in positions])


def topics_exist(bootstrap: str, names: list[str]) -> bool:
    async def listed() -> set[str]:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            return set(await admin.list_topics())
        finally:
            await admin.close()

    return set(names) <= asyncio.run(listed())


def vehicles(live: LiveView) -> dict[str, dict[str, Any]]:
    return {v["device_id"]: v for v in live.snapshot()["vehicles"]}


def shows(live: LiveView, expected: dict[str, VehiclePosition]) -> bool:
    seen = vehicles(live)
    return all(
        d in seen and (seen[d]["ts_ms"], seen[d]["lon"], seen[d]["lat"]) == (p.ts_ms, p.lon, p.lat)
        for d, p in expected.items()
    )


@pytest.fixture
def prefix(unique: str) -> str:
    return f"t{unique}-"


@pytest.fixture
def start_feed(services: Services, prefix: str) -> Iterator[Callable[[], KafkaLiveFeed]]:
    """Start KafkaLiveFeed as run_service does; stop it afterwards and require it never failed."""
    feeds: list[KafkaLiveFeed] = []

    def start() -> KafkaLiveFeed:
        feed = KafkaLiveFeed(services.kafka_bootstrap, prefix, LiveView(), KEEP_MS, partitions=PARTITIONS)
        feed.start()
        feeds.append(feed)
        return feed

    yield start
    for feed in feeds:
        feed.stop()
        assert not feed._thread.is_alive(), "the live feed did not stop"
        assert feed.error is None, repr(feed.error)


def test_latest_position_per_device_and_later_fix_replaces_earlier(
    services: Services, prefix: str, start_feed: Callable[[], KafkaLiveFeed]
) -> None:
    bootstrap = services.kafka_bootstrap
    asyncio.run(ensure_topics(bootstrap, prefix, PARTITIONS))
    now = int(time.time() * 1000)
    # sent before the feed starts: it must find them through its look-back
    send_positions(
        bootstrap,
        prefix,
        fix("gps-a1", now - 60_000, 1, 114.30, 30.50),
        fix("gps-a1", now - 30_000, 2, 114.31, 30.51),
        fix("gps-b2", now - 45_000, 7, 114.40, 30.60),
    )
    feed = start_feed()
    live = feed.live
    wait_for(
        lambda: shows(
            live,
            {
                "gps-a1": fix("gps-a1", now - 30_000, 2, 114.31, 30.51),
                "gps-b2": fix("gps-b2", now - 45_000, 7, 114.40, 30.60),
            },
        ),
        timeout=TIMEOUT,
        what="the feed to show the latest position of both devices",
    )
    assert len(vehicles(live)) == 2
    assert [f.ts_ms for f in live.track("gps-a1", now - 120_000, now)] == [now - 60_000, now - 30_000]

    # sent while it runs: a later fix replaces the earlier one, an older one (late delivery) does not
    later = fix("gps-a1", now - 1_000, 3, 114.35, 30.55, speed=42.0)
    send_positions(bootstrap, prefix, later, fix("gps-b2", now - 50_000, 6, 114.00, 30.00))
    wait_for(lambda: shows(live, {"gps-a1": later}), timeout=TIMEOUT, what="the later position to replace the earlier")
    wait_for(
        lambda: len(live.track("gps-b2", now - 120_000, now)) == 2,
        timeout=TIMEOUT,
        what="the late fix of gps-b2 to join its track",
    )
    shown = vehicles(live)
    assert shown["gps-a1"]["speed_kmh"] == 42.0 and shown["gps-a1"]["online"] is True
    assert (shown["gps-b2"]["ts_ms"], shown["gps-b2"]["lon"]) == (now - 45_000, 114.40)

    # the status stream is read too: an offline status marks the vehicle offline on the map
    status = DeviceStatus(device_id="gps-b2", ts_ms=now, seq=8, state="offline")
    produce(bootstrap, prefix + "status", [(b"gps-b2", status.model_dump_json().encode())])
    wait_for(lambda: vehicles(live)["gps-b2"]["online"] is False, timeout=TIMEOUT, what="gps-b2 to go offline")
    assert feed.error is None and (feed.received, feed.skipped) == (6, 0)


def test_malformed_records_do_not_stop_the_feed(
    services: Services, prefix: str, start_feed: Callable[[], KafkaLiveFeed]
) -> None:
    bootstrap = services.kafka_bootstrap
    asyncio.run(ensure_topics(bootstrap, prefix, PARTITIONS))
    now = int(time.time() * 1000)
    first = fix("gps-c3", now - 20_000, 1, 114.20, 30.40)
    send_positions(bootstrap, prefix, first)
    feed = start_feed()
    wait_for(lambda: shows(feed.live, {"gps-c3": first}), timeout=TIMEOUT, what="the first position")

    good = first.model_dump_json().encode()
    bad = [
        b"this is not json",
        b"\xff\xfe\x00\x01",
        good.replace(b'"lat":30.4', b'"lat":95.0'),
        good.replace(b'"seq":1', b'"seq":"many"'),
        b"{}",
        b"[]",
        b"",
    ]
    produce(bootstrap, prefix + "positions", [(b"gps-c3", v) for v in bad])
    # a facility reading on the positions topic is not a position either
    produce(
        bootstrap,
        prefix + "positions",
        [(b"gps-c3", b'{"device_id":"gps-c3","ts_ms":%d,"seq":2,"fill_ratio":0.5}' % (now - 10_000))],
    )
    after = fix("gps-c3", now - 5_000, 3, 114.21, 30.41)
    send_positions(bootstrap, prefix, after)
    wait_for(
        lambda: shows(feed.live, {"gps-c3": after}),
        timeout=TIMEOUT,
        what="a good position after the malformed ones to show",
    )
    assert feed.error is None and feed._thread.is_alive()
    assert feed.skipped == 7  # every bad record but the empty one (no value: nothing to decode) is counted
    assert len(feed.live.track("gps-c3", now - 60_000, now)) == 2


def test_feed_started_before_the_topics_exist(
    services: Services, prefix: str, start_feed: Callable[[], KafkaLiveFeed]
) -> None:
    """A fresh stack: the ticket service may start before ingest ever created the topics."""
    bootstrap = services.kafka_bootstrap
    feed = start_feed()
    wait_for(
        lambda: topics_exist(bootstrap, [prefix + s for s in EVENT_STREAMS]),
        timeout=TIMEOUT,
        interval=0.5,
        what="the feed to create the event topics",
    )
    now = int(time.time() * 1000)
    positions = {f"gps-d{i}": fix(f"gps-d{i}", now - 1_000 * i, i, 114.0 + i / 100, 30.0) for i in range(1, 7)}
    send_positions(bootstrap, prefix, *positions.values())
    wait_for(lambda: shows(feed.live, positions), timeout=TIMEOUT, what="positions on freshly created topics to show")
    assert feed.error is None
