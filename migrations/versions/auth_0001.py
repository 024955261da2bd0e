"""known devices: browsers that signed in to an account before

Sign-in throttling is per account and per device; a device that signed in to an account
before is never locked out by failures made elsewhere (couples.accounts.sign_in).

Revision ID: auth_0001
Revises: perf_0005
Create Date: 2026-12-04 01:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import infra.db

revision: str = "auth_0001"
down_revision: str | Sequence[str] | None = "perf_0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "known_devices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("device", sa.String(length=64), nullable=False),
        sa.Column("first_seen_at", infra.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", infra.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_known_devices_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_known_devices")),
        sa.UniqueConstraint("user_id", "device", name="uq_known_devices_user_device"),
    )


def downgrade() -> None:
    op.drop_table("known_devices")
