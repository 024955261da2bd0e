"""A mail held by the partner's quiet hours is said where the person acts ("Mail to
Kestrel waits until 07:00 tomorrow, their morning"): before and after "Start a check-in
now", and in the guided start. Injected clocks, several zones, across DST; a paused
partner is never given away (the same words, paused or not)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from checkins import rounds
from couples import accounts
from couples import service as couples
from infra.composition import load_registrations
from notifications.models import OutboxMessage
from notifications.preferences import held_until, unwritten_mail, update_preferences
from notifications.timing import held_note, part_of_day
from tests.factories import mail_any_time, make_couple

load_registrations()  # the check-ins' prompt kinds


def _at(text: str, tz: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(tz)).astimezone(dt.UTC)


# --- the words ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hour", "part"),
    [
        (5, "morning"),
        (11, "morning"),
        (12, "afternoon"),
        (17, "evening"),
        (22, "night"),
        (2, "night"),
    ],
)
def test_parts_of_the_day(hour: int, part: str) -> None:
    assert part_of_day(hour) == part


def test_a_mail_held_overnight_says_tomorrow_morning() -> None:
    now = _at("2026-05-12 23:38", "Europe/Berlin")
    moment = _at("2026-05-13 07:00", "Europe/Berlin")
    assert held_note("Kestrel", moment, "Europe/Berlin", now=now, viewer_tz="Europe/Berlin") == (
        "Kestrel will get this at 07:00 tomorrow, their morning."
    )
    # After midnight the same 07:00 is today's.
    early = _at("2026-05-13 00:30", "Europe/Berlin")
    assert held_note("Kestrel", moment, "Europe/Berlin", now=early) == (
        "Kestrel will get this at 07:00, their morning."
    )


def test_in_another_zone_the_viewers_clock_is_beside_it() -> None:
    # 23:38 in New York is 05:38 in Berlin: the partner's quiet hours end at 07:00 theirs.
    now = _at("2026-05-12 23:38", "America/New_York")
    moment = _at("2026-05-13 07:00", "Europe/Berlin")
    note = held_note("Kestrel", moment, "Europe/Berlin", now=now, viewer_tz="America/New_York")
    # For Kestrel it is the same day (already the 13th in Berlin); for the viewer 01:00.
    assert note == "Kestrel will get this at 07:00, their morning (01:00 tomorrow for you)."


def test_across_the_spring_change_the_partners_07_00_stays_07_00() -> None:
    """Berlin moves to summer time at 02:00 on 29 March 2026; London an hour later in
    UTC terms (01:00 UTC for both). 07:00 Berlin that morning is 05:00 UTC, 06:00 in
    London: the note says so, on both clocks."""
    now = _at("2026-03-28 23:10", "Europe/Berlin")
    moment = _at("2026-03-29 07:00", "Europe/Berlin")
    assert moment == dt.datetime(2026, 3, 29, 5, 0, tzinfo=dt.UTC)
    note = held_note("Kestrel", moment, "Europe/Berlin", now=now, viewer_tz="Europe/London")
    assert (
        note == "Kestrel will get this at 07:00 tomorrow, their morning (06:00 tomorrow for you)."
    )


# --- when a held mail arrives -----------------------------------------------------------


@pytest.fixture
def pair(tx):  # type: ignore[no-untyped-def]
    with tx() as s:
        _c, a, b = make_couple(
            s,
            now=dt.datetime(2026, 1, 5, tzinfo=dt.UTC),
            timezones=("America/New_York", "Europe/Berlin"),
        )
        mail_any_time(s, a)  # a: no quiet hours; b keeps the default 22:00-07:00
    return a, b


def test_held_until_follows_the_partners_quiet_hours_across_dst(tx, pair) -> None:
    _a, b = pair
    with tx() as s:
        kestrel = s.get(type(b), b.id)
        # The evening before Berlin's spring change: held to 07:00 CEST (05:00 UTC).
        now = _at("2026-03-28 23:38", "Europe/Berlin")
        assert held_until(s, kestrel, "round_opened", now, now=now) == _at(
            "2026-03-29 07:00", "Europe/Berlin"
        )
        # The evening before the autumn change: 07:00 CET is 06:00 UTC.
        now = _at("2026-10-24 23:38", "Europe/Berlin")
        assert held_until(s, kestrel, "round_opened", now, now=now) == dt.datetime(
            2026, 10, 25, 6, 0, tzinfo=dt.UTC
        )
        # In the afternoon nothing waits.
        now = _at("2026-05-12 15:00", "Europe/Berlin")
        assert held_until(s, kestrel, "round_opened", now, now=now) is None


def test_a_paused_or_switched_off_partner_is_never_given_away(tx, pair) -> None:
    """Saying nothing only when b paused would tell a that b paused: a is told the same
    words whether b gets the mail, paused all reminders, or switched this one off."""
    a, b = pair
    now = _at("2026-05-12 23:38", "Europe/Berlin")
    with tx() as s:
        [said] = rounds.opening_mail_notes(s, a.id, now=now)
    assert said.startswith(f"Mail to {b.display_name} waits until 07:00 tomorrow")
    for paused, enabled in ((True, {}), (False, {"round_opened": False})):
        with tx() as s:
            update_preferences(
                s,
                b.id,
                paused=paused,
                enabled=enabled,
                preferred_hour=None,
                quiet_start=22,
                quiet_end=7,
            )
        with tx() as s:
            assert rounds.opening_mail_notes(s, a.id, now=now) == [said], (paused, enabled)


@pytest.mark.parametrize("paused", [False, True])
def test_after_starting_a_paused_partner_is_said_like_any_other(tx, pair, paused) -> None:
    """After the press: no mail is written to a paused b, and a is told exactly what a
    would be told had it been written."""
    a, b = pair
    now = _at("2026-05-12 23:38", "Europe/Berlin")
    with tx() as s:
        update_preferences(
            s, b.id, paused=paused, enabled={}, preferred_hour=None, quiet_start=22, quiet_end=7
        )
    with tx() as s:
        rounds.start_round_now(s, a.id, now=now)
        s.flush()
        written = list(
            s.scalars(select(OutboxMessage).where(OutboxMessage.recipient_user_id == b.id))
        )
        planned = [*written, *unwritten_mail(s)]
        notes = couples.held_mail_notes(s, a.id, planned, now=now, viewer_tz=a.timezone)
    assert bool(written) is not paused
    assert notes == [
        f"Mail to {b.display_name} waits until 07:00 tomorrow, their morning "
        "(01:00 tomorrow for you)."
    ]


def test_starting_a_check_in_late_says_when_the_partner_gets_the_mail(tx, pair) -> None:
    """23:38 in Berlin is 17:38 in New York: a starts a check-in; b's mail waits until
    07:00 Berlin, and what a is told matches the outbox row actually written."""
    a, b = pair
    now = _at("2026-05-12 23:38", "Europe/Berlin")
    with tx() as s:
        [before] = rounds.opening_mail_notes(s, a.id, now=now)
    assert before == (
        f"Mail to {b.display_name} waits until 07:00 tomorrow, their morning "
        "(01:00 tomorrow for you)."
    )
    written: list[OutboxMessage] = []
    with tx() as s:
        round_id = rounds.start_round_now(s, a.id, now=now).id
        s.flush()
        written = list(s.scalars(select(OutboxMessage).where(OutboxMessage.kind == "round_opened")))
        notes = couples.held_mail_notes(s, a.id, written, now=now, viewer_tz=a.timezone)
    assert round_id
    to_b = next(m for m in written if m.recipient_user_id == b.id)
    assert to_b.send_after == _at("2026-05-13 07:00", "Europe/Berlin")
    # a's own mail went at once (no quiet hours): only b is mentioned.
    assert notes == [
        f"Mail to {b.display_name} waits until 07:00 tomorrow, their morning "
        "(01:00 tomorrow for you)."
    ]


def test_the_guided_start_says_when_the_first_check_ins_mails_arrive(tx, pair) -> None:
    """A first check-in planned for 23:30 New York time opens at 05:30 in Berlin: b's
    mail waits until 07:00 there."""
    a, b = pair
    now = _at("2026-05-11 12:00", "America/New_York")
    opens = _at("2026-05-12 23:30", "America/New_York")
    with tx() as s:
        notes = rounds.opening_mail_notes(s, a.id, opens_at=opens, now=now, include_mine=True)
    assert notes == [
        f"Mail to {b.display_name} waits until 07:00 on Wednesday, their morning "
        "(01:00 on Wednesday for you)."
    ]
    with tx() as s:  # a with quiet hours too: their own mail waits as well
        update_preferences(
            s, a.id, paused=False, enabled={}, preferred_hour=None, quiet_start=22, quiet_end=7
        )
    with tx() as s:
        notes = rounds.opening_mail_notes(s, a.id, opens_at=opens, now=now, include_mine=True)
    assert notes[1] == "You will get yours at 07:00 on Wednesday, your morning."


# --- on the page (AppTest, the real clock) ----------------------------------------------


@pytest.mark.parametrize("paused", [False, True])
def test_the_check_in_page_says_it_before_and_after_starting(
    tx, tend_env, monkeypatch, paused
) -> None:  # type: ignore[no-untyped-def]
    """The partner's quiet hours are set around the current hour (whatever it is when
    the test runs), so the mail is held; the page says so next to the button and, after
    the press, at the top of the page drawn next. The same when the partner paused
    their reminders (no mail is written then): the pause is never given away."""
    import streamlit as st

    from tend import web
    from tests.test_checkins_pages import _app

    monkeypatch.setattr(web, "session_token", lambda: st.session_state.get(web.TEST_TOKEN_KEY))
    hour = dt.datetime.now(dt.UTC).hour
    with tx() as s:
        _c, a, b = make_couple(s, timezones=("UTC", "UTC"))
        mail_any_time(s, a)
        update_preferences(
            s,
            b.id,
            paused=paused,
            enabled={},
            preferred_hour=None,
            quiet_start=hour,
            quiet_end=(hour + 2) % 24,
        )
        token = accounts.start_session(s, a.id)
    end = f"{(hour + 2) % 24:02d}:00"
    at = _app(token, "checkin")
    at.run()
    assert not at.exception, at.exception
    # Markdown source: names are shown literally (escaped), so read it unescaped.
    text = " ".join(m.value for m in at.markdown).replace("\\", "")
    assert f"If you start one now: Mail to {b.display_name} waits until {end}" in text
    at.button(key=next(x.key for x in at.button if x.label == "Start a check-in now")).click().run()
    assert not at.exception, at.exception
    infos = [i.value.replace("\\", "") for i in at.info]
    assert any(f"Mail to {b.display_name} waits until {end}" in i for i in infos), infos


# --- prompts a partner causes: proposals, flags, reports ----------------------------------


def _prompt_to(s, user_id: int, kind: str) -> OutboxMessage:  # type: ignore[no-untyped-def]
    [row] = s.scalars(
        select(OutboxMessage).where(
            OutboxMessage.recipient_user_id == user_id, OutboxMessage.kind == kind
        )
    ).all()
    return row


@pytest.mark.parametrize(
    ("local", "arrives"),
    [
        # 23:38 in Berlin: b's quiet hours (22:00-07:00) hold it until 07:00 there.
        ("2026-05-12 23:38", "2026-05-13 07:00"),
        # The night the clocks go forward: 07:00 CEST, 05:00 UTC.
        ("2026-03-28 23:38", "2026-03-29 07:00"),
        # In the afternoon it goes at once.
        ("2026-05-12 15:00", "2026-05-12 15:00"),
    ],
)
def test_a_proposal_made_at_night_waits_for_the_partners_morning(
    tx, pair, local: str, arrives: str
) -> None:
    """Proposals, counters, flags and report proposals go when the partner's quiet hours
    end, and the one who acted is told so, like any held mail."""
    from agreements import proposals
    from agreements.templates import TEMPLATES
    from reports import content
    from reports import service as reports
    from reports.service import ShareInput

    a, b = pair
    now = _at(local, "Europe/Berlin")
    expected = _at(arrives, "Europe/Berlin")
    t = TEMPLATES["cooldown"]
    with tx() as s:
        agreement = proposals.propose_agreement(
            s, a.id, kind=t.key, title=t.title, body=t.body, params=t.params, now=now
        )
        s.flush()
        proposed = _prompt_to(s, b.id, "agreement_proposed")
        assert proposed.send_after == expected
        notes = couples.held_mail_notes(s, a.id, [proposed], now=now, viewer_tz=a.timezone)
        assert notes == (
            [
                f"Mail to {b.display_name} waits until 07:00 tomorrow, their morning "
                f"({expected.astimezone(ZoneInfo(a.timezone)):%H:%M} tomorrow for you)."
            ]
            if expected > now
            else []
        )
        agreement_id = agreement.id
    with tx() as s:  # b accepts in the morning; a flags it that night
        proposals.accept(s, b.id, agreement_id, now=now + dt.timedelta(hours=8))
        proposals.flag_for_review(s, a.id, agreement_id, note=None, now=now + dt.timedelta(days=1))
        s.flush()
        flagged = _prompt_to(s, b.id, "agreement_flagged")
        assert flagged.send_after == expected + dt.timedelta(days=1)
    with tx() as s:
        last_day = (now + dt.timedelta(days=30)).date()
        choice = ShareInput([content.SCORES], "Dr. R", "r@example.org", last_day)
        reports.propose_share(s, a.id, choice, now=now + dt.timedelta(days=1))
        s.flush()
        report = _prompt_to(s, b.id, "report_proposed")
        assert report.send_after == expected + dt.timedelta(days=1)
