"""The embedded runner's rule state, kept in the ticket database beside the cases it produced.

The runner hands the states a batch changed to ``TicketStore.apply`` with the batch's alerts; both
are written in one transaction, before ingest acknowledges the batch to the broker. After a crash
the runner resumes from the last committed batch and the broker redelivers the rest (the engine
drops what it has seen by seq), so an episode is neither lost nor opened twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from sqlalchemy import Connection, delete, select, tuple_
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from tickets.schema import rule_state

StateKey = tuple[str, str]  # (scope, key): e.g. ("device", "gps-m01"), ("runner", "watermark")
StateChanges = Mapping[StateKey, Mapping[str, Any] | None]  # None: forget the key


def save_states(conn: Connection, changes: StateChanges, at_ms: int) -> None:
    """Upsert changed states and delete forgotten ones, inside the caller's transaction."""
    rows = [
        {"scope": s, "key": k, "state": orjson.dumps(v).decode(), "updated_ms": at_ms}
        for (s, k), v in changes.items()
        if v is not None
    ]
    gone = [key for key, v in changes.items() if v is None]
    if rows:
        insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
        stmt = insert(rule_state)
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["scope", "key"],
                set_={"state": stmt.excluded.state, "updated_ms": stmt.excluded.updated_ms},
            ),
            rows,
        )
    if gone:
        conn.execute(delete(rule_state).where(tuple_(rule_state.c.scope, rule_state.c.key).in_(gone)))


def load_states(conn: Connection) -> dict[StateKey, dict[str, Any]]:
    """Return every stored state by (scope, key)."""
    result = conn.execute(select(rule_state.c.scope, rule_state.c.key, rule_state.c.state))
    return {(scope, key): orjson.loads(state) for scope, key, state in result}
