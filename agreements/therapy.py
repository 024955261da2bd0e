"""The therapy plan: sessions logged and rated, the next appointment, its calendar file,
and the planner of the day-before reminders (registered in agreements.reminders).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from agreements.in_force import agreements_in_force
from agreements.models import (
    ACTIVE,
    Agreement,
    AgreementVersion,
    TherapyAppointment,
    TherapyRating,
    TherapySession,
)
from agreements.proposals import _in_force, _names, _own_agreement
from agreements.views import NUL_PROBLEM, AgreementInForce
from couples import service as couples
from couples.models import Couple
from infra.db import utcnow
from infra.errors import InvalidInput, NotAllowed, NotFound
from notifications.models import OutboxMessage
from notifications.preferences import context_id, plan_reminder

# --- therapy plan ----------------------------------------------------------------------

ATTENDANCE = {"together": "We both went", "one": "One of us went", "missed": "Missed"}
RATINGS = {1: "Not useful", 2: "A little useful", 3: "Useful", 4: "Very useful"}
APPOINTMENT_REMINDER_BEFORE = dt.timedelta(days=1)


@dataclass(frozen=True)
class TherapySessionView:
    session_id: int
    held_on: dt.date
    attendance: str
    logged_by: str
    # The other partner's name as this viewer sees it, beside their rating.
    partner_name: str
    my_rating: int | None
    partner_has_rated: bool
    # Only once both have rated, so neither answer leans on the other's.
    partner_rating: int | None

    @property
    def both_rated(self) -> bool:
        return self.my_rating is not None and self.partner_has_rated


@dataclass(frozen=True)
class AppointmentView:
    appointment_id: int
    starts_at: dt.datetime
    duration_minutes: int
    timezone: str
    location: str
    set_by: str

    @property
    def local_start(self) -> dt.datetime:
        return self.starts_at.astimezone(ZoneInfo(self.timezone))


@dataclass(frozen=True)
class TherapyPlan:
    agreement_id: int
    version: AgreementInForce
    next_appointment: AppointmentView | None
    sessions: list[TherapySessionView]


def _therapy_agreement(
    session: Session, couple: Couple, agreement_id: int, now: dt.datetime
) -> Agreement:
    agreement = _own_agreement(session, couple, agreement_id)
    if agreement.kind != "therapy" or agreement.status != ACTIVE:
        raise NotAllowed("The therapy log needs a couples therapy agreement you both accepted.")
    return agreement


def _appointment_view(appt: TherapyAppointment, names: dict[int, str]) -> AppointmentView:
    return AppointmentView(
        appointment_id=appt.id,
        starts_at=appt.starts_at,
        duration_minutes=appt.duration_minutes,
        timezone=appt.timezone,
        location=appt.location,
        set_by=names.get(appt.set_by_id, "A former partner"),
    )


def therapy_plans(
    session: Session, user_id: int, *, now: dt.datetime | None = None
) -> list[TherapyPlan]:
    """Each therapy agreement in force, with its next appointment and its session log."""
    now = now or utcnow()
    couple = couples.require_membership(session, user_id).couple
    names = _names(session, couple, user_id)
    plans = []
    for version in agreements_in_force(session, couple.id, now):
        if version.kind != "therapy":
            continue
        appt = session.scalar(
            select(TherapyAppointment)
            .where(
                TherapyAppointment.agreement_id == version.agreement_id,
                TherapyAppointment.cancelled_at.is_(None),
                TherapyAppointment.starts_at > now,
            )
            .order_by(TherapyAppointment.starts_at)
            .limit(1)
        )
        plans.append(
            TherapyPlan(
                agreement_id=version.agreement_id,
                version=version,
                next_appointment=_appointment_view(appt, names) if appt else None,
                sessions=_session_views(session, version.agreement_id, user_id, names),
            )
        )
    return plans


def _session_views(
    session: Session, agreement_id: int, user_id: int, names: dict[int, str]
) -> list[TherapySessionView]:
    rows = list(
        session.scalars(
            select(TherapySession)
            .where(TherapySession.agreement_id == agreement_id)
            .order_by(TherapySession.held_on.desc(), TherapySession.id.desc())
        )
    )
    ratings: dict[int, dict[int, int]] = {}
    if rows:
        for rating in session.scalars(
            select(TherapyRating).where(TherapyRating.session_id.in_([r.id for r in rows]))
        ):
            ratings.setdefault(rating.session_id, {})[rating.user_id] = rating.rating
    partner_name = next((n for uid, n in names.items() if uid != user_id), "Your partner")
    views = []
    for row in rows:
        mine = ratings.get(row.id, {}).get(user_id)
        theirs = [v for uid, v in ratings.get(row.id, {}).items() if uid != user_id]
        views.append(
            TherapySessionView(
                session_id=row.id,
                held_on=row.held_on,
                attendance=row.attendance,
                logged_by=names.get(row.logged_by_id, "A former partner"),
                partner_name=partner_name,
                my_rating=mine,
                partner_has_rated=bool(theirs),
                partner_rating=theirs[0] if theirs and mine is not None else None,
            )
        )
    return views


def log_therapy_session(
    session: Session,
    user_id: int,
    agreement_id: int,
    *,
    held_on: dt.date,
    attendance: str,
    now: dt.datetime | None = None,
) -> TherapySession:
    now = now or utcnow()
    couple = couples.require_active_couple(session, user_id)
    agreement = _therapy_agreement(session, couple, agreement_id, now)
    problems = {}
    if attendance not in ATTENDANCE:
        problems["attendance"] = "Choose who went: both, one of you, or nobody."
    # A day of slack for time zones ahead of UTC.
    if held_on > (now + dt.timedelta(days=1)).date():
        problems["held_on"] = "That date is in the future. Set it as the next appointment instead."
    if problems:
        raise InvalidInput(problems)
    row = TherapySession(
        agreement_id=agreement.id,
        held_on=held_on,
        attendance=attendance,
        logged_by_id=user_id,
        logged_at=now,
    )
    session.add(row)
    session.flush()
    return row


def rate_therapy_session(
    session: Session,
    user_id: int,
    session_id: int,
    rating: int,
    *,
    now: dt.datetime | None = None,
) -> None:
    """My private 'was this session useful?'. It can be changed until both have rated;
    after that both see both answers, and they stay as given."""
    now = now or utcnow()
    couple = couples.require_active_couple(session, user_id)
    row = session.get(TherapySession, session_id)
    if row is None:
        raise NotFound("No such session.")
    _own_agreement(session, couple, row.agreement_id)  # NotFound for another couple's
    if row.attendance == "missed":
        raise NotAllowed("This session was missed, so there is nothing to rate.")
    if rating not in RATINGS:
        raise InvalidInput({"rating": "Choose one of the answers."})
    existing = {
        r.user_id: r
        for r in session.scalars(select(TherapyRating).where(TherapyRating.session_id == row.id))
    }
    mine = existing.get(user_id)
    if mine is not None and any(uid != user_id for uid in existing):
        raise NotAllowed("You have both rated this session, so the answers stay as given.")
    if mine is None:
        try:
            with session.begin_nested():
                session.add(
                    TherapyRating(session_id=row.id, user_id=user_id, rating=rating, rated_at=now)
                )
        except IntegrityError:
            raise NotAllowed("You already rated this session.") from None
    else:
        mine.rating = rating
        mine.rated_at = now
    session.flush()


def set_next_appointment(
    session: Session,
    user_id: int,
    agreement_id: int,
    *,
    local_start: dt.datetime,
    timezone: str,
    duration_minutes: int = 60,
    location: str = "",
    now: dt.datetime | None = None,
) -> TherapyAppointment:
    """The next appointment (a naive local date-time in ``timezone``); it replaces any
    upcoming one. The scheduler reminds both partners the day before."""
    now = now or utcnow()
    couple = couples.require_active_couple(session, user_id)
    agreement = _therapy_agreement(session, couple, agreement_id, now)
    problems = {}
    try:
        zone = ZoneInfo(timezone)
    except Exception:
        raise InvalidInput({"timezone": "Choose a time zone from the list."}) from None
    starts_at = local_start.replace(tzinfo=zone).astimezone(dt.UTC)
    if starts_at <= now:
        problems["starts_at"] = "That time has passed. Log it as a session instead."
    if not 10 <= duration_minutes <= 300:
        problems["duration"] = "Give the length in minutes, between 10 and 300."
    location = (location or "").strip()
    if "\x00" in location:
        problems["location"] = NUL_PROBLEM
    elif len(location) > 300:
        problems["location"] = "Keep the place to 300 characters."
    if problems:
        raise InvalidInput(problems)
    for upcoming in session.scalars(
        select(TherapyAppointment).where(
            TherapyAppointment.agreement_id == agreement.id,
            TherapyAppointment.cancelled_at.is_(None),
            TherapyAppointment.starts_at > now,
        )
    ):
        upcoming.cancelled_at = now
    appt = TherapyAppointment(
        agreement_id=agreement.id,
        starts_at=starts_at,
        duration_minutes=duration_minutes,
        timezone=timezone,
        location=location,
        set_by_id=user_id,
        created_at=now,
        remind_at=starts_at - APPOINTMENT_REMINDER_BEFORE,
    )
    session.add(appt)
    session.flush()
    return appt


def cancel_appointment(
    session: Session, user_id: int, appointment_id: int, *, now: dt.datetime | None = None
) -> None:
    now = now or utcnow()
    couple = couples.require_active_couple(session, user_id)
    appt = session.get(TherapyAppointment, appointment_id)
    if appt is None:
        raise NotFound("No such appointment.")
    _own_agreement(session, couple, appt.agreement_id)
    if appt.cancelled_at is None:
        appt.cancelled_at = now
    session.flush()


def appointment_ics(session: Session, user_id: int, appointment_id: int) -> bytes:
    """A calendar file for one appointment (RFC 5545, made with icalendar)."""
    from icalendar import Calendar, Event

    couple = couples.require_membership(session, user_id).couple
    appt = session.get(TherapyAppointment, appointment_id)
    if appt is None:
        raise NotFound("No such appointment.")
    agreement = _own_agreement(session, couple, appt.agreement_id)
    in_force = _in_force(agreement)
    therapist = str((in_force.params or {}).get("therapist", "")) if in_force else ""
    calendar = Calendar()
    calendar.add("prodid", "-//Tend//therapy plan//EN")
    calendar.add("version", "2.0")
    event = Event()
    # Stable across downloads, so a calendar updates the entry instead of doubling it.
    event.add("uid", f"tend-therapy-appointment-{appt.id}@tend")
    event.add("dtstamp", appt.created_at)
    start = appt.starts_at.astimezone(ZoneInfo(appt.timezone))
    event.add("dtstart", start)
    event.add("dtend", start + dt.timedelta(minutes=appt.duration_minutes))
    event.add("summary", "Couples therapy" + (f" ({therapist})" if therapist else ""))
    if appt.location:
        event.add("location", appt.location)
    calendar.add_component(event)
    calendar.add_missing_timezones()
    return calendar.to_ical()


def plan_therapy_reminders(session: Session, now: dt.datetime | None = None) -> int:
    """For the scheduler's planning pass: the day-before reminder to both partners.

    Safe to run any number of times: the dedupe key is per appointment and person."""
    now = now or utcnow()
    written = 0
    rows = session.execute(
        select(TherapyAppointment, Agreement)
        .join(Agreement, Agreement.id == TherapyAppointment.agreement_id)
        .where(
            TherapyAppointment.cancelled_at.is_(None),
            TherapyAppointment.remind_at <= now,
            TherapyAppointment.starts_at > now,
            Agreement.status == ACTIVE,
        )
    )
    for appt, agreement in rows:
        couple = session.get(Couple, agreement.couple_id)
        if couple is None or couple.ended_at is not None:
            continue
        for member in couple.members:
            if member.left_at is not None:
                continue
            user = member.user
            local = appt.starts_at.astimezone(ZoneInfo(user.timezone or "UTC"))
            message = plan_reminder(
                session,
                user,
                kind="therapy_appointment",
                dedupe_key=f"therapy_appointment:{appt.id}:{user.id}",
                due_utc=appt.remind_at,
                context={
                    "name": user.display_name,
                    "starts_at": f"{local:%A %d %B, %H:%M} ({user.timezone})",
                    "appointment_id": appt.id,
                },
                now=now,
                sign_in_target="/therapy",
            )
            written += message is not None
    return written


def appointment_still_due(session: Session, message: OutboxMessage, now: dt.datetime) -> str | None:
    """The day-before reminder, checked again when it is due (it may wait for the end of
    quiet hours or a preferred hour): not for an appointment cancelled or already begun."""
    appointment_id = context_id(message, "appointment_id")
    if appointment_id is None:
        return None
    appt = session.get(TherapyAppointment, appointment_id)
    if appt is None or appt.cancelled_at is not None:
        return "the appointment was cancelled"
    if appt.starts_at <= now:
        return "the appointment has begun"
    return None


@dataclass(frozen=True)
class TherapyHistory:
    """A therapy agreement in force, for the check-ins' warnings."""

    agreement_id: int
    title: str
    frequency: str
    since: dt.datetime  # when it first came into force
    sessions: tuple[tuple[dt.date, bool], ...]  # (held on, attended), oldest first
    appointments: tuple[dt.datetime, ...]  # booked and not cancelled


def therapy_history_of(session: Session, couple_id: int, now: dt.datetime) -> list[TherapyHistory]:
    """Each therapy agreement in force at ``now`` in a couple the caller has already
    authorized, with its sessions and booked appointments."""
    out = []
    for version in agreements_in_force(session, couple_id, now):
        if version.kind != "therapy":
            continue
        since = session.scalar(
            select(func.min(AgreementVersion.in_force_from)).where(
                AgreementVersion.agreement_id == version.agreement_id
            )
        )
        sessions = session.execute(
            select(TherapySession.held_on, TherapySession.attendance)
            .where(TherapySession.agreement_id == version.agreement_id)
            .order_by(TherapySession.held_on, TherapySession.id)
        ).all()
        appointments = session.scalars(
            select(TherapyAppointment.starts_at).where(
                TherapyAppointment.agreement_id == version.agreement_id,
                TherapyAppointment.cancelled_at.is_(None),
            )
        ).all()
        out.append(
            TherapyHistory(
                agreement_id=version.agreement_id,
                title=version.title,
                frequency=str(version.params.get("frequency", "")),
                since=since or now,
                sessions=tuple((held, attendance != "missed") for held, attendance in sessions),
                appointments=tuple(sorted(appointments)),
            )
        )
    return out
