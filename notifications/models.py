"""The outbox: the single record of every email Tend must send."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from infra.db import Base, UTCDateTime, utcnow

PENDING = "pending"
SENDING = "sending"
SENT = "sent"
RETRYING = "failed-retrying"
DEAD = "dead"


class OutboxMessage(Base):
    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_status_send_after", "status", "send_after"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    # Unique: writing the same reminder twice (a second planning pass, a second
    # scheduler process) fails at the database instead of sending twice.
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    recipient_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    to_address: Mapped[str] = mapped_column(String(320))
    # Ids and names for the template, never anything a partner wrote in a check-in.
    context: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # A raw sign-in/invitation token the mail must carry; wiped once sent or dead.
    secret: Mapped[str | None] = mapped_column(String(200))
    send_after: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(20), default=PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    claimed_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # Which dispatch pass holds the claim: a pass only sends rows it still holds, so a
    # lease that ran out and was taken by another process is not sent twice.
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    last_error: Mapped[str | None] = mapped_column(Text)
    message_id: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


SKIPPED = "skipped"  # the recipient turned this kind off (or paused) after it was planned


class NotificationPreference(Base):
    """What a person wants to be reminded of, and when. No row = the defaults."""

    __tablename__ = "notification_preferences"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    # Set while all reminders are paused (the quiet pause): nothing is sent and nothing
    # is shown to the partner.
    paused_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # Prompt kinds switched off; a list, so a kind added later is on by default.
    disabled_kinds: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Local hour (0-23) reminders wait for; None = as soon as they are due.
    preferred_hour: Mapped[int | None]
    # No reminders from quiet_start until quiet_end (local hours; may wrap midnight).
    # Equal or None = no quiet hours.
    quiet_start: Mapped[int | None]
    quiet_end: Mapped[int | None]
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    @property
    def paused(self) -> bool:
        return self.paused_at is not None


class MailOptOut(Base):
    """An address that used a one-click unsubscribe for a kind of mail while it had no
    account to keep the choice in (for example invitations sent to it)."""

    __tablename__ = "mail_opt_outs"
    __table_args__ = (UniqueConstraint("address", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    address: Mapped[str] = mapped_column(String(320))
    kind: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class SchedulerPass(Base):
    """The last run of each scheduler job, for /healthz and operators."""

    __tablename__ = "scheduler_passes"

    job: Mapped[str] = mapped_column(String(32), primary_key=True)
    last_run_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    last_success_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
