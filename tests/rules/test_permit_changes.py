"""Permits changed while trucks run: a revoked permit makes the next trip unpermitted, an issued one ends a deviation.

The engine is rebuilt on the new city and the device's state carries over, as the runners do when a
new city version arrives (``citywatch.live_city``). Times are event times of the city's zone (UTC+8).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from devices.contracts import LoadState, VehiclePosition
from devices.inventory import City, load_city
from rules.alerts import Alert, Phase
from rules.engine import DeviceState, Engine

CITY_DIR = Path(__file__).resolve().parent.parent / "data" / "city_min"
SHANGHAI = timedelta(hours=8)
DAY = datetime(2026, 12, 4, tzinfo=UTC)  # 2026-12-04 local, at 14:00 local below
ON_ROUTE, OFF_ROUTE = 30.59, 30.5930  # the permit runs along lat 30.59; 330 m north is route B


def at(hh: int, mm: int, ss: int = 0) -> int:
    """Return epoch ms of a local (UTC+8) time on the test day."""
    return int((DAY + timedelta(hours=hh, minutes=mm, seconds=ss) - SHANGHAI).timestamp() * 1000)


def drive(
    start_ms: int, minutes: float, lat: float, seq0: int, load: LoadState = LoadState.FULL
) -> list[VehiclePosition]:
    """Return fixes every 10 s for ``minutes``, eastwards along a line of latitude (~14 km/h)."""
    n = int(minutes * 6)
    return [
        VehiclePosition(
            device_id="gps-m1",
            ts_ms=start_ms + 10_000 * i,
            seq=seq0 + i,
            lon=114.300 + 0.0004 * i,
            lat=lat,
            speed_kmh=30.0,
            heading_deg=90.0,
            load_state=load,
            cover_closed=True,
        )
        for i in range(n)
    ]


def with_permits(city: City, version: int, *permits: dict[str, object]) -> City:
    """Return the city at a new version with these permits (what the API writes)."""
    meta = city.meta.model_copy(update={"version": version})
    return city.model_copy(update={"meta": meta.model_dump(), "permits": list(permits)})


def permit(**over: object) -> dict[str, object]:
    """Return P-M1 as permits.yaml has it, changed."""
    base = {"permit_id": "P-M1", "vehicle_id": "M1", "route": [[114.30, ON_ROUTE], [114.32, ON_ROUTE]],
            "corridor_m": 50, "valid_from": "2026-01-01", "valid_to": "2030-12-31"}  # fmt: skip
    return base | over


def local(hh: int, mm: int) -> str:
    """Return an ISO instant with the city's offset."""
    return f"2026-12-04T{hh:02d}:{mm:02d}:00+08:00"


def run(
    engine: Engine, fixes: list[VehiclePosition], state: DeviceState | None
) -> tuple[DeviceState | None, list[Alert]]:
    """Feed fixes through an engine; return the state and every alert."""
    alerts: list[Alert] = []
    for fix in fixes:
        out = engine.process(state, fix)
        state, alerts = out.state, alerts + out.alerts
    return state, alerts


@pytest.fixture(scope="module")
def city() -> City:
    return load_city(CITY_DIR)


def test_a_trip_after_the_revocation_is_unpermitted_transport(city: City) -> None:
    revoked = Engine(with_permits(city, 2, permit(revoked_at=local(14, 0))))
    state, before = run(revoked, drive(at(13, 50), 5, ON_ROUTE, 0), None)  # judged under the permit as it stood
    assert before == []
    _, after = run(revoked, drive(at(14, 5), 5, ON_ROUTE, 100), state)
    assert [(a.rule, a.phase, a.matter_code) for a in after] == [("unpermitted_transport", Phase.OPEN, "08109")]
    assert after[0].evidence["permit_id"] == "P-M1" and after[0].evidence["revoked_ms"] == at(14, 0)
    assert after[0].episode_start_ms == at(14, 5) and after[0].city_version == 2


def test_the_revoked_route_no_longer_judges_deviations(city: City) -> None:
    _, alerts = run(
        Engine(with_permits(city, 2, permit(revoked_at=local(14, 0)))), drive(at(14, 5), 5, OFF_ROUTE, 0), None
    )
    assert {a.rule for a in alerts} == {"unpermitted_transport"}  # not a deviation from a permit that is gone


def test_an_empty_truck_is_not_carrying(city: City) -> None:
    engine = Engine(with_permits(city, 2, permit(revoked_at=local(14, 0))))
    assert run(engine, drive(at(14, 5), 5, ON_ROUTE, 0, LoadState.EMPTY), None)[1] == []


def test_a_permit_issued_ends_the_episode_and_it_does_not_recur(city: City) -> None:
    revoked = with_permits(city, 2, permit(revoked_at=local(14, 0)))
    state, opened = run(Engine(revoked), drive(at(14, 5), 5, ON_ROUTE, 0), None)
    assert [a.phase for a in opened] == [Phase.OPEN]
    issued = with_permits(city, 3, permit(revoked_at=local(14, 0)), permit(permit_id="P-M1-2026b"))
    state, after = run(Engine(issued), drive(at(14, 15), 5, ON_ROUTE, 100), state)  # state carried over
    assert [(a.rule, a.phase, a.evidence["ended_by"], a.city_version) for a in after] == [
        ("unpermitted_transport", Phase.CLEAR, "permit issued", 3)
    ]
    assert run(Engine(issued), drive(at(14, 40), 5, ON_ROUTE, 200), state)[1] == []


def test_a_permit_issued_for_the_route_driven_stops_the_deviation_recurring(city: City) -> None:
    old = Engine(city)
    state, opened = run(old, drive(at(13, 55), 4, OFF_ROUTE, 0), None)  # route B, 330 m off the permit's route
    assert [(a.rule, a.phase) for a in opened] == [("route_deviation", Phase.OPEN)]
    route_b = [[114.30, OFF_ROUTE], [114.34, OFF_ROUTE]]
    new = Engine(with_permits(city, 2, permit(revoked_at=local(14, 0)), permit(permit_id="P-M1-B", route=route_b)))
    state, after = run(new, drive(at(14, 0), 4, OFF_ROUTE, 100), state)
    assert [(a.rule, a.phase) for a in after] == [("route_deviation", Phase.CLEAR)]
    assert run(new, drive(at(14, 30), 4, OFF_ROUTE, 200), state)[1] == []  # the next trip on route B
    assert run(old, drive(at(14, 30), 4, OFF_ROUTE, 200), state)[1] != []  # without the new permit it recurs


def test_two_standing_permits_for_one_truck_are_refused(city: City) -> None:
    with pytest.raises(ValidationError, match=r"permits\.yaml: vehicle_id 'M1' appears twice"):
        with_permits(city, 2, permit(), permit(permit_id="P-M1-2"))
