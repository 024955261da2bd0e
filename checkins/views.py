"""Check-ins' inputs and views handed to pages, the limits on what is typed, and the
check that refuses text that cannot be stored (nothing is cut silently).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from checkins import survey
from checkins.models import (
    CustomQuestion,
    RoundAgreement,
)

DEFAULT_DUE_DAYS = 5
MIN_DUE_DAYS, MAX_DUE_DAYS = 1, 14
NUDGE_AFTER = dt.timedelta(days=2)
CLOSING_NOTICE = dt.timedelta(days=1)
ROUND_PAGE = "/checkin"
MAX_CONCERNS = 10


NUL_PROBLEM = "This contains a character that cannot be saved (a NUL character). Remove it."


def _text_problem(text: str, limit: int) -> str | None:
    """Why ``text`` cannot be stored as typed, or None. Nothing is cut silently."""
    if "\x00" in text:
        return NUL_PROBLEM
    if len(text) > limit:
        return f"Keep it under {limit} characters."
    return None


# --- inputs and views -----------------------------------------------------------------
@dataclass
class AdherenceInput:
    kept_self: int | None = None
    kept_partner: int | None = None
    comment: str = ""


@dataclass
class ConcernInput:
    bothering: str = ""
    need: str = ""
    topic_id: int | None = None
    new_topic: str = ""


@dataclass
class Sheet:
    """One partner's answers in one round (what the page sends, and what it reads back)."""

    values: dict[str, int | None] = field(default_factory=dict)
    texts: dict[str, str] = field(default_factory=dict)
    adherence: dict[int, AdherenceInput] = field(default_factory=dict)
    concerns: list[ConcernInput] = field(default_factory=list)

    @property
    def satisfaction(self) -> int | None:
        return survey.satisfaction_total(self.values)


@dataclass(frozen=True)
class RoundQuestions:
    built_in: tuple[survey.Question, ...]
    custom: list[CustomQuestion]
    agreements: list[RoundAgreement]


@dataclass(frozen=True)
class RoundDates:
    """A round's id and moments, as plain values (a status is kept between page runs)."""

    id: int
    opened_at: dt.datetime
    due_at: dt.datetime
    reviewed_at: dt.datetime | None


@dataclass(frozen=True)
class RoundStatus:
    round: RoundDates
    phase: str  # answer | waiting | review | closed
    my_status: str
    partner_status: str
    partner_name: str
