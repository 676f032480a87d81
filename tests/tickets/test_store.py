"""Ticket store: one episode = one ticket; redeliveries change nothing; clears are recorded."""

from __future__ import annotations

from pathlib import Path

from rules.alerts import Alert, Phase, Severity, alert_id
from tickets.store import TicketStore


def make_alert(phase: Phase, ts_ms: int, episode_ms: int = 1000, subject: str = "gps-m01",
               rule: str = "route_deviation", severity: Severity = Severity.MAJOR) -> Alert:
    return Alert(
        alert_id=alert_id(rule, subject, episode_ms), rule=rule, phase=phase, subject=subject,
        ts_ms=ts_ms, episode_start_ms=episode_ms, lon=114.3, lat=30.6, severity=severity,
        matter_code="08011", evidence={"distance_m": 120.0, "ts": ts_ms},
    )


def test_open_then_clear_is_one_ticket(tmp_path: Path) -> None:
    store = TicketStore(tmp_path / "t.sqlite")
    assert store.apply([make_alert(Phase.OPEN, 31_000)]) == 1
    assert store.apply([make_alert(Phase.CLEAR, 90_000)]) == 1
    (ticket,) = store.list()
    assert ticket.violation == "cleared"
    assert (ticket.opened_ms, ticket.updated_ms, ticket.cleared_ms) == (31_000, 90_000, 90_000)
    assert ticket.alert_count == 2 and ticket.evidence["ts"] == 90_000


def test_redelivered_alerts_change_nothing(tmp_path: Path) -> None:
    store = TicketStore(tmp_path / "t.sqlite")
    alerts = [make_alert(Phase.OPEN, 31_000), make_alert(Phase.UPDATE, 40_000)]
    assert store.apply(alerts) == 2
    assert store.apply(alerts + alerts) == 0
    (ticket,) = store.list()
    assert ticket.alert_count == 2 and ticket.violation == "active"


def test_separate_episodes_and_devices_are_separate_tickets(tmp_path: Path) -> None:
    store = TicketStore(tmp_path / "t.sqlite")
    store.apply([
        make_alert(Phase.OPEN, 31_000, episode_ms=1_000),
        make_alert(Phase.OPEN, 91_000, episode_ms=61_000),
        make_alert(Phase.OPEN, 31_000, subject="gps-m02"),
        make_alert(Phase.OPEN, 31_000, rule="uncovered_load"),
    ])
    assert len(store.list()) == 4
    assert store.counts_by_rule() == {"route_deviation": 3, "uncovered_load": 1}
    assert len(store.list(violation="active")) == 4 and store.list(violation="cleared") == []


def test_tickets_survive_reopening_the_database(tmp_path: Path) -> None:
    path = tmp_path / "t.sqlite"
    store = TicketStore(path)
    store.apply([make_alert(Phase.OPEN, 31_000)])
    store.close()
    again = TicketStore(path)
    assert [t.subject for t in again.list()] == ["gps-m01"]
    assert again.apply([make_alert(Phase.OPEN, 31_000)]) == 0
