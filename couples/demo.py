"""`tend demo`: a demo couple to look around with. Running it again changes nothing."""

from __future__ import annotations

import datetime as dt

from couples import accounts
from couples import service as couples
from couples.db import transaction, utcnow
from couples.models import Membership

DEMO_PASSWORD = "tend-demo-password"
DEMO_PARTNERS = (
    ("alex@demo.tend.example", "Alex", "Europe/Berlin"),
    ("sam@demo.tend.example", "Sam", "America/New_York"),
)
DEMO_COUPLE = "Alex & Sam"


def create_demo(now: dt.datetime | None = None) -> list[str]:
    now = now or utcnow()
    with transaction() as session:
        users = []
        for email, name, tz in DEMO_PARTNERS:
            user = accounts.user_by_email(session, email) or accounts.create_confirmed_user(
                session,
                accounts.Registration(
                    email=email, display_name=name, password=DEMO_PASSWORD, timezone=tz
                ),
                now=now,
            )
            users.append(user)
        alex, sam = users
        if couples.couple_of(session, alex.id) is None:
            couple = couples.create_couple(
                session,
                alex.id,
                name=DEMO_COUPLE,
                reunited_on=(now - dt.timedelta(days=548)).date(),
                now=now,
            )
            session.add(Membership(couple_id=couple.id, user_id=sam.id, seat=2, joined_at=now))
    return [
        f"Demo couple '{DEMO_COUPLE}' is ready. Sign in as either partner:",
        *(f"  {email}  password: {DEMO_PASSWORD}" for email, _, _ in DEMO_PARTNERS),
    ]
