"""Coming back after a cooldown: the point of a cooldown is to return to the conversation,
so either partner can record how it went afterwards ("we talked it through", "not yet",
"we left it"). The latest record stands for the cooldown; the check-ins' warnings read it
(withdrawal after conflict) through checkins.agreements_port.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from agreements.models import Cooldown, CooldownReturn
from couples import service as couples
from infra.db import utcnow
from infra.errors import InvalidInput, NotAllowed, NotFound

OUTCOMES = {
    "talked": "We talked it through",
    "not_yet": "Not yet",
    "left": "We left it",
}


def record_return(
    session: Session,
    user_id: int,
    cooldown_id: int,
    outcome: str,
    *,
    now: dt.datetime | None = None,
) -> None:
    """My record of how we came back after a cooldown of our couple (changeable later)."""
    now = now or utcnow()
    couple = couples.require_active_couple(session, user_id)
    cooldown = session.get(Cooldown, cooldown_id)
    if cooldown is None or cooldown.couple_id != couple.id:
        raise NotFound("No such cooldown.")
    if outcome not in OUTCOMES:
        raise InvalidInput(
            {"outcome": "Choose how it went: talked it through, not yet, or left it."}
        )
    if cooldown.ended_at is None and cooldown.planned_end_at > now:
        raise NotAllowed("The cooldown is still running. Come back to it once it has ended.")
    row = session.scalar(
        select(CooldownReturn).where(
            CooldownReturn.cooldown_id == cooldown.id, CooldownReturn.user_id == user_id
        )
    )
    if row is None:
        session.add(
            CooldownReturn(cooldown_id=cooldown.id, user_id=user_id, outcome=outcome, at=now)
        )
    else:
        row.outcome, row.at = outcome, now
    session.flush()


def latest_returns(session: Session, cooldown_ids: list[int], now: dt.datetime) -> dict[int, str]:
    """cooldown id -> the latest outcome recorded by ``now`` (by either partner)."""
    out: dict[int, str] = {}
    if not cooldown_ids:
        return out
    for cooldown_id, outcome in session.execute(
        select(CooldownReturn.cooldown_id, CooldownReturn.outcome)
        .where(CooldownReturn.cooldown_id.in_(cooldown_ids), CooldownReturn.at <= now)
        .order_by(CooldownReturn.at, CooldownReturn.id)
    ):
        out[cooldown_id] = outcome
    return out
