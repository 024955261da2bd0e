"""reminder notes on check-in sheets

``checkin_participations.remind_at``: when the reminder sweep next needs to look at a
sheet (see checkins.rounds.send_reminders), with a partial index. Sheets still to be
answered in open rounds start with a note in the past, so the first pass after the
upgrade looks at each once and writes its real next moment.

Revision ID: perf_0003
Revises: perf_0002
Create Date: 2026-12-02 22:20:00
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import infra.db

revision: str = "perf_0003"
down_revision: str | Sequence[str] | None = "perf_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("checkin_participations", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("remind_at", infra.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.create_index(
            "ix_checkin_participations_remind_at",
            ["remind_at"],
            unique=False,
            sqlite_where=sa.text("remind_at IS NOT NULL"),
            postgresql_where=sa.text("remind_at IS NOT NULL"),
        )
    stale = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    op.get_bind().execute(
        sa.text(
            "UPDATE checkin_participations SET remind_at = :stale "
            "WHERE status IN ('pending', 'draft') AND round_id IN "
            "(SELECT id FROM checkin_rounds WHERE closed_at IS NULL)"
        ).bindparams(sa.bindparam("stale", type_=infra.db.UTCDateTime())),
        {"stale": stale},
    )


def downgrade() -> None:
    with op.batch_alter_table("checkin_participations", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_checkin_participations_remind_at",
            sqlite_where=sa.text("remind_at IS NOT NULL"),
            postgresql_where=sa.text("remind_at IS NOT NULL"),
        )
        batch_op.drop_column("remind_at")
