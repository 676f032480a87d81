"""Read queries of the ticket store: tickets, cases with their evidence and history, alert feed, KPI inputs."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Connection, func, select

from tickets.calendar import WorkingCalendar
from tickets.kpi import CaseFacts, Offence, stage_spans
from tickets.lifecycle import OPEN_STAGES, Stage
from tickets.records import audit_view, case_view
from tickets.schema import alert_log, case_audit, case_evidence, cases, outbox, tickets

COMPANY_KINDS = ("transport_company", "sanitation_company")


def ticket_rows(conn: Connection, violation: str | None = None) -> list[dict[str, Any]]:
    """Return ticket rows, oldest first, optionally only active or cleared ones."""
    query = select(tickets).order_by(tickets.c.opened_ms, tickets.c.ticket_id)
    if violation:
        query = query.where(tickets.c.violation == violation)
    return [dict(r) for r in conn.execute(query).mappings()]


def counts_by_rule(conn: Connection) -> dict[str, int]:
    """Return the number of tickets per rule."""
    rows = conn.execute(select(tickets.c.rule, func.count()).group_by(tickets.c.rule)).all()
    return {rule: int(n) for rule, n in rows}


def case_rows(
    conn: Connection,
    now_ms: int,
    calendar: WorkingCalendar,
    stage: str | None = None,
    where: Sequence[ColumnElement[bool]] = (),
    open_only: bool = False,
    limit: int = 200,
) -> list[dict[str, Any]]:
    """Return cases, newest first, as API views (only those matching `where`, a caller's scope)."""
    query = select(cases).where(*where).order_by(cases.c.case_id.desc()).limit(limit)
    if stage:
        query = query.where(cases.c.stage == stage)
    if open_only:
        query = query.where(cases.c.stage.in_([s.value for s in OPEN_STAGES]))
    return [case_view(r, now_ms, calendar) for r in conn.execute(query).mappings()]


def case_row(conn: Connection, case_id: int) -> dict[str, Any] | None:
    """Return a cases row alone (no evidence, audit or episodes), or None."""
    row = conn.execute(select(cases).where(cases.c.case_id == case_id)).mappings().first()
    return dict(row) if row is not None else None


def case_detail(conn: Connection, case_id: int, now_ms: int, calendar: WorkingCalendar) -> dict[str, Any] | None:
    """Return a case with its evidence timeline, audit trail and alert episodes."""
    row = conn.execute(select(cases).where(cases.c.case_id == case_id)).mappings().first()
    if row is None:
        return None
    view = case_view(row, now_ms, calendar)
    view["evidence"] = [
        dict(r)
        for r in conn.execute(
            select(case_evidence)
            .where(case_evidence.c.case_id == case_id)
            .order_by(case_evidence.c.ts_ms, case_evidence.c.evidence_id)
        ).mappings()
    ]
    view["audit"] = [
        audit_view(r)
        for r in conn.execute(
            select(case_audit).where(case_audit.c.case_id == case_id).order_by(case_audit.c.audit_id)
        ).mappings()
    ]
    view["tickets"] = [
        dict(r)
        for r in conn.execute(
            select(tickets).where(tickets.c.case_id == case_id).order_by(tickets.c.opened_ms)
        ).mappings()
    ]
    return view


def recent_alerts(conn: Connection, limit: int = 50) -> list[dict[str, Any]]:
    """Return the latest alert phases, newest first."""
    rows = conn.execute(select(alert_log.c.body).order_by(alert_log.c.ts_ms.desc()).limit(limit)).scalars()
    return [json.loads(b) for b in rows]


def alert_log_count(conn: Connection) -> int:
    """Return how many distinct alert phases were applied."""
    return int(conn.execute(select(func.count()).select_from(alert_log)).scalar() or 0)


def overdue_cases(conn: Connection, now_ms: int) -> list[dict[str, Any]]:
    """Return open cases whose current stage deadline has passed."""
    query = select(cases).where(cases.c.stage.in_([s.value for s in OPEN_STAGES]), cases.c.deadline_ms < now_ms)
    return [dict(r) for r in conn.execute(query).mappings()]


def case_gauges(conn: Connection, now_ms: int) -> tuple[dict[str, int], int]:
    """Return how many cases are in each stage, and how many open ones are past their stage's deadline."""
    by_stage = {str(st): int(n) for st, n in conn.execute(select(cases.c.stage, func.count()).group_by(cases.c.stage))}
    overdue = conn.execute(
        select(func.count())
        .select_from(cases)
        .where(cases.c.stage.in_([s.value for s in OPEN_STAGES]), cases.c.deadline_ms < now_ms)
    ).scalar()
    return by_stage, int(overdue or 0)


def verification_candidates(conn: Connection, matter_codes: list[str]) -> list[dict[str, Any]]:
    """Return dispatched or handled cases of matters that evidence can verify."""
    query = select(cases).where(
        cases.c.stage.in_([Stage.DISPATCHED.value, Stage.HANDLED.value]), cases.c.matter_code.in_(matter_codes)
    )
    return [dict(r) for r in conn.execute(query).mappings()]


def case_tickets(conn: Connection, case_id: int) -> list[dict[str, Any]]:
    """Return the alert episodes of a case."""
    return [dict(r) for r in conn.execute(select(tickets).where(tickets.c.case_id == case_id)).mappings()]


def kpi_facts(
    conn: Connection,
    since_ms: int,
    now_ms: int,
    calendar: WorkingCalendar,
    where: Sequence[ColumnElement[bool]] = (),
    until_ms: int | None = None,
) -> list[CaseFacts]:
    """Return the KPI inputs of the cases discovered since since_ms (and before until_ms; those matching
    `where`, a caller's scope)."""
    query = select(cases).where(cases.c.discovered_ms >= since_ms, *where)
    if until_ms is not None:
        query = query.where(cases.c.discovered_ms < until_ms)
    rows = conn.execute(query).mappings().all()
    history: dict[int, list[tuple[int, Stage]]] = defaultdict(list)
    ids = [r["case_id"] for r in rows]
    for chunk in (ids[i : i + 500] for i in range(0, len(ids), 500)):
        for cid, at, to in conn.execute(
            select(case_audit.c.case_id, case_audit.c.at_ms, case_audit.c.to_stage)
            .where(case_audit.c.case_id.in_(chunk))
            .order_by(case_audit.c.audit_id)
        ):
            history[cid].append((at, Stage(to)))
    return [
        CaseFacts(
            r["case_id"],
            Stage(r["stage"]),
            r["unit"],
            r["owner"] if r["owner_kind"] in COMPANY_KINDS else None,
            r["dispatched_ms"] is not None,
            r["handled_on_time"],
            r["deadline_ms"] is not None and now_ms > r["deadline_ms"],
            stage_spans(history[r["case_id"]], calendar),
        )
        for r in rows
    ]


def offences(conn: Connection, since_ms: int, until_ms: int | None = None) -> list[Offence]:
    """Return the enforcement cases of transport and sanitation companies since since_ms (before until_ms, if
    given; device faults and forecasts are not violations)."""
    query = select(cases).where(
        cases.c.owner_kind.in_(COMPANY_KINDS),
        cases.c.owner.is_not(None),
        cases.c.queue == "enforcement",
        cases.c.discovered_ms >= since_ms,
    )
    if until_ms is not None:
        query = query.where(cases.c.discovered_ms < until_ms)
    return [
        Offence(r["owner"], r["severity"], r["matter_code"], r["discovered_ms"], Stage(r["stage"]))
        for r in conn.execute(query).mappings()
    ]


def matter_counts(conn: Connection, since_ms: int, until_ms: int) -> list[tuple[str, str, str, int]]:
    """Return (matter code, queue, stage, cases) of the cases discovered in [since_ms, until_ms)."""
    query = (
        select(cases.c.matter_code, cases.c.queue, cases.c.stage, func.count())
        .where(cases.c.discovered_ms >= since_ms, cases.c.discovered_ms < until_ms)
        .group_by(cases.c.matter_code, cases.c.queue, cases.c.stage)
    )
    return [(str(m), str(q), str(st), int(n)) for m, q, st, n in conn.execute(query)]


def outbox_counts(conn: Connection) -> dict[str, int]:
    """Return how many outbox events are pending and delivered."""
    pending = conn.execute(select(func.count()).select_from(outbox).where(outbox.c.delivered_ms.is_(None))).scalar()
    total = conn.execute(select(func.count()).select_from(outbox)).scalar()
    return {"pending": int(pending or 0), "delivered": int(total or 0) - int(pending or 0)}
