"""Building users and couples through the real services, as people would."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from couples import accounts
from couples import service as couples
from couples.models import Couple, User
from infra.tokens import new_token, token_hash

PASSWORD = "a long enough secret"


def make_user(
    session: Session,
    email: str,
    name: str | None = None,
    *,
    timezone: str = "UTC",
    now: dt.datetime | None = None,
) -> User:
    return accounts.create_confirmed_user(
        session,
        accounts.Registration(
            email=email,
            display_name=name or email.split("@")[0].title(),
            password=PASSWORD,
            timezone=timezone,
        ),
        now=now,
    )


def make_couple(
    session: Session,
    first: str = "a@example.org",
    second: str = "b@example.org",
    *,
    name: str = "A & B",
    now: dt.datetime | None = None,
    timezones: tuple[str, str] = ("UTC", "UTC"),
) -> tuple[Couple, User, User]:
    """Two partners in one couple, joined through an invitation like real people."""
    a = make_user(session, first, timezone=timezones[0], now=now)
    b = make_user(session, second, timezone=timezones[1], now=now)
    couple = couples.create_couple(session, a.id, name=name, reunited_on=None, now=now)
    invitation = couples.invite_partner(session, a.id, second, now=now)
    # The raw token only travels in the mail; tests set a known one instead.
    token = new_token()
    invitation.token_hash = token_hash(token)
    couples.accept_invitation(session, token, b.id, now=now)
    return couple, a, b


def mail_any_time(session: Session, *users: User, now: dt.datetime | None = None) -> None:
    """Turn off the default quiet hours (22:00-07:00), so a test that waits for a prompt
    does not depend on the hour it runs at. ``now``: when the settings changed (a test
    on its own clock)."""
    for user in users:
        set_reminders(session, user, now=now)


def set_reminders(
    session: Session, user: User, *, paused: bool = False, now: dt.datetime | None = None
) -> None:
    """Reminders at any hour, all kinds on; ``paused``: the quiet pause."""
    from notifications.preferences import update_preferences

    update_preferences(
        session,
        user.id,
        paused=paused,
        enabled={},
        preferred_hour=None,
        quiet_start=None,
        quiet_end=None,
        now=now,
    )
