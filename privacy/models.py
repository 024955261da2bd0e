"""The quiet pause: one row per person who paused Tend's reminders and prompts."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey
from sqlalchemy.orm import Mapped, mapped_column

import couples.models  # noqa: F401  (defines the users table referred to below)
from couples.db import Base, UTCDateTime


class ReminderPause(Base):
    """A row exists while the person's reminders and prompts are paused.

    A table of its own rather than a column on users: nothing that draws the partner's
    view ever joins it, and deleting the row is the whole of resuming.
    """

    __tablename__ = "reminder_pauses"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    paused_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
