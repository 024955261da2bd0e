"""drop the open rounds' opened_at index

``ix_checkin_rounds_open_opened_at`` served the reminder sweep's scan of open rounds by
their opening time; since perf_0003 that sweep reads ``checkin_participations.remind_at``
instead. Nothing reads the index any more, and every round opened or closed paid for it.

Revision ID: perf_0004
Revises: perf_0003
Create Date: 2026-12-03 08:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "perf_0004"
down_revision: str | Sequence[str] | None = "perf_0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("checkin_rounds", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_checkin_rounds_open_opened_at",
            sqlite_where=sa.text("closed_at IS NULL"),
            postgresql_where=sa.text("closed_at IS NULL"),
        )


def downgrade() -> None:
    with op.batch_alter_table("checkin_rounds", schema=None) as batch_op:
        batch_op.create_index(
            "ix_checkin_rounds_open_opened_at",
            ["opened_at"],
            unique=False,
            sqlite_where=sa.text("closed_at IS NULL"),
            postgresql_where=sa.text("closed_at IS NULL"),
        )
