"""The talk after a check-in and the quiet of a partner who stopped answering.

One talk per revealed round, shared by both partners' sessions: where they are in the
agenda, each one's notes per item, when they mean to hold it. A solo notice records that
one partner has not answered two rounds in a row (and the one gentle mail they got)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from couples import data_version
from infra.db import Base, UTCDateTime


class Talk(Base):
    """The conversation about one revealed round."""

    __tablename__ = "checkin_talks"

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(
        ForeignKey("checkin_rounds.id", ondelete="CASCADE"), unique=True
    )
    couple_id: Mapped[int] = mapped_column(ForeignKey("couples.id", ondelete="CASCADE"), index=True)
    # Index into the agenda (the same for both partners: the agenda's order does not
    # depend on who looks at it).
    position: Mapped[int] = mapped_column(default=0)
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    finished_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # When to hold it: one proposes, the other accepts.
    proposed_for: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    proposed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    agreed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class TalkNote(Base):
    """One partner's note on one agenda item (both partners read both notes)."""

    __tablename__ = "checkin_talk_notes"
    __table_args__ = (UniqueConstraint("talk_id", "item_key", "author_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    talk_id: Mapped[int] = mapped_column(ForeignKey("checkin_talks.id", ondelete="CASCADE"))
    item_key: Mapped[str] = mapped_column(String(80))
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    text: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class SoloNotice(Base):
    """A partner has not answered two rounds in a row (a streak, from ``since_round_id``).

    ``mailed_at``: the one gentle mail they got for this streak. ``back_at``: they
    answered again (the streak is over). ``raise_requested_*``: the partner asked to
    raise it at the next talk."""

    __tablename__ = "checkin_solo_notices"
    __table_args__ = (UniqueConstraint("user_id", "since_round_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    couple_id: Mapped[int] = mapped_column(ForeignKey("couples.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    since_round_id: Mapped[int] = mapped_column(ForeignKey("checkin_rounds.id", ondelete="CASCADE"))
    noticed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    mailed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    back_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    raise_requested_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    raise_requested_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    raised_in_talk_id: Mapped[int | None] = mapped_column(
        ForeignKey("checkin_talks.id", ondelete="SET NULL")
    )


data_version.belongs_to(TalkNote.talk_id, Talk)  # couples/data_version.py
