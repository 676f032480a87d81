"""The notify worker's queries: outbox events after a cursor, and each channel's cursor (``notify_cursors``).

A cursor is the last outbox seq its channel has handled (sent, folded into a digest or skipped by
the routes). Functions take an open ``Connection``; ``TicketStore`` owns the transactions.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, case, func, insert, select, update

from tickets.schema import cases, notify_cursors, outbox


def events_after(conn: Connection, after_seq: int, limit: int) -> list[dict[str, Any]]:
    """Return up to limit outbox events after a seq, oldest first, with their case's place and plates."""
    query = (
        select(
            outbox.c.seq,
            outbox.c.event_id,
            outbox.c.event_type,
            outbox.c.case_id,
            outbox.c.created_ms,
            outbox.c.payload,
            cases.c.place,
            cases.c.plates,
        )
        .select_from(outbox.outerjoin(cases, cases.c.case_id == outbox.c.case_id))
        .where(outbox.c.seq > after_seq)
        .order_by(outbox.c.seq)
        .limit(limit)
    )
    return [dict(r) for r in conn.execute(query).mappings()]


def cursor(conn: Connection, channel: str) -> dict[str, Any] | None:
    """Return a channel's cursor row (None if the channel has none yet)."""
    row = conn.execute(select(notify_cursors).where(notify_cursors.c.channel == channel)).mappings().first()
    return dict(row) if row is not None else None


def all_cursors(conn: Connection) -> dict[str, dict[str, Any]]:
    """Return every channel's cursor row by channel name."""
    return {r["channel"]: dict(r) for r in conn.execute(select(notify_cursors)).mappings()}


def create_cursor(conn: Connection, channel: str, since_ms: int, at_ms: int) -> dict[str, Any]:
    """Place a new channel's cursor just before the first event created since since_ms (none: at the head)."""
    first = conn.execute(select(func.min(outbox.c.seq)).where(outbox.c.created_ms >= since_ms)).scalar()
    head = conn.execute(select(func.max(outbox.c.seq))).scalar()
    start = int(first) - 1 if first is not None else int(head or 0)
    row = {"channel": channel, "last_seq": start, "updated_ms": at_ms, "attempts": 0, "next_attempt_ms": 0}
    conn.execute(insert(notify_cursors).values(**row, last_error=None))
    return {**row, "last_error": None}


def advance(conn: Connection, channel: str, seq: int, at_ms: int) -> None:
    """Move a channel's cursor forward to seq (never back) and clear its failure state."""
    forward = case((notify_cursors.c.last_seq < seq, seq), else_=notify_cursors.c.last_seq)
    conn.execute(
        update(notify_cursors)
        .where(notify_cursors.c.channel == channel)
        .values(last_seq=forward, updated_ms=at_ms, attempts=0, next_attempt_ms=0, last_error=None)
    )


def failed(conn: Connection, channel: str, error: str, next_attempt_ms: int, at_ms: int) -> None:
    """Record a failed attempt of a channel and when to try again (the cursor stays)."""
    conn.execute(
        update(notify_cursors)
        .where(notify_cursors.c.channel == channel)
        .values(
            attempts=notify_cursors.c.attempts + 1,
            next_attempt_ms=next_attempt_ms,
            last_error=error[:500],
            updated_ms=at_ms,
        )
    )


def backlog(conn: Connection, after_seq: int) -> int:
    """Return how many outbox events lie after a seq."""
    return int(conn.execute(select(func.count()).select_from(outbox).where(outbox.c.seq > after_seq)).scalar() or 0)
