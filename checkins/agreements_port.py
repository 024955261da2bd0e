"""The few things check-ins need from the agreements package, in one place.

Check-ins read agreements; agreements never import check-ins."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from agreements import cooldowns, therapy
from agreements import in_force as agreement_in_force
from agreements.therapy import TherapyHistory
from agreements.views import AgreementInForce, CheckinSchedule


def in_force(session: Session, couple_id: int, at: dt.datetime) -> list[AgreementInForce]:
    return agreement_in_force.agreements_in_force(session, couple_id, at)


def schedule(session: Session, couple_id: int, at: dt.datetime) -> CheckinSchedule | None:
    return agreement_in_force.checkin_schedule(session, couple_id, at)


def next_schedule_start(session: Session, couple_id: int, after: dt.datetime) -> dt.datetime | None:
    """When a check-in schedule agreed for later than ``after`` comes into force."""
    return agreement_in_force.next_checkin_schedule_from(session, couple_id, after)


def cooldowns_per_month(
    session: Session, user_id: int, now: dt.datetime | None = None
) -> list[tuple[dt.date, int]]:
    return cooldowns.cooldowns_per_month(session, user_id, now=now)


def cooldowns_per_month_of(
    session: Session,
    couple_id: int,
    timezone: str,
    now: dt.datetime | None = None,
    months: int = 12,
) -> list[tuple[dt.date, int]]:
    return cooldowns.cooldowns_per_month_of(session, couple_id, timezone, now=now, months=months)


def in_force_by_couple(
    session: Session, couple_ids: list[int], at: dt.datetime
) -> dict[int, list[tuple[AgreementInForce, dt.datetime]]]:
    """The agreements in force for a batch of couples, in one query."""
    return agreement_in_force.agreements_in_force_by_couple(session, couple_ids, at)


def schedule_among(in_force: list[tuple[AgreementInForce, dt.datetime]]) -> CheckinSchedule | None:
    """The check-in schedule among a couple's agreements in force (no query)."""
    return agreement_in_force.checkin_schedule_among(in_force)


def cooldown_history(
    session: Session, couple_id: int, since: dt.datetime, now: dt.datetime
) -> list[tuple[dt.datetime, int, str | None]]:
    """(started, times extended, how the two came back) per cooldown, oldest first."""
    return cooldowns.cooldown_history_of(session, couple_id, since, now)


def therapy_history(session: Session, couple_id: int, now: dt.datetime) -> list[TherapyHistory]:
    return therapy.therapy_history_of(session, couple_id, now)


def current_cooldown(
    session: Session, user_id: int, now: dt.datetime | None = None
) -> cooldowns.CooldownView | None:
    """The cooldown running in my couple right now (the talk pauses while it runs)."""
    return cooldowns.current_cooldown(session, user_id, now=now)


def start_cooldown(
    session: Session, user_id: int, now: dt.datetime | None = None
) -> cooldowns.CooldownView:
    """The cooldown button inside the talk: the same cooldown as the side menu's."""
    return cooldowns.start_cooldown(session, user_id, now=now)
