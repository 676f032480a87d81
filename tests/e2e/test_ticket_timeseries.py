"""Case stage changes into the real InfluxDB: a store opened with an InfluxDB configured writes every
lifecycle step (opened from alerts, 受理, 立案, 派遣, ... 结案, 督办) as a ``ticket`` point after its
transaction commits; the dashboards' own ``open_tickets`` query (the text Grafana runs) reads them back.
Each test has its own database and its own subjects.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from citywatch.settings import Settings
from citywatch.ticket_store import open_store
from dashboards.queries import run
from rules.alerts import Alert, Phase, Severity, alert_id
from streams.timeseries.writer import InfluxConfig
from tests.conftest import Influx
from tests.e2e.harness import REPO
from tests.support import wait_for
from tickets.lifecycle import Action, Actor, Command, Role
from tickets.store import TicketStore

pytestmark = pytest.mark.services

LEAD, INTAKE = Actor("王敏", Role.SHIFT_LEAD), Actor("李静", Role.INTAKE)
DISPATCHER, INSPECTOR = Actor("赵强", Role.DISPATCHER), Actor("陈刚", Role.INSPECTOR)


def opened(subject: str, ts_ms: int, lon: float) -> Alert:
    return Alert(
        alert_id=alert_id("route_deviation", subject, ts_ms),
        rule="route_deviation",
        phase=Phase.OPEN,
        subject=subject,
        ts_ms=ts_ms,
        episode_start_ms=ts_ms,
        lon=lon,
        lat=30.6,
        severity=Severity.MAJOR,
        matter_code="08011",
        evidence={"distance_m": 120.0},
    )


@pytest.fixture
def store(influx_db: Influx, tmp_path: Path) -> Iterator[TicketStore]:
    settings = Settings(
        ticket_db=tmp_path / "tickets.sqlite",
        city_dir=REPO / "cities" / "demo",
        influx_url=influx_db.url,
        influx_token=influx_db.token,
        influx_org=influx_db.org,
        influx_bucket=influx_db.bucket,
        influx_flush_interval_ms=200,
    )
    s = open_store(settings)
    yield s
    s.close()


def query(db: Influx, flux_or_name: str) -> list[dict[str, Any]]:
    window = {
        "start": datetime.now(UTC) - timedelta(hours=1),
        "stop": datetime.now(UTC) + timedelta(minutes=1),
        "window": timedelta(minutes=1),
    }
    with InfluxConfig(db.url, db.token, db.org, db.bucket).client() as c:
        if flux_or_name.startswith("from("):
            return [dict(r.values) for t in c.query_api().query(flux_or_name) for r in t.records]
        return run(c.query_api(), flux_or_name, bucket=db.bucket, **window)


def states(db: Influx, ticket_id: str) -> list[str]:
    flux = (
        f'from(bucket: "{db.bucket}") |> range(start: -1h, stop: 1m) |> filter(fn: (r) => '
        f'r._measurement == "ticket" and r._field == "ticket_id" and r._value == "{ticket_id}") '
        '|> group() |> sort(columns: ["_time"])'
    )
    return [r["state"] for r in query(db, flux)]


def test_case_stage_changes_reach_the_open_tickets_panel(store: TicketStore, influx_db: Influx, unique: str) -> None:
    t0 = int(time.time() * 1000) - 60_000
    assert (
        store.apply(
            [
                opened(f"gps-{unique}-a", t0, 114.25),
                opened(f"gps-{unique}-b", t0, 114.35),
                opened(f"gps-{unique}-c", t0, 114.30),
            ]
        )
        == 3
    )
    done, kept, voided = sorted(store.cases(), key=lambda c: c["case_id"])
    assert len({done["subject"], kept["subject"], voided["subject"]}) == 3  # violations far apart: three cases
    steps = [
        (done, Action.ACCEPT, INTAKE),
        (done, Action.REGISTER, LEAD),
        (done, Action.DISPATCH, DISPATCHER),
        (done, Action.HANDLE, Actor("队员", Role.UNIT, done["unit"])),
        (done, Action.VERIFY, INSPECTOR),
        (done, Action.CLOSE, LEAD),
        (kept, Action.ACCEPT, INTAKE),
        (kept, Action.REGISTER, LEAD),
    ]
    for i, (case, action, actor) in enumerate(steps, start=1):
        store.act(case["case_id"], Command(action), actor, at_ms=t0 + i * 1000)
    store.act(kept["case_id"], Command(Action.SUPERVISE, reason="超时未派遣"), LEAD, at_ms=t0 + 20_000)
    store.act(voided["case_id"], Command(Action.VOID, reason="误报 false alarm"), INTAKE, at_ms=t0 + 21_000)

    expected = [(kept["case_no"], "registered", "08011", f"gps-{unique}-b")]
    rows = wait_for(
        lambda: (
            query(influx_db, "open_tickets")
            if len(states(influx_db, done["case_no"])) == 7 and states(influx_db, voided["case_no"])[-1:] == ["void"]
            else []
        ),
        timeout=30,
        what="the case points in InfluxDB",
    )
    assert [(r["ticket_id"], r["state"], r["rule"], r["subject"]) for r in rows] == expected
    assert states(influx_db, done["case_no"]) == [
        "discovered",
        "accepted",
        "registered",
        "dispatched",
        "handled",
        "verified",
        "closed",
    ]
    assert states(influx_db, kept["case_no"]) == ["discovered", "accepted", "registered", "registered"]  # 督办 last
    assert store.on_change is not None


def test_store_without_influx_records_nothing_and_works(tmp_path: Path) -> None:
    store = open_store(Settings(ticket_db=tmp_path / "tickets.sqlite", city_dir=REPO / "cities" / "demo"))
    try:
        assert store.on_change is None
        assert store.apply([opened("gps-plain", int(time.time() * 1000), 114.3)]) == 1
        (case,) = store.cases()
        assert store.act(case["case_id"], Command(Action.ACCEPT), INTAKE)["stage"] == "accepted"
    finally:
        store.close()
