"""A partner who stops answering: what the other sees, and the one mail.

When one partner has missed the last two closed rounds (``rules.MISSED_IN_A_ROW``) while
the other answered, the planner records a :class:`SoloNotice` and plans one gentle,
neutral mail to the one who stopped. From then on Tend sends them no check-in prompts
until they answer again or change their reminders (:func:`quiet_user_ids`, asked by the
planner); the quiet pause silences the one mail as it silences everything.

The partner who keeps answering sees a blameless note, may put it on the next talk's
agenda, and follows their own trend: read from their own answers only. Nothing of theirs
reaches the partner unless a round is answered by both (the reveal rule is untouched:
a round one answered alone closes unrevealed).
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session, aliased

from checkins import rules, survey
from checkins.models import MISSED, SUBMITTED, Answer, Participation, Round
from checkins.talk_models import SoloNotice
from couples import service as couples
from couples.models import Couple, User
from infra import bulk
from infra.db import utcnow
from infra.errors import NotAllowed
from notifications.models import NotificationPreference, OutboxMessage
from notifications.preferences import context_id, plan_reminder

MAIL_KIND = "answering_paused"


@dataclass(frozen=True)
class SoloView:
    """What the partner who keeps answering sees."""

    partner_name: str
    raise_requested: bool
    raised: bool  # already talked about at a talk


@dataclass(frozen=True)
class OwnPoint:
    opened_at: dt.datetime
    total: int  # my satisfaction, 0-20
    shared: bool  # the round was answered by both (revealed)


def _streak(session: Session, couple_id: int, user_id: int) -> tuple[int, int | None, bool]:
    """(closed rounds in a row the person missed, newest first; the first of them; whether
    the partner answered any of them)."""
    rows = session.execute(
        select(Round.id, Participation.user_id, Participation.status)
        .join(Participation, Participation.round_id == Round.id)
        .where(Round.couple_id == couple_id, Round.closed_at.is_not(None))
        .order_by(Round.opened_at.desc(), Round.id.desc())
        .limit(4 * rules.MISSED_IN_A_ROW)
    ).all()
    by_round: dict[int, dict[int, str]] = {}
    for round_id, uid, status in rows:
        by_round.setdefault(round_id, {})[uid] = status
    count, first, partner_answered = 0, None, False
    for round_id, statuses in by_round.items():
        if statuses.get(user_id) != MISSED:
            break
        count, first = count + 1, round_id
        partner_answered |= any(s == SUBMITTED for u, s in statuses.items() if u != user_id)
    return count, first, partner_answered


def notice_after_close(session: Session, closed: Sequence[Round], now: dt.datetime) -> int:
    """After rounds close: someone who answered is back (their notice ends); someone who
    missed two in a row while the partner answered gets a notice and the one mail.
    Safe to run again: a notice is unique per person and streak, the mail per notice.
    A couple space that ended (one of them left) gets no notice: nobody can answer there
    any more, and the one who left must hear nothing more from it."""
    mailed = 0
    for round_ in closed:
        couple = session.get(Couple, round_.couple_id)
        ended = couple is None or couple.ended_at is not None
        for p in round_.participations:
            if p.status == SUBMITTED:
                for notice in session.scalars(
                    select(SoloNotice).where(
                        SoloNotice.user_id == p.user_id, SoloNotice.back_at.is_(None)
                    )
                ):
                    notice.back_at = now
                continue
            if p.status != MISSED or ended:
                continue
            count, first, partner_answered = _streak(session, round_.couple_id, p.user_id)
            if count < rules.MISSED_IN_A_ROW or first is None or not partner_answered:
                continue
            exists = session.scalar(
                select(SoloNotice.id).where(
                    SoloNotice.user_id == p.user_id, SoloNotice.since_round_id == first
                )
            )
            if exists:
                continue
            notice = SoloNotice(
                couple_id=round_.couple_id, user_id=p.user_id, since_round_id=first, noticed_at=now
            )
            session.add(notice)
            session.flush()
            mailed += _mail_once(session, notice, now)
    return mailed


def notice_mail_still_due(
    session: Session, message: OutboxMessage, _now: dt.datetime
) -> str | None:
    """The one mail after two missed check-ins, checked again when it goes (it may wait
    for the morning): not once its recipient has answered a check-in since the notice."""
    notice_id = context_id(message, "notice_id")
    notice = session.get(SoloNotice, notice_id) if notice_id is not None else None
    if notice is None:
        return None
    answered_since = session.scalar(
        select(Participation.id)
        .where(
            Participation.user_id == notice.user_id,
            Participation.status == SUBMITTED,
            Participation.submitted_at >= notice.noticed_at,
        )
        .limit(1)
    )
    if notice.back_at is not None or answered_since is not None:
        return "recipient has answered a check-in since"
    return None


def _mail_once(session: Session, notice: SoloNotice, now: dt.datetime) -> int:
    user = session.get(User, notice.user_id)
    partner = couples.partner_of(session, notice.user_id)
    if user is None:
        return 0
    message = plan_reminder(
        session,
        user,
        kind=MAIL_KIND,
        # One per streak: the dedupe key is the notice's.
        dedupe_key=f"solo:{notice.id}",
        due_utc=now,
        context={
            "name": user.display_name,
            "partner": partner.display_name if partner else "",
            "notice_id": notice.id,  # for notice_mail_still_due
        },
        now=now,
        sign_in_target="/checkin",
    )
    if message is None:
        return 0
    notice.mailed_at = now
    return 1


@functools.cache  # built once: aliases and a correlated EXISTS cost ~1 ms to build
def _still_away():  # type: ignore[no-untyped-def]
    """SQL: the notice's person has not submitted any round opened after its streak began
    (answering again ends it at once, before the planner records ``back_at``)."""
    since = aliased(Round)
    later = aliased(Round)
    return ~exists(
        select(Participation.id)
        .join(later, later.id == Participation.round_id)
        .join(since, since.id == SoloNotice.since_round_id)
        .where(
            Participation.user_id == SoloNotice.user_id,
            Participation.status == SUBMITTED,
            later.opened_at > since.opened_at,
        )
    )


def quiet_user_ids(session: Session, user_ids: Iterable[int]) -> set[int]:
    """The people among ``user_ids`` Tend leaves alone: they stopped answering, got the
    one mail (or would have), and have neither answered since nor changed their reminders."""
    ids = list(set(user_ids))
    if not ids:
        return set()
    rows = session.execute(
        select(SoloNotice.user_id, SoloNotice.noticed_at, NotificationPreference.updated_at)
        .outerjoin(NotificationPreference, NotificationPreference.user_id == SoloNotice.user_id)
        .where(
            bulk.among(session, SoloNotice.user_id, ids),
            SoloNotice.back_at.is_(None),
            _still_away(),
        )
    ).all()
    return {uid for uid, noticed, changed in rows if changed is None or changed <= noticed}


def _active_notice(session: Session, user_id: int) -> SoloNotice | None:
    """The partner's notice the person sees: ongoing, in their couple."""
    couple = couples.couple_of(session, user_id)
    partner = couples.partner_of(session, user_id)
    if couple is None or partner is None:
        return None
    return session.scalar(
        select(SoloNotice)
        .where(
            SoloNotice.couple_id == couple.id,
            SoloNotice.user_id == partner.id,
            SoloNotice.back_at.is_(None),
            _still_away(),
        )
        .order_by(SoloNotice.id.desc())
        .limit(1)
    )


def solo_view(session: Session, user_id: int) -> SoloView | None:
    """The note for the partner who keeps answering, or None."""
    notice = _active_notice(session, user_id)
    if notice is None:
        return None
    return SoloView(
        couples.shown_name(session, user_id, notice.user_id),
        notice.raise_requested_at is not None,
        notice.raised_in_talk_id is not None,
    )


def raise_at_next_talk(session: Session, user_id: int, *, now: dt.datetime | None = None) -> None:
    """Put "answering the check-ins" on the next talk's agenda, in neutral words."""
    couples.require_active_couple(session, user_id)
    notice = _active_notice(session, user_id)
    if notice is None:
        raise NotAllowed("You have both been answering; there is nothing to raise.")
    if notice.raise_requested_at is None:
        notice.raise_requested_at = now or utcnow()
        notice.raise_requested_by_id = user_id


def own_trend(session: Session, user_id: int) -> list[OwnPoint]:
    """My satisfaction in every round I submitted in my couple, answered by both or not:
    from my own answers only (nothing of my partner's is read)."""
    couple = couples.couple_of(session, user_id)
    if couple is None:
        return []
    rows = session.execute(
        select(
            Round.opened_at,
            Round.revealed_at,
            func.sum(Answer.value_int),
            func.count(Answer.id),
        )
        .join(Participation, Participation.round_id == Round.id)
        .join(Answer, Answer.participation_id == Participation.id)
        .where(
            Round.couple_id == couple.id,
            Participation.user_id == user_id,
            Participation.status == SUBMITTED,
            Answer.item.in_(survey.SATISFACTION_KEYS),
            Answer.value_int.is_not(None),
        )
        .group_by(Round.id, Round.opened_at, Round.revealed_at)
        .order_by(Round.opened_at)
    ).all()
    return [
        OwnPoint(opened_at, int(total), revealed is not None)
        for opened_at, revealed, total, count in rows
        if count == len(survey.SATISFACTION_KEYS)
    ]
