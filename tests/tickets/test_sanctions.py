"""退出机制 that bites (issue 10, part 4): a company over its points is suspended with an audit record, its
permits show suspended, its trucks driving raise an alert, and a shift lead lifts it with a reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from devices.contracts import VehiclePosition
from devices.inventory import City
from rules.alerts import Alert, Phase, Severity, alert_id
from rules.engine import Engine
from rules.params import params_of
from streams.embedded import EmbeddedRunner
from tests.tickets.conftest import at
from tickets.errors import Forbidden, MissingReason
from tickets.lifecycle import Action, Actor, Command, Role
from tickets.permits import permit_status
from tickets.store import TicketStore

REPO = Path(__file__).resolve().parents[2]
T = at("2026-03-02 09:00")
LEAD, DISPATCHER = Actor("值班长", Role.SHIFT_LEAD), Actor("派遣员", Role.DISPATCHER)
COMPANY = "江城顺达渣土运输有限公司"  # gps-m01, gps-m02


@pytest.fixture
def store(routed_store: TicketStore) -> TicketStore:
    """Return the store routing by the demo city (tests/tickets/conftest.py)."""
    return routed_store


def confirm_violations(store: TicketStore, city: City, count: int, subject: str = "gps-m01") -> None:
    """Open and register (立案) count route-deviation cases of a truck, an hour apart (3 points each)."""
    for i in range(count):  # each an episode of its own: opened, then cleared a minute later
        at_ms = T + i * 3_600_000
        store.apply(
            [
                Alert(
                    alert_id("route_deviation", subject, at_ms),
                    "route_deviation",
                    phase,
                    subject,
                    at_ms + (60_000 if phase is Phase.CLEAR else 0),
                    at_ms,
                    114.3,
                    30.59,
                    Severity.MAJOR,
                    params_of(city).matter_codes["route_deviation"],
                    {},
                )
                for phase in (Phase.OPEN, Phase.CLEAR)
            ]
        )
    for case in store.cases(stage="discovered"):
        for action in (Action.ACCEPT, Action.REGISTER):
            store.act(case["case_id"], Command(action), LEAD, at_ms=T)


def test_a_company_over_the_threshold_is_suspended_with_an_audit_record(store: TicketStore, city: City) -> None:
    confirm_violations(store, city, 3)  # 9 points: under 12
    assert store.enforce_suspensions(T + 5 * 3_600_000) == [] and store.suspended_companies() == frozenset()
    confirm_violations(store, city, 1, subject="gps-m02")  # the same company's other truck: 12 points
    assert store.enforce_suspensions(T + 5 * 3_600_000) == [COMPANY]
    assert store.enforce_suspensions(T + 6 * 3_600_000) == []  # once
    assert store.suspended_companies() == frozenset({COMPANY})
    (audit,) = store.company_history(COMPANY)
    assert (audit["action"], audit["role"], audit["detail"]["points"]) == ("suspend", "system", 12)
    assert "12 分" in audit["reason"]


def test_a_suspended_companys_permits_show_suspended(store: TicketStore, city: City) -> None:
    confirm_violations(store, city, 4)
    store.enforce_suspensions(T + 5 * 3_600_000)
    status = {p["plate"]: p["status"] for p in permit_status(city, store.suspensions(), T)}
    assert status["鄂A·D3101"] == status["鄂A·D3102"] == "suspended"
    assert status["鄂A·D3203"] == "valid"  # another company's truck


def test_only_a_shift_lead_lifts_a_suspension_with_a_reason_and_points_start_again(
    store: TicketStore, city: City
) -> None:
    confirm_violations(store, city, 4)
    store.enforce_suspensions(T + 5 * 3_600_000)
    with pytest.raises(Forbidden):
        store.lift_suspension(COMPANY, DISPATCHER, "整改完成")
    with pytest.raises(MissingReason):
        store.lift_suspension(COMPANY, LEAD, " ")
    store.lift_suspension(COMPANY, LEAD, "企业整改完成, 约谈后恢复运营", at_ms=T + 6 * 3_600_000)
    assert store.suspended_companies() == frozenset()
    assert [a["action"] for a in store.company_history(COMPANY)] == ["suspend", "lift"]
    assert store.enforce_suspensions(T + 7 * 3_600_000) == []  # the same cases do not suspend it again
    assert store.company_scores(T + 7 * 3_600_000) == []


def test_the_embedded_runner_stops_a_suspended_companys_truck(store: TicketStore, city: City) -> None:
    confirm_violations(store, city, 4)
    store.enforce_suspensions(T + 5 * 3_600_000)
    runner = EmbeddedRunner(Engine(city), store, suspensions=store.suspended_companies)
    start = city.permit_for_terminal("gps-m02")
    assert start is not None
    lon, lat = start.route[0]
    fixes = [
        VehiclePosition(
            device_id="gps-m02",
            ts_ms=T + 6 * 3_600_000 + i * 10_000,
            seq=i,
            lon=lon + i * 0.0002,
            lat=lat,
            speed_kmh=30.0,
            heading_deg=90.0,
        )
        for i in range(10)
    ]
    alerts = runner.process(fixes)
    assert [(a.rule, a.phase.value) for a in alerts if a.rule == "suspended_operation"] == [
        ("suspended_operation", "open")
    ]
    case = next(c for c in store.cases() if c["matter_code"] == "08108")
    assert case["title"] == "停运企业车辆违规运营 · 鄂A·D3102"


def test_the_embedded_runner_reads_the_suspended_set_once_per_interval_not_per_batch(
    store: TicketStore, city: City
) -> None:
    reads: list[int] = []

    def suspended() -> frozenset[str]:
        reads.append(1)
        return store.suspended_companies()

    runner = EmbeddedRunner(Engine(city), store, suspensions=suspended)  # every 10 s, like the faust timer
    for _ in range(3):
        runner.process([])
    assert len(reads) == 1
    eager = EmbeddedRunner(Engine(city), store, suspensions=suspended, suspensions_every_s=0.0)
    for _ in range(3):
        eager.process([])
    assert len(reads) == 4
