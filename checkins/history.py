"""History and topics: the revealed rounds one by one, and the topics a couple keeps
open. Only revealed rounds and revealed rows are read; the queries here are shared with
trends and warnings.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from checkins import rules
from checkins.models import (
    OPEN,
    RESOLVED,
    TOPIC_STATUSES,
    Participation,
    Round,
    RoundAgreement,
    Topic,
    TopicEvent,
)
from checkins.views import NUL_PROBLEM
from couples import service as couples
from couples.models import Couple
from infra.db import utcnow
from infra.errors import InvalidInput, NotFound

if TYPE_CHECKING:  # warnings read history's queries; history only names their type
    from checkins.warnings import _KnownFacts


# --- history, topics, trends ---------------------------------------------------------------
@dataclass(frozen=True)
class RoundSummary:
    round_id: int
    opened_at: dt.datetime
    due_at: dt.datetime
    origin: str
    revealed: bool
    closed: bool
    reviewed: bool
    statuses: dict[int, str]
    totals: dict[int, int]  # revealed rounds only


def shown_names(session: Session, user_id: int) -> dict[int, str]:
    """For pages: the names of the people in my couple space, as I may see them."""
    couple = couples.couple_of(session, user_id)
    return couples.shown_names(couple, user_id) if couple else {}


def _couple(session: Session, user_id: int) -> Couple:
    return couples.require_membership(session, user_id).couple


# Read statements of the pages are built once per process, with the couple as a bound
# parameter: building a SQLAlchemy expression costs about as much as running it (the
# totals: ~2 ms to build, ~2 ms to run over ten years).
COUPLE = bindparam("couple_id")
IDS = bindparam("ids", expanding=True)


def _couple_param(couple_id: int) -> dict[str, int]:
    return {"couple_id": couple_id}


@functools.cache
def _totals_query():  # type: ignore[no-untyped-def]
    """Satisfaction totals as (round, partner, total) per revealed round, oldest round
    first: the totals stored at the reveal (:func:`_store_round_scores`). No timestamp:
    the rounds' moments are read once, per round."""
    return (
        select(Round.id, Participation.user_id, Participation.satisfaction_total)
        .join(Participation, Participation.round_id == Round.id)
        .where(
            Round.couple_id == COUPLE,
            Round.revealed_at.is_not(None),
            Participation.satisfaction_total.is_not(None),
        )
        .order_by(Round.opened_at, Participation.user_id)
    )


# The history page shows a year of monthly rounds at a time, newest first.
HISTORY_PAGE = 12
LIMIT = bindparam("limit")
OFFSET = bindparam("offset")


@dataclass(frozen=True)
class HistoryPage:
    """Some of the couple's rounds, newest first (``offset`` newer ones skipped), and
    how many the couple has in all."""

    rounds: list[RoundSummary]
    total: int
    offset: int = 0

    @property
    def more(self) -> bool:
        """Rounds older than these exist ("Show older check-ins")."""
        return self.offset + len(self.rounds) < self.total


@functools.cache
def _history_queries():  # type: ignore[no-untyped-def]
    """A page of the couple's rounds, newest first (whether revealed, closed, reviewed
    decided in SQL: a converted timestamp per row and column was most of the history's
    time) with the couple's count of rounds in the same statement; then the statuses of
    those rounds' participations and the totals of those that are revealed (the trends'
    totals query, bounded to the rounds shown)."""
    rounds_q = (
        select(
            Round.id,
            Round.opened_at,
            Round.due_at,
            Round.origin,
            Round.revealed_at.is_not(None),
            Round.closed_at.is_not(None),
            Round.reviewed_at.is_not(None),
            func.count().over(),
        )
        .where(Round.couple_id == COUPLE)
        .order_by(Round.opened_at.desc(), Round.id.desc())
        .limit(LIMIT)
        .offset(OFFSET)
    )
    count_q = select(func.count()).select_from(Round).where(Round.couple_id == COUPLE)
    statuses_q = (
        select(Participation.round_id, Participation.user_id, Participation.status)
        .join(Round, Round.id == Participation.round_id)
        .where(Round.couple_id == COUPLE, Round.id.in_(IDS))
        .order_by(Participation.id)
    )
    totals_q = _totals_query().where(Round.id.in_(IDS))
    return rounds_q, count_q, statuses_q, totals_q


def history(
    session: Session, user_id: int, *, limit: int = HISTORY_PAGE, offset: int = 0
) -> HistoryPage:
    """The couple's rounds newest first, ``limit`` of them after skipping ``offset``, and
    the couple's count of rounds. Four statements at most (three, unless the page is past
    the end), whatever the history's length; only the rows of the rounds shown are read.
    The whole history stays in the export (privacy.export)."""
    if limit < 1 or offset < 0:
        raise InvalidInput({"limit": "Ask for at least one round, from the newest on."})
    couple = _couple(session, user_id)
    # Columns, not Round entities: building (and identity-mapping) an ORM object per
    # row was most of the history page's time.
    rounds_q, count_q, statuses_q, totals_q = _history_queries()
    at_couple = _couple_param(couple.id)
    rows = session.execute(rounds_q, {**at_couple, "limit": limit, "offset": offset}).all()
    if rows:
        total = int(rows[0][-1])
    else:  # none on this page: the count in the rounds' statement is not there
        total = int(session.scalar(count_q, at_couple) or 0) if offset else 0
    summaries = {
        rid: RoundSummary(
            rid, opened_at, due_at, origin, bool(revealed), bool(closed), bool(reviewed), {}, {}
        )
        for rid, opened_at, due_at, origin, revealed, closed, reviewed, _count in rows
    }
    if summaries:
        at_rounds = {**at_couple, "ids": list(summaries)}
        for rid, uid, status in session.execute(statuses_q, at_rounds):
            summaries[rid].statuses[uid] = status
        for rid, uid, points in session.execute(totals_q, at_rounds):
            summaries[rid].totals[uid] = int(points)
    return HistoryPage(list(summaries.values()), total, offset)


@dataclass(frozen=True)
class TopicView:
    id: int
    title: str
    status: str
    created_at: dt.datetime
    times_raised: int
    last_raised: dt.datetime | None
    keeps_coming_back: bool


def topics(session: Session, user_id: int) -> list[TopicView]:
    couple = _couple(session, user_id)
    return _topic_views(session, couple.id)


@functools.cache
def _recent_revealed_query():  # type: ignore[no-untyped-def]
    return (
        select(Round.id)
        .where(Round.couple_id == COUPLE, Round.revealed_at.is_not(None))
        .order_by(Round.opened_at.desc())
    )


@functools.cache
def _topic_log_query():  # type: ignore[no-untyped-def]
    # Columns, not entities: years of topic events are hundreds of rows.
    return (
        select(
            Topic.id,
            Topic.title,
            Topic.status,
            Topic.created_at,
            TopicEvent.event,
            TopicEvent.at,
            TopicEvent.status,
            TopicEvent.round_id,
            TopicEvent.id,
        )
        .outerjoin(TopicEvent, TopicEvent.topic_id == Topic.id)
        .where(Topic.couple_id == COUPLE)
        .order_by(Topic.id, TopicEvent.at, TopicEvent.id)
    )


def _topic_views(
    session: Session, couple_id: int, known: _KnownFacts | None = None
) -> list[TopicView]:
    if known is None:
        recent = list(
            session.scalars(
                _recent_revealed_query().limit(rules.RECURRING_WINDOW), _couple_param(couple_id)
            )
        )
        rows = session.execute(_topic_log_query(), _couple_param(couple_id)).all()
    else:
        recent = [r.id for r in known.newest_first if r.revealed_at is not None]
        recent, rows = recent[: rules.RECURRING_WINDOW], known.topic_log
    grouped: dict[int, tuple[tuple, list[tuple]]] = {}
    for topic_id, title, status, created_at, event, at, event_status, round_id, _id in rows:
        entry = grouped.setdefault(topic_id, ((topic_id, title, status, created_at), []))
        if event is not None:
            entry[1].append((event, at, event_status, round_id))
    views = []
    for (topic_id, title, status, created_at), topic_events in grouped.values():
        raised = [(at, round_id) for event, at, _s, round_id in topic_events if event == "raised"]
        resolved = [
            at for event, at, to, _r in topic_events if event == "status" and to == RESOLVED
        ]
        views.append(
            TopicView(
                topic_id,
                title,
                status,
                created_at,
                len(raised),
                raised[-1][0] if raised else None,
                rules.keeps_coming_back(
                    {round_id for _at, round_id in raised if round_id is not None},
                    recent,
                    [at for at, _r in raised],
                    resolved,
                ),
            )
        )
    order = {OPEN: 0, "working": 1, RESOLVED: 2}
    return sorted(
        views, key=lambda v: (order.get(v.status, 3), -(v.last_raised or v.created_at).timestamp())
    )


def add_topic(
    session: Session, user_id: int, title: str, *, now: dt.datetime | None = None
) -> Topic:
    couple = couples.require_active_couple(session, user_id)
    title = " ".join(title.split())
    if "\x00" in title:
        raise InvalidInput({"title": NUL_PROBLEM})
    if not title or len(title) > 80:
        raise InvalidInput({"title": "Give the topic a short name (up to 80 characters)."})
    now = now or utcnow()
    topic = Topic(couple_id=couple.id, title=title, status=OPEN, created_at=now)
    session.add(topic)
    session.flush()
    session.add(
        TopicEvent(topic_id=topic.id, at=now, event="created", status=OPEN, user_id=user_id)
    )
    return topic


def set_topic_status(
    session: Session, user_id: int, topic_id: int, status: str, *, now: dt.datetime | None = None
) -> Topic:
    couple = couples.require_active_couple(session, user_id)
    topic = session.get(Topic, topic_id)
    if topic is None or topic.couple_id != couple.id:
        raise NotFound("No such topic.")
    if status not in TOPIC_STATUSES:
        raise InvalidInput({"status": "Choose open, working on it, or resolved."})
    if topic.status != status:
        topic.status = status
        session.add(
            TopicEvent(
                topic_id=topic.id,
                at=now or utcnow(),
                event="status",
                status=status,
                user_id=user_id,
            )
        )
    return topic


@dataclass(frozen=True)
class TopicHistoryEntry:
    at: dt.datetime
    event: str
    status: str | None
    round_id: int | None
    by: str


def topic_history(
    session: Session, user_id: int, topic_id: int
) -> tuple[TopicView, list[TopicHistoryEntry]]:
    couple = _couple(session, user_id)
    topic = session.get(Topic, topic_id)
    if topic is None or topic.couple_id != couple.id:
        raise NotFound("No such topic.")
    view = next(v for v in _topic_views(session, couple.id) if v.id == topic_id)
    names = couples.shown_names(couple, user_id)
    rows = session.scalars(
        select(TopicEvent)
        .where(TopicEvent.topic_id == topic_id)
        .order_by(TopicEvent.at, TopicEvent.id)
    )
    return view, [
        TopicHistoryEntry(e.at, e.event, e.status, e.round_id, names.get(e.user_id or 0, ""))
        for e in rows
    ]


@functools.cache
def _adherence_query():  # type: ignore[no-untyped-def]
    """Mean adherence (all four ratings) per revealed round and agreement, oldest round
    first: the means stored at the reveal (:func:`_store_round_scores`)."""
    return (
        select(
            Round.id, RoundAgreement.agreement_id, RoundAgreement.title, RoundAgreement.kept_mean
        )
        .join(RoundAgreement, RoundAgreement.round_id == Round.id)
        .where(
            Round.couple_id == COUPLE,
            Round.revealed_at.is_not(None),
            RoundAgreement.kept_mean.is_not(None),
        )
        .order_by(Round.opened_at, RoundAgreement.agreement_id)
    )
