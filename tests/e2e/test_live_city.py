"""A city changed while the stack runs: ingest and the faust worker take the new version without a restart.

On real Mosquitto and Kafka, with ``citywatch ingest --mode stack`` and a faust worker following a copy
of the minimal city: a truck's permit is revoked, a new truck is registered and given a permit, and a
deviating truck is issued a permit for the road it drives, all through ``devices.city_edit`` (what the
city API calls). Before the change the new truck's reports are refused as an unknown device and the
old truck drives legally; after it, the old truck's next trip is unpermitted transport (08109), the
new truck is judged against its new permit's corridor, and the deviation opened under the old version
clears (one episode: the worker's rule state survived the change). Each alert records the city
version it was judged under.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

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
    """Return the stack's environment for this test, following its own copy of a city every second."""
    return {**harness.stack_env(services, tmp, unique), "CITYWATCH_CITY_DIR": str(city), "CITYWATCH_CITY_RELOAD_S": "1"}


def alerts_in(db: Path) -> list[dict[str, object]]:
    """Return every alert phase the ticket sink applied."""
    store = TicketStore(db)
    try:
        return store.recent_alerts(1000)
    finally:
        store.close()


def permit(permit_id: str, vehicle_id: str, lat: float) -> dict[str, object]:
    """Return a permit along a line of latitude, as the city API takes it."""
    return {"permit_id": permit_id, "vehicle_id": vehicle_id, "route": [[114.30, lat], [114.32, lat]],
            "corridor_m": 50, "valid_from": "2026-01-01", "valid_to": "2030-12-31"}  # fmt: skip


def muck(vehicle_id: str, terminal_id: str) -> dict[str, object]:
    """Return a muck truck as the city API takes it."""
    return {"vehicle_id": vehicle_id, "plate": f"鄂A·D{vehicle_id}", "kind": "muck", "company": "城建运输",
            "terminal_id": terminal_id}  # fmt: skip


def test_permits_revoked_issued_and_a_truck_registered_while_the_stack_runs(
    services: Services, tmp_path: Path, unique: str
) -> None:
    city = tmp_path / "city"
    shutil.copytree(REPO / "tests" / "data" / "city_min", city)
    editor = CityEditor(city, clock=lambda: datetime.now(ZONE))
    editor.put_vehicle(muck("M2", "gps-m2"), WHO)
    assert editor.issue_permit(permit("P-M2", "M2", ROUTE_LAT), WHO).version == 3  # the city the stack starts with
    env = env_for(services, tmp_path, city, unique)
    worker = harness.start(
        "faust-worker", [str(BIN / "faust"), "-A", "citywatch.worker", "worker", "-l", "info"], env, tmp_path
    )
    ingest = harness.start("ingest", [str(BIN / "citywatch"), "--log-json", "ingest", "--mode", "stack"], env, tmp_path)
    db = Path(env["CITYWATCH_TICKET_DB"])
    try:
        worker.wait_for_line(r"\[\^Worker\]: Ready", timeout=180)
        ingest.wait_for_line(r"ingest\.started", timeout=60)
        t0 = int(time.time() * 1000) - 240_000  # trip 2 follows within the 300 s a terminal may be silent
        first = trip("gps-m1", t0, ROUTE_LAT, 1) + trip("gps-m2", t0, OFF_LAT, 1) + trip("gps-m3", t0, OFF_LAT, 1)
        harness.publish_raw(services.mqtt_host, services.mqtt_port, first)
        wait_for(lambda: alerts_in(db), timeout=60, interval=1, what="M2's deviation under version 3")

        editor.revoke_permit("P-M1", WHO)  # 4
        editor.put_vehicle(muck("M3", "gps-m3"), WHO)  # 5
        editor.issue_permit(permit("P-M3", "M3", ROUTE_LAT), WHO)  # 6
        assert (
            editor.issue_permit(permit("P-M2-B", "M2", OFF_LAT), WHO).version == 7
        )  # M2's new route: the one it drives
        for proc in (worker, ingest):
            proc.wait_for_line(r"(?m)^(?=.*city\.adopted)(?=.*city_version\W+7\b)", timeout=30)

        t1 = int(time.time() * 1000) + 1_000
        second = (
            trip("gps-m1", t1, ROUTE_LAT, 100) + trip("gps-m2", t1, OFF_LAT, 100) + trip("gps-m3", t1, OFF_LAT, 100)
        )
        harness.publish_raw(services.mqtt_host, services.mqtt_port, second)
        wanted = {("unpermitted_transport", "gps-m1", "open"), ("route_deviation", "gps-m3", "open"),
                  ("route_deviation", "gps-m2", "clear")}  # fmt: skip
        wait_for(
            lambda: wanted <= {(str(a["rule"]), str(a["subject"]), str(a["phase"])) for a in alerts_in(db)},
            timeout=90,
            interval=1,
            what="the worker to judge the next trips under city version 7",
        )
    finally:
        assert ingest.stop() == 0, ingest.text()[-3000:]
        worker.stop()
    alerts = alerts_in(db)
    phases = sorted((str(a["rule"]), str(a["subject"]), str(a["phase"]), int(str(a["city_version"]))) for a in alerts)
    assert phases == [
        ("route_deviation", "gps-m2", "clear", 7),  # the episode opened under version 3 ended under 7: state kept
        ("route_deviation", "gps-m2", "open", 3),
        ("route_deviation", "gps-m3", "open", 7),
        ("unpermitted_transport", "gps-m1", "open", 7),
    ]
    m2 = [a for a in alerts if a["subject"] == "gps-m2"]
    assert len({a["alert_id"] for a in m2}) == 1  # one episode across the change, not two
    dead = harness.decode_json(
        asyncio.run(harness.read_topic(services.kafka_bootstrap, env["CITYWATCH_TOPIC_PREFIX"] + "deadletter", 30, 60))
    )
    assert sorted({(str(d["reason"]), str(d["topic"])) for d in dead}) == [
        ("unknown_device", "citywatch/v1/vehicle/gps-m3/telemetry")
    ]  # before the change the new truck was refused; after it, accepted
