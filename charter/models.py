"""The charter's own rows. Its words (root causes, commitments, review date) are an
agreement of kind ``charter`` (agreements' versions and consent); these tables hold what
the agreements do not: each partner's reflection, the topic each root cause became, and
each person's private safety note.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from infra.db import Base, UTCDateTime


class Charter(Base):
    """One per couple: the agreement that holds its words (None until first proposed).
    Its row is also the lock that orders the partners' writes (reflections, proposals)."""

    __tablename__ = "charters"

    couple_id: Mapped[int] = mapped_column(
        ForeignKey("couples.id", ondelete="CASCADE"), primary_key=True
    )
    agreement_id: Mapped[int | None] = mapped_column(
        ForeignKey("agreements.id", ondelete="SET NULL")
    )
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class CharterReflection(Base):
    """What one partner thinks ended it last time. Shown to the partner only once both
    have written theirs (the reveal rule of check-ins); locked from then on."""

    __tablename__ = "charter_reflections"
    __table_args__ = (UniqueConstraint("couple_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    couple_id: Mapped[int] = mapped_column(ForeignKey("couples.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    causes: Mapped[list[str]] = mapped_column(JSON, default=list)  # keys of words.CAUSES
    words: Mapped[str] = mapped_column(Text, default="")
    written_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class CharterTopicLink(Base):
    """The topic Tend tracks for one root cause (by its key, across charter versions)."""

    __tablename__ = "charter_topic_links"
    __table_args__ = (UniqueConstraint("couple_id", "cause_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    couple_id: Mapped[int] = mapped_column(ForeignKey("couples.id", ondelete="CASCADE"))
    cause_key: Mapped[str] = mapped_column(String(100))
    topic_id: Mapped[int] = mapped_column(
        ForeignKey("checkin_topics.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class CharterSafetyNote(Base):
    """The private safety lane of the charter: only its author ever reads it. Never part
    of the shared charter, a warning, a mail or the partner's export."""

    __tablename__ = "charter_safety_notes"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    afraid: Mapped[int | None]  # words.SAFETY_OPTIONS
    note: Mapped[str] = mapped_column(Text, default="")
    written_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
