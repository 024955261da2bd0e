"""report shares: sharing a report with the couple's therapist, and the link's visits

Both partners consent to what is shared (reports/service.py); only the link token's hash
is stored.

Revision ID: report_0001
Revises: auth_0001
Create Date: 2026-12-04 13:47:27.764371
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import infra.db

revision: str = "report_0001"
down_revision: str | Sequence[str] | None = "auth_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "report_shares",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("couple_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("contents", sa.JSON(), nullable=False),
        sa.Column("therapist_name", sa.String(length=120), nullable=False),
        sa.Column("therapist_email", sa.String(length=254), nullable=False),
        sa.Column("expires_on", sa.Date(), nullable=False),
        sa.Column("expires_at", infra.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("proposed_by_id", sa.Integer(), nullable=False),
        sa.Column("proposed_at", infra.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("answered_by_id", sa.Integer(), nullable=True),
        sa.Column("answered_at", infra.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("ended_by_id", sa.Integer(), nullable=True),
        sa.Column("ended_at", infra.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("link_hash", sa.String(length=64), nullable=True),
        sa.Column("link_issued_at", infra.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("link_revoked_at", infra.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("link_revoked_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["answered_by_id"], ["users.id"], name=op.f("fk_report_shares_answered_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["couple_id"],
            ["couples.id"],
            name=op.f("fk_report_shares_couple_id_couples"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["ended_by_id"], ["users.id"], name=op.f("fk_report_shares_ended_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["link_revoked_by_id"],
            ["users.id"],
            name=op.f("fk_report_shares_link_revoked_by_id_users"),
        ),
        sa.ForeignKeyConstraint(
            ["proposed_by_id"], ["users.id"], name=op.f("fk_report_shares_proposed_by_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_shares")),
        sa.UniqueConstraint("link_hash", name=op.f("uq_report_shares_link_hash")),
    )
    with op.batch_alter_table("report_shares", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_report_shares_couple_id"), ["couple_id"], unique=False)
        batch_op.create_index(
            "uq_report_shares_one_open",
            ["couple_id"],
            unique=True,
            sqlite_where=sa.text("state IN ('pending', 'active')"),
            postgresql_where=sa.text("state IN ('pending', 'active')"),
        )

    op.create_table(
        "report_visits",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("share_id", sa.Integer(), nullable=False),
        sa.Column("at", infra.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["share_id"],
            ["report_shares.id"],
            name=op.f("fk_report_visits_share_id_report_shares"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_visits")),
    )
    with op.batch_alter_table("report_visits", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_report_visits_share_id"), ["share_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("report_visits", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_report_visits_share_id"))

    op.drop_table("report_visits")
    with op.batch_alter_table("report_shares", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_report_shares_one_open",
            sqlite_where=sa.text("state IN ('pending', 'active')"),
            postgresql_where=sa.text("state IN ('pending', 'active')"),
        )
        batch_op.drop_index(batch_op.f("ix_report_shares_couple_id"))

    op.drop_table("report_shares")
