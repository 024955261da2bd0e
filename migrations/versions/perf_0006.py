"""a couple's data version

``couples.data_version`` moves on in the same transaction as anything written about the
couple (couples/data_version.py), so the trends page can reuse what it computed while the
number stands still.

Revision ID: perf_0006
Revises: warnings_0001
Create Date: 2026-12-05 06:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "perf_0006"
down_revision: str | Sequence[str] | None = "warnings_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("couples", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("data_version", sa.BigInteger(), server_default="0", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("couples", schema=None) as batch_op:
        batch_op.drop_column("data_version")
