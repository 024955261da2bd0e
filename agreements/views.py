"""Agreements' views handed to pages and other packages (the check-ins read
:class:`AgreementInForce` and :class:`CheckinSchedule` through checkins.agreements_port),
and the limits on what is typed.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

MAX_TITLE = 200
MAX_BODY = 4000
MAX_NOTE = 2000
DEFAULT_COOLDOWN_MINUTES = 5
DEFAULT_COOLDOWN_EXTENSIONS = 1  # times a cooldown may be extended unless agreed otherwise
MAX_COOLDOWN_EXTENSIONS = 3
# PostgreSQL cannot store NUL in text: refused with a message, never a crash.
NUL_PROBLEM = "This contains a character that cannot be saved (a NUL character). Remove it."


# --- views handed to pages and other packages ------------------------------------------


@dataclass(frozen=True)
class AgreementInForce:
    agreement_id: int
    version_id: int
    kind: str  # template key: "regular_checkin", "cooldown", "therapy", ... or "custom"
    title: str
    body: str  # what we each commit to
    params: dict[str, Any]
    flagged_for_review: bool


@dataclass(frozen=True)
class CheckinSchedule:
    version_id: int
    cadence: str  # "weekly" | "biweekly" | "monthly"
    weekday: int  # 0=Monday..6 (weekly/biweekly)
    day_of_month: int  # 1..28 (monthly)
    local_time: dt.time
    timezone: str  # IANA zone the couple chose for the conversation
    active_since: dt.datetime


@dataclass(frozen=True)
class VersionView:
    version_id: int
    number: int
    title: str
    body: str
    params: dict[str, Any]
    state: str
    proposed_by: str
    proposed_by_me: bool
    proposed_at: dt.datetime
    in_force_from: dt.datetime | None
    in_force_until: dt.datetime | None
    decline_reason: str | None


@dataclass(frozen=True)
class AgreementView:
    agreement_id: int
    kind: str
    status: str
    in_force: VersionView | None
    pending: VersionView | None
    latest: VersionView
    # Something waits for my yes or no: a proposal or change by my partner, or their
    # request to retire.
    awaiting_me: bool
    awaiting_partner: bool
    retire_requested_by: str | None
    retire_requested_by_me: bool
    flagged_for_review: bool
    flagged_by: str | None

    @property
    def title(self) -> str:
        return (self.in_force or self.latest).title


@dataclass(frozen=True)
class HistoryEntry:
    at: dt.datetime
    actor: str
    action: str
    version_number: int | None
    note: str | None
