"""The ticket store on SQLite and on real PostgreSQL: tickets per episode, cases per violation, audit, outbox."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from devices.contracts import FacilityReading, VehiclePosition
from rules.alerts import Alert, Phase, Severity, alert_id
from tests.tickets.conftest import Clock, at
from tickets.auth import TokenBook
from tickets.config import TicketConfig
from tickets.errors import IllegalTransition, StaleCase
from tickets.lifecycle import Action, Actor, Command, Role
from tickets.live import LiveView
from tickets.service import TicketService
from tickets.store import TicketStore

T = at("2026-03-02 09:00")
LEAD, INTAKE = Actor("王敏", Role.SHIFT_LEAD), Actor("李静", Role.INTAKE)


def make_alert(
    phase: Phase,
    ts_ms: int,
    episode_ms: int = 1000,
    subject: str = "gps-m01",
    rule: str = "route_deviation",
    severity: Severity = Severity.MAJOR,
    lon: float = 114.3,
    matter: str = "08011",
    **evidence: object,
) -> Alert:
    return Alert(
        alert_id=alert_id(rule, subject, episode_ms),
        rule=rule,
        phase=phase,
        subject=subject,
        ts_ms=ts_ms,
        episode_start_ms=episode_ms,
        lon=lon,
        lat=30.6,
        severity=severity,
        matter_code=matter,
        evidence={"distance_m": 120.0, "ts": ts_ms, **evidence},
    )


def test_open_then_clear_is_one_ticket(store: TicketStore) -> None:
    assert store.apply([make_alert(Phase.OPEN, 31_000)]) == 1
    assert store.apply([make_alert(Phase.CLEAR, 90_000)]) == 1
    (ticket,) = store.list()
    assert ticket.violation == "cleared"
    assert (ticket.opened_ms, ticket.updated_ms, ticket.cleared_ms) == (31_000, 90_000, 90_000)
    assert ticket.alert_count == 2 and ticket.evidence["ts"] == 90_000


def test_redelivered_alerts_change_nothing(store: TicketStore) -> None:
    alerts = [make_alert(Phase.OPEN, T + 31_000), make_alert(Phase.UPDATE, T + 40_000)]
    assert store.apply(alerts) == 2
    before = (store.cases(), store.case(1), store.outbox_counts(), store.alert_log_count())
    assert store.apply(alerts + alerts) == 0
    assert (store.cases(), store.case(1), store.outbox_counts(), store.alert_log_count()) == before
    (ticket,) = store.list()
    assert ticket.alert_count == 2 and ticket.violation == "active" and ticket.case_id == 1


def test_separate_episodes_and_devices_are_separate_tickets(store: TicketStore) -> None:
    store.apply(
        [
            make_alert(Phase.OPEN, T + 31_000, episode_ms=1_000),
            make_alert(Phase.OPEN, T + 91_000, episode_ms=61_000),
            make_alert(Phase.OPEN, T + 31_000, subject="gps-m02", lon=114.35),
            make_alert(Phase.OPEN, T + 31_000, rule="uncovered_load"),
        ]
    )
    assert len(store.list()) == 4
    assert store.counts_by_rule() == {"route_deviation": 3, "uncovered_load": 1}
    assert len(store.list(violation="active")) == 4 and store.list(violation="cleared") == []
    # one violation = one case: the same truck's episodes (and another rule on it) share a case;
    # another truck 4.8 km away is another case
    assert sorted((c["subjects"], c["evidence_count"]) for c in store.cases()) == [(["gps-m01"], 3), (["gps-m02"], 1)]


def test_tickets_survive_reopening_the_database(tmp_path: Path, config: TicketConfig) -> None:
    path = tmp_path / "t.sqlite"
    store = TicketStore(path, config)
    store.apply([make_alert(Phase.OPEN, 31_000)])
    store.close()
    again = TicketStore(path, config)
    assert [t.subject for t in again.list()] == ["gps-m01"]
    assert again.apply([make_alert(Phase.OPEN, 31_000)]) == 0
    again.close()


def test_the_loop_through_the_store_writes_audit_and_outbox(store: TicketStore, clock: Clock) -> None:
    store.apply([make_alert(Phase.OPEN, T)])
    steps = [(Action.ACCEPT, INTAKE), (Action.REGISTER, LEAD), (Action.DISPATCH, Actor("赵强", Role.DISPATCHER))]
    for minutes, (action, actor) in enumerate(steps, start=1):
        clock.now_ms = T + minutes * 60_000
        store.act(1, Command(action), actor)
    unit = Actor("队员", Role.UNIT, "江城示范区城管执法中队")
    store.act(1, Command(Action.HANDLE, note="已约谈司机"), unit)
    store.act(1, Command(Action.VERIFY), Actor("陈刚", Role.INSPECTOR))
    row = store.act(1, Command(Action.CLOSE), LEAD)
    assert row["stage"] == "closed" and row["handled_on_time"] is True
    case = store.case(1)
    assert case is not None
    assert [(a["action"], a["from_stage"], a["to_stage"], a["actor"]) for a in case["audit"]] == [
        ("discover", None, "discovered", "system"),
        ("accept", "discovered", "accepted", "李静"),
        ("register", "accepted", "registered", "王敏"),
        ("dispatch", "registered", "dispatched", "赵强"),
        ("handle", "dispatched", "handled", "队员"),
        ("verify", "handled", "verified", "陈刚"),
        ("close", "verified", "closed", "王敏"),
    ]
    assert case["audit"][4]["detail"]["feedback"] == "已约谈司机" and case["audit"][1]["action_label"] == "受理"
    assert store.outbox_counts() == {"pending": 8, "delivered": 0}  # 7 audit records + the alert's evidence
    assert case["case_no"] == "CW20260302-00001" and case["unit"] == "江城示范区城管执法中队"


def test_the_audit_trail_is_append_only_in_the_database(store: TicketStore) -> None:
    store.apply([make_alert(Phase.OPEN, T)])
    for sql in ("UPDATE case_audit SET actor = 'x'", "DELETE FROM case_audit"):
        with pytest.raises(DBAPIError, match="append-only"), store.engine.begin() as conn:
            conn.execute(text(sql))


def test_refusals_and_stale_writes(store: TicketStore) -> None:
    store.apply([make_alert(Phase.OPEN, T)])
    with pytest.raises(IllegalTransition):
        store.act(1, Command(Action.CLOSE), LEAD)
    row = store.act(1, Command(Action.ACCEPT), INTAKE, expected_version=0)
    with pytest.raises(StaleCase):
        store.act(1, Command(Action.REGISTER), LEAD, expected_version=row["version"] - 1)
    assert [a["action"] for a in store.case(1)["audit"]] == ["discover", "accept"]  # type: ignore[index]


def test_overdue_cases_are_supervised_by_the_sweep(store: TicketStore, clock: Clock) -> None:
    store.apply([make_alert(Phase.OPEN, T)])  # 受理 within 0.5 working hours
    clock.set("2026-03-02 09:20")
    assert store.escalate() == 0
    clock.set("2026-03-02 09:31")
    assert store.escalate() == 1 and store.escalate() == 0
    clock.set("2026-03-02 15:01")  # 4 working hours overdue (lunch excluded)
    assert store.escalate() == 1
    case = store.case(1)
    assert case is not None and case["supervision_level"] == 2 and case["overdue"]
    assert [a["detail"]["to_level"] for a in case["audit"] if a["action"] == "supervise"] == [1, 2]


def test_recurrence_after_closure_reopens_the_case(store: TicketStore) -> None:
    store.apply([make_alert(Phase.OPEN, T), make_alert(Phase.CLEAR, T + 60_000)])
    for action, actor in [
        (Action.ACCEPT, INTAKE),
        (Action.REGISTER, LEAD),
        (Action.DISPATCH, LEAD),
        (Action.HANDLE, Actor("u", Role.UNIT, "江城示范区城管执法中队")),
        (Action.VERIFY, Actor("i", Role.INSPECTOR)),
        (Action.CLOSE, LEAD),
    ]:
        store.act(1, Command(action), actor, at_ms=T + 120_000)
    store.apply([make_alert(Phase.OPEN, T + 86_400_000, episode_ms=T + 86_000_000)])
    (case,) = store.cases()
    assert case["stage"] == "registered" and case["reopened"] == 1 and len(store.list()) == 2


def test_a_report_near_an_open_case_joins_it(store: TicketStore) -> None:
    store.apply([make_alert(Phase.OPEN, T, subject="fill-s01", rule="overflow", matter="06042")])
    joined = store.report("06042", 114.3005, 30.6, "市民热线: 垃圾箱满溢", INTAKE, "hotline")
    elsewhere = store.report("06010", 114.31, 30.6, "暴露垃圾", Actor("陈刚", Role.INSPECTOR))
    assert joined == 1 and elsewhere == 2
    assert [e["kind"] for e in store.case(1)["evidence"]] == ["alert", "note"]  # type: ignore[index]
    assert store.case(2)["source"] == "inspector"  # type: ignore[index]


def test_concurrent_writers_make_no_duplicates(store: TicketStore) -> None:
    alerts = [
        make_alert(Phase.OPEN, T + i, episode_ms=i, subject=f"gps-x{i % 3}", lon=114.3 + (i % 3) * 0.05)
        for i in range(30)
    ]
    counts: list[int] = []
    threads = [threading.Thread(target=lambda: counts.append(store.apply(alerts))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(counts) == 30 and store.alert_log_count() == 30 and len(store.cases()) == 3


def test_the_service_verifies_an_overflow_case_by_truck_dwell_and_fill_drop(store: TicketStore, clock: Clock) -> None:
    store.apply([make_alert(Phase.OPEN, T, subject="fill-s01", rule="overflow", matter="06042", fill_ratio=0.97)])
    for action in (Action.ACCEPT, Action.REGISTER, Action.DISPATCH):
        store.act(1, Command(action), LEAD, at_ms=T + 60_000)
    live = LiveView()
    stop = [
        VehiclePosition(
            device_id="gps-g01",
            ts_ms=T + 300_000 + i * 10_000,
            seq=i,
            lon=114.3,
            lat=30.6,
            speed_kmh=0.0,
            heading_deg=0.0,
        )
        for i in range(12)
    ]
    live.add_all([*stop, FacilityReading(device_id="fill-s01", ts_ms=T + 420_000, seq=1, fill_ratio=0.2)])
    service = TicketService(store, TokenBook(), live, clock=clock)
    clock.now_ms = T + 500_000
    assert service.tick() == {"supervised": 0, "verified": 0, "suspended": 0}  # the fill is not under the band yet
    store.apply(
        [make_alert(Phase.CLEAR, T + 420_000, subject="fill-s01", rule="overflow", matter="06042", fill_ratio=0.2)]
    )
    assert service.tick() == {"supervised": 0, "verified": 1, "suspended": 0}
    case = store.case(1)
    assert case is not None and case["stage"] == "verified"
    assert [(a["action"], a["actor"]) for a in case["audit"][-2:]] == [("handle", "system"), ("verify", "system")]
    assert "gps-g01" in case["evidence"][-1]["summary"]
