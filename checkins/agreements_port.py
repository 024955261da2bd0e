"""The few things check-ins need from the agreements package, in one place.

Check-ins read agreements; agreements never import check-ins."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.orm import Session

try:
    from agreements import service as agreements
except ImportError:  # TODO(merge): the agreements branch provides this module
    agreements = None  # type: ignore[assignment]


def in_force(session: Session, couple_id: int, at: dt.datetime) -> list[Any]:
    if agreements is None:
        return []
    return list(agreements.agreements_in_force(session, couple_id, at))


def schedule(session: Session, couple_id: int, at: dt.datetime) -> Any | None:
    if agreements is None:
        return None
    return agreements.checkin_schedule(session, couple_id, at)


def cooldowns_per_month(
    session: Session, user_id: int, now: dt.datetime | None = None
) -> list[tuple[dt.date, int]]:
    if agreements is None:
        return []
    return list(agreements.cooldowns_per_month(session, user_id, now=now))
