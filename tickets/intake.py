"""Alerts in: the alert log (idempotency), tickets (one per alert episode) and cases (grouping).

``apply_alert`` runs inside the store's transaction. A redelivered alert phase (same id, phase,
time) is dropped at the alert log and changes nothing. A new one updates its episode's ticket
and attaches to a case as evidence, opening (or reopening) the case when case grouping says so.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, replace
from typing import Any

from sqlalchemy import Connection, CursorResult, and_, func, insert, or_, select, update

from rules.alerts import Alert, Phase
from tickets.casebook import Context, act, add_evidence, enqueue, load_case, record
from tickets.config import Queue
from tickets.db import advisory_lock
from tickets.errors import TicketError
from tickets.grouping import CaseRef, Decision, Evidence, decide
from tickets.lifecycle import SYSTEM, Action, Command, Stage, discover
from tickets.records import case_no, case_values, event_payload, max_severity
from tickets.routing import Routing, stamped
from tickets.schema import alert_log, cases, tickets

DISPATCH_AHEAD: Queue = "dispatch_ahead"


def insert_ignore(conn: Connection, table: Any, values: Mapping[str, Any]) -> bool:
    """Insert a row unless its key exists; return whether it was inserted (both dialects)."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        stmt: Any = pg_insert(table).values(**values).on_conflict_do_nothing()
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        stmt = sqlite_insert(table).values(**values).on_conflict_do_nothing()
    key = next(iter(table.primary_key.columns))  # rowcount is unreliable here (psycopg reports -1): use RETURNING
    return conn.execute(stmt.returning(key)).first() is not None


def apply_alert(conn: Connection, ctx: Context, alert: Alert) -> bool:
    """Apply one alert; return False for a redelivery."""
    body = json.dumps(alert.to_dict(), ensure_ascii=False, sort_keys=True)
    if not insert_ignore(
        conn, alert_log, {"alert_id": alert.alert_id, "phase": alert.phase.value, "ts_ms": alert.ts_ms, "body": body}
    ):
        return False
    ticket = _upsert_ticket(conn, alert)
    named = {**stamped(alert), **alert.evidence}  # the rules' routing, unless the evidence names its own
    routing = ctx.resolver(alert.subject, alert.matter_code, alert.lon, alert.lat, named)
    advisory_lock(conn, f"fusion:{alert.matter_code}")  # the lock's old name: old and new instances share it
    case_id = ticket["case_id"] or _place(conn, ctx, alert, routing)
    _attach(conn, ctx, case_id, alert, routing)
    if ticket["case_id"] is None:
        conn.execute(update(tickets).where(tickets.c.ticket_id == ticket["ticket_id"]).values(case_id=case_id))
    return True


def _upsert_ticket(conn: Connection, alert: Alert) -> dict[str, Any]:
    """Create or update the ticket of the alert's episode; return its row."""
    cleared = alert.phase is Phase.CLEAR
    row = conn.execute(select(tickets).where(tickets.c.dedup_key == alert.alert_id)).mappings().first()
    if row is None:
        values = {
            "dedup_key": alert.alert_id,
            "rule": alert.rule,
            "subject": alert.subject,
            "matter_code": alert.matter_code,
            "severity": alert.severity.value,
            "violation": "cleared" if cleared else "active",
            "opened_ms": alert.ts_ms,
            "updated_ms": alert.ts_ms,
            "cleared_ms": alert.ts_ms if cleared else None,
            "lon": alert.lon,
            "lat": alert.lat,
            "alert_count": 1,
            "evidence": alert.evidence,
            "case_id": None,
        }
        ticket_id = _new_id(conn.execute(insert(tickets).values(**values)))
        return {**values, "ticket_id": ticket_id}
    values = {
        "severity": alert.severity.value,
        "violation": "cleared" if cleared or row["violation"] == "cleared" else "active",
        "updated_ms": max(row["updated_ms"], alert.ts_ms),
        "cleared_ms": row["cleared_ms"] or (alert.ts_ms if cleared else None),
        "alert_count": row["alert_count"] + 1,
        "evidence": alert.evidence,
    }
    conn.execute(update(tickets).where(tickets.c.ticket_id == row["ticket_id"]).values(**values))
    return {**dict(row), **values}


def _place(conn: Connection, ctx: Context, alert: Alert, routing: Routing) -> int:
    """Decide which case the alert's violation belongs to, opening or reopening one if needed.

    A forecast (a dispatch_ahead matter) opens a task that the system dispatches at once to the
    facility's operator, with the forecast time to full; a device fault (maintenance) goes to the
    operations unit of the unit table, not to the grid's enforcement unit.
    """
    queue = ctx.config.queue_of(alert.matter_code)
    routing = routed_for_queue(ctx, queue, alert.matter_code, routing)
    ev = Evidence(
        alert.alert_id,
        alert.matter_code,
        alert.subject,
        routing.plate,
        alert.lon,
        alert.lat,
        alert.ts_ms,
        None if routing.plate else routing.place,
    )
    decision = decide(ev, candidates(conn, ctx, alert.matter_code, alert.ts_ms), ctx.config.grouping_policy)
    ahead = queue == DISPATCH_AHEAD and decision.kind in ("open", "open_linked")
    case_id = place(
        conn,
        ctx,
        decision,
        alert.matter_code,
        alert.subject,
        alert.lon,
        alert.lat,
        alert.ts_ms,
        alert.severity.value,
        "sensor",
        routing,
        forecast_description(alert) if ahead else None,
    )
    if ahead:
        for command in (Command(Action.ACCEPT), Command(Action.REGISTER), Command(Action.DISPATCH, unit=routing.unit)):
            act(conn, ctx, case_id, command, SYSTEM, alert.ts_ms)
    return case_id


def routed_for_queue(ctx: Context, queue: str, matter_code: str, routing: Routing) -> Routing:
    """Route a maintenance item to the unit table's operations unit, a forecast to the facility's operator."""
    if queue == "maintenance":
        return replace(routing, unit=ctx.config.units.for_matter(matter_code))
    if queue == DISPATCH_AHEAD:
        return replace(routing, unit=routing.owner or ctx.config.units.for_matter(matter_code))
    return routing


def forecast_description(alert: Alert) -> str:
    """Describe a fill forecast for the dispatch task: the time to full and the fill now."""
    eta_s, fill = alert.evidence.get("time_to_full_s"), alert.evidence.get("fill_ratio")
    parts = ["预计满溢, 请提前清运"]
    if isinstance(eta_s, int | float):
        parts.append(f"预计 {max(0, round(eta_s / 60))} 分钟后满溢")
    if isinstance(fill, int | float):
        parts.append(f"当前填充率 {fill:.0%}")
    return "; ".join(parts)


def place(
    conn: Connection,
    ctx: Context,
    decision: Decision,
    matter_code: str,
    subject: str,
    lon: float,
    lat: float,
    at_ms: int,
    severity: str,
    source: str,
    routing: Routing,
    description: str | None = None,
) -> int:
    """Carry out a grouping decision; return the case id the evidence goes to."""
    if decision.kind == "attach" and decision.case_id is not None:
        return decision.case_id
    if decision.kind == "reopen" and decision.case_id is not None:
        reason = "违规在结案后复发, 自动重开"
        act(conn, ctx, decision.case_id, Command(Action.REOPEN, reason=reason), SYSTEM, at_ms)
        return decision.case_id
    linked = decision.case_id if decision.kind == "open_linked" else None
    return open_case(conn, ctx, matter_code, subject, lon, lat, at_ms, severity, source, routing, linked, description)


def candidates(conn: Connection, ctx: Context, matter_code: str, ts_ms: int) -> list[CaseRef]:
    """Return the cases of a matter that grouping could join evidence at ts_ms to."""
    f = ctx.config.grouping_policy
    horizon = ts_ms - max(f.window_ms, f.reopen_within_ms, f.link_within_ms)
    rows = (
        conn.execute(
            select(cases)
            .where(
                cases.c.matter_code == matter_code,
                cases.c.stage != Stage.VOID.value,
                or_(
                    cases.c.last_evidence_ms >= horizon,
                    and_(cases.c.closed_ms.is_not(None), cases.c.closed_ms >= horizon),
                ),
            )
            .order_by(cases.c.case_id.desc())
            .limit(500)
        )
        .mappings()
        .all()
    )
    return [
        CaseRef(
            r["case_id"],
            Stage(r["stage"]),
            r["matter_code"],
            frozenset(r["subjects"]),
            frozenset(r["plates"]),
            r["lon"],
            r["lat"],
            r["last_evidence_ms"],
            r["closed_ms"],
            place=None if r["plates"] else r["place"],
            violation_active=bool(r["violation_active"]),
        )
        for r in rows
    ]


def open_case(
    conn: Connection,
    ctx: Context,
    matter_code: str,
    subject: str,
    lon: float,
    lat: float,
    at_ms: int,
    severity: str,
    source: str,
    routing: Routing,
    linked: int | None = None,
    description: str | None = None,
) -> int:
    """Insert a new case in the 发现 stage with its first audit record; return its id."""
    name = ctx.matter_name(matter_code)
    values = {
        "case_no": None,
        "stage": Stage.DISCOVERED.value,
        "matter_code": matter_code,
        "matter_name": name,
        "queue": ctx.config.queue_of(matter_code),
        "title": f"{name} · {routing.place or subject}",
        "severity": severity,
        "source": source,
        "subject": subject,
        "subjects": [subject],
        "plates": [routing.plate] if routing.plate else [],
        "owner": routing.owner,
        "owner_kind": routing.owner_kind,
        "unit": routing.unit,
        "grid_cell": routing.grid_cell,
        "node": ctx.config.org_tree.node_for(routing.grid_cell, routing.unit),
        "place": routing.place,
        "description": description,
        "lon": lon,
        "lat": lat,
        "discovered_ms": at_ms,
        "stage_entered_ms": at_ms,
        "supervision_level": 0,
        "supervisions": 0,
        "extensions": 0,
        "reopened": 0,
        "violation_active": True,
        "evidence_count": 0,
        "last_evidence_ms": at_ms,
        "linked_case_id": linked,
        "version": 0,
        "updated_ms": at_ms,
    }
    case_id = _new_id(conn.execute(insert(cases).values(**values)))
    case, audit = discover(case_id, matter_code, routing.unit, at_ms, ctx.config.policy, source)
    extra = {**case_values(case), "case_no": case_no(case_id, at_ms, ctx.config.policy.calendar)}
    conn.execute(update(cases).where(cases.c.case_id == case_id).values(**extra))
    row = {**values, **extra, "case_id": case_id}
    if linked is not None:
        audit = replace(audit, detail={**audit.detail, "linked_case_id": linked})
    record(conn, audit, row)
    return case_id


def _attach(conn: Connection, ctx: Context, case_id: int, alert: Alert, routing: Routing) -> None:
    """Attach the alert to the case as evidence and refresh the case's evidence fields."""
    ref = f"alert:{alert.alert_id}:{alert.phase.value}:{alert.ts_ms}"
    summary = f"{alert.rule} {alert.phase.value} ({alert.severity.value})"
    body = {**alert.to_dict(), "routing": {k: v for k, v in asdict(routing).items() if v}}
    if not add_evidence(conn, case_id, alert.ts_ms, "alert", alert.subject, ref, summary, body):
        return
    row = load_case(conn, case_id)
    active = conn.execute(
        select(func.count())
        .select_from(tickets)
        .where(tickets.c.case_id == case_id, tickets.c.violation == "active", tickets.c.dedup_key != alert.alert_id)
    ).scalar()
    subjects = sorted({*row["subjects"], alert.subject})
    plates = sorted({*row["plates"], *([routing.plate] if routing.plate else [])})
    conn.execute(
        update(cases)
        .where(cases.c.case_id == case_id)
        .values(
            subjects=subjects,
            plates=plates,
            severity=max_severity(row["severity"], alert.severity.value),
            last_evidence_ms=max(row["last_evidence_ms"], alert.ts_ms),
            violation_active=bool(active) or alert.phase is not Phase.CLEAR,
            updated_ms=alert.ts_ms,
        )
    )
    if alert.phase is not Phase.UPDATE:
        enqueue(
            conn,
            "case.evidence",
            row,
            event_payload("case.evidence", row, None, {"ref": ref, "summary": summary, "ts_ms": alert.ts_ms}),
            alert.ts_ms,
        )


def _new_id(result: CursorResult[Any]) -> int:
    """Return the primary key an INSERT made."""
    key = result.inserted_primary_key
    if key is None:
        raise TicketError("the database returned no id for a new row")
    return int(key[0])
