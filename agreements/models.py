"""Agreements and their versions, the history of every decision, cooldowns, therapy.

Versions are never edited once they are in force: a change is a new version, so a
check-in round that pointed at version 3 keeps pointing at the words of version 3.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from couples import data_version
from infra.db import Base, UTCDateTime, utcnow

# Agreement.status
PROPOSED = "proposed"  # no version in force yet; waiting for the partner
ACTIVE = "active"  # a version is in force (a change may be pending beside it)
DECLINED = "declined"  # the first proposal was declined; nothing was ever in force
RETIRED = "retired"  # both agreed to retire it
WITHDRAWN = "withdrawn"  # the proposer took the first proposal back

# AgreementVersion.state
V_PENDING = "pending"  # proposed, waiting for the other partner's answer
V_IN_FORCE = "in_force"  # both consented; the words that count now
V_SUPERSEDED = "superseded"  # was in force, replaced by a later version
V_ENDED = "ended"  # was in force until the agreement was retired
V_DECLINED = "declined"
V_COUNTERED = "countered"  # the other partner answered with changes (a newer version)
V_WITHDRAWN = "withdrawn"


class Agreement(Base):
    __tablename__ = "agreements"
    __table_args__ = (Index("ix_agreements_couple_id_status", "couple_id", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    couple_id: Mapped[int] = mapped_column(ForeignKey("couples.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(40))  # template key, or "custom"
    status: Mapped[str] = mapped_column(String(20), default=PROPOSED)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Either partner may flag an active agreement; the next check-in brings it up.
    flagged_for_review: Mapped[bool] = mapped_column(Boolean, default=False)
    flagged_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    flagged_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # Retiring needs both: the request waits here for the other partner.
    retire_requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    retire_requested_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    retired_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    versions: Mapped[list[AgreementVersion]] = relationship(
        back_populates="agreement", order_by="AgreementVersion.number", lazy="selectin"
    )


class AgreementVersion(Base):
    __tablename__ = "agreement_versions"
    __table_args__ = (
        UniqueConstraint("agreement_id", "number"),
        # At most one version waiting for an answer per agreement, even under races.
        Index(
            "uq_agreement_versions_one_pending",
            "agreement_id",
            unique=True,
            sqlite_where=text("state = 'pending'"),
            postgresql_where=text("state = 'pending'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    agreement_id: Mapped[int] = mapped_column(ForeignKey("agreements.id", ondelete="CASCADE"))
    number: Mapped[int]
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    state: Mapped[str] = mapped_column(String(20), default=V_PENDING)
    proposed_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    proposed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    # Set once, when the second partner said yes: from then on this version is in force
    # until ``in_force_until`` (a newer version or retirement).
    accepted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    in_force_from: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    in_force_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    answered_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    answered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    decline_reason: Mapped[str | None] = mapped_column(Text)

    agreement: Mapped[Agreement] = relationship(back_populates="versions")


class AgreementEvent(Base):
    """One line of an agreement's history: who did what, when."""

    __tablename__ = "agreement_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    agreement_id: Mapped[int] = mapped_column(
        ForeignKey("agreements.id", ondelete="CASCADE"), index=True
    )
    version_id: Mapped[int | None] = mapped_column(
        ForeignKey("agreement_versions.id", ondelete="CASCADE")
    )
    actor_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    action: Mapped[str] = mapped_column(String(30))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    # A reason the actor chose to give (shown to both partners of the couple).
    note: Mapped[str | None] = mapped_column(Text)


class AgreementPreferences(Base):
    """A partner's own choices about agreement mail."""

    __tablename__ = "agreement_preferences"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    cooldown_mail: Mapped[bool] = mapped_column(Boolean, default=False)


class Cooldown(Base):
    __tablename__ = "cooldowns"
    __table_args__ = (
        Index("ix_cooldowns_couple_id_started_at", "couple_id", "started_at"),
        # One running cooldown per couple: two partners pressing at once get the same one.
        Index(
            "uq_cooldowns_one_open",
            "couple_id",
            unique=True,
            sqlite_where=text("ended_at IS NULL"),
            postgresql_where=text("ended_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    couple_id: Mapped[int] = mapped_column(ForeignKey("couples.id", ondelete="CASCADE"))
    # The cooldown agreement version in force when it started (None: none was agreed).
    agreement_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("agreement_versions.id", ondelete="SET NULL")
    )
    started_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    planned_end_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    # The latest extension (each adds the agreed length again), and how many there were:
    # as many as the couple's cooldown agreement allows ("extensions", 1 by default).
    extended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    extended_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    extensions: Mapped[int] = mapped_column(default=0, server_default="0")
    # Set when ended early, or (lazily) to the planned end once it has run its course.
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    ended_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class CooldownNote(Base):
    """A private note on a cooldown: only its author ever sees it."""

    __tablename__ = "cooldown_notes"
    __table_args__ = (UniqueConstraint("cooldown_id", "author_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    cooldown_id: Mapped[int] = mapped_column(ForeignKey("cooldowns.id", ondelete="CASCADE"))
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    note: Mapped[str] = mapped_column(Text)
    written_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class CooldownReturn(Base):
    """How the two came back to the conversation after a cooldown, as one partner records
    it (either may; the latest record stands for the cooldown)."""

    __tablename__ = "cooldown_returns"
    __table_args__ = (UniqueConstraint("cooldown_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    cooldown_id: Mapped[int] = mapped_column(ForeignKey("cooldowns.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    outcome: Mapped[str] = mapped_column(String(16))  # talked | not_yet | left
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class TherapySession(Base):
    __tablename__ = "therapy_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    agreement_id: Mapped[int] = mapped_column(
        ForeignKey("agreements.id", ondelete="CASCADE"), index=True
    )
    held_on: Mapped[dt.date]
    attendance: Mapped[str] = mapped_column(String(20))  # together | one | missed
    logged_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    logged_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class TherapyRating(Base):
    """'Was this session useful?' — hidden from the partner until both have rated."""

    __tablename__ = "therapy_ratings"
    __table_args__ = (UniqueConstraint("session_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("therapy_sessions.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    rating: Mapped[int]  # 1 not useful .. 4 very useful
    rated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class TherapyAppointment(Base):
    """The next appointment. The scheduler sends the day-before reminder from this row."""

    __tablename__ = "therapy_appointments"
    __table_args__ = (Index("ix_therapy_appointments_remind_at", "remind_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    agreement_id: Mapped[int] = mapped_column(
        ForeignKey("agreements.id", ondelete="CASCADE"), index=True
    )
    starts_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    duration_minutes: Mapped[int] = mapped_column(default=60)
    # The zone the appointment was entered in, so mail and .ics show the local time.
    timezone: Mapped[str] = mapped_column(String(64))
    location: Mapped[str] = mapped_column(String(300), default="")
    set_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    # starts_at minus one day; the reminder planner selects rows with remind_at <= now.
    remind_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    cancelled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


# Whose couple each row is about (couples/data_version.py).
data_version.belongs_to(AgreementVersion.agreement_id, Agreement)
data_version.belongs_to(AgreementEvent.agreement_id, Agreement)
data_version.belongs_to(CooldownNote.cooldown_id, Cooldown)
data_version.belongs_to(CooldownReturn.cooldown_id, Cooldown)
data_version.belongs_to(TherapySession.agreement_id, Agreement)
data_version.belongs_to(TherapyAppointment.agreement_id, Agreement)
data_version.belongs_to(TherapyRating.session_id, TherapySession)
