"""What the mail machinery needs from accounts, which sit above it (docs/architecture.md).

Two questions: does this person exist, and a single-use sign-in link for a mail, issued
when the mail leaves so its short lifetime starts then. ``couples.accounts`` installs
the answers when it is imported (listed in ``tend/registry.py``); the outbox, dispatch
and preferences ask through here and never import the couple kernel.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy.orm import Session

from infra.composition import load_registrations


class UserExists(Protocol):
    def __call__(self, session: Session, user_id: int) -> bool: ...


class IssueSignInLink(Protocol):
    def __call__(
        self, session: Session, user_id: int, target: str, *, now: dt.datetime | None = None
    ) -> str: ...


@dataclass(frozen=True)
class Accounts:
    user_exists: UserExists
    issue_sign_in_link: IssueSignInLink


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
