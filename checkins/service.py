"""Check-in rounds: opening, answering, the reveal, reviewing, topics, trends, warnings.

THE REVEAL RULE lives here, in the queries, not in the pages:
- a partner's answers are read only through :func:`partner_answers` and :func:`review`,
  which refuse until the round is revealed (both submitted) and then select only rows
  whose visibility is ``revealed``;
- private and safety answers are only ever selected together with the condition that
  the participation belongs to the acting user (:func:`my_answers`);
- history, topics, trends and warnings aggregate revealed rounds and revealed rows only.
Every function takes the acting user's id and resolves the couple from it.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from sqlalchemy import Row, and_, bindparam, case, delete, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload

from checkins import agreements_port, recurrence, rules, survey
from checkins.agreements_port import AgreementInForce
from checkins.models import (
    DRAFT,
    MISSED,
    OPEN,
    PENDING,
    RESOLVED,
    SUBMITTED,
    TOPIC_STATUSES,
    ActionItem,
    Adherence,
    Answer,
    CheckinPlan,
    CheckinSettings,
    Concern,
    CustomQuestion,
    Participation,
    Round,
    RoundAgreement,
    Topic,
    TopicEvent,
)
from couples import service as couples
from couples.models import Couple, Membership, User
from infra.db import utcnow
from infra.errors import InvalidInput, NotAllowed, NotFound
from notifications.models import OutboxMessage
from notifications.preferences import Reminder, plan_reminder, plan_reminders
from privacy.erase import register_eraser
from privacy.export import register_exporter

DEFAULT_DUE_DAYS = 5
MIN_DUE_DAYS, MAX_DUE_DAYS = 1, 14
NUDGE_AFTER = dt.timedelta(days=2)
CLOSING_NOTICE = dt.timedelta(days=1)
ROUND_PAGE = "/checkin"
MAX_CONCERNS = 10


NUL_PROBLEM = "This contains a character that cannot be saved (a NUL character). Remove it."


def _text_problem(text: str, limit: int) -> str | None:
    """Why ``text`` cannot be stored as typed, or None. Nothing is cut silently."""
    if "\x00" in text:
        return NUL_PROBLEM
    if len(text) > limit:
        return f"Keep it under {limit} characters."
    return None


# --- inputs and views -----------------------------------------------------------------
@dataclass
class AdherenceInput:
    kept_self: int | None = None
    kept_partner: int | None = None
    comment: str = ""


@dataclass
class ConcernInput:
    bothering: str = ""
    need: str = ""
    topic_id: int | None = None
    new_topic: str = ""


@dataclass
class Sheet:
    """One partner's answers in one round (what the page sends, and what it reads back)."""

    values: dict[str, int | None] = field(default_factory=dict)
    texts: dict[str, str] = field(default_factory=dict)
    adherence: dict[int, AdherenceInput] = field(default_factory=dict)
    concerns: list[ConcernInput] = field(default_factory=list)

    @property
    def satisfaction(self) -> int | None:
        return survey.satisfaction_total(self.values)


@dataclass(frozen=True)
class RoundQuestions:
    built_in: tuple[survey.Question, ...]
    custom: list[CustomQuestion]
    agreements: list[RoundAgreement]


@dataclass(frozen=True)
class RoundStatus:
    round: Round
    phase: str  # answer | waiting | review | closed
    my_status: str
    partner_status: str
    partner_name: str


# --- settings ---------------------------------------------------------------------------
def due_days_for(session: Session, couple_id: int) -> int:
    row = session.get(CheckinSettings, couple_id)
    return row.due_days if row else DEFAULT_DUE_DAYS


def set_due_days(session: Session, user_id: int, days: int) -> None:
    couple = couples.require_active_couple(session, user_id)
    if not MIN_DUE_DAYS <= days <= MAX_DUE_DAYS:
        raise InvalidInput(
            {"due_days": f"Choose between {MIN_DUE_DAYS} and {MAX_DUE_DAYS} days to answer."}
        )
    row = session.get(CheckinSettings, couple.id)
    if row is None:
        session.add(CheckinSettings(couple_id=couple.id, due_days=days))
    else:
        row.due_days = days


# --- opening and closing rounds -------------------------------------------------------
def _members(couple: Couple) -> list[Membership]:
    return [m for m in couple.members if m.left_at is None]


def _open_round(
    session: Session,
    couple: Couple,
    *,
    scheduled_for: dt.datetime,
    origin: str,
    now: dt.datetime,
    due_at: dt.datetime,
    opened_by_id: int | None = None,
    schedule_version_id: int | None = None,
) -> Round | None:
    """Insert the round and everything that belongs to it; None if it already exists.
    (The planning sweep opens a batch's rounds at once: :func:`_insert_rounds`.)"""
    round_ = Round(
        couple_id=couple.id,
        scheduled_for=scheduled_for,
        origin=origin,
        schedule_version_id=schedule_version_id,
        opened_by_id=opened_by_id,
        opened_at=now,
        due_at=due_at,
    )
    try:
        # The unique keys decide: another process (or pass) that got there first wins,
        # and this transaction carries on unharmed.
        with session.begin_nested():
            session.add(round_)
            session.flush()
    except IntegrityError:
        return None
    members = _members(couple)
    for member in members:
        session.add(
            Participation(
                round_id=round_.id,
                user_id=member.user_id,
                status=PENDING,
                remind_at=now + NUDGE_AFTER,
            )
        )
    for agreement in agreements_port.in_force(session, couple.id, now):
        session.add(
            RoundAgreement(
                round_id=round_.id,
                agreement_id=agreement.agreement_id,
                version_id=agreement.version_id,
                kind=agreement.kind,
                title=agreement.title[:200],
            )
        )
    session.flush()
    # No refresh: every column was set here, and the collections load when first read.
    for member in members:
        _notify(session, round_, member.user, "round_opened", now=now, couple=couple)
    return round_


def start_round_now(session: Session, user_id: int, *, now: dt.datetime | None = None) -> Round:
    """ "Start a check-in now", by hand."""
    now = now or utcnow()
    couple = couples.require_active_couple(session, user_id)
    if len(_members(couple)) < 2:
        raise NotAllowed("A check-in needs both of you: invite your partner first.")
    if open_round_of(session, couple.id) is not None:
        raise NotAllowed("A check-in is already open. Answer that one first.")
    round_ = _open_round(
        session,
        couple,
        scheduled_for=now,
        origin="manual",
        now=now,
        due_at=now + dt.timedelta(days=due_days_for(session, couple.id)),
        opened_by_id=user_id,
    )
    if round_ is None:
        raise NotAllowed("A check-in was just started. Reload the page to see it.")
    return round_


def open_round_of(session: Session, couple_id: int) -> Round | None:
    return session.scalar(
        select(Round).where(Round.couple_id == couple_id, Round.closed_at.is_(None))
    )


PLAN_BATCH = 200  # couples per batch: the pass holds one batch of objects at a time


def open_due_rounds(session: Session, now: dt.datetime | None = None) -> list[Round]:
    """Open a round for every couple whose check-in schedule says one is due.

    Idempotent: the latest scheduled start is the round's key, so a second call (or a
    second process) opens nothing more. Only the latest start is considered: a scheduler
    that was down for weeks opens one round, not a backlog. A round opened (by hand or on
    schedule) within the answering period before the start counts as that start's round.

    Only couples whose :class:`CheckinPlan` says "look now" are examined (an index range),
    in batches, so the cost follows the due couples and not all couples; each examined
    couple gets its next moment to look written back.
    """
    now = now or utcnow()
    opened: list[Round] = []
    _open_due(session, now, opened.append)
    return opened


def _open_due(session: Session, now: dt.datetime, on_open: Callable[[Round], object] | None) -> int:
    """The sweep behind :func:`open_due_rounds`; returns how many rounds it opened."""
    count = 0
    after = 0
    while True:
        # Keyset over couple ids: every batch moves on, whatever the notes now say.
        # SKIP LOCKED: a couple another planner is handling right now is its business;
        # a change by a partner meanwhile waits for our commit, then marks it stale.
        batch = list(
            session.scalars(
                select(CheckinPlan.couple_id)
                .where(CheckinPlan.next_check_at <= now, CheckinPlan.couple_id > after)
                .order_by(CheckinPlan.couple_id)
                .limit(PLAN_BATCH)
                .with_for_update(skip_locked=True)
            )
        )
        if not batch:
            return count
        after = batch[-1]
        facts = _BatchFacts.read(session, batch, now)
        next_checks: dict[int, dt.datetime | None] = {}
        due: dict[int, dict] = {}  # couple id -> the round to open
        for cid in batch:
            due[cid], next_checks[cid] = _plan_couple(session, cid, now, facts)
        opened = _insert_rounds(session, [row for row in due.values() if row], facts, now)
        count += len(opened)
        if opened and on_open is not None:
            # Only open_due_rounds wants the objects (the scheduler does not): one query.
            for round_ in session.scalars(
                select(Round).where(Round.id.in_(opened)).order_by(Round.couple_id)
            ):
                on_open(round_)
        # Core over the table (one cached statement, many rows), not the ORM's bulk path.
        plans = CheckinPlan.__table__
        session.execute(
            update(plans)
            .where(plans.c.couple_id == bindparam("cid"))
            .values(next_check_at=bindparam("at")),
            [{"cid": cid, "at": at} for cid, at in next_checks.items()],
        )
        # Flushed, nothing of this batch stays referenced (the identity map holds clean
        # objects weakly), so memory does not grow with the number of couples due.
        session.flush()


@dataclass(frozen=True)
class _Partner:
    """A partner still in the couple, with what their mail needs (read as plain rows:
    the sweep has no use for ORM objects)."""

    id: int  # the user's
    display_name: str
    email: str
    timezone: str


@dataclass
class _CoupleFacts:
    name: str
    ended_at: dt.datetime | None
    partners: list[_Partner] = field(default_factory=list)  # still in the couple, by seat


@dataclass
class _BatchFacts:
    """What deciding a batch of couples needs, read in one query each for the whole
    batch instead of several per couple. Opening one couple's round changes nothing
    another couple's decision reads, so reading them up front decides the same."""

    couples: dict[int, _CoupleFacts]
    in_force: dict[int, list[tuple[AgreementInForce, dt.datetime]]]
    open_round: set[int]  # couples with a round not yet closed
    due_days: dict[int, int]  # couples with their own answering period
    latest_scheduled: dict[int, dt.datetime]  # latest round's scheduled start per couple

    @classmethod
    def read(cls, session: Session, batch: list[int], now: dt.datetime) -> _BatchFacts:
        return cls(
            couples=_couple_facts(session, batch),
            in_force=agreements_port.in_force_by_couple(session, batch, now),
            open_round=set(
                session.scalars(
                    select(Round.couple_id).where(
                        Round.couple_id.in_(batch), Round.closed_at.is_(None)
                    )
                )
            ),
            due_days=dict(
                session.execute(
                    select(CheckinSettings.couple_id, CheckinSettings.due_days).where(
                        CheckinSettings.couple_id.in_(batch)
                    )
                ).all()
            ),
            latest_scheduled=dict(
                session.execute(
                    select(Round.couple_id, func.max(Round.scheduled_for))
                    .where(Round.couple_id.in_(batch))
                    .group_by(Round.couple_id)
                ).all()
            ),
        )


def _couple_facts(session: Session, batch: list[int]) -> dict[int, _CoupleFacts]:
    """The batch's couples with their partners still in them (as ``_members``: by seat),
    in one query of plain rows."""
    rows = session.execute(
        select(
            Couple.id,
            Couple.name,
            Couple.ended_at,
            User.id,
            User.display_name,
            User.email,
            User.timezone,
        )
        .outerjoin(
            Membership, and_(Membership.couple_id == Couple.id, Membership.left_at.is_(None))
        )
        .outerjoin(User, User.id == Membership.user_id)
        .where(Couple.id.in_(batch))
        .order_by(Couple.id, Membership.seat)
    )
    couples: dict[int, _CoupleFacts] = {}
    for couple_id, name, ended_at, user_id, display_name, email, timezone in rows:
        couple = couples.get(couple_id)
        if couple is None:
            couple = couples[couple_id] = _CoupleFacts(name, ended_at)
        if user_id is not None:
            couple.partners.append(_Partner(user_id, display_name, email, timezone))
    return couples


def _plan_couple(
    session: Session, couple_id: int, now: dt.datetime, facts: _BatchFacts
) -> tuple[dict | None, dt.datetime | None]:
    """The couple's round to open, if one is due (a row for :func:`_insert_rounds`), or
    None; and when to look again (None = only after a change marks the couple stale)."""
    couple = facts.couples.get(couple_id)
    if couple is None or couple.ended_at is not None or len(couple.partners) < 2:
        return None, None
    in_force = facts.in_force.get(couple_id, [])
    schedule = agreements_port.schedule_among(in_force)
    if schedule is None:
        # A schedule accepted at a moment later than this pass's clock still counts.
        return None, agreements_port.next_schedule_start(session, couple_id, now)
    start, next_check = recurrence.latest_and_next(schedule, now)
    if start is None or couple_id in facts.open_round:
        return None, next_check
    period = dt.timedelta(days=facts.due_days.get(couple_id, DEFAULT_DUE_DAYS))
    previous = facts.latest_scheduled.get(couple_id)
    if previous is not None and previous >= start - period:
        return None, next_check
    return {
        "couple_id": couple_id,
        "scheduled_for": start,
        "origin": "schedule",
        "schedule_version_id": schedule.version_id,
        "opened_by_id": None,
        "opened_at": now,
        "due_at": max(start + period, now + CLOSING_NOTICE),
    }, next_check


def _insert_rounds(
    session: Session, rows: list[dict], facts: _BatchFacts, now: dt.datetime
) -> list[int]:
    """Open a batch's due rounds set-based: one INSERT of the rounds (a round another
    planner opened first is skipped by its unique key, ON CONFLICT DO NOTHING, without
    a savepoint), one of their participations, one of their pinned agreements, and the
    "a check-in is open" mails through :func:`plan_reminders`. Returns the rounds' ids.

    Core inserts, not ORM objects: the flush listener's "look again" mark is not needed,
    as the sweep writes each couple's next moment itself right after."""
    if not rows:
        return []
    insert_ = (
        postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    )
    # Core statements over the tables with a list of rows: compiled once and cached, sent
    # as multi-row INSERTs (SQLAlchemy's "insertmanyvalues"), without the ORM's bulk
    # bookkeeping. The queries before these have flushed the session.
    rounds = Round.__table__
    inserted = session.execute(
        insert_(rounds).on_conflict_do_nothing().returning(rounds.c.id, rounds.c.couple_id),
        rows,
    ).all()
    by_couple = {row["couple_id"]: row for row in rows}
    participations, pinned, reminders = [], [], []
    for round_id, couple_id in inserted:
        couple = facts.couples[couple_id]
        due_at = by_couple[couple_id]["due_at"]
        for member in couple.partners:
            participations.append(
                {
                    "round_id": round_id,
                    "user_id": member.id,
                    "status": PENDING,
                    "remind_at": now + NUDGE_AFTER,
                }
            )
            partner = next((p for p in couple.partners if p.id != member.id), None)
            reminders.append(
                _reminder(
                    round_id,
                    due_at,
                    member,
                    "round_opened",
                    partner_name=partner.display_name if partner else "",
                    couple_name=couple.name,
                    now=now,
                )
            )
        for agreement, _since in facts.in_force.get(couple_id, []):
            pinned.append(
                {
                    "round_id": round_id,
                    "agreement_id": agreement.agreement_id,
                    "version_id": agreement.version_id,
                    "kind": agreement.kind,
                    "title": agreement.title[:200],
                }
            )
    if participations:
        session.execute(insert(Participation.__table__), participations)
    if pinned:
        session.execute(insert(RoundAgreement.__table__), pinned)
    # One query for preferences, one for used keys, and no savepoint per row: the keys
    # name rounds this transaction just inserted, so no other transaction writes them.
    plan_reminders(session, reminders, now=now)
    return [round_id for round_id, _couple_id in inserted]


def close_due_rounds(session: Session, now: dt.datetime | None = None) -> list[Round]:
    """Close rounds past their due date; a partner who had not submitted missed it."""
    now = now or utcnow()
    due = list(
        session.scalars(
            select(Round)
            .where(Round.closed_at.is_(None), Round.due_at <= now)
            .with_for_update(skip_locked=True)
        )
    )
    for round_ in due:
        round_.closed_at = now
        for p in round_.participations:
            p.remind_at = None
            if p.status != SUBMITTED:
                p.status = MISSED
    return due


def send_reminders(session: Session, now: dt.datetime | None = None) -> int:
    """Nudge a partner who has not answered after a while; warn the day before closing.

    Reads only the sheets whose reminder note (``Participation.remind_at``) has come, so
    a pass costs what is due, not every open round. For each, the same decision as ever:
    nothing yet before ``NUDGE_AFTER``; then a nudge, or the closing warning once within
    ``CLOSING_NOTICE`` of the due date. A reminder sent (or found sent) moves the note
    to the next one; one declined by the person's preferences (off, paused) leaves it,
    so it is looked at again while it can still matter."""
    now = now or utcnow()
    rows = session.execute(
        select(Participation, Round)
        .join(Round, Round.id == Participation.round_id)
        .where(Participation.remind_at <= now)
        .with_for_update(skip_locked=True, of=Participation)
    ).all()
    written = 0
    for participation, round_ in rows:
        if round_.closed_at is not None or participation.status not in (PENDING, DRAFT):
            participation.remind_at = None
            continue
        if now < round_.opened_at + NUDGE_AFTER:  # a note set early (the migration's)
            participation.remind_at = round_.opened_at + NUDGE_AFTER
            continue
        user = session.get(User, participation.user_id)
        if user is None:
            participation.remind_at = None
            continue
        closing_from = round_.due_at - CLOSING_NOTICE
        kind = "round_closing" if now >= closing_from else "nudge"
        sent = _notify(session, round_, user, kind, now=now)
        if sent or _reminder_exists(session, round_.id, user.id, kind):
            participation.remind_at = closing_from if kind == "nudge" else None
            written += sent
    return written


def _reminder_key(round_id: int, kind: str, user_id: int) -> str:
    return f"checkin:{round_id}:{kind}:{user_id}"


def _reminder_exists(session: Session, round_id: int, user_id: int, kind: str) -> bool:
    key = _reminder_key(round_id, kind, user_id)
    return (
        session.scalar(select(OutboxMessage.id).where(OutboxMessage.dedupe_key == key)) is not None
    )


def plan_checkins(session: Session, now: dt.datetime | None = None) -> int:
    """The scheduler's planning step for check-ins; returns the rounds opened or closed
    plus reminder rows written."""
    now = now or utcnow()
    closed = close_due_rounds(session, now)
    opened = _open_due(session, now, None)
    return len(closed) + opened + send_reminders(session, now)


# --- notifications ----------------------------------------------------------------------
def _reminder(
    round_id: int,
    due_at: dt.datetime,
    user: User | _Partner,
    kind: str,
    *,
    partner_name: str,
    couple_name: str,
    now: dt.datetime,
) -> Reminder:
    """One mail about a round. The context carries names and dates, never answers."""
    due_local = due_at.astimezone(ZoneInfo(user.timezone or "UTC"))
    return Reminder(
        user=user,
        kind=kind,
        dedupe_key=_reminder_key(round_id, kind, user.id),
        due_utc=now,
        context={
            "name": user.display_name,
            "partner": partner_name,
            "couple": couple_name,
            "round_id": round_id,
            "due": f"{due_local:%A %d %B, %H:%M}",
            # For the .ics of the conversation (checkins.calendar): when answers are due.
            "conversation_at": due_at.isoformat(),
        },
        # A single-use sign-in link to the round, issued when the mail is sent.
        sign_in_target=ROUND_PAGE,
    )


def _notify(
    session: Session,
    round_: Round,
    user: User,
    kind: str,
    *,
    now: dt.datetime,
    couple: Couple | None = None,
) -> int:
    """One mail about a round, through the recipient's preferences: off, paused, quiet
    hours and preferred hour."""
    couple = couple or session.get(Couple, round_.couple_id)
    assert couple is not None
    partner = next((m.user for m in _members(couple) if m.user_id != user.id), None)
    r = _reminder(
        round_.id,
        round_.due_at,
        user,
        kind,
        partner_name=partner.display_name if partner else "",
        couple_name=couple.name,
        now=now,
    )
    if session.scalar(select(OutboxMessage.id).where(OutboxMessage.dedupe_key == r.dedupe_key)):
        return 0
    message = plan_reminder(
        session,
        user,
        kind=kind,
        dedupe_key=r.dedupe_key,
        due_utc=r.due_utc,
        context=r.context,
        now=now,
        sign_in_target=r.sign_in_target,
    )
    return 1 if message is not None else 0


# --- the round a user is looking at -------------------------------------------------------
# The round with its participations and pinned agreements in one statement: the two
# selectin loads the relationships default to cost more than the round itself.
_WITH_PARTS = (joinedload(Round.participations), joinedload(Round.agreements))


def _get_round(session: Session, round_id: int) -> Round | None:
    return session.get(Round, round_id, options=_WITH_PARTS)


def _round_of_user(session: Session, user_id: int, round_id: int) -> Round:
    couple = couples.require_membership(session, user_id).couple
    round_ = _get_round(session, round_id)
    if round_ is None or round_.couple_id != couple.id:
        raise NotFound("No such check-in.")
    return round_


def _participation(round_: Round, user_id: int) -> Participation:
    for p in round_.participations:
        if p.user_id == user_id:
            return p
    raise NotFound("You were not part of this check-in.")


def current_round(session: Session, user_id: int) -> Round | None:
    """The open round, else the latest revealed one (for review), else None."""
    couple = couples.couple_of(session, user_id)
    if couple is None:
        return None
    return open_round_of(session, couple.id) or session.scalar(
        select(Round)
        .where(Round.couple_id == couple.id, Round.revealed_at.is_not(None))
        .order_by(Round.opened_at.desc(), Round.id.desc())
        .limit(1)
    )


def round_status(session: Session, user_id: int, round_id: int) -> RoundStatus:
    # The membership once (not again for the partner): a page asks this on every run.
    couple = couples.require_membership(session, user_id).couple
    round_ = _get_round(session, round_id)
    if round_ is None or round_.couple_id != couple.id:
        raise NotFound("No such check-in.")
    mine = _participation(round_, user_id)
    other = next((p for p in round_.participations if p.user_id != user_id), None)
    partner = next((m.user for m in couple.members if m.user_id != user_id), None)
    if round_.revealed_at is not None:
        phase = "review"
    elif round_.closed_at is not None:
        phase = "closed"
    elif mine.status == SUBMITTED:
        phase = "waiting"
    else:
        phase = "answer"
    return RoundStatus(
        round=round_,
        phase=phase,
        my_status=mine.status,
        # Whether the partner has submitted is not an answer: the mail says so too.
        partner_status=other.status if other else PENDING,
        partner_name=(
            couples.shown_name(session, user_id, partner.id) if partner else "your partner"
        ),
    )


def round_questions(session: Session, user_id: int, round_id: int) -> RoundQuestions:
    round_ = _round_of_user(session, user_id, round_id)
    custom = list(
        session.scalars(
            select(CustomQuestion)
            .where(
                CustomQuestion.couple_id == round_.couple_id,
                CustomQuestion.created_at <= round_.opened_at,
                (CustomQuestion.retired_at.is_(None))
                | (CustomQuestion.retired_at > round_.opened_at),
            )
            .order_by(CustomQuestion.position, CustomQuestion.id)
        )
    )
    return RoundQuestions(survey.BUILT_IN, custom, list(round_.agreements))


# --- answering ----------------------------------------------------------------------------
def _question_map(questions: RoundQuestions) -> dict[str, tuple[str, str, tuple[int, ...]]]:
    """item key -> (kind, visibility, allowed values)."""
    items = {q.key: (q.kind, q.visibility, q.values) for q in questions.built_in}
    for q in questions.custom:
        values = tuple(v for v, _ in survey.CUSTOM_SCALE_OPTIONS) if q.kind == survey.SCALE else ()
        items[survey.custom_key(q.id)] = (q.kind, q.visibility, values)
    return items


def _lock_round(session: Session, round_: Round) -> None:
    """Take the round's row lock and read it again: saving and submitting queue on it, so
    the second partner's submit (which reveals the round and stores its scores) and an
    edit by the first never overlap. An edit that waited finds the round revealed and
    is refused, instead of changing answers the partner has seen after their scores
    were stored."""
    session.execute(select(Round.id).where(Round.id == round_.id).with_for_update())
    session.refresh(round_)
    for p in round_.participations:
        session.refresh(p)


def _require_editable(round_: Round) -> None:
    if round_.revealed_at is not None:
        raise NotAllowed("You have both submitted, so the answers are locked.")
    if round_.closed_at is not None:
        raise NotAllowed("This check-in has closed; the answers are locked.")


def save_answers(
    session: Session, user_id: int, round_id: int, sheet: Sheet, *, now: dt.datetime | None = None
) -> Participation:
    """Save what the partner has so far (a draft); editable until both have submitted."""
    now = now or utcnow()
    couples.require_active_couple(session, user_id)
    round_ = _round_of_user(session, user_id, round_id)
    _lock_round(session, round_)
    _require_editable(round_)
    participation = _participation(round_, user_id)
    questions = round_questions(session, user_id, round_id)
    items = _question_map(questions)
    problems: dict[str, str] = {}
    custom_ids = {survey.custom_key(q.id): q.id for q in questions.custom}

    existing = {
        a.item: a
        for a in session.scalars(select(Answer).where(Answer.participation_id == participation.id))
    }
    wanted: dict[str, tuple[int | None, str | None]] = {}
    for key, value in sheet.values.items():
        if key not in items:
            continue  # a question retired meanwhile, or not this round's
        kind, _visibility, allowed = items[key]
        if value is None:
            continue
        if kind == survey.TEXT or int(value) not in allowed:
            problems[key] = "Pick one of the offered answers."
            continue
        wanted[key] = (int(value), None)
    for key, text in sheet.texts.items():
        if key not in items or items[key][0] != survey.TEXT:
            continue
        text = (text or "").strip()
        problem = _text_problem(text, survey.MAX_TEXT)
        if problem:
            problems[key] = problem
        elif text:
            wanted[key] = (None, text)
    by_agreement = {a.agreement_id: a for a in questions.agreements}
    for agreement_id, rating in sheet.adherence.items():
        for value in (rating.kept_self, rating.kept_partner):
            if value is not None and value not in range(1, 6):
                problems[f"agreement:{agreement_id}"] = "Rate from 1 to 5."
        comment_problem = _text_problem((rating.comment or "").strip(), survey.MAX_TEXT)
        if comment_problem:
            problems[f"agreement:{agreement_id}"] = comment_problem
        if agreement_id not in by_agreement:
            problems[f"agreement:{agreement_id}"] = "That agreement is not part of this round."
    concerns = [c for c in sheet.concerns if c.bothering.strip() or c.need.strip()]
    if len(concerns) > MAX_CONCERNS:
        problems["concerns"] = f"Up to {MAX_CONCERNS} concerns per check-in."
    for index, concern in enumerate(concerns):
        for text in (concern.bothering, concern.need):
            problem = _text_problem(text.strip(), survey.MAX_TEXT)
            if problem:
                problems[f"concern:{index}"] = problem
        if "\x00" in concern.new_topic:
            problems[f"concern:{index}"] = NUL_PROBLEM
        if concern.topic_id is not None:
            topic = session.get(Topic, concern.topic_id)
            if topic is None or topic.couple_id != round_.couple_id:
                problems[f"concern:{index}"] = "That topic does not exist."
        elif len(concern.new_topic.strip()) > 200:
            problems[f"concern:{index}"] = "Keep the topic name under 200 characters."
    if participation.status == SUBMITTED:
        # Still editable after submitting, but never back to incomplete.
        problems |= _missing(sheet, questions)
    if problems:
        raise InvalidInput(problems)

    for key, answer in existing.items():
        if key not in wanted and key in items:
            session.delete(answer)
    for key, (number, text) in wanted.items():
        answer = existing.get(key)
        if answer is None:
            answer = Answer(
                participation_id=participation.id,
                item=key,
                custom_question_id=custom_ids.get(key),
                visibility=items[key][1],
            )
            session.add(answer)
        answer.value_int, answer.value_text = number, text
    stored = {
        a.agreement_id: a
        for a in session.scalars(
            select(Adherence).where(Adherence.participation_id == participation.id)
        )
    }
    for agreement_id, rating in sheet.adherence.items():
        row = stored.get(agreement_id)
        if row is None:
            row = Adherence(
                participation_id=participation.id,
                agreement_id=agreement_id,
                version_id=by_agreement[agreement_id].version_id,
            )
            session.add(row)
        row.kept_self, row.kept_partner = rating.kept_self, rating.kept_partner
        row.comment = (rating.comment or "").strip() or None
    for old in session.scalars(select(Concern).where(Concern.participation_id == participation.id)):
        session.delete(old)
    for position, concern in enumerate(concerns):
        session.add(
            Concern(
                participation_id=participation.id,
                position=position,
                topic_id=concern.topic_id,
                new_topic_title=(concern.new_topic.strip() or None)
                if concern.topic_id is None
                else None,
                bothering=concern.bothering.strip(),
                need=concern.need.strip(),
            )
        )
    # The safety lane leaves no trace the partner can see: answering only it keeps the
    # sheet "not started" (the partner's pages show whether I started, not what).
    shared = (
        any(key not in survey.SAFETY_KEYS for key in wanted)
        or any(
            r.kept_self is not None or r.kept_partner is not None or (r.comment or "").strip()
            for r in sheet.adherence.values()
        )
        or bool(concerns)
    )
    if shared:
        if participation.status == PENDING:
            participation.status = DRAFT
        participation.updated_at = now
    session.flush()
    return participation


def _missing(sheet: Sheet, questions: RoundQuestions) -> dict[str, str]:
    missing: dict[str, str] = {}
    for q in questions.built_in:
        if q.required and sheet.values.get(q.key) is None:
            missing[q.key] = "Please answer this question."
    # The couple's own questions are optional: extras should never block a check-in.
    for agreement in questions.agreements:
        rating = sheet.adherence.get(agreement.agreement_id)
        if rating is None or rating.kept_self is None or rating.kept_partner is None:
            missing[f"agreement:{agreement.agreement_id}"] = "Rate how it was kept by both of you."
    return missing


def _check_complete(session: Session, user_id: int, round_id: int) -> None:
    missing = _missing(
        my_answers(session, user_id, round_id), round_questions(session, user_id, round_id)
    )
    if missing:
        raise InvalidInput(missing)


def submit(
    session: Session, user_id: int, round_id: int, *, now: dt.datetime | None = None
) -> RoundStatus:
    """Submit my answers. When the second partner submits, the round is revealed."""
    now = now or utcnow()
    couples.require_active_couple(session, user_id)
    round_ = _round_of_user(session, user_id, round_id)
    _lock_round(session, round_)
    _require_editable(round_)
    mine = _participation(round_, user_id)
    _check_complete(session, user_id, round_id)
    if mine.status != SUBMITTED:
        mine.status = SUBMITTED
        mine.submitted_at = now
    mine.remind_at = None  # nothing left to remind this sheet of
    others = [p for p in round_.participations if p.user_id != user_id]
    if others and all(p.status == SUBMITTED for p in others):
        _reveal(session, round_, now)
    else:
        for p in others:
            partner = session.get(User, p.user_id)
            if partner is not None:
                _notify(session, round_, partner, "partner_answered", now=now)
    session.flush()
    return round_status(session, user_id, round_id)


def _reveal(session: Session, round_: Round, now: dt.datetime) -> None:
    round_.revealed_at = now
    round_.closed_at = now
    session.flush()
    _store_round_scores(session, [round_.id])
    participation_ids = [p.id for p in round_.participations]
    concerns = list(
        session.scalars(
            select(Concern)
            .where(Concern.participation_id.in_(participation_ids))
            .order_by(Concern.participation_id, Concern.position)
        )
    )
    existing = {
        t.title.casefold(): t
        for t in session.scalars(select(Topic).where(Topic.couple_id == round_.couple_id))
    }
    raised: dict[int, Topic] = {}
    owners = {p.id: p.user_id for p in round_.participations}
    raised_by: dict[int, int] = {}
    for concern in concerns:
        topic = session.get(Topic, concern.topic_id) if concern.topic_id else None
        if topic is None:
            title = (concern.new_topic_title or concern.bothering or concern.need).strip()
            title = " ".join(title.split())[:80] or "Untitled"
            topic = existing.get(title.casefold())
            if topic is None:
                topic = Topic(couple_id=round_.couple_id, title=title, status=OPEN, created_at=now)
                session.add(topic)
                session.flush()
                session.add(
                    TopicEvent(
                        topic_id=topic.id, at=now, event="created", status=OPEN, round_id=round_.id
                    )
                )
                existing[title.casefold()] = topic
            concern.topic_id = topic.id
            concern.new_topic_title = None
        raised[topic.id] = topic
        raised_by.setdefault(topic.id, owners[concern.participation_id])
    for topic_id, topic in raised.items():
        session.add(
            TopicEvent(
                topic_id=topic_id,
                at=now,
                event="raised",
                round_id=round_.id,
                user_id=raised_by[topic_id],
            )
        )
        if topic.status == RESOLVED:
            topic.status = OPEN
            session.add(
                TopicEvent(
                    topic_id=topic_id, at=now, event="status", status=OPEN, round_id=round_.id
                )
            )
    for p in round_.participations:
        user = session.get(User, p.user_id)
        if user is not None:
            _notify(session, round_, user, "ready_to_review", now=now)


# --- scores stored at the reveal ------------------------------------------------------------
# Revealed answers never change (editing ends at the reveal) unless someone's answers are
# erased, so each round's scores are worked out then, once, and again after an erasure:
# the trends and the history read one number per sheet and per agreement instead of
# summing years of answers on every view.


def _satisfaction_total_expression():  # type: ignore[no-untyped-def]
    """A sheet's satisfaction total (the revealed satisfaction answers summed), as a
    scalar subquery correlated with ``Participation``; NULL unless all are answered."""
    answered = func.count(Answer.id) == len(survey.SATISFACTION_KEYS)
    return (
        select(case((answered, func.sum(Answer.value_int)), else_=None))
        .where(
            Answer.participation_id == Participation.id,
            Answer.visibility == survey.REVEALED,
            Answer.item.in_(survey.SATISFACTION_KEYS),
        )
        .scalar_subquery()
    )


def _kept_mean_expression():  # type: ignore[no-untyped-def]
    """The mean of every rating (kept by me, by my partner) of one pinned agreement in
    its round, as a scalar subquery correlated with ``RoundAgreement``; NULL without
    ratings."""
    total = func.sum(
        func.coalesce(Adherence.kept_self, 0) + func.coalesce(Adherence.kept_partner, 0)
    )
    count = func.sum(
        case((Adherence.kept_self.is_not(None), 1), else_=0)
        + case((Adherence.kept_partner.is_not(None), 1), else_=0)
    )
    return (
        select(total * 1.0 / func.nullif(count, 0))
        .select_from(Adherence)
        .join(Participation, Participation.id == Adherence.participation_id)
        .where(
            Participation.round_id == RoundAgreement.round_id,
            Adherence.agreement_id == RoundAgreement.agreement_id,
        )
        .scalar_subquery()
    )


@functools.cache
def _round_scores_updates():  # type: ignore[no-untyped-def]
    return (
        update(Participation)
        .where(Participation.round_id.in_(IDS))
        .values(satisfaction_total=_satisfaction_total_expression())
        .execution_options(synchronize_session=False),
        update(RoundAgreement)
        .where(RoundAgreement.round_id.in_(IDS))
        .values(kept_mean=_kept_mean_expression())
        .execution_options(synchronize_session=False),
    )


def _store_round_scores(session: Session, round_ids: list[int]) -> None:
    """(Re)write these revealed rounds' satisfaction totals and mean ratings from their
    answers as they are now (at the reveal, or after an erasure removed some)."""
    if round_ids:
        for statement in _round_scores_updates():
            session.execute(statement, {"ids": round_ids})


# --- reading answers (the reveal rule) ------------------------------------------------------
def _sheet_from_rows(
    answers: list[Answer], adherence: list[Adherence], concerns: list[Concern]
) -> Sheet:
    sheet = Sheet()
    for a in answers:
        if a.value_int is not None:
            sheet.values[a.item] = a.value_int
        if a.value_text is not None:
            sheet.texts[a.item] = a.value_text
    for row in adherence:
        sheet.adherence[row.agreement_id] = AdherenceInput(
            row.kept_self, row.kept_partner, row.comment or ""
        )
    for c in sorted(concerns, key=lambda c: c.position):
        sheet.concerns.append(
            ConcernInput(c.bothering, c.need, c.topic_id, c.new_topic_title or "")
        )
    return sheet


def my_answers(session: Session, user_id: int, round_id: int) -> Sheet:
    """My own answers, all of them (private and safety included: they are mine)."""
    round_ = _round_of_user(session, user_id, round_id)
    participation = _participation(round_, user_id)
    return _load_sheet(session, participation.id, own=True)


def _load_sheet(session: Session, participation_id: int, *, own: bool) -> Sheet:
    answers = select(Answer).where(Answer.participation_id == participation_id)
    if not own:
        answers = answers.where(Answer.visibility == survey.REVEALED)
    return _sheet_from_rows(
        list(session.scalars(answers)),
        list(
            session.scalars(select(Adherence).where(Adherence.participation_id == participation_id))
        ),
        list(session.scalars(select(Concern).where(Concern.participation_id == participation_id))),
    )


def partner_answers(session: Session, user_id: int, round_id: int) -> Sheet:
    """My partner's revealed answers; refused until both have submitted."""
    round_ = _round_of_user(session, user_id, round_id)
    _participation(round_, user_id)
    if round_.revealed_at is None:
        raise NotAllowed("Your partner's answers appear once you have both submitted.")
    other = next((p for p in round_.participations if p.user_id != user_id), None)
    if other is None:
        raise NotFound("Your partner was not part of this check-in.")
    return _load_sheet(session, other.id, own=False)


# --- review -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Comparison:
    label: str
    mine: int | None
    theirs: int | None
    highlight: bool


@dataclass(frozen=True)
class AdherenceComparison:
    title: str
    agreement_id: int
    about: str  # whose keeping is rated: "you" | partner name
    by_me: int | None
    by_partner: int | None
    highlight: bool


@dataclass
class Review:
    round: Round
    me: str
    partner: str
    mine: Sheet
    theirs: Sheet
    scales: list[Comparison]
    adherence: list[AdherenceComparison]
    previous_totals: dict[str, int | None]  # "me" / "partner" -> total in the round before
    previous_certainty: dict[str, int | None]
    topics: list[tuple[str, str, str]]  # (who, topic title, what bothers + need)
    action_items: list[ActionItem]
    custom_questions: list[CustomQuestion]
    agreement_titles: dict[int, str]
    # user id -> name, both partners (who owns an action item), from the loaded couple.
    owners: dict[int, str] = field(default_factory=dict)


def _scale_gap(a: int | None, b: int | None) -> bool:
    return a is not None and b is not None and abs(a - b) >= rules.GAP_HIGHLIGHT


def _kept_mismatch(a: int | None, b: int | None) -> bool:
    if a is None or b is None:
        return False
    return (a >= rules.KEPT_MIN and b <= rules.NOT_KEPT_MAX) or (
        b >= rules.KEPT_MIN and a <= rules.NOT_KEPT_MAX
    )


@functools.cache
def _sheet_queries():  # type: ignore[no-untyped-def]
    """Answers (my own, and only the revealed ones of my partner), adherence, concerns."""
    ids = bindparam("ids", expanding=True)
    return (
        select(Answer)
        .where(
            Answer.participation_id.in_(ids),
            Answer.participation_id.in_(bindparam("own", expanding=True))
            | (Answer.visibility == survey.REVEALED),
        )
        .order_by(Answer.id),
        select(Adherence).where(Adherence.participation_id.in_(ids)).order_by(Adherence.id),
        select(Concern).where(Concern.participation_id.in_(ids)).order_by(Concern.id),
    )


@functools.cache
def _review_queries():  # type: ignore[no-untyped-def]
    """The previous revealed round's participations; the round's questions; the couple's
    topic titles; the round's action items."""
    before = bindparam("before")
    previous = (
        select(Round.id)
        .where(Round.couple_id == COUPLE, Round.revealed_at.is_not(None), Round.opened_at < before)
        .order_by(Round.opened_at.desc())
        .limit(1)
        .scalar_subquery()
    )
    return (
        select(Participation.id, Participation.user_id).where(Participation.round_id == previous),
        select(CustomQuestion)
        .where(
            CustomQuestion.couple_id == COUPLE,
            CustomQuestion.created_at <= before,
            (CustomQuestion.retired_at.is_(None)) | (CustomQuestion.retired_at > before),
        )
        .order_by(CustomQuestion.position, CustomQuestion.id),
        select(Topic.id, Topic.title).where(Topic.couple_id == COUPLE),
        select(ActionItem)
        .where(ActionItem.round_id == bindparam("round_id"))
        .order_by(ActionItem.id),
    )


def _sheets(session: Session, own_ids: list[int], partner_ids: list[int]) -> dict[int, Sheet]:
    """Sheets of several participations in three queries: all of my own answers, only the
    revealed ones of my partner's (the reveal rule, as in ``_load_sheet``)."""
    ids = [*own_ids, *partner_ids]
    answers: dict[int, list[Answer]] = defaultdict(list)
    adherence: dict[int, list[Adherence]] = defaultdict(list)
    concerns: dict[int, list[Concern]] = defaultdict(list)
    if ids:
        answers_q, adherence_q, concerns_q = _sheet_queries()
        for a in session.scalars(answers_q, {"ids": ids, "own": own_ids}):
            answers[a.participation_id].append(a)
        for row in session.scalars(adherence_q, {"ids": ids}):
            adherence[row.participation_id].append(row)
        for c in session.scalars(concerns_q, {"ids": ids}):
            concerns[c.participation_id].append(c)
    return {pid: _sheet_from_rows(answers[pid], adherence[pid], concerns[pid]) for pid in ids}


def _both(round_: Round, user_id: int) -> tuple[Participation, Participation]:
    """My participation and my partner's in a revealed round (the reveal rule)."""
    mine = _participation(round_, user_id)
    if round_.revealed_at is None:
        raise NotAllowed("Your partner's answers appear once you have both submitted.")
    other = next((p for p in round_.participations if p.user_id != user_id), None)
    if other is None:
        raise NotFound("Your partner was not part of this check-in.")
    return mine, other


def review(session: Session, user_id: int, round_id: int) -> Review:
    """Everything the review draws, in a fixed number of statements: the membership, the
    round (with its participations and agreements) and the previous round are loaded
    once, and the four sheets (this round and the one before, both partners) in one
    query each for answers, adherence and concerns."""
    membership = couples.require_membership(session, user_id)
    couple = membership.couple
    round_ = _get_round(session, round_id)
    if round_ is None or round_.couple_id != couple.id:
        raise NotFound("No such check-in.")
    mine_p, theirs_p = _both(round_, user_id)  # refuses before the reveal
    other = next((m for m in couple.members if m.user_id != user_id), None)
    me_name = membership.user.display_name
    # A partner who left is "Former partner" (couples.service.member_name).
    partner_name = couples.member_name(other, user_id) if other else "Partner"
    previous_q, questions_q, titles_q, items_q = _review_queries()
    at_round = {"couple_id": round_.couple_id, "before": round_.opened_at}
    # The revealed round before this one: my participation and my partner's, if both.
    previous = dict((uid, pid) for pid, uid in session.execute(previous_q, at_round))
    mine_before = previous.pop(user_id, None)
    theirs_before = next(iter(previous.values()), None)
    before = (mine_before, theirs_before) if mine_before and theirs_before else None
    own_ids = [mine_p.id] + ([before[0]] if before else [])
    partner_ids = [theirs_p.id] + ([before[1]] if before else [])
    sheets = _sheets(session, own_ids, partner_ids)
    mine, theirs = sheets[mine_p.id], sheets[theirs_p.id]
    custom = list(session.scalars(questions_q, at_round))
    questions = RoundQuestions(survey.BUILT_IN, custom, list(round_.agreements))
    scales = [
        Comparison(q.prompt, mine.values.get(q.key), theirs.values.get(q.key), False)
        for q in (*survey.SATISFACTION, survey.CERTAINTY)
    ]
    scales = [Comparison(c.label, c.mine, c.theirs, _scale_gap(c.mine, c.theirs)) for c in scales]
    shared_custom = [q for q in questions.custom if q.visibility == survey.REVEALED]
    for q in shared_custom:
        if q.kind == survey.SCALE:
            key = survey.custom_key(q.id)
            a, b = mine.values.get(key), theirs.values.get(key)
            scales.append(Comparison(q.prompt, a, b, _scale_gap(a, b)))
    adherence = []
    for agreement in questions.agreements:
        m = mine.adherence.get(agreement.agreement_id, AdherenceInput())
        t = theirs.adherence.get(agreement.agreement_id, AdherenceInput())
        adherence.append(
            AdherenceComparison(
                agreement.title,
                agreement.agreement_id,
                "you",
                m.kept_self,
                t.kept_partner,
                _kept_mismatch(m.kept_self, t.kept_partner),
            )
        )
        adherence.append(
            AdherenceComparison(
                agreement.title,
                agreement.agreement_id,
                partner_name,
                m.kept_partner,
                t.kept_self,
                _kept_mismatch(m.kept_partner, t.kept_self),
            )
        )
    prev_totals: dict[str, int | None] = {"me": None, "partner": None}
    prev_certainty: dict[str, int | None] = {"me": None, "partner": None}
    if before is not None:
        before_mine, before_theirs = sheets[before[0]], sheets[before[1]]
        prev_totals = {"me": before_mine.satisfaction, "partner": before_theirs.satisfaction}
        prev_certainty = {
            "me": before_mine.values.get("certainty"),
            "partner": before_theirs.values.get("certainty"),
        }
    titles = dict(session.execute(titles_q, _couple_param(round_.couple_id)).all())
    topics = [
        (who, titles.get(c.topic_id, c.new_topic or "New topic"), _concern_text(c))
        for who, sheet in (("you", mine), (partner_name, theirs))
        for c in sheet.concerns
    ]
    items = list(session.scalars(items_q, {"round_id": round_.id}))
    return Review(
        round_,
        me_name,
        partner_name,
        mine,
        theirs,
        scales,
        adherence,
        prev_totals,
        prev_certainty,
        topics,
        items,
        shared_custom,
        {a.agreement_id: a.title for a in questions.agreements},
        _shown_names(couple, user_id),
    )


def _concern_text(c: ConcernInput) -> str:
    parts = []
    if c.bothering:
        parts.append(f"Bothers: {c.bothering}")
    if c.need:
        parts.append(f"Needs: {c.need}")
    return " — ".join(parts)


def _revealed_round(session: Session, user_id: int, round_id: int) -> Round:
    round_ = _round_of_user(session, user_id, round_id)
    if round_.revealed_at is None:
        raise NotAllowed("You can do this once you have both submitted.")
    return round_


def add_action_item(
    session: Session,
    user_id: int,
    round_id: int,
    text: str,
    owner_user_id: int | None,
    *,
    now: dt.datetime | None = None,
) -> ActionItem:
    now = now or utcnow()
    couples.require_active_couple(session, user_id)
    round_ = _revealed_round(session, user_id, round_id)
    text = text.strip()
    problems = {}
    if "\x00" in text:
        problems["text"] = NUL_PROBLEM
    elif not text:
        problems["text"] = "Write what you will do differently."
    elif len(text) > 500:
        problems["text"] = "Keep it under 500 characters."
    members = {p.user_id for p in round_.participations}
    if owner_user_id is not None and owner_user_id not in members:
        problems["owner"] = "Pick one of you (or both)."
    if problems:
        raise InvalidInput(problems)
    item = ActionItem(
        couple_id=round_.couple_id,
        round_id=round_.id,
        owner_user_id=owner_user_id,
        text=text,
        created_at=now,
    )
    session.add(item)
    session.flush()
    return item


def set_action_done(
    session: Session, user_id: int, item_id: int, done: bool, *, now: dt.datetime | None = None
) -> None:
    couple = couples.require_active_couple(session, user_id)
    item = session.get(ActionItem, item_id)
    if item is None or item.couple_id != couple.id:
        raise NotFound("No such action item.")
    item.done_at = (now or utcnow()) if done else None


def open_action_items(session: Session, user_id: int) -> list[ActionItem]:
    """What we said we would do differently, from earlier reviews, not yet done."""
    couple = couples.require_membership(session, user_id).couple
    return list(
        session.scalars(
            select(ActionItem)
            .where(ActionItem.couple_id == couple.id, ActionItem.done_at.is_(None))
            .order_by(ActionItem.created_at, ActionItem.id)
        )
    )


def mark_reviewed(
    session: Session, user_id: int, round_id: int, *, now: dt.datetime | None = None
) -> Round:
    couples.require_active_couple(session, user_id)
    round_ = _revealed_round(session, user_id, round_id)
    if round_.reviewed_at is None:
        round_.reviewed_at = now or utcnow()
        round_.reviewed_by_id = user_id
    return round_


# --- own questions --------------------------------------------------------------------------
def questions(
    session: Session, user_id: int, *, include_retired: bool = False
) -> list[CustomQuestion]:
    couple = couples.require_membership(session, user_id).couple
    query = select(CustomQuestion).where(CustomQuestion.couple_id == couple.id)
    if not include_retired:
        query = query.where(CustomQuestion.retired_at.is_(None))
    return list(session.scalars(query.order_by(CustomQuestion.position, CustomQuestion.id)))


def add_question(
    session: Session,
    user_id: int,
    prompt: str,
    *,
    kind: str = survey.SCALE,
    visibility: str = survey.REVEALED,
    now: dt.datetime | None = None,
) -> CustomQuestion:
    couple = couples.require_active_couple(session, user_id)
    prompt = " ".join(prompt.split())
    problems = {}
    if "\x00" in prompt:
        problems["prompt"] = NUL_PROBLEM
    elif not prompt:
        problems["prompt"] = "Write the question."
    elif len(prompt) > survey.MAX_PROMPT:
        problems["prompt"] = f"Keep the question under {survey.MAX_PROMPT} characters."
    if kind not in (survey.SCALE, survey.TEXT):
        problems["kind"] = "Choose a 1-5 scale or a written answer."
    if visibility not in (survey.REVEALED, survey.PRIVATE):
        problems["visibility"] = "Choose shared after both answer, or private."
    if problems:
        raise InvalidInput(problems)
    position = (
        session.scalar(
            select(func.max(CustomQuestion.position)).where(CustomQuestion.couple_id == couple.id)
        )
        or 0
    ) + 1
    question = CustomQuestion(
        couple_id=couple.id,
        prompt=prompt,
        kind=kind,
        visibility=visibility,
        position=position,
        created_at=now or utcnow(),
    )
    session.add(question)
    session.flush()
    return question


def _own_question(session: Session, user_id: int, question_id: int) -> CustomQuestion:
    couple = couples.require_active_couple(session, user_id)
    question = session.get(CustomQuestion, question_id)
    if question is None or question.couple_id != couple.id:
        raise NotFound("No such question.")
    return question


def retire_question(
    session: Session, user_id: int, question_id: int, *, now: dt.datetime | None = None
) -> None:
    """Stop asking it; earlier answers keep the question's wording."""
    question = _own_question(session, user_id, question_id)
    question.retired_at = question.retired_at or now or utcnow()


def move_question(session: Session, user_id: int, question_id: int, offset: int) -> None:
    """Move a question up (-1) or down (+1) among the active ones."""
    question = _own_question(session, user_id, question_id)
    active = questions(session, user_id)
    index = next(i for i, q in enumerate(active) if q.id == question.id)
    target = index + offset
    if not 0 <= target < len(active):
        return
    active[index], active[target] = active[target], active[index]
    for position, q in enumerate(active, start=1):
        q.position = position


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


def _shown_names(couple: Couple, viewer_id: int) -> dict[int, str]:
    """user id -> the name ``viewer_id`` may see (a partner who left: "Former partner")."""
    return {m.user_id: couples.member_name(m, viewer_id) for m in couple.members}


def shown_names(session: Session, user_id: int) -> dict[int, str]:
    """For pages: the names of the people in my couple space, as I may see them."""
    couple = couples.couple_of(session, user_id)
    return _shown_names(couple, user_id) if couple else {}


def _couple(session: Session, user_id: int) -> Couple:
    return couples.require_membership(session, user_id).couple


# Read statements of the pages are built once per process, with the couple as a bound
# parameter: building a SQLAlchemy expression costs about as much as running it (the
# totals: ~2 ms to build, ~2 ms to run over ten years).
COUPLE = bindparam("couple_id")


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


@functools.cache
def _history_queries():  # type: ignore[no-untyped-def]
    """The couple's rounds, newest first (whether revealed, closed, reviewed decided in
    SQL: a converted timestamp per row and column was most of the history's time), and
    every participation's status."""
    return (
        select(
            Round.id,
            Round.opened_at,
            Round.due_at,
            Round.origin,
            Round.revealed_at.is_not(None),
            Round.closed_at.is_not(None),
            Round.reviewed_at.is_not(None),
        )
        .where(Round.couple_id == COUPLE)
        .order_by(Round.opened_at.desc(), Round.id),
        select(Participation.round_id, Participation.user_id, Participation.status)
        .join(Round, Round.id == Participation.round_id)
        .where(Round.couple_id == COUPLE)
        .order_by(Participation.id),
    )


def history(session: Session, user_id: int) -> list[RoundSummary]:
    couple = _couple(session, user_id)
    # Columns, not Round entities: ten years are 240 rows, and building (and identity-
    # mapping) an ORM object per row was most of the history page's time.
    rounds_q, statuses_q = _history_queries()
    at_couple = _couple_param(couple.id)
    totals: dict[int, dict[int, int]] = defaultdict(dict)
    for round_id, uid, total in session.execute(_totals_query(), at_couple):
        totals[round_id][uid] = int(total)
    summaries = {
        rid: RoundSummary(
            rid,
            opened_at,
            due_at,
            origin,
            bool(revealed),
            bool(closed),
            bool(reviewed),
            {},
            totals.get(rid, {}),
        )
        for rid, opened_at, due_at, origin, revealed, closed, reviewed in session.execute(
            rounds_q, at_couple
        )
    }
    for rid, uid, status in session.execute(statuses_q, at_couple):
        summaries[rid].statuses[uid] = status
    return list(summaries.values())


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
    names = _shown_names(couple, user_id)
    rows = session.scalars(
        select(TopicEvent)
        .where(TopicEvent.topic_id == topic_id)
        .order_by(TopicEvent.at, TopicEvent.id)
    )
    return view, [
        TopicHistoryEntry(e.at, e.event, e.status, e.round_id, names.get(e.user_id or 0, ""))
        for e in rows
    ]


@dataclass
class Trends:
    warnings: list[rules.EarlyWarning]
    names: dict[int, str]
    satisfaction: list[dict]  # {round_id, opened_at, user, total}
    gaps: list[dict]  # {opened_at, gap}
    adherence: list[dict]  # {opened_at, agreement, mean}
    cooldowns: list[dict]  # {month, count}
    open_topics: list[dict]  # {opened_at, open}
    participation: list[dict]  # {opened_at, answered, missed}


def trends(session: Session, user_id: int, *, now: dt.datetime | None = None) -> Trends:
    """Everything the trends page shows (the early warnings too), in a fixed number of
    queries at any history length."""
    membership = couples.require_membership(session, user_id)
    couple = membership.couple
    names = _shown_names(couple, user_id)
    at_couple = _couple_param(couple.id)
    rounds = session.execute(_rounds_with_counts_query(), at_couple).all()
    opened_at = {r.id: r.opened_at for r in rounds}
    totals = session.execute(_totals_query(), at_couple).all()
    satisfaction = [
        {
            "round_id": rid,
            "opened_at": opened_at[rid],
            "user": names.get(uid, "?"),
            "total": int(total),
        }
        for rid, uid, total in totals
    ]
    by_round: dict[int, list[dict]] = defaultdict(list)
    for row in satisfaction:
        by_round[row["round_id"]].append(row)
    gaps = [
        {"opened_at": rows[0]["opened_at"], "gap": abs(rows[0]["total"] - rows[1]["total"])}
        for rows in by_round.values()
        if len(rows) == 2
    ]
    kept = session.execute(_adherence_query(), at_couple).all()
    adherence = [
        {"opened_at": opened_at[rid], "agreement": title, "mean": float(mean)}
        for rid, _aid, title, mean in kept
    ]
    participation = [
        {"opened_at": r.opened_at, "answered": int(r.answered), "missed": int(r.missed)}
        for r in reversed(rounds)
        if r.closed_at is not None and r.partners
    ]
    known = _KnownFacts(
        totals=[tuple(row) for row in totals],
        adherence=[tuple(row) for row in kept],
        newest_first=rounds,
        topic_log=session.execute(_topic_log_query(), at_couple).all(),
    )
    open_topics = _open_topics_over_time(known)
    cooldowns = [
        {"month": month, "count": count}
        for month, count in agreements_port.cooldowns_per_month_of(
            session, couple.id, membership.user.timezone, now=now
        )
    ]
    # The warnings read what is loaded above (rounds, totals, adherence, topic log).
    return Trends(
        _early_warnings(session, couple.id, names, known),
        names,
        satisfaction,
        gaps,
        adherence,
        cooldowns,
        open_topics,
        participation,
    )


@functools.cache
def _rounds_with_counts_query():  # type: ignore[no-untyped-def]
    """Every round newest first, with how many partners took part, answered, missed."""
    return (
        select(
            Round.id,
            Round.opened_at,
            Round.revealed_at,
            Round.closed_at,
            func.count(Participation.id).label("partners"),
            func.coalesce(func.sum(case((Participation.status == SUBMITTED, 1), else_=0)), 0).label(
                "answered"
            ),
            func.coalesce(func.sum(case((Participation.status == MISSED, 1), else_=0)), 0).label(
                "missed"
            ),
        )
        .outerjoin(Participation, Participation.round_id == Round.id)
        .where(Round.couple_id == COUPLE)
        .group_by(Round.id, Round.opened_at, Round.revealed_at, Round.closed_at)
        .order_by(Round.opened_at.desc())
    )


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


def _open_topics_over_time(known: _KnownFacts) -> list[dict]:
    """Open (not resolved) topics at each revealed round, replayed from the event log."""
    rounds = sorted(r.revealed_at for r in known.newest_first if r.revealed_at is not None)
    events = sorted(
        (
            (topic_id, at, event, event_status, event_id)
            for topic_id, _t, _s, _c, event, at, event_status, _r, event_id in known.topic_log
            if event in ("created", "status")
        ),
        key=lambda e: (e[1], e[4]),
    )
    state: dict[int, str] = {}
    out = []
    index = 0
    for at in rounds:
        while index < len(events) and events[index][1] <= at:
            topic_id, _at, _event, status, _id = events[index]
            state[topic_id] = status or OPEN
            index += 1
        out.append({"opened_at": at, "open": sum(1 for s in state.values() if s != RESOLVED)})
    return out


# --- early warnings -------------------------------------------------------------------------
WARNING_LOOKBACK = 8  # rounds; every rule looks at the last few only


@dataclass(frozen=True)
class _KnownFacts:
    """What the trends page has already loaded, for the warnings: per revealed round
    (round, user, total) and (round, agreement, title, mean adherence) rows, the rounds
    newest first, and the topic log."""

    totals: list[tuple[int, int, int]]
    adherence: list[tuple[int, int, str, float]]
    newest_first: Sequence[Row]  # every round: id, opened_at, revealed_at, closed_at, ...
    topic_log: Sequence[Row]  # _topic_log_query's rows


IDS = bindparam("ids", expanding=True)


@functools.cache
def _rounds_newest_first_query():  # type: ignore[no-untyped-def]
    return (
        select(Round.id, Round.opened_at, Round.revealed_at, Round.closed_at)
        .where(Round.couple_id == COUPLE)
        .order_by(Round.opened_at.desc())
    )


@functools.cache
def _recent_closed_query():  # type: ignore[no-untyped-def]
    return _rounds_newest_first_query().where(Round.closed_at.is_not(None))


@functools.cache
def _missed_query():  # type: ignore[no-untyped-def]
    return select(Participation.round_id, Participation.user_id).where(
        Participation.round_id.in_(IDS), Participation.status == MISSED
    )


@functools.cache
def _certainty_query():  # type: ignore[no-untyped-def]
    """Each partner's revealed certainty answer in the given rounds."""
    return (
        select(Round.id, Participation.user_id, Answer.value_int)
        .join(Participation, Participation.round_id == Round.id)
        .join(Answer, Answer.participation_id == Participation.id)
        .where(
            Round.id.in_(IDS),
            Round.revealed_at.is_not(None),
            Answer.visibility == survey.REVEALED,
            Answer.item == survey.CERTAINTY.key,
        )
    )


def round_facts(
    session: Session, couple_id: int, known: _KnownFacts | None = None
) -> list[rules.RoundFacts]:
    """The facts warnings may use: the latest rounds, revealed answers only."""
    if known is None:
        recent = session.execute(
            _recent_closed_query().limit(WARNING_LOOKBACK), _couple_param(couple_id)
        ).all()
    else:
        recent = [r for r in known.newest_first if r.closed_at is not None][:WARNING_LOOKBACK]
    ids = [r.id for r in recent]
    missed: dict[int, set[int]] = defaultdict(set)
    for rid, uid in session.execute(_missed_query(), {"ids": ids}):
        missed[rid].add(uid)
    if known is None:
        known = _KnownFacts(
            newest_first=recent,
            topic_log=[],
            totals=[
                (rid, uid, total)
                for rid, uid, total in session.execute(
                    _totals_query().where(Round.id.in_(ids)), _couple_param(couple_id)
                )
            ],
            adherence=[
                (rid, aid, title, mean)
                for rid, aid, title, mean in session.execute(
                    _adherence_query().where(Round.id.in_(ids)), _couple_param(couple_id)
                )
            ],
        )
    wanted = set(ids)
    totals: dict[int, dict[int, int]] = defaultdict(dict)
    for rid, uid, total in known.totals:
        if rid in wanted:
            totals[rid][uid] = int(total)
    adherence: dict[int, dict[int, float]] = defaultdict(dict)
    titles: dict[int, dict[int, str]] = defaultdict(dict)
    for rid, agreement_id, title, mean in known.adherence:
        if rid in wanted:
            adherence[rid][agreement_id] = float(mean)
            titles[rid][agreement_id] = title
    certainty: dict[int, dict[int, int]] = defaultdict(dict)
    for rid, uid, value in session.execute(_certainty_query(), {"ids": ids}):
        certainty[rid][uid] = value
    return [
        rules.RoundFacts(
            round_id=r.id,
            opened_at=r.opened_at,
            revealed=r.revealed_at is not None,
            closed=r.closed_at is not None,
            missed_user_ids=frozenset(missed.get(r.id, ())),
            totals=totals.get(r.id, {}),
            certainty=certainty.get(r.id, {}),
            adherence=adherence.get(r.id, {}),
            agreement_titles=titles.get(r.id, {}),
        )
        for r in recent
    ]


def early_warnings(session: Session, user_id: int) -> list[rules.EarlyWarning]:
    couple = _couple(session, user_id)
    return _early_warnings(session, couple.id, _shown_names(couple, user_id))


def _early_warnings(
    session: Session, couple_id: int, names: dict[int, str], known: _KnownFacts | None = None
) -> list[rules.EarlyWarning]:
    recurring = [
        (t.id, t.title)
        for t in _topic_views(session, couple_id, known)
        if t.keeps_coming_back and t.status != RESOLVED
    ]
    return rules.early_warnings(round_facts(session, couple_id, known), names, recurring)


# --- data export and account deletion (privacy) --------------------------------------------
def _question_texts(session: Session, answers: list[Answer]) -> dict[int, str]:
    ids = {a.custom_question_id for a in answers if a.custom_question_id is not None}
    if not ids:
        return {}
    return dict(
        session.execute(
            select(CustomQuestion.id, CustomQuestion.prompt).where(CustomQuestion.id.in_(ids))
        ).all()
    )


def _answer_rows(session: Session, rows: list[tuple[int, Answer]]) -> list[dict]:
    prompts = _question_texts(session, [a for _, a in rows])
    out = []
    for round_id, a in rows:
        built_in = survey.BY_KEY.get(a.item)
        out.append(
            {
                "round_id": round_id,
                "item": a.item,
                "question": built_in.prompt
                if built_in
                else prompts.get(a.custom_question_id or 0, ""),
                "visibility": a.visibility,
                "value": a.value_int,
                "value_label": built_in.label(a.value_int) if built_in else None,
                "text": a.value_text,
            }
        )
    return out


def _export_checkins(session: Session, user_id: int) -> dict[str, list[dict]]:
    """What a person may take with them from check-ins (docs/privacy.md).

    Their own answers in every round they took part in, private and safety answers
    included (they are theirs). Of the couple space they are in now: the rounds, the
    partner's answers of *revealed* rounds whose visibility is ``revealed`` (never a
    private or safety answer, never an answer before both submitted), topics, action
    items, the couple's own questions and settings. A space they left is no longer
    theirs to read, beyond what they wrote in it."""
    my_rounds = session.execute(
        select(Participation, Round)
        .join(Round, Round.id == Participation.round_id)
        .where(Participation.user_id == user_id)
        .order_by(Round.opened_at, Round.id)
    ).all()
    my_participations = {p.id: r.id for p, r in my_rounds}
    rounds = [
        {
            "round_id": r.id,
            "opened_at": r.opened_at,
            "due_at": r.due_at,
            "revealed_at": r.revealed_at,
            "closed_at": r.closed_at,
            "reviewed_at": r.reviewed_at,
            "my_status": p.status,
            "my_submitted_at": p.submitted_at,
        }
        for p, r in my_rounds
    ]
    mine = list(
        session.scalars(
            select(Answer)
            .where(Answer.participation_id.in_(list(my_participations)))
            .order_by(Answer.participation_id, Answer.id)
        )
    )
    my_answers = _answer_rows(session, [(my_participations[a.participation_id], a) for a in mine])
    titles: dict[tuple[int, int], str] = {}

    def load_titles(round_ids: list[int]) -> None:
        for rid, aid, title in session.execute(
            select(
                RoundAgreement.round_id, RoundAgreement.agreement_id, RoundAgreement.title
            ).where(RoundAgreement.round_id.in_(round_ids))
        ):
            titles[(rid, aid)] = title

    load_titles(list(my_participations.values()))

    def adherence_rows(participation_round: dict[int, int], who: str | None) -> list[dict]:
        rows = session.scalars(
            select(Adherence)
            .where(Adherence.participation_id.in_(list(participation_round)))
            .order_by(Adherence.participation_id, Adherence.id)
        )
        return [
            {
                "round_id": participation_round[r.participation_id],
                **({"partner": who} if who is not None else {}),
                "agreement_id": r.agreement_id,
                "agreement": titles.get(
                    (participation_round[r.participation_id], r.agreement_id), ""
                ),
                "kept_by_author": r.kept_self,
                "kept_by_their_partner": r.kept_partner,
                "comment": r.comment,
            }
            for r in rows
        ]

    def concern_rows(participation_round: dict[int, int], who: str | None) -> list[dict]:
        rows = session.execute(
            select(Concern, Topic.title)
            .outerjoin(Topic, Topic.id == Concern.topic_id)
            .where(Concern.participation_id.in_(list(participation_round)))
            .order_by(Concern.participation_id, Concern.position)
        ).all()
        return [
            {
                "round_id": participation_round[c.participation_id],
                **({"partner": who} if who is not None else {}),
                "topic": title or c.new_topic_title,
                "bothering": c.bothering,
                "need": c.need,
            }
            for c, title in rows
        ]

    tables: dict[str, list[dict]] = {
        "rounds": rounds,
        "my_answers": my_answers,
        "my_agreement_ratings": adherence_rows(my_participations, None),
        "my_concerns": concern_rows(my_participations, None),
    }

    couple = couples.couple_of(session, user_id)
    names = _shown_names(couple, user_id) if couple else {}
    # The partner's side: revealed rounds of my current couple, revealed answers only.
    theirs = (
        session.execute(
            select(Participation.id, Participation.user_id, Round.id)
            .join(Round, Round.id == Participation.round_id)
            .where(
                Round.couple_id == couple.id,
                Round.revealed_at.is_not(None),
                Participation.user_id != user_id,
            )
        ).all()
        if couple
        else []
    )
    their_round = {pid: rid for pid, _uid, rid in theirs}
    their_name = {pid: names.get(uid, couples.FORMER_PARTNER) for pid, uid, _rid in theirs}
    shared = list(
        session.scalars(
            select(Answer)
            .where(
                Answer.participation_id.in_(list(their_round)),
                Answer.visibility == survey.REVEALED,
            )
            .order_by(Answer.participation_id, Answer.id)
        )
    )
    tables["partner_answers"] = [
        {"partner": their_name[a.participation_id], **row}
        for a, row in zip(
            shared,
            _answer_rows(session, [(their_round[a.participation_id], a) for a in shared]),
            strict=True,
        )
    ]
    load_titles(list(their_round.values()))
    tables["partner_agreement_ratings"] = [
        row
        for pid in their_round
        for row in adherence_rows({pid: their_round[pid]}, their_name[pid])
    ]
    tables["partner_concerns"] = [
        row for pid in their_round for row in concern_rows({pid: their_round[pid]}, their_name[pid])
    ]
    if couple is None:
        for table in ("topics", "topic_history", "action_items", "questions", "settings"):
            tables[table] = []
        return tables
    topic_rows = list(
        session.scalars(select(Topic).where(Topic.couple_id == couple.id).order_by(Topic.id))
    )
    tables["topics"] = [
        {"topic_id": t.id, "title": t.title, "status": t.status, "created_at": t.created_at}
        for t in topic_rows
    ]
    tables["topic_history"] = [
        {
            "topic_id": e.topic_id,
            "at": e.at,
            "event": e.event,
            "status": e.status,
            "round_id": e.round_id,
            "by": names.get(e.user_id, couples.FORMER_PARTNER) if e.user_id else None,
        }
        for e in session.scalars(
            select(TopicEvent)
            .join(Topic, Topic.id == TopicEvent.topic_id)
            .where(Topic.couple_id == couple.id)
            .order_by(TopicEvent.at, TopicEvent.id)
        )
    ]
    tables["action_items"] = [
        {
            "round_id": i.round_id,
            "text": i.text,
            "who": names.get(i.owner_user_id, couples.FORMER_PARTNER)
            if i.owner_user_id
            else "Both of us",
            "created_at": i.created_at,
            "done_at": i.done_at,
        }
        for i in session.scalars(
            select(ActionItem)
            .where(ActionItem.couple_id == couple.id)
            .order_by(ActionItem.created_at, ActionItem.id)
        )
    ]
    tables["questions"] = [
        {
            "question_id": q.id,
            "prompt": q.prompt,
            "kind": q.kind,
            "visibility": q.visibility,
            "position": q.position,
            "created_at": q.created_at,
            "retired_at": q.retired_at,
        }
        for q in questions(session, user_id, include_retired=True)
    ]
    tables["settings"] = [{"days_to_answer": due_days_for(session, couple.id)}]
    return tables


def _erase_checkins(session: Session, user_id: int, now: dt.datetime) -> None:
    """Remove everything the person answered, in every round of every couple space:
    answers (private and safety included), agreement ratings and comments, concerns.
    Their seat in each round (answered or missed, when) stays so the partner's history
    keeps its shape; shared records (topics, action items, the couple's own questions)
    stay with the couple, naming the person "Former partner"."""
    # The person's rounds locked first, as saving and submitting lock them: a partner's
    # submit under way finishes before (and its reveal is seen below) or waits until
    # after (and stores its scores from what is left). In id order, so two erasures
    # sharing rounds (both partners at once) queue instead of deadlocking.
    rounds = session.execute(
        select(Round.id, Round.revealed_at)
        .join(Participation, Participation.round_id == Round.id)
        .where(Participation.user_id == user_id)
        .order_by(Round.id)
        .with_for_update(of=Round)
    ).all()
    participations = select(Participation.id).where(Participation.user_id == user_id)
    for model in (Answer, Adherence, Concern):
        session.execute(
            delete(model)
            .where(model.participation_id.in_(participations))
            .execution_options(synchronize_session=False)
        )
    # The revealed rounds' totals and mean ratings now count only what is left (the
    # partner's answers).
    _store_round_scores(session, [rid for rid, revealed_at in rounds if revealed_at is not None])
    session.execute(
        update(Participation)
        .where(Participation.user_id == user_id)
        .values(updated_at=None, remind_at=None)
        .execution_options(synchronize_session=False)
    )


register_exporter("checkins", _export_checkins)
register_eraser("checkins", _erase_checkins)
