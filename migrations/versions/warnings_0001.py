"""quiet warnings: "we talked about it" marks, how a cooldown ended, cooldowns extended
as often as the agreement allows

Revision ID: warnings_0001
Revises: charter_0001
Create Date: 2026-12-04 14:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import infra.db

revision: str = "warnings_0001"
down_revision: str | Sequence[str] | None = "charter_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "warning_marks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("couple_id", sa.Integer(), nullable=False),
        sa.Column("warning_key", sa.String(length=120), nullable=False),
        sa.Column("severity", sa.Integer(), nullable=False),
        sa.Column("marked_by_id", sa.Integer(), nullable=True),
        sa.Column("marked_at", infra.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["couple_id"],
            ["couples.id"],
            name=op.f("fk_warning_marks_couple_id_couples"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["marked_by_id"],
            ["users.id"],
            name=op.f("fk_warning_marks_marked_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_warning_marks")),
        sa.UniqueConstraint(
            "couple_id", "warning_key", name=op.f("uq_warning_marks_couple_id_warning_key")
        ),
    )
    op.create_index(
        op.f("ix_warning_marks_marked_by_id"), "warning_marks", ["marked_by_id"], unique=False
    )
    op.create_table(
        "cooldown_returns",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("cooldown_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("at", infra.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["cooldown_id"],
            ["cooldowns.id"],
            name=op.f("fk_cooldown_returns_cooldown_id_cooldowns"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_cooldown_returns_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cooldown_returns")),
        sa.UniqueConstraint(
            "cooldown_id", "user_id", name=op.f("uq_cooldown_returns_cooldown_id_user_id")
        ),
    )
    op.create_index(
        op.f("ix_cooldown_returns_user_id"), "cooldown_returns", ["user_id"], unique=False
    )
    with op.batch_alter_table("cooldowns") as batch:
        batch.add_column(sa.Column("extensions", sa.Integer(), server_default="0", nullable=False))
    op.execute("UPDATE cooldowns SET extensions = 1 WHERE extended_at IS NOT NULL")


def downgrade() -> None:
    with op.batch_alter_table("cooldowns") as batch:
        batch.drop_column("extensions")
    op.drop_index(op.f("ix_cooldown_returns_user_id"), table_name="cooldown_returns")
    op.drop_table("cooldown_returns")
    op.drop_index(op.f("ix_warning_marks_marked_by_id"), table_name="warning_marks")
    op.drop_table("warning_marks")
