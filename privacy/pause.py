"""The quiet pause: stop my reminders and hide Tend's prompts, and tell no one.

Nothing here enqueues mail or writes anything a partner-facing page reads. The
scheduler's reminder planning calls :func:`is_paused` (or :func:`paused_user_ids` for a
batch) and skips paused people; pages that nudge ("your check-in is waiting") ask
:func:`is_paused` before drawing the nudge.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from couples.accounts import get_user
from couples.db import utcnow
from privacy.models import ReminderPause


def pause_reminders(session: Session, user_id: int, *, now: dt.datetime | None = None) -> None:
    """Pause; pausing again keeps the first time (idempotent)."""
    get_user(session, user_id)
    if session.get(ReminderPause, user_id) is None:
        session.add(ReminderPause(user_id=user_id, paused_at=now or utcnow()))
        session.flush()


def resume_reminders(session: Session, user_id: int) -> None:
    session.execute(delete(ReminderPause).where(ReminderPause.user_id == user_id))


def is_paused(session: Session, user_id: int) -> bool:
    return session.get(ReminderPause, user_id) is not None


def paused_since(session: Session, user_id: int) -> dt.datetime | None:
    pause = session.get(ReminderPause, user_id)
    return pause.paused_at if pause else None


def paused_user_ids(session: Session, user_ids: Iterable[int] | None = None) -> set[int]:
    """The paused among ``user_ids`` (or everyone paused), for planning in one query."""
    query = select(ReminderPause.user_id)
    if user_ids is not None:
        query = query.where(ReminderPause.user_id.in_(list(user_ids)))
    return set(session.scalars(query))
