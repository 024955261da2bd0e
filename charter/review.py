"""The charter's review day: when it has come for someone (in their own time zone), and
the scheduler's planner of the one reminder per review day to each partner (registered
in charter.reminders, listed in tend/registry.py).

Only the charter in force counts (the version both partners said yes to): a proposed
charter, or a change still waiting for its answer, reminds no one. A later agreed
version with a new review day is a new review day: its own reminder. The mail carries
names and the date only, never a root cause or a commitment.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from agreements.models import ACTIVE, Agreement, AgreementVersion
from charter import words
from charter.models import Charter
from couples.models import Couple, Membership, User
from infra.db import utcnow
from notifications.models import OutboxMessage
from notifications.preferences import context_id, plan_reminder

KIND = "charter_review_due"  # the prompt kind (and its mail templates)
LABEL = "The day to review your charter together has come"
CHARTER_PAGE = "/charter"
REVIEW_REMINDER_HOUR = 9  # the morning of the review day, in each partner's own zone
# No zone is ahead of UTC by more than 14 hours: a review day later than the UTC date
# of now + 14 h has come for no one yet.
_MAX_AHEAD = dt.timedelta(hours=14)


def review_due(review_on: dt.date | None, timezone: str | None, *, now: dt.datetime) -> bool:
    """Has the review day come for someone in ``timezone`` (their local date at ``now``)?"""
    if review_on is None:
        return False
    return review_on <= now.astimezone(ZoneInfo(timezone or "UTC")).date()


def review_reminder_at(review_on: dt.date, timezone: str | None) -> dt.datetime:
    """The morning of ``review_on`` in the person's zone, as an aware UTC moment (the
    offset of that very day: DST changes are the zone's business)."""
    local = dt.datetime.combine(
        review_on, dt.time(REVIEW_REMINDER_HOUR), tzinfo=ZoneInfo(timezone or "UTC")
    )
    return local.astimezone(dt.UTC)


def reminder_key(agreement_id: int, review_on: dt.date, user_id: int) -> str:
    """One reminder per charter, review day and partner: a change that keeps the day
    reminds no one again, a new day reminds again."""
    return f"charter:review:{agreement_id}:{review_on.isoformat()}:{user_id}"


def _parse_day(value: object) -> dt.date | None:
    try:
        return dt.date.fromisoformat(str(value or ""))
    except ValueError:
        return None


@dataclass(frozen=True)
class _Due:
    agreement_id: int
    couple_id: int
    review_on: dt.date


def _charters_due(
    session: Session, now: dt.datetime, *, agreement_id: int | None = None
) -> list[_Due]:
    """The charters in force at ``now`` (couple still together) whose review day may
    have come somewhere (of them, ``agreement_id`` alone if given); each partner's own
    day is checked by the caller."""
    latest_day = (now.astimezone(dt.UTC) + _MAX_AHEAD).date().isoformat()
    review_on = AgreementVersion.params["review_on"].as_string()
    rows = session.execute(
        select(Agreement.id, Agreement.couple_id, review_on)
        .select_from(Charter)
        .join(Agreement, Agreement.id == Charter.agreement_id)
        .join(Couple, Couple.id == Charter.couple_id)
        .join(AgreementVersion, AgreementVersion.agreement_id == Agreement.id)
        .where(
            Agreement.kind == words.KIND,
            Agreement.status == ACTIVE,
            Couple.ended_at.is_(None),
            AgreementVersion.in_force_from.is_not(None),
            AgreementVersion.in_force_from <= now,
            or_(
                AgreementVersion.in_force_until.is_(None),
                AgreementVersion.in_force_until > now,
            ),
            # ISO dates compare as text: only days that may have come are read.
            review_on <= latest_day,
            *([Agreement.id == agreement_id] if agreement_id is not None else []),
        )
        .order_by(Agreement.id)
    )
    due = []
    for agreement_id, couple_id, value in rows:
        day = _parse_day(value)
        if day is not None:
            due.append(_Due(agreement_id, couple_id, day))
    return due


def plan_review_reminders(session: Session, now: dt.datetime | None = None) -> int:
    """For the scheduler's planning pass: on the morning of the review day of the charter
    in force, in each partner's own zone, one neutral mail to each (through their
    preferences: off, paused, quiet hours, preferred hour). Safe to run any number of
    times: the dedupe key is per charter, review day and partner."""
    now = now or utcnow()
    charters = _charters_due(session, now)
    if not charters:
        return 0
    people: dict[int, list[User]] = {}
    for couple_id, user in session.execute(
        select(Membership.couple_id, User)
        .join(User, User.id == Membership.user_id)
        .where(
            Membership.couple_id.in_({c.couple_id for c in charters}),
            Membership.left_at.is_(None),
        )
        .order_by(Membership.couple_id, Membership.seat)
    ):
        people.setdefault(couple_id, []).append(user)
    names = dict(
        session.execute(
            select(Couple.id, Couple.name).where(Couple.id.in_({c.couple_id for c in charters}))
        ).all()
    )
    wanted: list[tuple[_Due, User, User]] = []
    for charter in charters:
        partners = people.get(charter.couple_id, [])
        if len(partners) != 2:  # the charter is the two of them's: both must be there
            continue
        for user in partners:
            if now < review_reminder_at(charter.review_on, user.timezone):
                continue
            partner = next(p for p in partners if p.id != user.id)
            wanted.append((charter, user, partner))
    if not wanted:
        return 0
    keys = [reminder_key(c.agreement_id, c.review_on, u.id) for c, u, _p in wanted]
    used = set(
        session.scalars(select(OutboxMessage.dedupe_key).where(OutboxMessage.dedupe_key.in_(keys)))
    )
    written = 0
    for (charter, user, partner), key in zip(wanted, keys, strict=True):
        if key in used:
            continue
        message = plan_reminder(
            session,
            user,
            kind=KIND,
            dedupe_key=key,
            due_utc=review_reminder_at(charter.review_on, user.timezone),
            context={
                "name": user.display_name,
                "partner": partner.display_name,
                "couple": names.get(charter.couple_id, ""),
                "review_on": f"{charter.review_on:%A %d %B %Y}",
                # For the check when it is due (review_reminder_still_due).
                "agreement_id": charter.agreement_id,
                "review_day": charter.review_on.isoformat(),
            },
            now=now,
            sign_in_target=CHARTER_PAGE,
        )
        written += message is not None
    return written


def review_reminder_still_due(
    session: Session, message: OutboxMessage, now: dt.datetime
) -> str | None:
    """The review-day reminder, checked again when it goes (it may wait for a preferred
    hour): not if the two have agreed a charter with another review day meanwhile (that
    day has a reminder of its own), or the charter is no longer in force."""
    agreement_id = context_id(message, "agreement_id")
    day = _parse_day(message.context.get("review_day"))
    if agreement_id is None or day is None:
        return None
    due = _charters_due(session, now, agreement_id=agreement_id)
    if any(charter.review_on == day for charter in due):
        return None
    return "the charter's review day has changed"
