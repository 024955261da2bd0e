"""Years of monthly check-in history for one couple, written through the real services
with an injected clock (so the rows are exactly what Tend writes: answers, reveal,
topics, adherence, action items, cooldowns). Independent of `tend demo`."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine

from agreements import service as agreements
from checkins import service as checkins
from checkins import survey
from checkins.service import AdherenceInput, ConcernInput, Sheet
from couples import accounts
from couples import service as couples
from couples.db import transaction, utcnow
from couples.tokens import new_token, token_hash

PASSWORD = "a long enough secret"
TOPICS = ("Chores", "Money", "Time with friends", "Sleep", "Our weekends")


def _user(session, email: str, name: str, now: dt.datetime):  # type: ignore[no-untyped-def]
    return accounts.create_confirmed_user(
        session,
        accounts.Registration(email=email, display_name=name, password=PASSWORD, timezone="UTC"),
        now=now,
    )


def _sheet(month: int, who: int, agreement_ids: list[int]) -> Sheet:
    # Slowly varying answers, a little apart between the two partners.
    wave = (month // 3 + who) % 3
    values = {key: 3 + (wave + i) % 3 for i, key in enumerate(survey.SATISFACTION_KEYS)}
    values |= {"certainty": 3 + wave % 3, "safety": 4}
    sheet = Sheet(values=values, texts={"went_well": f"Month {month}: the Sunday walks"})
    for aid in agreement_ids:
        sheet.adherence[aid] = AdherenceInput(3 + wave % 3, 4, "")
    if month % 4 == who:
        topic = TOPICS[(month // 4) % len(TOPICS)]
        sheet.concerns = [
            ConcernInput(bothering=f"{topic} again", need="Talk it through", new_topic=topic)
        ]
    return sheet


def build(engine: Engine, *, years: int, tag: str, now: dt.datetime | None = None) -> int:
    """A couple with ``years`` of monthly rounds ending last month; returns a partner's id.
    The latest round is revealed and not yet reviewed (the review page shows it)."""
    now = now or utcnow()
    months = 12 * years
    start = now - dt.timedelta(days=30 * months + 30)
    with transaction(engine) as s:
        a = _user(s, f"a-{tag}@bench.example", "Alex", start)
        b = _user(s, f"b-{tag}@bench.example", "Sam", start)
        couples.create_couple(s, a.id, name=f"Bench {tag}", reunited_on=None, now=start)
        invitation = couples.invite_partner(s, a.id, b.email, now=start)
        token = new_token()
        invitation.token_hash = token_hash(token)
        couples.accept_invitation(s, token, b.id, now=start)
        ids = []
        for kind, title, params in (
            ("regular_checkin", "Monthly check-in", {"cadence": "monthly", "day_of_month": 1}),
            ("cooldown", "Five-minute cooldown", {"minutes": 5}),
        ):
            agreement = agreements.propose_agreement(
                s,
                a.id,
                kind=kind,
                title=title,
                body="We both commit to this.",
                params=params,
                now=start,
            )
            agreements.accept(s, b.id, agreement.id, now=start)
            ids.append(agreement.id)
        a_id, b_id = a.id, b.id
    for month in range(months):
        at = start + dt.timedelta(days=30 * (month + 1))
        with transaction(engine) as s:
            round_id = checkins.start_round_now(s, a_id, now=at).id
            for who, uid in enumerate((a_id, b_id)):
                sheet = _sheet(month, who, ids)
                checkins.save_answers(s, uid, round_id, sheet, now=at + dt.timedelta(hours=who))
                checkins.submit(s, uid, round_id, now=at + dt.timedelta(hours=who))
            if month % 2 == 0:
                checkins.add_action_item(
                    s, a_id, round_id, f"Plan month {month + 1} together", None, now=at
                )
            if month < months - 1:
                checkins.mark_reviewed(s, a_id, round_id, now=at + dt.timedelta(days=1))
            if month % 3 == 1:
                agreements.start_cooldown(s, b_id, now=at + dt.timedelta(days=3))
                agreements.end_cooldown(s, b_id, now=at + dt.timedelta(days=3, minutes=2))
    return a_id
