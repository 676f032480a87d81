"""Case changes inside a transaction: act, supervise, verify by evidence, notes, outbox events.

Each function takes an open ``Connection`` (the store owns the transaction) and keeps the rule
that every change writes its audit record and its outbox event in that same transaction.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, insert, select, update

from tickets.config import TicketConfig
from tickets.errors import CaseNotFound, StaleCase
from tickets.lifecycle import SYSTEM, Action, Actor, AuditRecord, Command, transition
from tickets.records import audit_values, case_from_row, case_values, event_payload
from tickets.routing import Resolver
from tickets.schema import case_audit, case_evidence, cases, outbox
from tickets.verification import Verdict

WRITTEN = "citywatch.audit_written"  # conn.info key: the store's list of (audit, case row) written in the transaction


@dataclass(frozen=True)
class Context:
    """What every change needs: the config (policy, grouping, matters) and the router."""

    config: TicketConfig
    resolver: Resolver
    names: Mapping[str, str] = field(default_factory=dict)  # matter names from the city's table

    def matter_name(self, code: str) -> str:
        """Return a matter's name: the tickets config, else the city's matter table, else the code."""
        m = self.config.matters.get(code)
        return m.name if m else self.names.get(code, code)

    def known_matters(self) -> frozenset[str]:
        """Return the matter codes the tickets config or the city's matter table lists."""
        return frozenset(self.config.matters) | frozenset(self.names)


def load_case(conn: Connection, case_id: int, lock: bool = False) -> dict[str, Any]:
    """Return a cases row as a dict (locked FOR UPDATE on PostgreSQL); raise if missing."""
    query = select(cases).where(cases.c.case_id == case_id)
    row = conn.execute(query.with_for_update() if lock else query).mappings().first()
    if row is None:
        raise CaseNotFound(f"no case {case_id}")
    return dict(row)


def act(
    conn: Connection,
    ctx: Context,
    case_id: int,
    command: Command,
    actor: Actor,
    at_ms: int,
    expected_version: int | None = None,
) -> dict[str, Any]:
    """Apply a command to a case; write the case, its audit record and an outbox event."""
    row = load_case(conn, case_id, lock=True)
    if expected_version is not None and row["version"] != expected_version:
        raise StaleCase(f"case {case_id} is at version {row['version']}, not {expected_version}: reload it")
    new, audit = transition(case_from_row(row), command, actor, at_ms, ctx.config.policy)
    values = {**case_values(new), "updated_ms": at_ms}
    done = conn.execute(
        update(cases).where(cases.c.case_id == case_id, cases.c.version == row["version"]).values(**values)
    )
    if done.rowcount != 1:
        raise StaleCase(f"case {case_id} changed while it was being updated")
    row.update(values)
    record(conn, audit, row)
    return row


def record(conn: Connection, audit: AuditRecord, case_row: Mapping[str, Any]) -> None:
    """Append an audit record and its outbox event (and note both for the store's after-commit hook)."""
    conn.execute(insert(case_audit).values(**audit_values(audit)))
    written = conn.info.get(WRITTEN)
    if written is not None:
        written.append((audit, dict(case_row)))
    enqueue(conn, f"case.{audit.action}", case_row, event_payload(f"case.{audit.action}", case_row, audit), audit.at_ms)


def enqueue(conn: Connection, event_type: str, case_row: Mapping[str, Any], payload: dict[str, Any], at_ms: int) -> str:
    """Write an event to the outbox (delivered later by the webhook worker); return its id."""
    event_id = str(uuid.uuid4())
    body = {"event_id": event_id, "occurred_ms": at_ms, **payload}
    conn.execute(
        insert(outbox).values(
            event_id=event_id,
            case_id=case_row["case_id"],
            event_type=event_type,
            created_ms=at_ms,
            payload=json.dumps(body, ensure_ascii=False, default=str),
            attempts=0,
            next_attempt_ms=at_ms,
        )
    )
    return event_id


def add_evidence(
    conn: Connection, case_id: int, ts_ms: int, kind: str, source: str, ref: str, summary: str, body: Mapping[str, Any]
) -> bool:
    """Attach evidence to a case once per ref; return False if that ref was already attached."""
    exists = conn.execute(
        select(case_evidence.c.evidence_id).where(case_evidence.c.case_id == case_id, case_evidence.c.ref == ref)
    ).first()
    if exists is not None:
        return False
    conn.execute(
        insert(case_evidence).values(
            case_id=case_id, ts_ms=ts_ms, kind=kind, source=source, ref=ref, summary=summary, body=dict(body)
        )
    )
    conn.execute(update(cases).where(cases.c.case_id == case_id).values(evidence_count=cases.c.evidence_count + 1))
    return True


def add_note(
    conn: Connection, case_id: int, actor: Actor, at_ms: int, text: str, image_ref: str | None = None
) -> dict[str, Any]:
    """Attach a person's note or photo reference to a case, with an audit record."""
    row = load_case(conn, case_id, lock=True)
    ref = f"note:{uuid.uuid4()}"
    kind = "photo" if image_ref else "note"
    add_evidence(conn, case_id, at_ms, kind, actor.name, ref, text, {"image_ref": image_ref, "role": actor.role.value})
    stage = case_from_row(row).stage
    record(
        conn,
        AuditRecord(
            case_id,
            at_ms,
            actor.name,
            actor.role,
            "evidence",
            stage,
            stage,
            text,
            {"kind": kind, "image_ref": image_ref},
        ),
        row,
    )
    return row


def verify_by_evidence(conn: Connection, ctx: Context, case_id: int, verdict: Verdict, at_ms: int) -> dict[str, Any]:
    """Record the verdict as evidence, then let the system report handling (if needed) and verify."""
    row = load_case(conn, case_id, lock=True)
    add_evidence(
        conn,
        case_id,
        at_ms,
        "verification",
        "system",
        f"verdict:{verdict.detail.get('kind')}",
        verdict.reason,
        verdict.detail,
    )
    if row["stage"] == "dispatched":
        row = act(conn, ctx, case_id, Command(Action.HANDLE, note=verdict.reason), SYSTEM, at_ms)
    return act(conn, ctx, case_id, Command(Action.VERIFY, reason=verdict.reason), SYSTEM, at_ms)
