"""Initial schema: alert log, tickets (alert episodes), cases, evidence, audit (append-only), outbox.

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "alert_log",
        sa.Column("alert_id", sa.String(length=80), nullable=False),
        sa.Column("phase", sa.String(length=10), nullable=False),
        sa.Column("ts_ms", sa.BigInteger(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("alert_id", "phase", "ts_ms"),
    )
    with op.batch_alter_table("alert_log", schema=None) as batch_op:
        batch_op.create_index("ix_alert_log_ts", ["ts_ms"], unique=False)

    op.create_table(
        "cases",
        sa.Column("case_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("case_no", sa.String(length=32), nullable=True),
        sa.Column("stage", sa.String(length=16), nullable=False),
        sa.Column("matter_code", sa.String(length=16), nullable=False),
        sa.Column("matter_name", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("subject", sa.String(length=64), nullable=False),
        sa.Column(
            "subjects", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column(
            "plates", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("owner", sa.String(length=128), nullable=True),
        sa.Column("owner_kind", sa.String(length=32), nullable=True),
        sa.Column("unit", sa.String(length=128), nullable=True),
        sa.Column("grid_cell", sa.String(length=15), nullable=True),
        sa.Column("place", sa.String(length=128), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("discovered_ms", sa.BigInteger(), nullable=False),
        sa.Column("stage_entered_ms", sa.BigInteger(), nullable=False),
        sa.Column("deadline_ms", sa.BigInteger(), nullable=True),
        sa.Column("handle_deadline_ms", sa.BigInteger(), nullable=True),
        sa.Column("dispatched_ms", sa.BigInteger(), nullable=True),
        sa.Column("handled_ms", sa.BigInteger(), nullable=True),
        sa.Column("closed_ms", sa.BigInteger(), nullable=True),
        sa.Column("handled_on_time", sa.Boolean(), nullable=True),
        sa.Column("supervision_level", sa.Integer(), nullable=False),
        sa.Column("supervisions", sa.Integer(), nullable=False),
        sa.Column("extension_request", sa.String(length=16), nullable=True),
        sa.Column("extensions", sa.Integer(), nullable=False),
        sa.Column("reopened", sa.Integer(), nullable=False),
        sa.Column("violation_active", sa.Boolean(), nullable=False),
        sa.Column("evidence_count", sa.Integer(), nullable=False),
        sa.Column("last_evidence_ms", sa.BigInteger(), nullable=False),
        sa.Column("linked_case_id", sa.Integer(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["linked_case_id"],
            ["cases.case_id"],
        ),
        sa.PrimaryKeyConstraint("case_id"),
        sa.UniqueConstraint("case_no"),
    )
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_cases_matter_code"), ["matter_code"], unique=False)
        batch_op.create_index(batch_op.f("ix_cases_stage"), ["stage"], unique=False)
        batch_op.create_index(batch_op.f("ix_cases_unit"), ["unit"], unique=False)

    op.create_table(
        "outbox",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("event_type", sa.String(length=40), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_ms", sa.BigInteger(), nullable=False),
        sa.Column("delivered_ms", sa.BigInteger(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("event_id"),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index("ix_outbox_pending", ["delivered_ms", "seq"], unique=False)

    op.create_table(
        "case_audit",
        sa.Column("audit_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("at_ms", sa.BigInteger(), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("action", sa.String(length=24), nullable=False),
        sa.Column("from_stage", sa.String(length=16), nullable=True),
        sa.Column("to_stage", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column(
            "detail", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["cases.case_id"],
        ),
        sa.PrimaryKeyConstraint("audit_id"),
    )
    with op.batch_alter_table("case_audit", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_case_audit_case_id"), ["case_id"], unique=False)

    op.create_table(
        "case_evidence",
        sa.Column(
            "evidence_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("ts_ms", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=128), nullable=False),
        sa.Column("ref", sa.String(length=160), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column(
            "body", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["cases.case_id"],
        ),
        sa.PrimaryKeyConstraint("evidence_id"),
        sa.UniqueConstraint("case_id", "ref", name="uq_case_evidence_ref"),
    )
    with op.batch_alter_table("case_evidence", schema=None) as batch_op:
        batch_op.create_index("ix_case_evidence_case_ts", ["case_id", "ts_ms"], unique=False)

    op.create_table(
        "tickets",
        sa.Column("ticket_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("dedup_key", sa.String(length=80), nullable=False),
        sa.Column("rule", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.String(length=64), nullable=False),
        sa.Column("matter_code", sa.String(length=16), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("violation", sa.String(length=8), nullable=False),
        sa.Column("opened_ms", sa.BigInteger(), nullable=False),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
        sa.Column("cleared_ms", sa.BigInteger(), nullable=True),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("alert_count", sa.Integer(), nullable=False),
        sa.Column(
            "evidence", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["cases.case_id"],
        ),
        sa.PrimaryKeyConstraint("ticket_id"),
        sa.UniqueConstraint("dedup_key"),
    )
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_tickets_case_id"), ["case_id"], unique=False)
    _append_only("case_audit")


def _append_only(table: str) -> None:
    """Make the database itself refuse UPDATE and DELETE on an audit table."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE OR REPLACE FUNCTION citywatch_append_only() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION '% is append-only', TG_TABLE_NAME; END $$"
        )
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION citywatch_append_only()"
        )
        return
    for event in ("UPDATE", "DELETE"):
        op.execute(
            f"CREATE TRIGGER {table}_no_{event.lower()} BEFORE {event} ON {table} "
            f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
        )


def downgrade() -> None:
    """Revert this revision."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS case_audit_append_only ON case_audit")
        op.execute("DROP FUNCTION IF EXISTS citywatch_append_only()")
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tickets_case_id"))

    op.drop_table("tickets")
    with op.batch_alter_table("case_evidence", schema=None) as batch_op:
        batch_op.drop_index("ix_case_evidence_case_ts")

    op.drop_table("case_evidence")
    with op.batch_alter_table("case_audit", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_case_audit_case_id"))

    op.drop_table("case_audit")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_pending")

    op.drop_table("outbox")
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cases_unit"))
        batch_op.drop_index(batch_op.f("ix_cases_stage"))
        batch_op.drop_index(batch_op.f("ix_cases_matter_code"))

    op.drop_table("cases")
    with op.batch_alter_table("alert_log", schema=None) as batch_op:
        batch_op.drop_index("ix_alert_log_ts")

    op.drop_table("alert_log")
