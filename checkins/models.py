"""Check-in rounds, answers, topics, action items and the couple's own questions."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    Float,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    event,
    literal,
    select,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from agreements.models import Agreement, AgreementVersion
from couples import data_version
from couples.models import Couple, Membership
from infra.db import Base, UTCDateTime

# Participation status
PENDING = "pending"  # not started
DRAFT = "draft"  # answers saved, not submitted
SUBMITTED = "submitted"
MISSED = "missed"  # the round closed before this partner submitted

# Topic status
OPEN = "open"
WORKING = "working"
RESOLVED = "resolved"
TOPIC_STATUSES = (OPEN, WORKING, RESOLVED)


class CheckinSettings(Base):
    """Per-couple check-in preferences (a row only once changed from the defaults)."""

    __tablename__ = "checkin_settings"

    couple_id: Mapped[int] = mapped_column(
        ForeignKey("couples.id", ondelete="CASCADE"), primary_key=True
    )
    due_days: Mapped[int] = mapped_column(default=5)


class Round(Base):
    __tablename__ = "checkin_rounds"
    __table_args__ = (
        # The idempotency key: one round per couple and scheduled start, whichever
        # process or planning pass gets there first.
        UniqueConstraint("couple_id", "scheduled_for"),
        # At most one round open at a time per couple (a hand-started and a scheduled
        # round racing each other cannot both win).
        Index(
            "uq_checkin_rounds_open_couple",
            "couple_id",
            unique=True,
            sqlite_where=text("closed_at IS NULL"),
            postgresql_where=text("closed_at IS NULL"),
        ),
        Index("ix_checkin_rounds_couple_opened", "couple_id", "opened_at"),
        # The planner's look-up of open rounds to close reads only open rounds, however
        # many closed ones history holds. (Reminders follow Participation.remind_at.)
        Index(
            "ix_checkin_rounds_open_due_at",
            "due_at",
            sqlite_where=text("closed_at IS NULL"),
            postgresql_where=text("closed_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    couple_id: Mapped[int] = mapped_column(ForeignKey("couples.id", ondelete="CASCADE"))
    # The scheduled start; for a round started by hand, the moment it was started.
    scheduled_for: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    origin: Mapped[str] = mapped_column(String(16))  # schedule | manual
    schedule_version_id: Mapped[int | None]
    opened_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    opened_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    due_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    # Set when both partners have submitted: from then on answers are locked and the
    # revealed ones are visible to both.
    revealed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # Reviewed together: set when the second partner confirms (each confirms on their own
    # participation, ``Participation.reviewed_at``); reviewed_by_id is that second one.
    reviewed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    reviewed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    participations: Mapped[list[Participation]] = relationship(
        back_populates="round", lazy="selectin", order_by="Participation.id"
    )
    agreements: Mapped[list[RoundAgreement]] = relationship(
        lazy="selectin", order_by="RoundAgreement.id"
    )


class RoundAgreement(Base):
    """An agreement in force when the round opened, pinned to that version.

    Title and kind are copied so the round reads the same however the agreement changes
    later; the ids point into the agreements package (no foreign key, so check-in history
    survives whatever that package does with its rows)."""

    __tablename__ = "checkin_round_agreements"
    __table_args__ = (UniqueConstraint("round_id", "agreement_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("checkin_rounds.id", ondelete="CASCADE"))
    agreement_id: Mapped[int]
    version_id: Mapped[int]
    kind: Mapped[str] = mapped_column(String(40))
    title: Mapped[str] = mapped_column(String(200))
    # Both partners' ratings of how well it was kept in this round (by themselves, by
    # the other; 1-5), averaged. Written at the reveal, when the ratings lock, and again
    # when someone's answers are erased; NULL before the reveal or with no rating. The
    # trends read one number per round instead of averaging years of ratings per view.
    kept_mean: Mapped[float | None] = mapped_column(Float)


class Participation(Base):
    """One partner's sheet in one round."""

    __tablename__ = "checkin_participations"
    __table_args__ = (
        UniqueConstraint("round_id", "user_id"),
        # The reminder sweep reads only the notes whose moment has come.
        Index(
            "ix_checkin_participations_remind_at",
            "remind_at",
            sqlite_where=text("remind_at IS NOT NULL"),
            postgresql_where=text("remind_at IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("checkin_rounds.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(16), default=PENDING)
    updated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    submitted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # When the reminder sweep next needs to look at this sheet (the nudge, then the
    # warning before closing); NULL once there is nothing left to remind. A note, not a
    # decision: the sweep checks the round and the status again when the moment comes.
    remind_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # The revealed satisfaction answers summed (0-20), written at the reveal and again
    # when the person's answers are erased; NULL before the reveal or if incomplete.
    satisfaction_total: Mapped[int | None]
    # When this partner confirmed that the two of them went through the review together.
    # The round is reviewed (``Round.reviewed_at``) once both have.
    reviewed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    round: Mapped[Round] = relationship(back_populates="participations")


class Draft(Base):
    """Where a person is in their sheet of one round: the step they are on, so another
    device (or a reload) resumes there. The answers themselves are saved as they are
    given (``Answer``, ``Adherence``, ``Concern``); this row holds only the position.
    Read only by its own author (``checkins.steps``), never by the partner."""

    __tablename__ = "checkin_drafts"

    participation_id: Mapped[int] = mapped_column(
        ForeignKey("checkin_participations.id", ondelete="CASCADE"), primary_key=True
    )
    step: Mapped[str] = mapped_column(String(32))
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class Answer(Base):
    """One answer to a built-in or own question. ``visibility`` is copied from the
    question when answered, so the reveal filter is a plain column test in SQL."""

    __tablename__ = "checkin_answers"
    # (Each sheet's satisfaction total is stored at the reveal: Participation.)
    __table_args__ = (UniqueConstraint("participation_id", "item"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    participation_id: Mapped[int] = mapped_column(
        ForeignKey("checkin_participations.id", ondelete="CASCADE")
    )
    item: Mapped[str] = mapped_column(String(60))  # survey key, or custom:<question id>
    custom_question_id: Mapped[int | None] = mapped_column(
        ForeignKey("checkin_questions.id", ondelete="SET NULL")
    )
    visibility: Mapped[str] = mapped_column(String(16))
    value_int: Mapped[int | None]
    value_text: Mapped[str | None] = mapped_column(Text)


class Adherence(Base):
    """How well an agreement was kept: by me, by my partner (1-5), and a comment."""

    __tablename__ = "checkin_adherence"
    # (The means per round are stored on RoundAgreement.kept_mean at the reveal.)
    __table_args__ = (UniqueConstraint("participation_id", "agreement_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    participation_id: Mapped[int] = mapped_column(
        ForeignKey("checkin_participations.id", ondelete="CASCADE")
    )
    agreement_id: Mapped[int] = mapped_column(index=True)
    version_id: Mapped[int]
    kept_self: Mapped[int | None]
    kept_partner: Mapped[int | None]
    comment: Mapped[str | None] = mapped_column(Text)


class Concern(Base):
    """What bothers me and what I need; attached to a topic (existing or new)."""

    __tablename__ = "checkin_concerns"

    id: Mapped[int] = mapped_column(primary_key=True)
    participation_id: Mapped[int] = mapped_column(
        ForeignKey("checkin_participations.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(default=0)
    topic_id: Mapped[int | None] = mapped_column(
        ForeignKey("checkin_topics.id", ondelete="SET NULL"), index=True
    )
    # A new topic is only created when the round is revealed, so the partner does not
    # learn of it from the topic list before both have answered.
    new_topic_title: Mapped[str | None] = mapped_column(String(200))
    bothering: Mapped[str] = mapped_column(Text, default="")
    need: Mapped[str] = mapped_column(Text, default="")


class Topic(Base):
    __tablename__ = "checkin_topics"

    id: Mapped[int] = mapped_column(primary_key=True)
    couple_id: Mapped[int] = mapped_column(ForeignKey("couples.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default=OPEN)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class TopicEvent(Base):
    """A topic's history: created, raised in a round, status changed."""

    __tablename__ = "checkin_topic_events"
    __table_args__ = (Index("ix_checkin_topic_events_topic_at", "topic_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    topic_id: Mapped[int] = mapped_column(ForeignKey("checkin_topics.id", ondelete="CASCADE"))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    event: Mapped[str] = mapped_column(String(16))  # created | raised | status
    status: Mapped[str | None] = mapped_column(String(16))
    round_id: Mapped[int | None] = mapped_column(
        ForeignKey("checkin_rounds.id", ondelete="SET NULL")
    )
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class ActionItem(Base):
    """What we will do differently, agreed in a review, shown atop the next round."""

    __tablename__ = "checkin_action_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    couple_id: Mapped[int] = mapped_column(ForeignKey("couples.id", ondelete="CASCADE"), index=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("checkin_rounds.id", ondelete="CASCADE"))
    owner_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    done_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # The day it is due, in the owner's calendar (set in the talk); its reminder goes
    # out that morning through the outbox (checkins.talk).
    due_on: Mapped[dt.date | None]


class CustomQuestion(Base):
    """The couple's own question. Retired, not deleted, so old answers keep their text."""

    __tablename__ = "checkin_questions"

    id: Mapped[int] = mapped_column(primary_key=True)
    couple_id: Mapped[int] = mapped_column(ForeignKey("couples.id", ondelete="CASCADE"), index=True)
    prompt: Mapped[str] = mapped_column(String(300))
    kind: Mapped[str] = mapped_column(String(16))  # scale | text
    visibility: Mapped[str] = mapped_column(String(16))  # revealed | private
    position: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    retired_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class WarningMark(Base):
    """ "We talked about it": one partner marked an early warning as talked about. The
    warning stays away while its severity is at most the one marked, and comes back if
    it gets worse (checkins/warning_marks.py)."""

    __tablename__ = "warning_marks"
    __table_args__ = (UniqueConstraint("couple_id", "warning_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    couple_id: Mapped[int] = mapped_column(ForeignKey("couples.id", ondelete="CASCADE"))
    warning_key: Mapped[str] = mapped_column(String(120))  # EarlyWarning.key
    severity: Mapped[int]
    marked_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    marked_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


# When a couple's next scheduled round can be due at the earliest; the planner looks only
# at rows whose moment has come (an index range), so a planning pass costs what the due
# couples cost, not what all couples cost. STALE = "look again at the next pass".
STALE = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


class CheckinPlan(Base):
    """The planner's note for one couple: nothing can be due before ``next_check_at``.

    It is a lower bound, never the truth: the planner recomputes everything from the
    schedule and the rounds when the moment comes. Whatever could make a round due
    sooner (a schedule agreed or retired, a partner joining or leaving, a round opened,
    closed or deleted, a different answering period) sets it back to STALE, through the
    flush listener below, so that no other package has to know about check-ins.
    NULL = nothing to plan until one of those changes (no schedule, or one partner)."""

    __tablename__ = "checkin_plans"

    couple_id: Mapped[int] = mapped_column(
        ForeignKey("couples.id", ondelete="CASCADE"), primary_key=True
    )
    next_check_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, index=True)


def _couples_touched(session: Session) -> set[int]:
    """Couples whose check-in planning a flush may have changed."""
    touched: set[int] = set()
    version_agreements: set[int] = set()
    for obj in (*session.new, *session.dirty, *session.deleted):
        if isinstance(obj, (Round, CheckinSettings, Membership)):
            touched.add(obj.couple_id)
        elif isinstance(obj, Couple) and obj not in session.deleted:
            touched.add(obj.id)
        elif isinstance(obj, Agreement) and obj.kind == "regular_checkin":
            touched.add(obj.couple_id)
        elif isinstance(obj, AgreementVersion):
            version_agreements.add(obj.agreement_id)
    if version_agreements:
        touched.update(
            session.connection().scalars(
                select(Agreement.couple_id).where(
                    Agreement.id.in_(version_agreements), Agreement.kind == "regular_checkin"
                )
            )
        )
    touched.discard(None)  # type: ignore[arg-type]
    return touched


@event.listens_for(Session, "after_flush")
def _mark_plans_stale(session: Session, _flush_context: object) -> None:
    touched = _couples_touched(session)
    if not touched:
        return
    connection = session.connection()
    insert_ = (postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert)(
        CheckinPlan
    )
    # INSERT ... SELECT from couples: a couple deleted in this transaction gets no row.
    statement = insert_.from_select(
        ["couple_id", "next_check_at"],
        select(Couple.id, literal(STALE, UTCDateTime)).where(Couple.id.in_(sorted(touched))),
    )
    connection.execute(
        statement.on_conflict_do_update(
            index_elements=["couple_id"], set_={"next_check_at": statement.excluded.next_check_at}
        )
    )


# Whose couple each row is about (couples/data_version.py).
data_version.belongs_to(RoundAgreement.round_id, Round)
data_version.belongs_to(Participation.round_id, Round)
data_version.belongs_to(Answer.participation_id, Participation)
data_version.belongs_to(Adherence.participation_id, Participation)
data_version.belongs_to(Concern.participation_id, Participation)
data_version.belongs_to(TopicEvent.topic_id, Topic)
# The planner's own note, and a sheet's unsent step: no page of the couple reads them.
data_version.not_couple_data(CheckinPlan, Draft)
