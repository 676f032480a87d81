"""Following a city directory: a new version is loaded off the loop and handed on; a broken one is refused."""

from __future__ import annotations

import asyncio
import shutil
import threading
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from structlog.testing import capture_logs

from citywatch.live_city import CityFollower
from citywatch.pipeline import EmbeddedPipeline
from citywatch.settings import Settings
from devices.city_edit import CityEditor
from devices.inventory import City, load_city
from tests.conftest import Services
from tests.e2e import harness
from tests.e2e.test_live_city import ROUTE_LAT, trip
from tests.support import wait_for
from tickets.auth import TokenBook
from tickets.live import LiveView
from tickets.service import TicketService
from tickets.store import TicketStore

MIN_CITY = Path(__file__).resolve().parents[1] / "data" / "city_min"
ZONE = ZoneInfo("Asia/Shanghai")
WHO = {"who": "test", "role": "registrar", "reason": "test"}


def editor(city_dir: Path) -> CityEditor:
    return CityEditor(city_dir, clock=lambda: datetime.now(ZONE))


def test_a_new_version_goes_to_every_listener(city_dir: Path) -> None:
    seen: list[list[City]] = [[], []]
    follower = CityFollower(city_dir, 1, [seen[0].append, seen[1].append])
    assert follower.due() is None and asyncio.run(follower.check()) is False
    editor(city_dir).revoke_permit("P-M1", WHO)
    assert follower.due() == 2 and asyncio.run(follower.check()) is True
    assert [c.meta.version for c in seen[0]] == [2] == [c.meta.version for c in seen[1]]
    assert seen[0][0].permits[0].revoked_at is not None and follower.version == 2


def test_a_version_that_does_not_load_is_refused_once_and_the_old_one_kept(city_dir: Path) -> None:
    seen: list[City] = []
    follower = CityFollower(city_dir, 1, [seen.append])
    (city_dir / "permits.yaml").write_text("- {permit_id: P-X, vehicle_id: NOPE}\n", encoding="utf-8")
    meta = (city_dir / "city.yaml").read_text(encoding="utf-8")
    (city_dir / "city.yaml").write_text(meta.replace("version: 1", "version: 2"), encoding="utf-8")
    with capture_logs() as logs:
        assert asyncio.run(follower.check()) is False and follower.version == 1 and seen == []
    assert [(x["event"], x["city_version"], x["kept"]) for x in logs] == [("city.refused", 2, 1)]
    assert "permits.yaml: [0].route: Field required" in logs[0]["error"]
    assert follower.due() is None  # not retried (or logged) on every check
    shutil.copy(MIN_CITY / "permits.yaml", city_dir / "permits.yaml")
    (city_dir / "city.yaml").write_text(meta.replace("version: 1", "version: 3"), encoding="utf-8")
    assert asyncio.run(follower.check()) is True and [c.meta.version for c in seen] == [3]


def test_following_takes_a_change_within_its_period(city_dir: Path) -> None:
    seen: list[City] = []
    follower = CityFollower(city_dir, 1, [seen.append])

    async def run() -> float:
        stop = asyncio.Event()
        task = asyncio.create_task(follower.follow(stop, 0.05))
        await asyncio.sleep(0.1)
        changed = time.monotonic()
        await asyncio.to_thread(editor(city_dir).revoke_permit, "P-M1", WHO)
        while not seen:
            await asyncio.sleep(0.01)
        stop.set()
        await task
        return time.monotonic() - changed

    assert asyncio.run(run()) < 2.0 and [c.meta.version for c in seen] == [2]


@pytest.mark.services
def test_the_embedded_pipeline_judges_the_next_trip_under_the_new_city(
    services: Services, city_dir: Path, tmp_path: Path, unique: str
) -> None:
    settings = Settings(
        mqtt_host=services.mqtt_host,
        mqtt_port=services.mqtt_port,
        mqtt_share_group=f"emb-{unique}",
        mqtt_client_id=f"emb-{unique}",
        mqtt_session_expiry_s=0,
        city_dir=city_dir,
        city_reload_s=0.2,
        ticket_db=tmp_path / "tickets.sqlite",
        deadletter_path=tmp_path / "deadletter.jsonl",
    )
    pipeline = EmbeddedPipeline(settings)
    pipeline.start()
    try:
        made = editor(city_dir).revoke_permit("P-M1", WHO)
        wait_for(lambda: pipeline.follower.version == made.version, timeout=10, what="the pipeline to take version 2")
        t1 = int(time.time() * 1000) + 1_000
        harness.publish_raw(services.mqtt_host, services.mqtt_port, trip("gps-m1", t1, ROUTE_LAT, 1))
        wait_for(lambda: pipeline.ingest.stats.received >= 30, timeout=30, what="the trip to arrive")
        wait_for(lambda: pipeline.store.recent_alerts(), timeout=30, what="an alert")
        alerts = pipeline.store.recent_alerts()
    finally:
        pipeline.stop()
    assert [(a["rule"], a["phase"], a["city_version"]) for a in alerts] == [("unpermitted_transport", "open", 2)]


def test_a_process_without_a_loop_follows_on_a_thread(city_dir: Path, tmp_path: Path) -> None:
    """The ticket service (its console map, routing) follows on a thread: ``citywatch tickets serve``."""
    store = TicketStore(str(tmp_path / "tickets.sqlite"))
    service = TicketService(store, TokenBook(), LiveView(load_city(city_dir)), load_city(city_dir))
    stop = threading.Event()
    follower = CityFollower(city_dir, 1, [service.use_city])
    thread = threading.Thread(target=follower.follow_blocking, args=(stop, 0.05))
    thread.start()
    try:
        editor(city_dir).put_vehicle(
            {"vehicle_id": "M2", "plate": "鄂A·D0002", "kind": "muck", "company": "城建运输", "terminal_id": "gps-m2"},
            WHO,
        )
        wait_for(lambda: service.city is not None and service.city.meta.version == 2, timeout=5, what="version 2")
    finally:
        stop.set()
        thread.join()
        store.close()
    assert service.live.city is service.city and "gps-m2" in service.city.vehicle_by_terminal
