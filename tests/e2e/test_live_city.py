"""A city changed while the stack runs: ingest and the faust worker take the new version without a restart.

On real Mosquitto and Kafka, with ``citywatch ingest --mode stack`` and a faust worker following a copy
of the minimal city: a truck's permit is revoked, a new truck is registered and given a permit, all
through ``devices.city_edit`` (what the city API calls). Before the change the new truck's reports are
refused as an unknown device and the old truck drives legally; after it, the old truck's next trip is
unpermitted transport (08109) and the new truck is judged against its new permit's corridor, each
alert recording the city version it was judged under.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from citywatch.broker import free_port
from devices.city_edit import CityEditor
from devices.contracts import LoadState, VehiclePosition
from tests.conftest import Services
from tests.e2e import harness
from tests.e2e.harness import BIN, REPO
from tests.support import wait_for
from tickets.store import TicketStore

pytestmark = pytest.mark.services

ZONE = ZoneInfo("Asia/Shanghai")
ROUTE_LAT, OFF_LAT = 30.59, 30.5930
WHO = {"who": "e2e", "role": "registrar", "reason": "test"}


def trip(device: str, start_ms: int, lat: float, seq0: int, n: int = 30) -> list[tuple[str, bytes]]:
    """Return a loaded truck's fixes every 5 s eastwards along a line of latitude, as MQTT messages."""
    fixes = [
        VehiclePosition(
            device_id=device, ts_ms=start_ms + 5_000 * i, seq=seq0 + i, lon=114.300 + 0.0004 * i, lat=lat,
            speed_kmh=30.0, heading_deg=90.0, load_state=LoadState.FULL, cover_closed=True,
        )
        for i in range(n)
    ]  # fmt: skip
    return [(f"citywatch/v1/vehicle/{device}/telemetry", f.model_dump_json().encode()) for f in fixes]


def env_for(services: Services, tmp: Path, city: Path, unique: str) -> dict[str, str]:
    """Return the stack's environment for this test: its own topics, group, state, database and city."""
    return {
        "CITYWATCH_MQTT_HOST": services.mqtt_host,
        "CITYWATCH_MQTT_PORT": str(services.mqtt_port),
        "CITYWATCH_MQTT_SHARE_GROUP": f"ingest-{unique}",
        "CITYWATCH_MQTT_CLIENT_ID": f"ingest-{unique}",
        "CITYWATCH_MQTT_SESSION_EXPIRY_S": "0",
        "CITYWATCH_KAFKA_BOOTSTRAP": services.kafka_bootstrap,
        "CITYWATCH_TOPIC_PREFIX": f"t{unique}-",
        "CITYWATCH_FAUST_APP_ID": f"cw-{unique}",
        "CITYWATCH_FAUST_WEB_PORT": str(free_port()),
        "CITYWATCH_FAUST_DATA_DIR": str(tmp / "faust"),
        "CITYWATCH_TICKET_DB": str(tmp / "tickets.sqlite"),
        "CITYWATCH_CITY_DIR": str(city),
        "CITYWATCH_CITY_RELOAD_S": "1",
    }


def alerts_in(db: Path) -> list[dict[str, object]]:
    """Return every alert phase the ticket sink applied."""
    store = TicketStore(db)
    try:
        return store.recent_alerts(1000)
    finally:
        store.close()


def test_a_permit_revoked_and_a_truck_registered_while_the_stack_runs(
    services: Services, tmp_path: Path, unique: str
) -> None:
    city = tmp_path / "city"
    shutil.copytree(REPO / "tests" / "data" / "city_min", city)
    env = env_for(services, tmp_path, city, unique)
    worker = harness.start(
        "faust-worker", [str(BIN / "faust"), "-A", "citywatch.worker", "worker", "-l", "info"], env, tmp_path
    )
    ingest = harness.start("ingest", [str(BIN / "citywatch"), "--log-json", "ingest", "--mode", "stack"], env, tmp_path)
    try:
        worker.wait_for_line(r"\[\^Worker\]: Ready", timeout=180)
        ingest.wait_for_line(r"ingest\.started", timeout=60)
        t0 = int(time.time() * 1000) - 600_000
        harness.publish_raw(
            services.mqtt_host, services.mqtt_port, trip("gps-m1", t0, ROUTE_LAT, 1) + trip("gps-m3", t0, OFF_LAT, 1)
        )

        editor = CityEditor(city, clock=lambda: datetime.now(ZONE))
        editor.revoke_permit("P-M1", WHO)
        editor.put_vehicle(
            {"vehicle_id": "M3", "plate": "鄂A·D0003", "kind": "muck", "company": "城建运输", "terminal_id": "gps-m3"},
            WHO,
        )
        made = editor.issue_permit(
            {"permit_id": "P-M3", "vehicle_id": "M3", "route": [[114.30, ROUTE_LAT], [114.32, ROUTE_LAT]],
             "corridor_m": 50, "valid_from": "2026-01-01", "valid_to": "2030-12-31"}, WHO,
        )  # fmt: skip
        assert made.version == 4
        for proc in (worker, ingest):
            proc.wait_for_line(r"(?m)^(?=.*city\.adopted)(?=.*city_version\W+4\b)", timeout=30)

        t1 = int(time.time() * 1000) + 1_000
        harness.publish_raw(
            services.mqtt_host,
            services.mqtt_port,
            trip("gps-m1", t1, ROUTE_LAT, 100) + trip("gps-m3", t1, OFF_LAT, 100),
        )
        db = Path(env["CITYWATCH_TICKET_DB"])
        wanted = {("unpermitted_transport", "gps-m1"), ("route_deviation", "gps-m3")}
        wait_for(
            lambda: wanted <= {(str(a["rule"]), str(a["subject"])) for a in alerts_in(db)},
            timeout=90,
            interval=1,
            what="the worker to judge the next trips under city version 4",
        )
    finally:
        assert ingest.stop() == 0, ingest.text()[-3000:]
        worker.stop()
    alerts = alerts_in(db)
    opened = {(a["rule"], a["subject"], a["city_version"]) for a in alerts if a["phase"] == "open"}
    assert opened == {("unpermitted_transport", "gps-m1", 4), ("route_deviation", "gps-m3", 4)}
    assert all(int(str(a["ts_ms"])) >= t1 for a in alerts)  # nothing of the first trips: legal, or refused
    dead = harness.decode_json(
        asyncio.run(harness.read_topic(services.kafka_bootstrap, env["CITYWATCH_TOPIC_PREFIX"] + "deadletter", 30, 60))
    )
    assert sorted({(str(d["reason"]), str(d["topic"])) for d in dead}) == [
        ("unknown_device", "citywatch/v1/vehicle/gps-m3/telemetry")
    ]  # before the change the new truck was refused; after it, accepted
