"""The quiet pause: stop my reminders and hide Tend's prompts, and tell no one.

It is the "pause all reminders" of the notification preferences, reached from the
account page and the support panel as well. Nothing here enqueues mail or writes
anything a partner-facing page reads. Reminder planning (notifications.preferences
.plan_reminder) and dispatch (held_back_reason) skip paused people; pages that nudge
("your check-in is waiting") ask :func:`is_paused` before drawing the nudge.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from couples.accounts import get_user
from infra.db import utcnow
from notifications.models import NotificationPreference
from notifications.preferences import preferences_for


def pause_reminders(session: Session, user_id: int, *, now: dt.datetime | None = None) -> None:
    """Pause; pausing again keeps the first time (idempotent)."""
    get_user(session, user_id)
    prefs = session.get(NotificationPreference, user_id)
    if prefs is None:
        prefs = preferences_for(session, user_id)
        session.add(prefs)
    if prefs.paused_at is None:
        prefs.paused_at = now or utcnow()
    session.flush()


def resume_reminders(session: Session, user_id: int) -> None:
    prefs = session.get(NotificationPreference, user_id)
    if prefs is not None:
        prefs.paused_at = None


def paused_since(session: Session, user_id: int) -> dt.datetime | None:
    return preferences_for(session, user_id).paused_at


def is_paused(session: Session, user_id: int) -> bool:
    return paused_since(session, user_id) is not None


def paused_user_ids(session: Session, user_ids: Iterable[int] | None = None) -> set[int]:
    """The paused among ``user_ids`` (or everyone paused), for planning in one query."""
    query = select(NotificationPreference.user_id).where(
        NotificationPreference.paused_at.is_not(None)
    )
    if user_ids is not None:
        query = query.where(NotificationPreference.user_id.in_(list(user_ids)))
    return set(session.scalars(query))
