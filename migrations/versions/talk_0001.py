"""the talk after a check-in, action items' due days, solo notices

Revision ID: talk_0001
Revises: report_0001
Create Date: 2026-12-04 14:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import infra.db

revision: str = "talk_0001"
down_revision: str | Sequence[str] | None = "report_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _at(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, infra.db.UTCDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "checkin_talks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column("couple_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        _at("started_at", False),
        _at("updated_at", False),
        _at("finished_at"),
        sa.Column("finished_by_id", sa.Integer(), nullable=True),
        _at("proposed_for"),
        sa.Column("proposed_by_id", sa.Integer(), nullable=True),
        _at("agreed_at"),
        sa.ForeignKeyConstraint(
            ["round_id"],
            ["checkin_rounds.id"],
            name=op.f("fk_checkin_talks_round_id_checkin_rounds"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["couple_id"],
            ["couples.id"],
            name=op.f("fk_checkin_talks_couple_id_couples"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["finished_by_id"],
            ["users.id"],
            name=op.f("fk_checkin_talks_finished_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["proposed_by_id"],
            ["users.id"],
            name=op.f("fk_checkin_talks_proposed_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_checkin_talks")),
        sa.UniqueConstraint("round_id", name=op.f("uq_checkin_talks_round_id")),
    )
    op.create_index(op.f("ix_checkin_talks_couple_id"), "checkin_talks", ["couple_id"])
    op.create_table(
        "checkin_talk_notes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("talk_id", sa.Integer(), nullable=False),
        sa.Column("item_key", sa.String(length=80), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        _at("updated_at", False),
        sa.ForeignKeyConstraint(
            ["talk_id"],
            ["checkin_talks.id"],
            name=op.f("fk_checkin_talk_notes_talk_id_checkin_talks"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["author_id"],
            ["users.id"],
            name=op.f("fk_checkin_talk_notes_author_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_checkin_talk_notes")),
        sa.UniqueConstraint(
            "talk_id",
            "item_key",
            "author_id",
            name=op.f("uq_checkin_talk_notes_talk_id_item_key_author_id"),
        ),
    )
    op.create_index(op.f("ix_checkin_talk_notes_author_id"), "checkin_talk_notes", ["author_id"])
    op.create_table(
        "checkin_solo_notices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("couple_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("since_round_id", sa.Integer(), nullable=False),
        _at("noticed_at", False),
        _at("mailed_at"),
        _at("back_at"),
        sa.Column("raise_requested_by_id", sa.Integer(), nullable=True),
        _at("raise_requested_at"),
        sa.Column("raised_in_talk_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["couple_id"],
            ["couples.id"],
            name=op.f("fk_checkin_solo_notices_couple_id_couples"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_checkin_solo_notices_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["since_round_id"],
            ["checkin_rounds.id"],
            name=op.f("fk_checkin_solo_notices_since_round_id_checkin_rounds"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["raise_requested_by_id"],
            ["users.id"],
            name=op.f("fk_checkin_solo_notices_raise_requested_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["raised_in_talk_id"],
            ["checkin_talks.id"],
            name=op.f("fk_checkin_solo_notices_raised_in_talk_id_checkin_talks"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_checkin_solo_notices")),
        sa.UniqueConstraint(
            "user_id",
            "since_round_id",
            name=op.f("uq_checkin_solo_notices_user_id_since_round_id"),
        ),
    )
    op.create_index(
        op.f("ix_checkin_solo_notices_couple_id"), "checkin_solo_notices", ["couple_id"]
    )
    op.create_index(op.f("ix_checkin_solo_notices_user_id"), "checkin_solo_notices", ["user_id"])
    with op.batch_alter_table("checkin_action_items") as batch:
        batch.add_column(sa.Column("due_on", sa.Date(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("checkin_action_items") as batch:
        batch.drop_column("due_on")
    op.drop_table("checkin_solo_notices")
    op.drop_table("checkin_talk_notes")
    op.drop_table("checkin_talks")
