"""each round's scores, stored at the reveal

``checkin_participations.satisfaction_total``: the sheet's revealed satisfaction answers
summed; ``checkin_round_agreements.kept_mean``: both partners' ratings of how well the
agreement was kept in that round, averaged (see checkins.answers._store_round_scores).
Revealed rounds get theirs here; later ones at their reveal. The two covering indexes
perf_0002 added for summing and averaging on every trends view go: nothing reads them.

Revision ID: perf_0005
Revises: perf_0004
Create Date: 2026-12-03 08:15:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "perf_0005"
down_revision: str | Sequence[str] | None = "perf_0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As checkins.answers._store_round_scores computed them when this was written (the
# satisfaction keys of checkins.survey then).
_FILL_TOTALS = """
UPDATE checkin_participations SET satisfaction_total = (
    SELECT CASE WHEN count(a.id) = 4 THEN sum(a.value_int) END
    FROM checkin_answers a
    WHERE a.participation_id = checkin_participations.id
      AND a.visibility = 'revealed'
      AND a.item IN ('sat_happy', 'sat_needs', 'sat_close', 'sat_glad')
)
WHERE round_id IN (SELECT id FROM checkin_rounds WHERE revealed_at IS NOT NULL)
"""
_FILL_MEANS = """
UPDATE checkin_round_agreements SET kept_mean = (
    SELECT sum(coalesce(a.kept_self, 0) + coalesce(a.kept_partner, 0)) * 1.0 / nullif(
        sum(CASE WHEN a.kept_self IS NOT NULL THEN 1 ELSE 0 END
            + CASE WHEN a.kept_partner IS NOT NULL THEN 1 ELSE 0 END), 0)
    FROM checkin_adherence a
    JOIN checkin_participations p ON p.id = a.participation_id
    WHERE p.round_id = checkin_round_agreements.round_id
      AND a.agreement_id = checkin_round_agreements.agreement_id
)
WHERE round_id IN (SELECT id FROM checkin_rounds WHERE revealed_at IS NOT NULL)
"""


def upgrade() -> None:
    with op.batch_alter_table("checkin_round_agreements", schema=None) as batch_op:
        batch_op.add_column(sa.Column("kept_mean", sa.Float(), nullable=True))
    with op.batch_alter_table("checkin_participations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("satisfaction_total", sa.Integer(), nullable=True))
    op.execute(_FILL_TOTALS)
    op.execute(_FILL_MEANS)
    op.drop_index("ix_checkin_adherence_ratings", table_name="checkin_adherence")
    op.drop_index("ix_checkin_answers_totals", table_name="checkin_answers")


def downgrade() -> None:
    op.create_index(
        "ix_checkin_answers_totals",
        "checkin_answers",
        ["participation_id", "item", "visibility", "value_int"],
        unique=False,
    )
    op.create_index(
        "ix_checkin_adherence_ratings",
        "checkin_adherence",
        ["participation_id", "agreement_id", "kept_self", "kept_partner"],
        unique=False,
    )
    with op.batch_alter_table("checkin_round_agreements", schema=None) as batch_op:
        batch_op.drop_column("kept_mean")
    with op.batch_alter_table("checkin_participations", schema=None) as batch_op:
        batch_op.drop_column("satisfaction_total")
