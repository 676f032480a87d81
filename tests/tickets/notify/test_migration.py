"""The notify_cursors table: created by migration 0006, removed by its downgrade, the same as tickets.schema."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from tickets.db import alembic_config, current_revision
from tickets.schema import metadata
from tickets.store import TicketStore


def test_the_migration_applies_reverts_and_matches_the_schema(store: TicketStore) -> None:
    assert current_revision(store.engine) == "0006"
    with store.engine.begin() as conn:
        columns = {c["name"] for c in inspect(conn).get_columns("notify_cursors")}
        assert columns == {"channel", "last_seq", "updated_ms", "attempts", "next_attempt_ms", "last_error"}
        command.downgrade(alembic_config(conn), "0005")
        assert "notify_cursors" not in inspect(conn).get_table_names()
        command.upgrade(alembic_config(conn), "head")
        diffs = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)
        assert [d for d in diffs if "notify_cursors" in repr(d)] == []  # the migration builds what schema.py says
    assert store.notify_cursor("ops", since_ms=0)["last_seq"] == 0  # usable after the round trip
