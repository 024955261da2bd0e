"""Check-in rounds: the due-days setting, opening and closing rounds, planning them in
batches for the scheduler (:func:`plan_checkins`), their reminders, and the round a
user is looking at. Every function takes the acting user's id and resolves the couple
from it, except the planner's, which work on couples already resolved.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from sqlalchemy import Row, and_, case, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload

from checkins import agreements_port, recurrence, solo, survey
from checkins.agreements_port import AgreementInForce
from checkins.models import (
    DRAFT,
    MISSED,
    PENDING,
    SUBMITTED,
    CheckinPlan,
    CheckinSettings,
    CustomQuestion,
    Participation,
    Round,
    RoundAgreement,
)
from checkins.views import (
    CLOSING_NOTICE,
    DEFAULT_DUE_DAYS,
    MAX_DUE_DAYS,
    MIN_DUE_DAYS,
    NUDGE_AFTER,
    ROUND_PAGE,
    RoundDates,
    RoundQuestions,
    RoundStatus,
)
from couples import data_version
from couples import service as couples
from couples.models import Couple, Membership, User
from infra import bulk
from infra.db import utcnow
from infra.errors import InvalidInput, NotAllowed, NotFound
from notifications.models import OutboxMessage
from notifications.preferences import (
    Reminder,
    context_id,
    held_until,
    plan_reminder,
    plan_reminders,
)
from notifications.timing import held_note, partner_held_note


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


def opening_mail_notes(
    session: Session,
    user_id: int,
    *,
    opens_at: dt.datetime | None = None,
    now: dt.datetime | None = None,
    include_mine: bool = False,
) -> list[str]:
    """If a round opened at ``opens_at`` (default: now, "Start a check-in now"), whose
    "your check-in is open" mail would wait for quiet hours (or a preferred hour): what
    to tell the one about to act, the partner first ("Mail to Kestrel waits until 07:00
    tomorrow, their morning."), then, with ``include_mine``, their own. Nothing for a
    mail that goes at once or a partner not there yet. The partner's line is the same
    whether or not their mail goes at all (switched off, reminders paused): a quiet
    pause is never given away."""
    now = now or utcnow()
    membership = couples.require_membership(session, user_id)
    me = membership.user
    other = next((m for m in membership.couple.members if m.user_id != user_id), None)
    at = opens_at or now
    notes = []
    if other is not None and other.left_at is None:
        moment = held_until(session, other.user, "round_opened", at, now=now, as_partner_sees=True)
        if moment is not None:
            notes.append(
                partner_held_note(
                    couples.member_name(other, user_id),
                    moment,
                    other.user.timezone or "UTC",
                    now=now,
                    viewer_tz=me.timezone,
                )
            )
    if include_mine:
        moment = held_until(session, me, "round_opened", at, now=now)
        if moment is not None:
            notes.append(
                held_note("You", moment, me.timezone or "UTC", now=now, what="yours", whose="your")
            )
    return notes


def open_round_of(session: Session, couple_id: int) -> Round | None:
    return session.scalar(
        select(Round).where(Round.couple_id == couple_id, Round.closed_at.is_(None))
    )


PLAN_BATCH = 1000  # couples per batch: the pass holds one batch of rows at a time
# Ids per read of a batch's facts: with a thousand ids PostgreSQL plans the couples' and
# the agreements' reads as sequential scans (50 ms instead of 5 for the couples, on the
# benchmark's 100,000); with 200 it walks the indexes. The writes take the whole batch.
READ_CHUNK = 200


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
        # One statement over the table (infra.bulk), not the ORM's bulk path.
        bulk.update_rows(
            session,
            CheckinPlan.__table__,
            "couple_id",
            [{"couple_id": cid, "next_check_at": at} for cid, at in next_checks.items()],
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
    due_days: int | None  # their own answering period (CheckinSettings), if they set one
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
        couples: dict[int, _CoupleFacts] = {}
        in_force: dict[int, list[tuple[AgreementInForce, dt.datetime]]] = {}
        rounds: list[Row[tuple[int, dt.datetime, int]]] = []
        for i in range(0, len(batch), READ_CHUNK):
            chunk = batch[i : i + READ_CHUNK]
            couples |= _couple_facts(session, chunk)
            in_force |= agreements_port.in_force_by_couple(session, chunk, now)
            # Per couple with rounds: the latest scheduled start, and whether one is open.
            rounds += session.execute(
                select(
                    Round.couple_id,
                    func.max(Round.scheduled_for),
                    func.sum(case((Round.closed_at.is_(None), 1), else_=0)),
                )
                .where(bulk.among(session, Round.couple_id, chunk))
                .group_by(Round.couple_id)
            ).all()
        return cls(
            couples=couples,
            in_force=in_force,
            open_round={couple_id for couple_id, _latest, open_ in rounds if open_},
            due_days={
                cid: couple.due_days
                for cid, couple in couples.items()
                if couple.due_days is not None
            },
            latest_scheduled={couple_id: latest for couple_id, latest, _open in rounds},
        )


def _couple_facts(session: Session, batch: list[int]) -> dict[int, _CoupleFacts]:
    """The batch's couples with their own answering period, if set, and their partners
    still in them (as ``_members``: by seat), in one query of plain rows."""
    rows = session.execute(
        select(
            Couple.id,
            Couple.name,
            Couple.ended_at,
            CheckinSettings.due_days,
            User.id,
            User.display_name,
            User.email,
            User.timezone,
        )
        .outerjoin(
            Membership, and_(Membership.couple_id == Couple.id, Membership.left_at.is_(None))
        )
        .outerjoin(User, User.id == Membership.user_id)
        .outerjoin(CheckinSettings, CheckinSettings.couple_id == Couple.id)
        .where(bulk.among(session, Couple.id, batch))
        .order_by(Couple.id, Membership.seat)
    )
    couples: dict[int, _CoupleFacts] = {}
    for couple_id, name, ended_at, due_days, user_id, display_name, email, timezone in rows:
        couple = couples.get(couple_id)
        if couple is None:
            couple = couples[couple_id] = _CoupleFacts(name, ended_at, due_days)
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
    # One statement per table: on PostgreSQL an INSERT ... SELECT FROM unnest(arrays),
    # elsewhere multi-row INSERTs (infra.bulk). The queries before these have flushed.
    _count, inserted = bulk.insert_rows(
        session, Round.__table__, rows, skip_conflicts=True, returning=("id", "couple_id")
    )
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
    bulk.insert_rows(session, Participation.__table__, participations)
    bulk.insert_rows(session, RoundAgreement.__table__, pinned)
    data_version.changed(session, [couple_id for _round_id, couple_id in inserted])
    # Someone who stopped answering and got the one mail about it hears nothing more.
    quiet = solo.quiet_user_ids(session, {r.user.id for r in reminders})
    # One query for preferences, one for used keys, and no savepoint per row: the keys
    # name rounds this transaction just inserted, so no other transaction writes them.
    plan_reminders(session, [r for r in reminders if r.user.id not in quiet], now=now)
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
    so it is looked at again while it can still matter.

    A couple space that ended (one of them left) reminds neither of them: the round
    stays open to its due date, but nobody can answer it any more."""
    now = now or utcnow()
    rows = session.execute(
        select(Participation, Round, Couple.ended_at)
        .join(Round, Round.id == Participation.round_id)
        .join(Couple, Couple.id == Round.couple_id)
        .where(Participation.remind_at <= now)
        .with_for_update(skip_locked=True, of=Participation)
    ).all()
    written = 0
    quiet = solo.quiet_user_ids(session, {p.user_id for p, _r, _e in rows})
    for participation, round_, couple_ended_at in rows:
        if participation.user_id in quiet:
            participation.remind_at = None  # no nudges for them this round
            continue
        if (
            couple_ended_at is not None
            or round_.closed_at is not None
            or participation.status not in (PENDING, DRAFT)
        ):
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


def reminder_still_due(session: Session, message: OutboxMessage, now: dt.datetime) -> str | None:
    """For a mail asking its recipient to answer a round (a nudge, the closing warning,
    "your partner answered"), checked again when it is due: held for quiet hours or a
    preferred hour, it may come after they answered, the round closed or its couple
    space ended. Then it is skipped, with the reason; None: it still applies."""
    round_id = context_id(message, "round_id")
    if round_id is None or message.recipient_user_id is None:
        return None
    ended = round_mail_still_due(session, message, now)
    if ended is not None:
        return ended
    found = session.execute(
        select(Participation.status, Round.closed_at)
        .join(Round, Round.id == Participation.round_id)
        .where(
            Participation.round_id == round_id,
            Participation.user_id == message.recipient_user_id,
        )
    ).first()
    if found is None:
        return "the check-in is gone"
    if found.status == SUBMITTED:
        return "recipient has answered the check-in"
    if found.closed_at is not None or found.status not in (PENDING, DRAFT):
        return "the check-in has closed"
    return None


def round_mail_still_due(session: Session, message: OutboxMessage, _now: dt.datetime) -> str | None:
    """For a mail about a round that asks nothing of its recipient ("a new check-in",
    with its calendar entry; "ready to review"), checked again when it is due: skipped
    only if the round's couple space ended meanwhile. The round's couple, not only the
    recipient's: someone who left may have started another space since."""
    round_id = context_id(message, "round_id")
    if round_id is None:
        return None
    ended = session.execute(
        select(Couple.ended_at)
        .join(Round, Round.couple_id == Couple.id)
        .where(Round.id == round_id)
    ).first()
    if ended is None:
        return "the check-in is gone"
    return "the check-in's couple space has ended" if ended.ended_at is not None else None


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
    solo.notice_after_close(session, closed, now)
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
    if solo.quiet_user_ids(session, [user.id]):
        return 0
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
    # One statement (every page run asks): a couple has at most one open round, and it
    # comes first; else the newest revealed one.
    return session.scalar(
        select(Round)
        .where(
            Round.couple_id == couple.id,
            or_(Round.closed_at.is_(None), Round.revealed_at.is_not(None)),
        )
        .order_by(Round.closed_at.is_(None).desc(), Round.opened_at.desc(), Round.id.desc())
        .limit(1)
    )


# The current round's status is kept while the couple's data version stands still (it
# moves with every write about the couple, in any process: couples/data_version.py):
# the check-in and home pages ask on every run. Keyed by the viewer and the names they
# see (a renamed partner is no write about the couple).
_kept_status: data_version.Kept[RoundStatus | None] = data_version.Kept(size=256)


def current_status(session: Session, user_id: int) -> RoundStatus | None:
    """The status of :func:`current_round` for ``user_id``, None without one (or
    without a couple). Shared with later calls: read it, never change it."""
    membership = couples.membership_of(session, user_id)
    if membership is None:
        return None
    key = (user_id, tuple(couples.shown_names(membership.couple, user_id).items()))

    def compute() -> RoundStatus | None:
        round_ = current_round(session, user_id)
        return round_status(session, user_id, round_.id) if round_ else None

    return _kept_status.get(session, membership.couple, key, compute)


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
        round=RoundDates(round_.id, round_.opened_at, round_.due_at, round_.reviewed_at),
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
