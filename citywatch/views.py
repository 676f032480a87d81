"""Terminal views for people: ticket tables and the live demo screen (rich)."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from datetime import UTC, datetime

from rich.console import Console, Group
from rich.table import Table

from devices.contracts import VehiclePosition
from rules.alerts import Alert
from tickets.store import Ticket

RULE_LABELS = {
    "route_deviation": "线路偏移 deviation",
    "uncovered_load": "未密闭 uncovered",
    "overflow": "满溢 overflow",
}


def clock(ts_ms: int | None) -> str:
    """Format epoch ms as a compact UTC wall-clock time."""
    if ts_ms is None:
        return "-"
    return datetime.fromtimestamp(ts_ms / 1000, tz=UTC).strftime("%m-%d %H:%M:%S")


def ticket_table(tickets: Iterable[Ticket], title: str = "Tickets") -> Table:
    """Build a table of tickets."""
    table = Table(title=title, expand=False)
    for col in ("#", "rule", "subject", "matter", "severity", "violation", "opened (UTC)", "cleared (UTC)", "alerts"):
        table.add_column(col, no_wrap=True)
    for t in tickets:
        table.add_row(
            str(t.ticket_id),
            RULE_LABELS.get(t.rule, t.rule),
            t.subject,
            t.matter_code,
            t.severity,
            t.violation,
            clock(t.opened_ms),
            clock(t.cleared_ms),
            str(t.alert_count),
        )
    return table


def print_tickets(tickets: list[Ticket]) -> None:
    """Print tickets as a table (or say there are none)."""
    console = Console() if sys.stdout.isatty() else Console(width=200)  # pipes get whole lines
    if not tickets:
        console.print("no tickets")
        return
    console.print(ticket_table(tickets, title=f"{len(tickets)} ticket(s)"))


def vehicle_table(positions: Iterable[VehiclePosition], plates: dict[str, str]) -> Table:
    """Build a table of the latest position of each vehicle."""
    table = Table(title="Vehicles (latest position)")
    for col in ("terminal", "plate", "time (UTC)", "lon", "lat", "km/h", "load", "cover"):
        table.add_column(col)
    for p in sorted(positions, key=lambda p: p.device_id):
        cover = "-" if p.cover_closed is None else ("closed" if p.cover_closed else "OPEN")
        table.add_row(
            p.device_id,
            plates.get(p.device_id, "?"),
            clock(p.ts_ms),
            f"{p.lon:.5f}",
            f"{p.lat:.5f}",
            f"{p.speed_kmh:.0f}",
            p.load_state.value,
            cover,
        )
    return table


def alert_table(alerts: Iterable[Alert]) -> Table:
    """Build a table of recent alerts, newest first."""
    table = Table(title="Recent alerts")
    for col in ("time (UTC)", "phase", "rule", "subject", "severity"):
        table.add_column(col)
    for a in sorted(alerts, key=lambda a: a.ts_ms, reverse=True)[:10]:
        table.add_row(clock(a.ts_ms), a.phase.value, RULE_LABELS.get(a.rule, a.rule), a.subject, a.severity.value)
    return table


def demo_screen(header: str, vehicles: Table, alerts: Table, tickets: Table) -> Group:
    """Compose the live demo screen."""
    return Group(header, vehicles, alerts, tickets)
