"""Cases carry their queue: enforcement (a violation), maintenance (a device fault), dispatch_ahead (a forecast).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision (cases opened before it are enforcement cases)."""
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("queue", sa.String(length=16), nullable=False, server_default="enforcement"))
        batch_op.create_index(batch_op.f("ix_cases_queue"), ["queue"], unique=False)


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cases_queue"))
        batch_op.drop_column("queue")
