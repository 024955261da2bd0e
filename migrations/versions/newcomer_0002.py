"""reviewed together needs both partners: each confirms on their participation

Rounds already marked reviewed (by one partner, before this) count as confirmed by both.

Revision ID: newcomer_0002
Revises: charter_0001
Create Date: 2026-12-04 13:50:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import infra.db

revision: str = "newcomer_0002"
down_revision: str | Sequence[str] | None = "charter_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("checkin_participations") as batch:
        batch.add_column(
            sa.Column("reviewed_at", infra.db.UTCDateTime(timezone=True), nullable=True)
        )
    rounds = sa.table("checkin_rounds", sa.column("id"), sa.column("reviewed_at"))
    participations = sa.table(
        "checkin_participations", sa.column("round_id"), sa.column("reviewed_at")
    )
    op.execute(
        participations.update().values(
            reviewed_at=sa.select(rounds.c.reviewed_at)
            .where(rounds.c.id == participations.c.round_id)
            .scalar_subquery()
        )
    )


def downgrade() -> None:
    with op.batch_alter_table("checkin_participations") as batch:
        batch.drop_column("reviewed_at")
