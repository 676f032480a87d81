"""The recovery benchmark's city scaler makes a city ``load_city`` accepts, and its log reading finds faust's phases."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from benchmarks.recovery import logged_highwaters, phases
from benchmarks.scaled_city import FIX_INTERVAL_MS, fleet_positions, scale_city
from devices.inventory import load_city
from rules.engine import Engine

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "cities" / "demo"


def test_scaled_city_has_the_requested_muck_trucks_on_the_demo_routes(tmp_path: Path) -> None:
    city = scale_city(DEMO, tmp_path / "city", 50)
    demo = load_city(DEMO)
    muck = [v for v in city.vehicles if v.kind == "muck"]
    assert len(muck) == len(city.permits) == 50 and {p.vehicle_id for p in city.permits} == {v.vehicle_id for v in muck}
    assert [v for v in city.vehicles if v.kind == "garbage"] == [v for v in demo.vehicles if v.kind == "garbage"]
    assert len({v.plate for v in city.vehicles}) == len(city.vehicles)
    assert {tuple(p.route) for p in city.permits} == {tuple(p.route) for p in demo.permits}
    assert city.cameras == demo.cameras and city.sites == demo.sites


def test_fleet_positions_are_on_their_routes_round_by_round(tmp_path: Path) -> None:
    city = scale_city(DEMO, tmp_path / "city", 12)
    positions = fleet_positions(city, 3, 1_795_000_000_000)
    assert len(positions) == 36 and positions[-1].ts_ms == 1_795_000_000_000
    assert [p.ts_ms for p in positions[::12]] == [1_795_000_000_000 - k * FIX_INTERVAL_MS for k in (2, 1, 0)]
    assert {p.seq for p in positions[:12]} == {0}
    assert all(
        place is not None and place.corridor_m is not None and place.corridor_m < 1.0
        for place in Engine(city).locate(positions)
    )


def test_phases_and_restore_records_are_read_from_the_worker_log() -> None:
    started = datetime(2026, 1, 5, 8, 0, 0).timestamp()
    log = (
        "[2026-01-05 08:00:02,500] [1] [INFO] [^Worker]: Starting... \n"
        "[2026-01-05 08:00:04,000] [1] [INFO] [^---Recovery]: Highwater for active changelog partitions:\n"
        "+Highwater - Active------+-----------+-----------+\n"
        "| topic                  | partition | highwater |\n"
        "| app-state-x-changelog  | 0         | 99        |\n"
        "| 〃                     | 1         | -1        |\n"
        "| app-state-y-changelog  | 0         | 9         |\n"
        "+------------------------+-----------+-----------+ \n"
        "[2026-01-05 08:00:04,100] [1] [INFO] [^---Recovery]: Restoring state from changelog topics... \n"
        "[2026-01-05 08:00:10,100] [1] [INFO] [^---Recovery]: Done reading from changelog topics \n"
        "[2026-01-05 08:00:10,200] [1] [INFO] [^Worker]: Ready \n"
    )
    assert phases(log, started) == {
        "app_loaded_s": 2.5,
        "recovery_started_s": 4.1,
        "changelogs_read_s": 10.1,
        "ready_s": 10.2,
    }
    assert logged_highwaters(log) == 110
