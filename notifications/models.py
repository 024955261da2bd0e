"""The outbox: the single record of every email Tend must send."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

import couples.models  # noqa: F401  (defines the users table the outbox refers to)
from couples.db import Base, UTCDateTime, utcnow

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
    last_error: Mapped[str | None] = mapped_column(Text)
    message_id: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
