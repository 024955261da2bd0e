"""What the quiet warnings (:mod:`checkins.quiet_rules`) read, as plain dataclasses: per
round each partner's sheet (status, when it came in, the revealed scores, whether
anything was written under "What went well", the agreement ratings), the cooldowns, the
therapy plan, the reviews and action items.

Only revealed rows of revealed rounds are read for anything a partner answered; nothing
from the safety lane is ever selected (the queries name the items they read).
"""

from __future__ import annotations

import datetime as dt
import functools
from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from checkins import agreements_port, survey
from checkins.history import COUPLE, IDS, _couple_param
from checkins.models import (
    MISSED,
    SUBMITTED,
    ActionItem,
    Adherence,
    Answer,
    Participation,
    Round,
)

INPUT_ROUNDS = 16
"""Rounds read back: the longest window a rule looks at (8) and as many before it, so the
on/off state of each warning is walked from well before the window."""
EVENTS_BEFORE = dt.timedelta(days=120)
"""Cooldowns and therapy read from this long before the first of those rounds."""


@dataclass(frozen=True)
class SheetInput:
    """One partner's sheet in one round."""

    status: str  # pending | draft | submitted | missed
    lateness: float | None = None  # share of the answering time gone when submitted, 0-1
    total: int | None = None  # satisfaction 0-20, revealed rounds only
    certainty: int | None = None  # 1-5, revealed rounds only
    wrote_went_well: bool | None = None  # revealed rounds only
    kept_self: dict[int, int] = field(default_factory=dict)  # agreement id -> 1-5
    kept_partner: dict[int, int] = field(default_factory=dict)

    @property
    def missed(self) -> bool:
        return self.status == MISSED


@dataclass(frozen=True)
class RoundInput:
    round_id: int
    opened_at: dt.datetime
    due_at: dt.datetime
    closed_at: dt.datetime | None = None
    revealed_at: dt.datetime | None = None
    reviewed_at: dt.datetime | None = None
    sheets: dict[int, SheetInput] = field(default_factory=dict)  # user id -> sheet
    agreement_titles: dict[int, str] = field(default_factory=dict)


@dataclass(frozen=True)
class CooldownInput:
    started_at: dt.datetime
    extensions: int = 0
    # How the two came back afterwards, as last recorded: talked | not_yet | left | None.
    returned: str | None = None


@dataclass(frozen=True)
class TherapySessionInput:
    held_on: dt.date
    attended: bool


@dataclass(frozen=True)
class TherapyInput:
    agreement_id: int
    title: str
    frequency: str  # weekly | biweekly | monthly (as_needed is never read)
    since: dt.datetime  # in force since
    sessions: tuple[TherapySessionInput, ...] = ()  # oldest first
    appointments: tuple[dt.datetime, ...] = ()  # booked, not cancelled

    @property
    def frequency_words(self) -> str:
        return {"weekly": "every week", "biweekly": "every two weeks"}.get(
            self.frequency, "every month"
        )


@dataclass(frozen=True)
class ActionItemInput:
    created_at: dt.datetime
    done_at: dt.datetime | None = None


@dataclass(frozen=True)
class WarningInputs:
    now: dt.datetime
    names: dict[int, str]  # user id -> name as the viewer sees it
    rounds: tuple[RoundInput, ...] = ()  # oldest first
    cooldowns: tuple[CooldownInput, ...] = ()  # oldest first
    therapy: tuple[TherapyInput, ...] = ()
    action_items: tuple[ActionItemInput, ...] = ()


# --- reading them ------------------------------------------------------------------------------
@functools.cache
def _rounds_query():  # type: ignore[no-untyped-def]
    return (
        select(
            Round.id,
            Round.opened_at,
            Round.due_at,
            Round.closed_at,
            Round.revealed_at,
            Round.reviewed_at,
        )
        .where(Round.couple_id == COUPLE)
        .order_by(Round.opened_at.desc())
    )


@functools.cache
def _sheets_query():  # type: ignore[no-untyped-def]
    return select(
        Participation.id,
        Participation.round_id,
        Participation.user_id,
        Participation.status,
        Participation.submitted_at,
        Participation.satisfaction_total,
    ).where(Participation.round_id.in_(IDS))


@functools.cache
def _revealed_answers_query():  # type: ignore[no-untyped-def]
    """Certainty and whether anything was written under "What went well": revealed rows of
    revealed rounds, those two items by name (never anything of the safety lane)."""
    return (
        select(
            Participation.id,
            Answer.item,
            Answer.value_int,
            func.length(func.coalesce(Answer.value_text, "")) > 0,
        )
        .join(Participation, Participation.id == Answer.participation_id)
        .join(Round, Round.id == Participation.round_id)
        .where(*revealed_items(survey.CERTAINTY.key, survey.WENT_WELL.key))
    )


def revealed_items(*items: str) -> tuple:  # type: ignore[type-arg]
    """The conditions of every warning query over answers: the rounds asked for, revealed
    ones only, revealed rows only, the named items only (never the safety lane)."""
    return (
        Round.id.in_(IDS),
        Round.revealed_at.is_not(None),
        Answer.visibility == survey.REVEALED,
        Answer.item.in_(items),
    )


@functools.cache
def _adherence_query():  # type: ignore[no-untyped-def]
    return (
        select(
            Participation.id,
            Adherence.agreement_id,
            Adherence.kept_self,
            Adherence.kept_partner,
        )
        .join(Participation, Participation.id == Adherence.participation_id)
        .join(Round, Round.id == Participation.round_id)
        .where(Round.id.in_(IDS), Round.revealed_at.is_not(None))
    )


@functools.cache
def _items_query():  # type: ignore[no-untyped-def]
    return select(ActionItem.created_at, ActionItem.done_at).where(ActionItem.couple_id == COUPLE)


def warning_inputs(
    session: Session, couple_id: int, names: dict[int, str], now: dt.datetime
) -> WarningInputs:
    """Everything the quiet warnings read for one couple (already authorized), in a fixed
    number of statements whatever the history's length."""
    at_couple = _couple_param(couple_id)
    rows = session.execute(_rounds_query().limit(INPUT_ROUNDS), at_couple).all()
    rows.reverse()
    ids = [r.id for r in rows]
    sheets: dict[int, dict[int, dict]] = defaultdict(dict)
    by_participation: dict[int, dict] = {}
    opened = {r.id: r for r in rows}
    for pid, rid, uid, status, submitted_at, total in session.execute(
        _sheets_query(), {"ids": ids}
    ):
        r = opened[rid]
        lateness = None
        if status == SUBMITTED and submitted_at is not None:
            span = (r.due_at - r.opened_at).total_seconds()
            used = (submitted_at - r.opened_at).total_seconds()
            lateness = min(1.0, max(0.0, used / span)) if span > 0 else None
        sheet = {
            "status": status,
            "lateness": lateness,
            "total": total if r.revealed_at is not None else None,
            "kept_self": {},
            "kept_partner": {},
        }
        if r.revealed_at is not None:
            sheet["wrote_went_well"] = False
        sheets[rid][uid] = by_participation[pid] = sheet
    for pid, item, value, written in session.execute(_revealed_answers_query(), {"ids": ids}):
        if item == survey.CERTAINTY.key:
            by_participation[pid]["certainty"] = value
        else:
            by_participation[pid]["wrote_went_well"] = bool(written)
    for pid, agreement_id, kept_self, kept_partner in session.execute(
        _adherence_query(), {"ids": ids}
    ):
        if kept_self is not None:
            by_participation[pid]["kept_self"][agreement_id] = kept_self
        if kept_partner is not None:
            by_participation[pid]["kept_partner"][agreement_id] = kept_partner
    titles = agreements_port_titles(session, ids)
    rounds = tuple(
        RoundInput(
            round_id=r.id,
            opened_at=r.opened_at,
            due_at=r.due_at,
            closed_at=r.closed_at,
            revealed_at=r.revealed_at,
            reviewed_at=r.reviewed_at,
            sheets={uid: SheetInput(**s) for uid, s in sheets[r.id].items()},
            agreement_titles=titles.get(r.id, {}),
        )
        for r in rows
    )
    since = (rows[0].opened_at if rows else now) - EVENTS_BEFORE
    return WarningInputs(
        now=now,
        names=names,
        rounds=rounds,
        cooldowns=tuple(
            CooldownInput(started_at, extensions, returned)
            for started_at, extensions, returned in agreements_port.cooldown_history(
                session, couple_id, since, now
            )
        ),
        therapy=tuple(
            TherapyInput(
                agreement_id=t.agreement_id,
                title=t.title,
                frequency=t.frequency,
                since=t.since,
                sessions=tuple(TherapySessionInput(d, a) for d, a in t.sessions),
                appointments=t.appointments,
            )
            for t in agreements_port.therapy_history(session, couple_id, now)
            if t.frequency in ("weekly", "biweekly", "monthly")
        ),
        action_items=tuple(
            ActionItemInput(created_at, done_at)
            for created_at, done_at in session.execute(_items_query(), at_couple)
        ),
    )


def agreements_port_titles(session: Session, round_ids: list[int]) -> dict[int, dict[int, str]]:
    """The agreements pinned to each round, with their titles as they read then."""
    from checkins.models import RoundAgreement

    titles: dict[int, dict[int, str]] = defaultdict(dict)
    for rid, aid, title in session.execute(
        select(RoundAgreement.round_id, RoundAgreement.agreement_id, RoundAgreement.title).where(
            RoundAgreement.round_id.in_(round_ids)
        )
    ):
        titles[rid][aid] = title
    return titles
