"""退出机制: a company over its violation points is suspended; a shift lead may lift the suspension.

Functions run inside the store's transaction. Each suspension and lift writes an append-only
``company_audit`` record. A lift is a fresh start: points count only cases discovered after the
company's last lift, so the next sweep does not suspend it again for the same cases.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from tickets.errors import CaseNotFound, Forbidden, MissingReason
from tickets.kpi import CompanyScore
from tickets.lifecycle import Actor, Role
from tickets.schema import company_audit, company_status

SUSPEND, LIFT = "suspend", "lift"


def active(conn: Connection) -> dict[str, dict[str, Any]]:
    """Return the companies suspended now, with their suspension rows."""
    rows = conn.execute(select(company_status).where(company_status.c.lifted_ms.is_(None))).mappings()
    return {r["company"]: dict(r) for r in rows}


def last_lifts(conn: Connection) -> dict[str, int]:
    """Return when each company's last suspension was lifted (its points count from then on)."""
    query = (
        select(company_status.c.company, func.max(company_status.c.lifted_ms))
        .where(company_status.c.lifted_ms.is_not(None))
        .group_by(company_status.c.company)
    )
    return {company: int(ms) for company, ms in conn.execute(query)}


def suspend_over_threshold(conn: Connection, scores: Iterable[CompanyScore], threshold: int, at_ms: int) -> list[str]:
    """Suspend every company over the threshold that is not suspended yet; return their names."""
    current, done = active(conn), []
    for score in scores:
        if score.over_threshold and score.company not in current:
            reason = f"违规记分 {score.points} 分 (确认案件 {score.cases} 件), 达到暂停阈值 {threshold} 分"
            conn.execute(
                insert(company_status).values(
                    company=score.company, suspended_ms=at_ms, points=score.points, reason=reason
                )
            )
            _audit(
                conn,
                score.company,
                at_ms,
                "system",
                Role.SYSTEM,
                SUSPEND,
                reason,
                {"points": score.points, "cases": score.cases, "threshold": threshold},
            )
            done.append(score.company)
    return done


def lift(conn: Connection, company: str, actor: Actor, reason: str | None, at_ms: int) -> dict[str, Any]:
    """Lift a company's suspension (shift lead, with a reason); return the lifted row."""
    if actor.role is not Role.SHIFT_LEAD:
        raise Forbidden(f"only a shift lead may lift a suspension, not {actor.role.value}")
    if not reason or not reason.strip():
        raise MissingReason("lifting a suspension needs a reason")
    row = active(conn).get(company)
    if row is None:
        raise CaseNotFound(f"{company!r} is not suspended")
    conn.execute(
        update(company_status)
        .where(company_status.c.suspension_id == row["suspension_id"])
        .values(lifted_ms=at_ms, lifted_by=actor.name, lift_reason=reason)
    )
    _audit(conn, company, at_ms, actor.name, actor.role, LIFT, reason, {"suspended_ms": row["suspended_ms"]})
    return {**row, "lifted_ms": at_ms, "lifted_by": actor.name, "lift_reason": reason}


def history(conn: Connection, company: str) -> list[dict[str, Any]]:
    """Return a company's suspension audit, oldest first."""
    query = select(company_audit).where(company_audit.c.company == company).order_by(company_audit.c.audit_id)
    return [dict(r) for r in conn.execute(query).mappings()]


def _audit(
    conn: Connection, company: str, at_ms: int, actor: str, role: Role, action: str, reason: str, detail: dict[str, Any]
) -> None:
    conn.execute(
        insert(company_audit).values(
            company=company, at_ms=at_ms, actor=actor, role=role.value, action=action, reason=reason, detail=detail
        )
    )
