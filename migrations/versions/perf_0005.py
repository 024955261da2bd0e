"""the mean rating of each pinned agreement, stored per round

``checkin_round_agreements.kept_mean``: both partners' ratings of how well the agreement
was kept in that round, averaged (see checkins.service._store_kept_means). Revealed
rounds get theirs here; later ones at their reveal. The covering index perf_0002 added
for averaging the ratings on every trends view goes: nothing averages them there now.

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

# The same mean as checkins.service.kept_mean_expression, as it stood when this was written.
_FILL = """
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
    op.execute(_FILL)
    op.drop_index("ix_checkin_adherence_ratings", table_name="checkin_adherence")


def downgrade() -> None:
    op.create_index(
        "ix_checkin_adherence_ratings",
        "checkin_adherence",
        ["participation_id", "agreement_id", "kept_self", "kept_partner"],
        unique=False,
    )
    with op.batch_alter_table("checkin_round_agreements", schema=None) as batch_op:
        batch_op.drop_column("kept_mean")
