"""Cases carry their org node (tenancy: the street or district they fall in).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision (cases opened before it have no node: they count as the city root's)."""
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("node", sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f("ix_cases_node"), ["node"], unique=False)


def downgrade() -> None:
    """Revert this revision (plain ALTER TABLE DROP COLUMN: a batch copy of cases would break its foreign keys)."""
    op.drop_index(op.f("ix_cases_node"), table_name="cases")
    op.drop_column("cases", "node")
