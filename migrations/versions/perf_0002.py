"""covering indexes for the trends and history totals

The satisfaction totals and the mean agreement ratings per round are read from these
indexes alone (no table row per answer): see docs/performance.md.

Revision ID: perf_0002
Revises: perf_0001
Create Date: 2026-12-02 22:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "perf_0002"
down_revision: str | Sequence[str] | None = "perf_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_checkin_answers_totals",
        "checkin_answers",
        ["participation_id", "item", "visibility", "value_int"],
    )
    op.create_index(
        "ix_checkin_adherence_ratings",
        "checkin_adherence",
        ["participation_id", "agreement_id", "kept_self", "kept_partner"],
    )


def downgrade() -> None:
    op.drop_index("ix_checkin_adherence_ratings", table_name="checkin_adherence")
    op.drop_index("ix_checkin_answers_totals", table_name="checkin_answers")
