"""check-in drafts: the step each person is on

Revision ID: stepper_0001
Revises: charter_0001
Create Date: 2026-12-04 13:50:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import infra.db

revision: str = "stepper_0001"
down_revision: str | Sequence[str] | None = "charter_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "checkin_drafts",
        sa.Column("participation_id", sa.Integer(), nullable=False),
        sa.Column("step", sa.String(length=32), nullable=False),
        sa.Column("updated_at", infra.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["participation_id"],
            ["checkin_participations.id"],
            name=op.f("fk_checkin_drafts_participation_id_checkin_participations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("participation_id", name=op.f("pk_checkin_drafts")),
    )


def downgrade() -> None:
    op.drop_table("checkin_drafts")
