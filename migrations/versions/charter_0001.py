"""the reconciliation charter: reflections, root-cause topics, private safety notes

The charter's words are an agreement of kind "charter" (no new columns there); these
tables hold the reflections, the topic each root cause became and the private safety
notes. The guided start remembers a skipped charter step.

Revision ID: charter_0001
Revises: talk_0001
Create Date: 2026-12-04 14:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import infra.db

revision: str = "charter_0001"
down_revision: str | Sequence[str] | None = "talk_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "charters",
        sa.Column("couple_id", sa.Integer(), nullable=False),
        sa.Column("agreement_id", sa.Integer(), nullable=True),
        sa.Column("created_at", infra.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["agreement_id"],
            ["agreements.id"],
            name=op.f("fk_charters_agreement_id_agreements"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["couple_id"],
            ["couples.id"],
            name=op.f("fk_charters_couple_id_couples"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("couple_id", name=op.f("pk_charters")),
    )
    op.create_table(
        "charter_reflections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("couple_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("causes", sa.JSON(), nullable=False),
        sa.Column("words", sa.Text(), nullable=False),
        sa.Column("written_at", infra.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", infra.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["couple_id"],
            ["couples.id"],
            name=op.f("fk_charter_reflections_couple_id_couples"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_charter_reflections_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_charter_reflections")),
        sa.UniqueConstraint(
            "couple_id", "user_id", name=op.f("uq_charter_reflections_couple_id_user_id")
        ),
    )
    with op.batch_alter_table("charter_reflections", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_charter_reflections_user_id"), ["user_id"], unique=False
        )
    op.create_table(
        "charter_topic_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("couple_id", sa.Integer(), nullable=False),
        sa.Column("cause_key", sa.String(length=100), nullable=False),
        sa.Column("topic_id", sa.Integer(), nullable=False),
        sa.Column("created_at", infra.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["couple_id"],
            ["couples.id"],
            name=op.f("fk_charter_topic_links_couple_id_couples"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["topic_id"],
            ["checkin_topics.id"],
            name=op.f("fk_charter_topic_links_topic_id_checkin_topics"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_charter_topic_links")),
        sa.UniqueConstraint(
            "couple_id", "cause_key", name=op.f("uq_charter_topic_links_couple_id_cause_key")
        ),
    )
    with op.batch_alter_table("charter_topic_links", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_charter_topic_links_topic_id"), ["topic_id"], unique=False
        )
    op.create_table(
        "charter_safety_notes",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("afraid", sa.Integer(), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("written_at", infra.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_charter_safety_notes_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_charter_safety_notes")),
    )
    with op.batch_alter_table("onboarding_progress", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("charter_skipped_at", infra.db.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("onboarding_progress", schema=None) as batch_op:
        batch_op.drop_column("charter_skipped_at")
    op.drop_table("charter_safety_notes")
    with op.batch_alter_table("charter_topic_links", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_charter_topic_links_topic_id"))
    op.drop_table("charter_topic_links")
    with op.batch_alter_table("charter_reflections", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_charter_reflections_user_id"))
    op.drop_table("charter_reflections")
    op.drop_table("charters")
