"""The cooldown tool: starting, extending and ending a pause agreed in advance, its
notes and mails, and how often it was used.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from dateutil.relativedelta import relativedelta
from sqlalchemy import and_, bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from agreements.in_force import agreements_in_force
from agreements.models import (
    AgreementPreferences,
    Cooldown,
    CooldownNote,
)
from agreements.proposals import _clean_note, _names, _user
from agreements.views import DEFAULT_COOLDOWN_EXTENSIONS, DEFAULT_COOLDOWN_MINUTES
from couples import service as couples
from couples.models import Couple, Membership
from infra.db import utcnow
from infra.errors import NotAllowed, NotFound
from notifications.models import OutboxMessage
from notifications.outbox import enqueue
from notifications.preferences import context_id

# --- cooldown ------------------------------------------------------------------------


@dataclass(frozen=True)
class CooldownView:
    cooldown_id: int
    started_by: str
    started_by_me: bool
    started_at: dt.datetime
    planned_end_at: dt.datetime
    seconds_left: int
    can_extend: bool
    minutes: int  # the agreed length (also what an extension adds)
    during: str  # what we agreed to do meanwhile


@dataclass(frozen=True)
class CooldownLogEntry:
    cooldown_id: int
    started_by: str
    started_by_me: bool
    started_at: dt.datetime
    planned_end_at: dt.datetime
    ended_at: dt.datetime | None  # None while it runs
    ended_early: bool
    extended: bool
    my_note: str | None  # only ever the reader's own note
    returned: str | None = None  # how we came back afterwards, as last recorded by either


def _cooldown_terms(
    session: Session, couple_id: int, now: dt.datetime
) -> tuple[int | None, int, str]:
    """(agreement version, minutes, what we do meanwhile) from the cooldown agreement in force."""
    version_id, minutes, during, _ = _cooldown_agreement(session, couple_id, now)
    return version_id, minutes, during


def _cooldown_agreement(
    session: Session, couple_id: int, now: dt.datetime
) -> tuple[int | None, int, str, int]:
    """:func:`_cooldown_terms` and how many times a cooldown may be extended."""
    for agreement in agreements_in_force(session, couple_id, now):
        if agreement.kind == "cooldown":
            minutes = int(agreement.params.get("minutes", DEFAULT_COOLDOWN_MINUTES))
            during = str(agreement.params.get("during", "")) or agreement.body
            extensions = int(agreement.params.get("extensions", DEFAULT_COOLDOWN_EXTENSIONS))
            return agreement.version_id, minutes, during, extensions
    return None, DEFAULT_COOLDOWN_MINUTES, "", DEFAULT_COOLDOWN_EXTENSIONS


def _close_elapsed(session: Session, couple_id: int, now: dt.datetime) -> None:
    """A cooldown nobody ended closes at its planned end."""
    for cooldown in session.scalars(
        select(Cooldown).where(
            Cooldown.couple_id == couple_id,
            Cooldown.ended_at.is_(None),
            Cooldown.planned_end_at <= now,
        )
    ):
        cooldown.ended_at = cooldown.planned_end_at
    session.flush()


def _open_cooldown(session: Session, couple_id: int, now: dt.datetime) -> Cooldown | None:
    return session.scalar(
        select(Cooldown).where(
            Cooldown.couple_id == couple_id,
            Cooldown.ended_at.is_(None),
            Cooldown.planned_end_at > now,
        )
    )


def _cooldown_view(
    session: Session, cooldown: Cooldown, couple: Couple, user_id: int, now: dt.datetime
) -> CooldownView:
    names = _names(session, couple, user_id)
    _, minutes, during, allowed = _cooldown_agreement(session, couple.id, cooldown.started_at)
    return CooldownView(
        cooldown_id=cooldown.id,
        started_by=names.get(cooldown.started_by_id, "Your partner"),
        started_by_me=cooldown.started_by_id == user_id,
        started_at=cooldown.started_at,
        planned_end_at=cooldown.planned_end_at,
        seconds_left=max(0, int((cooldown.planned_end_at - now).total_seconds())),
        can_extend=cooldown.extensions < allowed,
        minutes=minutes,
        during=during,
    )


def current_cooldown(
    session: Session, user_id: int, *, now: dt.datetime | None = None
) -> CooldownView | None:
    """The cooldown running right now in my couple, if any."""
    return cooldown_status(session, user_id, now=now)[1]


def cooldown_status(
    session: Session, user_id: int, *, now: dt.datetime | None = None
) -> tuple[bool, CooldownView | None]:
    """(whether I have a couple space I can act in, the cooldown running in it if any):
    what the sidebar control on every page needs, in one light statement when nothing
    runs. A space the partner left is read-only: no cooldown can start or run there."""
    now = now or utcnow()
    row = session.execute(_cooldown_status_query(), {"user_id": user_id, "now": now}).first()
    if row is None:
        return False, None
    if row.cooldown_id is None:
        return True, None
    membership = couples.require_membership(session, user_id)
    cooldown = session.get(Cooldown, row.cooldown_id)
    assert cooldown is not None
    return True, _cooldown_view(session, cooldown, membership.couple, user_id, now)


@functools.cache
def _cooldown_status_query():  # type: ignore[no-untyped-def]
    """The user's current couple and the id of a cooldown running in it (or None)."""
    return (
        select(Membership.couple_id, Cooldown.id.label("cooldown_id"))
        .outerjoin(
            Cooldown,
            and_(
                Cooldown.couple_id == Membership.couple_id,
                Cooldown.ended_at.is_(None),
                Cooldown.planned_end_at > bindparam("now"),
            ),
        )
        .join(Couple, Couple.id == Membership.couple_id)
        .where(
            Membership.user_id == bindparam("user_id"),
            Membership.left_at.is_(None),
            Couple.ended_at.is_(None),
        )
        .order_by(Cooldown.id)
    )


def cooldown_mail_enabled(session: Session, user_id: int) -> bool:
    prefs = session.get(AgreementPreferences, user_id)
    return bool(prefs and prefs.cooldown_mail)


def set_cooldown_mail(session: Session, user_id: int, enabled: bool) -> None:
    """My own choice: mail me when my partner starts or ends a cooldown."""
    prefs = session.get(AgreementPreferences, user_id)
    if prefs is None:
        session.add(AgreementPreferences(user_id=user_id, cooldown_mail=enabled))
    else:
        prefs.cooldown_mail = enabled
    session.flush()


def _local_time(moment: dt.datetime, timezone: str) -> str:
    local = moment.astimezone(ZoneInfo(timezone))
    return f"{local:%H:%M} ({timezone})"


def _cooldown_mail(
    session: Session, kind: str, cooldown: Cooldown, actor_id: int, key: str
) -> None:
    partner = couples.partner_of(session, actor_id)
    if partner is None or not cooldown_mail_enabled(session, partner.id):
        return
    enqueue(
        session,
        kind=kind,
        to_address=partner.email,
        recipient_user_id=partner.id,
        dedupe_key=f"{kind}:{cooldown.id}:{key}",
        context={
            "name": partner.display_name,
            "partner": _user(session, actor_id).display_name,
            "back_at": _local_time(cooldown.planned_end_at, partner.timezone),
            "cooldown_id": cooldown.id,
        },
    )


def cooldown_mail_still_due(
    session: Session, message: OutboxMessage, now: dt.datetime
) -> str | None:
    """The mail that the partner started (or extended) a cooldown, "back at 21:40",
    checked again when it goes (a failed send is retried after the recipient's quiet
    hours): not once that cooldown is over, when it would only confuse."""
    cooldown_id = context_id(message, "cooldown_id")
    if cooldown_id is None:
        return None
    cooldown = session.get(Cooldown, cooldown_id)
    if cooldown is None:
        return "the cooldown is gone"
    ended = cooldown.ended_at if cooldown.ended_at is not None else cooldown.planned_end_at
    return "the cooldown is over" if ended <= now else None


def start_cooldown(
    session: Session, user_id: int, *, now: dt.datetime | None = None
) -> CooldownView:
    """'I need a cooldown'. If one is already running, that one is returned (pressing
    twice, or both at once, is one cooldown)."""
    now = now or utcnow()
    couple = couples.require_active_couple(session, user_id)
    _close_elapsed(session, couple.id, now)
    existing = _open_cooldown(session, couple.id, now)
    if existing is not None:
        return _cooldown_view(session, existing, couple, user_id, now)
    version_id, minutes, _ = _cooldown_terms(session, couple.id, now)
    cooldown = Cooldown(
        couple_id=couple.id,
        agreement_version_id=version_id,
        started_by_id=user_id,
        started_at=now,
        planned_end_at=now + dt.timedelta(minutes=minutes),
    )
    try:
        with session.begin_nested():
            session.add(cooldown)
    except IntegrityError:
        # The partner pressed at the same moment: theirs is the cooldown.
        existing = _open_cooldown(session, couple.id, now)
        assert existing is not None
        return _cooldown_view(session, existing, couple, user_id, now)
    _cooldown_mail(session, "cooldown_started", cooldown, user_id, "start")
    return _cooldown_view(session, cooldown, couple, user_id, now)


def _running(session: Session, user_id: int, now: dt.datetime) -> tuple[Couple, Cooldown]:
    couple = couples.require_active_couple(session, user_id)
    cooldown = _open_cooldown(session, couple.id, now)
    if cooldown is None:
        raise NotAllowed("There is no cooldown running. It may have just ended.")
    return couple, cooldown


def end_cooldown(session: Session, user_id: int, *, now: dt.datetime | None = None) -> None:
    """End the running cooldown early (either partner: both are ready to talk)."""
    now = now or utcnow()
    _, cooldown = _running(session, user_id, now)
    cooldown.ended_at = now
    cooldown.ended_by_id = user_id
    session.flush()
    _cooldown_mail(session, "cooldown_ended", cooldown, user_id, "end")


def extend_cooldown(
    session: Session, user_id: int, *, now: dt.datetime | None = None
) -> CooldownView:
    """Add the agreed length once more, as often as the cooldown agreement allows (once
    unless the couple agreed otherwise)."""
    now = now or utcnow()
    couple, cooldown = _running(session, user_id, now)
    _, minutes, _, allowed = _cooldown_agreement(session, couple.id, cooldown.started_at)
    if cooldown.extensions >= allowed:
        times = {0: "may not be extended", 1: "was already extended once"}.get(
            allowed, f"was already extended {allowed} times"
        )
        raise NotAllowed(
            f"This cooldown {times}, as you agreed. When it ends, come back to each "
            "other, even if only to agree on a time to continue."
        )
    cooldown.planned_end_at = cooldown.planned_end_at + dt.timedelta(minutes=minutes)
    cooldown.extended_at = now
    cooldown.extended_by_id = user_id
    cooldown.extensions += 1
    session.flush()
    key = "extend" if cooldown.extensions == 1 else f"extend{cooldown.extensions}"
    _cooldown_mail(session, "cooldown_extended", cooldown, user_id, key)
    return _cooldown_view(session, cooldown, couple, user_id, now)


def _own_cooldown(session: Session, couple: Couple, cooldown_id: int) -> Cooldown:
    cooldown = session.get(Cooldown, cooldown_id)
    if cooldown is None or cooldown.couple_id != couple.id:
        raise NotFound("No such cooldown.")
    return cooldown


def save_cooldown_note(
    session: Session,
    user_id: int,
    cooldown_id: int,
    note: str,
    *,
    now: dt.datetime | None = None,
) -> None:
    """My private note on a cooldown; my partner never sees it. Empty removes it."""
    now = now or utcnow()
    couple = couples.require_membership(session, user_id).couple
    cooldown = _own_cooldown(session, couple, cooldown_id)
    clean = _clean_note(note)
    existing = session.scalar(
        select(CooldownNote).where(
            CooldownNote.cooldown_id == cooldown.id, CooldownNote.author_id == user_id
        )
    )
    if clean is None:
        if existing is not None:
            session.delete(existing)
    elif existing is None:
        session.add(
            CooldownNote(cooldown_id=cooldown.id, author_id=user_id, note=clean, written_at=now)
        )
    else:
        existing.note = clean
        existing.written_at = now
    session.flush()


def cooldown_log(
    session: Session, user_id: int, *, now: dt.datetime | None = None, limit: int = 50
) -> list[CooldownLogEntry]:
    """The couple's cooldowns, newest first, each with only my own note."""
    now = now or utcnow()
    couple = couples.require_membership(session, user_id).couple
    names = _names(session, couple, user_id)
    rows = session.execute(
        select(Cooldown, CooldownNote.note)
        .outerjoin(
            CooldownNote,
            and_(CooldownNote.cooldown_id == Cooldown.id, CooldownNote.author_id == user_id),
        )
        .where(Cooldown.couple_id == couple.id)
        .order_by(Cooldown.started_at.desc(), Cooldown.id.desc())
        .limit(limit)
    )
    rows = rows.all()
    from agreements.cooldown_returns import latest_returns

    returned = latest_returns(session, [c.id for c, _ in rows], now)
    entries = []
    for cooldown, note in rows:
        ended = cooldown.ended_at
        if ended is None and cooldown.planned_end_at <= now:
            ended = cooldown.planned_end_at
        entries.append(
            CooldownLogEntry(
                cooldown_id=cooldown.id,
                started_by=names.get(cooldown.started_by_id, "A former partner"),
                started_by_me=cooldown.started_by_id == user_id,
                started_at=cooldown.started_at,
                planned_end_at=cooldown.planned_end_at,
                ended_at=ended,
                ended_early=ended is not None and ended < cooldown.planned_end_at,
                extended=cooldown.extended_at is not None,
                my_note=note,
                returned=returned.get(cooldown.id),
            )
        )
    return entries


def cooldowns_per_month(
    session: Session, user_id: int, *, now: dt.datetime | None = None, months: int = 12
) -> list[tuple[dt.date, int]]:
    """Cooldowns started per calendar month (in my time zone), for the last ``months``
    months including this one, oldest first; months without any count 0."""
    membership = couples.require_membership(session, user_id)
    return cooldowns_per_month_of(
        session, membership.couple_id, membership.user.timezone, now=now, months=months
    )


@functools.cache
def _cooldown_starts_query():  # type: ignore[no-untyped-def]
    """When the couple's cooldowns started, between two moments (built once: the trends
    page asks on every run)."""
    return select(Cooldown.started_at).where(
        Cooldown.couple_id == bindparam("couple_id"),
        Cooldown.started_at >= bindparam("start"),
        Cooldown.started_at <= bindparam("now"),
    )


def cooldowns_per_month_of(
    session: Session,
    couple_id: int,
    timezone: str | None,
    *,
    now: dt.datetime | None = None,
    months: int = 12,
) -> list[tuple[dt.date, int]]:
    """:func:`cooldowns_per_month` for a couple the caller has already authorized, counted
    in ``timezone`` (the viewer's)."""
    now = now or utcnow()
    zone = ZoneInfo(timezone or "UTC")
    this_month = now.astimezone(zone).date().replace(day=1)
    first = this_month - relativedelta(months=months - 1)
    start_utc = dt.datetime.combine(first, dt.time(), tzinfo=zone).astimezone(dt.UTC)
    counts = {first + relativedelta(months=i): 0 for i in range(months)}
    for started_at in session.scalars(
        _cooldown_starts_query(), {"couple_id": couple_id, "start": start_utc, "now": now}
    ):
        month = started_at.astimezone(zone).date().replace(day=1)
        if month in counts:
            counts[month] += 1
    return sorted(counts.items())


def cooldown_history_of(
    session: Session, couple_id: int, since: dt.datetime, now: dt.datetime
) -> list[tuple[dt.datetime, int, str | None]]:
    """For the check-ins' warnings, a couple the caller has already authorized: each
    cooldown started between ``since`` and ``now``, oldest first, as (started, times
    extended, how the two came back as last recorded or None)."""
    from agreements.cooldown_returns import latest_returns

    rows = session.execute(
        select(Cooldown.id, Cooldown.started_at, Cooldown.extensions)
        .where(
            Cooldown.couple_id == couple_id,
            Cooldown.started_at > since,
            Cooldown.started_at <= now,
        )
        .order_by(Cooldown.started_at, Cooldown.id)
    ).all()
    returned = latest_returns(session, [r.id for r in rows], now)
    return [(r.started_at, r.extensions, returned.get(r.id)) for r in rows]
