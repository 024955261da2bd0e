"""The charter's review day through the real services on SQLite and PostgreSQL, on an
injected clock: on the morning of the review day of the charter in force, each partner
gets one neutral mail in their own zone (one partner in Auckland, one in Los Angeles,
the day of Auckland's DST change), once per charter and day; a new agreed day reminds
again; a charter not (yet) agreed reminds no one; the quiet pause and a partner who left
are respected; the mail carries no typed word; the charter page says the review is due."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from charter import consent, review, words
from charter.consent import CauseInput
from couples import accounts
from couples import service as couples
from infra.composition import load_registrations
from infra.db import transaction, utcnow
from infra.settings import Settings
from notifications import preferences, rendering, scheduler
from notifications.models import OutboxMessage
from tests.factories import make_couple, set_reminders

UTC = dt.UTC
H = dt.timedelta(hours=1)
MINUTE = dt.timedelta(minutes=1)
AUCKLAND, LOS_ANGELES = "Pacific/Auckland", "America/Los_Angeles"
# Auckland leaves daylight saving at 03:00 on 5 April 2026 (NZDT UTC+13 -> NZST UTC+12):
# 09:00 that morning is 21:00 UTC the day before, not 20:00. Los Angeles is on PDT (UTC-7).
REVIEW = dt.date(2026, 4, 5)
AUCKLAND_MORNING = dt.datetime(2026, 4, 4, 21, 0, tzinfo=UTC)
LA_MORNING = dt.datetime(2026, 4, 5, 16, 0, tzinfo=UTC)
CANARY = "ZEBRA-CANARY-4471"


@pytest.fixture
def couple(tx, now):  # type: ignore[no-untyped-def]
    """A in Auckland, B in Los Angeles, default notification preferences (quiet hours
    22-07, which 09:00 is outside of)."""
    with tx() as s:
        c, a, b = make_couple(s, now=now - 30 * 24 * H, timezones=(AUCKLAND, LOS_ANGELES))
        return c.id, a, b


def _agree_charter(tx, a, b, review_on: dt.date, at: dt.datetime, *, canary: str = "") -> None:  # type: ignore[no-untyped-def]
    """A proposes (or changes) the charter, B answers with B's own commitment, A says yes."""
    with tx() as s:
        consent.propose_charter(
            s,
            a.id,
            [
                CauseInput(
                    "trust", what=f"I call when late {canary}", notice=f"No waiting {canary}"
                ),
                CauseInput(words.OWN, own_title=f"Weekends {canary}", what="x", notice="y"),
            ],
            review_on,
            now=at,
        )
        consent.propose_charter(
            s,
            b.id,
            [
                CauseInput("trust", what=f"I say where I am {canary}", notice="You stop asking"),
                CauseInput(words.OWN, own_title=f"Weekends {canary}", what="z", notice="w"),
            ],
            review_on,
            now=at + H,
        )
        consent.agree(s, a.id, now=at + 2 * H)


def _reminders(tx) -> list[OutboxMessage]:  # type: ignore[no-untyped-def]
    with tx() as s:
        return list(
            s.scalars(
                select(OutboxMessage)
                .where(OutboxMessage.kind == review.KIND)
                .order_by(OutboxMessage.id)
            )
        )


def _plan(tx, at: dt.datetime) -> int:  # type: ignore[no-untyped-def]
    with tx() as s:
        return review.plan_review_reminders(s, at)


# --- the rule: has the review day come, in whose zone -----------------------------------------


def test_the_review_day_comes_at_each_ones_local_midnight() -> None:
    day = dt.date(2026, 4, 5)
    auckland_midnight = dt.datetime(2026, 4, 4, 11, 0, tzinfo=UTC)  # 00:00 NZDT (UTC+13)
    la_midnight = dt.datetime(2026, 4, 5, 7, 0, tzinfo=UTC)  # 00:00 PDT (UTC-7)
    assert not review.review_due(day, AUCKLAND, now=auckland_midnight - MINUTE)
    assert review.review_due(day, AUCKLAND, now=auckland_midnight)
    assert not review.review_due(day, LOS_ANGELES, now=la_midnight - MINUTE)
    assert review.review_due(day, LOS_ANGELES, now=la_midnight)
    assert review.review_due(day, LOS_ANGELES, now=la_midnight + 90 * 24 * H)  # still due
    assert not review.review_due(None, "UTC", now=la_midnight)
    # The reminder's moment: 09:00 local on that day, with that day's offset.
    assert review.review_reminder_at(day, AUCKLAND) == AUCKLAND_MORNING
    assert review.review_reminder_at(day, LOS_ANGELES) == LA_MORNING
    assert review.review_reminder_at(dt.date(2026, 4, 4), AUCKLAND) == dt.datetime(
        2026, 4, 3, 20, 0, tzinfo=UTC
    )  # the day before: still NZDT


# --- the reminders -------------------------------------------------------------------------


def test_each_partner_gets_one_reminder_on_the_morning_of_the_day_in_their_own_zone(
    tx, engine, now, couple
) -> None:
    _cid, a, b = couple
    _agree_charter(tx, a, b, REVIEW, now)
    # Through the scheduler's own planning pass: the planner is registered.
    for at in (
        now + 3 * H,
        dt.datetime(2026, 4, 4, 11, 0, tzinfo=UTC) - MINUTE,  # Auckland: 4 April still
        AUCKLAND_MORNING - MINUTE,  # Auckland: the day, 08:59
    ):
        assert not scheduler.plan_pass(at, engine).failed
        assert _reminders(tx) == [], at
    assert not scheduler.plan_pass(AUCKLAND_MORNING, engine).failed
    [first] = _reminders(tx)
    assert (first.recipient_user_id, first.to_address) == (a.id, a.email)
    assert first.send_after == AUCKLAND_MORNING
    # Los Angeles: 4 April still, then the morning of 5 April.
    assert not scheduler.plan_pass(LA_MORNING - MINUTE, engine).failed
    assert len(_reminders(tx)) == 1
    assert not scheduler.plan_pass(LA_MORNING, engine).failed
    rows = _reminders(tx)
    assert [(r.recipient_user_id, r.send_after) for r in rows] == [
        (a.id, AUCKLAND_MORNING),
        (b.id, LA_MORNING),
    ]
    # Again and again, later too: nothing more.
    for at in (LA_MORNING, LA_MORNING + MINUTE, LA_MORNING + 24 * H, LA_MORNING + 40 * 24 * H):
        assert _plan(tx, at) == 0
        assert not scheduler.plan_pass(at, engine).failed
    assert len(_reminders(tx)) == 2
    assert rows[0].context["review_on"] == "Sunday 05 April 2026"
    assert (rows[0].context["name"], rows[0].context["partner"]) == ("A", "B")
    assert rows[0].context["sign_in_target"] == "/charter"


def test_a_new_agreed_review_day_reminds_again_and_one_that_stays_does_not(tx, now, couple) -> None:
    _cid, a, b = couple
    _agree_charter(tx, a, b, REVIEW, now)
    # A change that keeps the day: version 3 is in force on the day, one reminder each.
    _agree_charter(tx, a, b, REVIEW, now + 24 * H, canary="again")
    assert _plan(tx, LA_MORNING) == 2
    assert _plan(tx, LA_MORNING + 4 * H) == 0
    # The next version sets a new day: each is reminded on its morning (NZST, PDT).
    later = dt.date(2026, 7, 1)
    _agree_charter(tx, a, b, later, LA_MORNING + 5 * H)
    assert _plan(tx, dt.datetime(2026, 6, 30, 20, 59, tzinfo=UTC)) == 0
    assert _plan(tx, dt.datetime(2026, 6, 30, 21, 0, tzinfo=UTC)) == 1
    assert _plan(tx, dt.datetime(2026, 7, 1, 16, 0, tzinfo=UTC)) == 1
    assert _plan(tx, dt.datetime(2026, 7, 2, 16, 0, tzinfo=UTC)) == 0
    rows = _reminders(tx)
    assert [(r.recipient_user_id, r.send_after) for r in rows[2:]] == [
        (a.id, dt.datetime(2026, 6, 30, 21, 0, tzinfo=UTC)),
        (b.id, dt.datetime(2026, 7, 1, 16, 0, tzinfo=UTC)),
    ]
    assert len({r.dedupe_key for r in rows}) == 4


def test_a_charter_not_agreed_reminds_no_one(tx, now, couple) -> None:
    _cid, a, b = couple
    with tx() as s:  # proposed, never answered
        consent.propose_charter(
            s, a.id, [CauseInput("trust", what="x", notice="y")], REVIEW, now=now
        )
    assert _plan(tx, LA_MORNING + 24 * H) == 0
    with tx() as s:
        assert not consent.charter_view(s, a.id, now=LA_MORNING + 24 * H).review_due
    # Agreed with a later day; a change with an earlier day only proposed: not its day.
    with tx() as s:
        consent.withdraw(s, a.id, now=now + H)
    _agree_charter(tx, a, b, dt.date(2026, 9, 1), now + 2 * H)
    with tx() as s:
        consent.propose_charter(
            s, b.id, [CauseInput("trust", what="b", notice="c")], REVIEW, now=now + 5 * H
        )
        assert consent.charter_view(s, a.id, now=now + 6 * H).pending is not None
    assert _plan(tx, LA_MORNING + 24 * H) == 0
    assert _reminders(tx) == []


def test_the_quiet_pause_and_a_partner_who_left_stop_the_reminder(tx, now, couple) -> None:
    _cid, a, b = couple
    _agree_charter(tx, a, b, REVIEW, now)
    with tx() as s:
        set_reminders(s, b, paused=True, now=now)
        prefs = preferences.preferences_for(s, a.id)
        assert review.KIND in preferences.PROMPT_KINDS  # a switch on the preferences page
        assert not prefs.disabled_kinds
    assert _plan(tx, LA_MORNING) == 1
    assert [r.recipient_user_id for r in _reminders(tx)] == [a.id]
    # B resumes while the charter is still in force: B's reminder goes now, once.
    with tx() as s:
        set_reminders(s, b, now=LA_MORNING + H)
    assert _plan(tx, LA_MORNING + 2 * H) == 1
    assert _plan(tx, LA_MORNING + 3 * H) == 0
    # The next day comes after B has left the space: no one is reminded, nothing is due.
    later = dt.date(2026, 7, 1)
    _agree_charter(tx, a, b, later, LA_MORNING + 5 * H)
    with tx() as s:
        couples.leave_couple(s, b.id, now=LA_MORNING + 24 * H)
    assert _plan(tx, dt.datetime(2026, 7, 2, 16, 0, tzinfo=UTC)) == 0
    with tx() as s:
        assert not consent.charter_view(s, a.id, now=dt.datetime(2026, 7, 2, tzinfo=UTC)).review_due
    assert len(_reminders(tx)) == 2


def test_the_mail_is_neutral_no_typed_word_and_links_to_the_charter(tx, now, couple) -> None:
    _cid, a, b = couple
    _agree_charter(tx, a, b, REVIEW, now, canary=CANARY)
    with tx() as s:  # the canary is in the charter's words
        words_in_force = consent.charter_view(s, a.id, now=now + 3 * H).in_force
        assert words_in_force is not None and CANARY in str(words_in_force)
    assert _plan(tx, LA_MORNING) == 2
    load_registrations()
    settings = Settings(
        _env_file=None,
        base_url="https://tend.example.org",
        mail_from="Tend <tend@tend.example.org>",
        secret_key="k",
    )
    for row in _reminders(tx):
        assert CANARY not in str(row.context)
        email = rendering.render(row, settings)
        subject = str(email["Subject"])
        text = email.get_body(("plain",)).get_content()
        html = email.get_body(("html",)).get_content()
        for part in (subject, text, html):
            assert CANARY not in part
            assert "Weekends" not in part and "call when late" not in part
        assert "review your charter" in subject
        assert "Sunday 05 April 2026" in text and "Sunday 05 April 2026" in html
        assert "https://tend.example.org/charter" in text
        partner = "B" if row.recipient_user_id == a.id else "A"
        assert f"you and {partner} set to review" in text


def test_the_charter_view_says_due_in_the_viewers_own_zone(tx, now, couple) -> None:
    _cid, a, b = couple
    _agree_charter(tx, a, b, REVIEW, now)
    at = dt.datetime(2026, 4, 4, 12, 0, tzinfo=UTC)  # 5 April in Auckland, 4th in LA
    with tx() as s:
        assert not consent.charter_view(s, a.id, now=at - 2 * H).review_due
        assert consent.charter_view(s, a.id, now=at).review_due
        assert not consent.charter_view(s, b.id, now=at).review_due
        assert consent.charter_view(s, b.id, now=LA_MORNING).review_due


# --- the page ---------------------------------------------------------------------------


def _page_text(token: str) -> str:
    from tests.test_agreements_pages import _open
    from tests.test_agreements_pages import _signed_in as _app

    at: AppTest = _app(token)
    at.run()
    _open(at, "charter")
    assert not at.exception
    return " ".join(str(e.value) for e in (*at.markdown, *at.caption, *at.info))


def test_the_charter_page_says_when_the_review_is_due(tend_env, engine) -> None:
    """On the real clock: one couple's review day was yesterday, the other's is to come."""
    real_now = utcnow()
    yesterday = real_now.date() - dt.timedelta(days=1)

    def tx():  # type: ignore[no-untyped-def]
        return transaction(engine)

    with tx() as s:
        _, a, b = make_couple(s, now=real_now - 20 * 24 * H)
        _, x, y = make_couple(s, "x@example.org", "y@example.org", now=real_now - 20 * 24 * H)
    _agree_charter(tx, a, b, yesterday, real_now - 10 * 24 * H)
    _agree_charter(tx, x, y, real_now.date() + dt.timedelta(days=30), real_now - 10 * 24 * H)
    with tx() as s:
        due_token, later_token = accounts.start_session(s, a.id), accounts.start_session(s, x.id)
    due = _page_text(due_token)
    assert "Your review day has come" in due and "Change the charter" in due
    later = _page_text(later_token)
    assert "In force" in later and "Your review day has come" not in later


def test_a_reminder_still_waiting_when_the_day_changes_is_not_sent(tx, now, couple) -> None:
    """A reminder held for a preferred hour is checked again when due: once the two
    agreed another review day, it no longer applies (the new day reminds of its own)."""
    _cid, a, b = couple
    _agree_charter(tx, a, b, REVIEW, now)
    assert _plan(tx, LA_MORNING) == 2
    rows = _reminders(tx)
    later = LA_MORNING + 4 * H
    with tx() as s:
        assert [preferences.held_back_reason(s, row, later) for row in rows] == [None, None]
    _agree_charter(tx, a, b, dt.date(2026, 7, 1), LA_MORNING + H)
    with tx() as s:
        assert [preferences.held_back_reason(s, row, later) for row in rows] == [
            "the charter's review day has changed"
        ] * 2
