"""What the mail machinery needs from accounts, which sit above it (docs/architecture.md).

Four questions: does this person exist; a single-use sign-in link for a mail, issued
when the mail leaves so its short lifetime starts then; a person's time zone, as a
SQL expression, so that a query of the mail machinery can read it beside its own tables
in one statement (dispatch pushing a reminder's retry out of quiet hours, in the
transaction that records the failure); and whether the couple space a person had has
ended (a prompt planned before one of them left is not sent after). ``couples.accounts`` installs
the answers when it is imported (listed in ``tend/registry.py``); the outbox, dispatch
and preferences ask through here and never import the couple kernel.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import ColumnElement
from sqlalchemy.orm import Session

from infra.composition import load_registrations


class UserExists(Protocol):
    def __call__(self, session: Session, user_id: int) -> bool: ...


class IssueSignInLink(Protocol):
    def __call__(
        self, session: Session, user_id: int, target: str, *, now: dt.datetime | None = None
    ) -> str: ...


class TimezoneOf(Protocol):
    """The time zone (an IANA name) of the user whose id ``user_id`` holds, as a scalar
    SQL expression (NULL when there is no such user), for use inside a larger query."""

    def __call__(self, user_id: ColumnElement[int | None]) -> ColumnElement[str | None]: ...


class CoupleSpaceEnded(Protocol):
    """Whether the person was in a couple space and is in none now: they left it, or
    their partner did (a person who never had one: False)."""

    def __call__(self, session: Session, user_id: int) -> bool: ...


@dataclass(frozen=True)
class Accounts:
    user_exists: UserExists
    issue_sign_in_link: IssueSignInLink
    timezone_of: TimezoneOf
    couple_space_ended: CoupleSpaceEnded


_installed: list[Accounts] = []


def install(accounts: Accounts) -> None:
    """Called once by ``couples.accounts`` at import (again on reload: the last wins)."""
    _installed[:] = [accounts]


def accounts() -> Accounts:
    if not _installed:
        load_registrations()
    if not _installed:
        raise RuntimeError("no accounts installed: tend.registry must import couples.accounts")
    return _installed[0]


def user_exists(session: Session, user_id: int) -> bool:
    return accounts().user_exists(session, user_id)


def issue_sign_in_link(
    session: Session, user_id: int, target: str, *, now: dt.datetime | None = None
) -> str:
    return accounts().issue_sign_in_link(session, user_id, target, now=now)


def timezone_of(user_id: ColumnElement[int | None]) -> ColumnElement[str | None]:
    return accounts().timezone_of(user_id)


def couple_space_ended(session: Session, user_id: int) -> bool:
    return accounts().couple_space_ended(session, user_id)
