"""Company suspensions (退出机制) and their append-only audit.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "company_suspensions",
        sa.Column("suspension_id", ID, autoincrement=True, nullable=False),
        sa.Column("company", sa.String(length=128), nullable=False),
        sa.Column("suspended_ms", sa.BigInteger(), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("lifted_ms", sa.BigInteger(), nullable=True),
        sa.Column("lifted_by", sa.String(length=64), nullable=True),
        sa.Column("lift_reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("suspension_id"),
    )
    op.create_index("ix_company_suspensions_company", "company_suspensions", ["company"], unique=False)
    op.create_table(
        "company_audit",
        sa.Column("audit_id", ID, autoincrement=True, nullable=False),
        sa.Column("company", sa.String(length=128), nullable=False),
        sa.Column("at_ms", sa.BigInteger(), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("detail", JSON, nullable=False),
        sa.PrimaryKeyConstraint("audit_id"),
    )
    op.create_index("ix_company_audit_company", "company_audit", ["company"], unique=False)


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index("ix_company_audit_company", table_name="company_audit")
    op.drop_table("company_audit")
    op.drop_index("ix_company_suspensions_company", table_name="company_suspensions")
    op.drop_table("company_suspensions")
