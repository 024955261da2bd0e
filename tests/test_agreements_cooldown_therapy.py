"""The cooldown tool, the therapy plan, and the agreement mails."""

from __future__ import annotations

import datetime as dt

import pytest
from icalendar import Calendar
from sqlalchemy import select

from agreements import cooldowns, proposals, therapy
from agreements.templates import TEMPLATES
from couples.models import User
from infra.errors import InvalidInput, NotAllowed, NotFound
from infra.settings import Settings
from notifications import rendering
from notifications.models import OutboxMessage
from tests.factories import make_couple

M = dt.timedelta(minutes=1)


@pytest.fixture
def couple(tx, now):  # type: ignore[no-untyped-def]
    with tx() as s:
        c, a, b = make_couple(s, now=now, timezones=("Europe/Berlin", "America/New_York"))
        return c.id, a.id, b.id


def _agree(tx, a, b, now, kind, **params):  # type: ignore[no-untyped-def]
    t = TEMPLATES[kind]
    with tx() as s:
        agreement_id = proposals.propose_agreement(
            s, a, kind=kind, title=t.title, body=t.body, params={**t.params, **params}, now=now
        ).id
        proposals.accept(s, b, agreement_id, now=now)
        return agreement_id


def _mails(s, kind):  # type: ignore[no-untyped-def]
    return list(
        s.scalars(
            select(OutboxMessage).where(OutboxMessage.kind == kind).order_by(OutboxMessage.id)
        )
    )


def test_cooldown_uses_the_agreed_minutes_and_both_partners_see_it(tx, now, couple) -> None:
    _, a, b = couple
    _agree(tx, a, b, now, "cooldown", minutes=20, during="Walk round the block")
    with tx() as s:
        started = cooldowns.start_cooldown(s, a, now=now)
        assert started.planned_end_at == now + 20 * M
    with tx() as s:
        seen = cooldowns.current_cooldown(s, b, now=now + 5 * M)
        assert seen is not None
        assert seen.started_by == "A" and not seen.started_by_me
        assert seen.seconds_left == 15 * 60
        assert seen.during == "Walk round the block"
        # Pressing again (either partner) is the same cooldown, not a second one.
        again = cooldowns.start_cooldown(s, b, now=now + 6 * M)
        assert again.cooldown_id == started.cooldown_id
    with tx() as s:
        assert cooldowns.current_cooldown(s, b, now=now + 21 * M) is None


def test_without_an_agreement_a_cooldown_lasts_five_minutes(tx, now, couple) -> None:
    _, a, _ = couple
    with tx() as s:
        assert cooldowns.start_cooldown(s, a, now=now).planned_end_at == now + 5 * M


def test_end_early_extend_once_and_the_log(tx, now, couple) -> None:
    _, a, b = couple
    _agree(tx, a, b, now, "cooldown", minutes=10)
    with tx() as s:
        first = cooldowns.start_cooldown(s, a, now=now).cooldown_id
    with tx() as s:
        extended = cooldowns.extend_cooldown(s, b, now=now + 2 * M)
        assert extended.planned_end_at == now + 20 * M and not extended.can_extend
    with tx() as s, pytest.raises(NotAllowed, match="extended once"):
        cooldowns.extend_cooldown(s, a, now=now + 3 * M)
    with tx() as s:
        cooldowns.end_cooldown(s, a, now=now + 12 * M)
    with tx() as s, pytest.raises(NotAllowed, match="no cooldown running"):
        cooldowns.end_cooldown(s, a, now=now + 13 * M)
    # A second one that simply runs out, then a third starts after it.
    with tx() as s:
        second = cooldowns.start_cooldown(s, b, now=now + 60 * M).cooldown_id
    with tx() as s:
        third = cooldowns.start_cooldown(s, a, now=now + 80 * M).cooldown_id
    with tx() as s:
        log = cooldowns.cooldown_log(s, a, now=now + 85 * M)
    assert [e.cooldown_id for e in log] == [third, second, first]
    assert log[0].ended_at is None
    assert log[1].ended_at == now + 70 * M and not log[1].ended_early
    assert log[2].ended_at == now + 12 * M and log[2].ended_early and log[2].extended
    assert log[2].planned_end_at == now + 20 * M


def test_private_note_is_seen_only_by_its_author(tx, now, couple) -> None:
    _, a, b = couple
    with tx() as s:
        cooldown_id = cooldowns.start_cooldown(s, a, now=now).cooldown_id
        _, c, _ = make_couple(s, "c@example.org", "d@example.org", now=now)
        other = c.id
    with tx() as s:
        cooldowns.save_cooldown_note(s, a, cooldown_id, "I felt cornered", now=now)
    with tx() as s:
        assert cooldowns.cooldown_log(s, a, now=now)[0].my_note == "I felt cornered"
        assert cooldowns.cooldown_log(s, b, now=now)[0].my_note is None
        with pytest.raises(NotFound):
            cooldowns.save_cooldown_note(s, other, cooldown_id, "x", now=now)
    with tx() as s:
        cooldowns.save_cooldown_note(s, a, cooldown_id, "  ", now=now)
    with tx() as s:
        assert cooldowns.cooldown_log(s, a, now=now)[0].my_note is None


def test_cooldown_mail_only_to_a_partner_who_opted_in(tx, now, couple) -> None:
    _, a, b = couple
    with tx() as s:
        cooldowns.start_cooldown(s, a, now=now)
        cooldowns.end_cooldown(s, a, now=now + M)
        assert _mails(s, "cooldown_started") == []
        cooldowns.set_cooldown_mail(s, b, True)
    with tx() as s:
        cooldowns.start_cooldown(s, a, now=now + 10 * M)
        cooldowns.extend_cooldown(s, a, now=now + 11 * M)
        cooldowns.end_cooldown(s, a, now=now + 12 * M)
    with tx() as s:
        [started] = _mails(s, "cooldown_started")
        assert started.to_address == "b@example.org"
        # B lives in New York: 09:40 UTC + 5 min is 05:45 there.
        assert started.context["back_at"] == "05:45 (America/New_York)"
        assert len(_mails(s, "cooldown_extended")) == 1
        assert [m.to_address for m in _mails(s, "cooldown_ended")] == ["b@example.org"]


def test_cooldowns_per_month_in_the_readers_time_zone(tx, now, couple) -> None:
    _, a, b = couple
    # 2026-02-28 23:30 UTC is already March in Berlin, still February in New York.
    edge = dt.datetime(2026, 2, 28, 23, 30, tzinfo=dt.UTC)
    for moment in (edge, dt.datetime(2026, 1, 10, 12, tzinfo=dt.UTC), now - 3 * M * 60):
        with tx() as s:
            cooldowns.start_cooldown(s, a, now=moment)
            cooldowns.end_cooldown(s, a, now=moment + M)
    with tx() as s:
        berlin = dict(cooldowns.cooldowns_per_month(s, a, now=now, months=4))
        new_york = dict(cooldowns.cooldowns_per_month(s, b, now=now, months=4))
    assert berlin == {
        dt.date(2025, 12, 1): 0,
        dt.date(2026, 1, 1): 1,
        dt.date(2026, 2, 1): 0,
        dt.date(2026, 3, 1): 2,
    }
    assert new_york[dt.date(2026, 2, 1)] == 1 and new_york[dt.date(2026, 3, 1)] == 1


def test_therapy_needs_an_active_therapy_agreement(tx, now, couple) -> None:
    _, a, b = couple
    cooldown_id = _agree(tx, a, b, now, "cooldown")
    with tx() as s, pytest.raises(NotAllowed, match="therapy agreement"):
        therapy.log_therapy_session(
            s, a, cooldown_id, held_on=now.date(), attendance="together", now=now
        )


def test_therapy_rating_is_shared_only_after_both_rate(tx, now, couple) -> None:
    _, a, b = couple
    therapy_id = _agree(tx, a, b, now, "therapy", therapist="Dr. Rivera")
    with tx() as s:
        session_id = therapy.log_therapy_session(
            s, a, therapy_id, held_on=now.date(), attendance="together", now=now
        ).id
    with tx() as s:
        therapy.rate_therapy_session(s, a, session_id, 4, now=now)
    with tx() as s:
        [mine] = therapy.therapy_plans(s, a, now=now)[0].sessions
        [theirs] = therapy.therapy_plans(s, b, now=now)[0].sessions
        assert mine.my_rating == 4 and mine.partner_rating is None and not mine.partner_has_rated
        # B sees that A answered, never what: not before B answers.
        assert theirs.my_rating is None and theirs.partner_has_rated
        assert theirs.partner_rating is None
        therapy.rate_therapy_session(s, a, session_id, 3, now=now)  # still changeable
    with tx() as s:
        therapy.rate_therapy_session(s, b, session_id, 2, now=now)
    with tx() as s:
        [mine] = therapy.therapy_plans(s, a, now=now)[0].sessions
        [theirs] = therapy.therapy_plans(s, b, now=now)[0].sessions
        assert (mine.my_rating, mine.partner_rating) == (3, 2)
        assert (theirs.my_rating, theirs.partner_rating) == (2, 3)
        # Each sees the other's rating beside the other's name.
        assert mine.partner_name == s.get(User, b).display_name
        assert theirs.partner_name == s.get(User, a).display_name
        assert mine.partner_name != theirs.partner_name
        with pytest.raises(NotAllowed, match="both rated"):
            therapy.rate_therapy_session(s, a, session_id, 1, now=now)
    with tx() as s:
        missed = therapy.log_therapy_session(
            s, b, therapy_id, held_on=now.date(), attendance="missed", now=now
        ).id
    with tx() as s, pytest.raises(NotAllowed, match="missed"):
        therapy.rate_therapy_session(s, a, missed, 3, now=now)
    with tx() as s, pytest.raises(InvalidInput):
        therapy.log_therapy_session(
            s, a, therapy_id, held_on=now.date() + dt.timedelta(days=3), attendance="x", now=now
        )


def test_next_appointment_ics_and_the_day_before_reminder(tx, now, couple) -> None:
    _, a, b = couple
    therapy_id = _agree(tx, a, b, now, "therapy", therapist="Dr. Rivera")
    # 29 March 2026 is the night Berlin moves to summer time: 18:00 there is 16:00 UTC.
    local = dt.datetime(2026, 3, 30, 18, 0)
    with tx() as s:
        with pytest.raises(InvalidInput):
            therapy.set_next_appointment(
                s,
                a,
                therapy_id,
                local_start=dt.datetime(2026, 3, 1, 9),
                timezone="Europe/Berlin",
                now=now,
            )
        first = therapy.set_next_appointment(
            s,
            a,
            therapy_id,
            local_start=local - dt.timedelta(days=1),
            timezone="Europe/Berlin",
            now=now,
        ).id
        appt = therapy.set_next_appointment(
            s,
            a,
            therapy_id,
            local_start=local,
            timezone="Europe/Berlin",
            location="Praxis am Park",
            now=now,
        )
        assert appt.starts_at == dt.datetime(2026, 3, 30, 16, 0, tzinfo=dt.UTC)
        appt_id = appt.id
    with tx() as s:
        plan = therapy.therapy_plans(s, b, now=now)[0]
        assert plan.next_appointment is not None
        assert plan.next_appointment.appointment_id == appt_id  # the earlier one was replaced
        assert first != appt_id
        ics = Calendar.from_ical(therapy.appointment_ics(s, b, appt_id))
        [event] = ics.walk("VEVENT")
        start = event.decoded("dtstart")
        assert start.astimezone(dt.UTC) == dt.datetime(2026, 3, 30, 16, 0, tzinfo=dt.UTC)
        assert str(event["location"]) == "Praxis am Park"
        assert "Dr. Rivera" in str(event["summary"])
        # Not due yet two days before; due within the last day; written once per person.
        assert (
            therapy.plan_therapy_reminders(s, now=dt.datetime(2026, 3, 28, 16, tzinfo=dt.UTC)) == 0
        )
        day_before = dt.datetime(2026, 3, 29, 17, tzinfo=dt.UTC)
        assert therapy.plan_therapy_reminders(s, now=day_before) == 2
        assert therapy.plan_therapy_reminders(s, now=day_before) == 0
        reminders = _mails(s, "therapy_appointment")
        by_address = {m.to_address: m.context["starts_at"] for m in reminders}
        assert by_address == {
            "a@example.org": "Monday 30 March, 18:00 (Europe/Berlin)",
            "b@example.org": "Monday 30 March, 12:00 (America/New_York)",
        }
    with tx() as s:
        _, c, _ = make_couple(s, "c@example.org", "d@example.org", now=now)
        with pytest.raises(NotFound):
            therapy.appointment_ics(s, c.id, appt_id)


SECRET_WORDS = "We whisper our secret pact"


@pytest.mark.parametrize(
    "kind",
    [
        "agreement_proposed",
        "agreement_flagged",
        "cooldown_started",
        "cooldown_extended",
        "cooldown_ended",
        "therapy_appointment",
    ],
)
def test_agreement_mails_render_and_never_carry_the_agreement_text(tx, now, couple, kind) -> None:
    _, a, b = couple
    with tx() as s:
        cooldowns.set_cooldown_mail(s, a, True)
        cooldowns.set_cooldown_mail(s, b, True)
        agreement_id = proposals.propose_agreement(
            s,
            a,
            kind="therapy",
            title=SECRET_WORDS,
            body=SECRET_WORDS + " body",
            params={"therapist": "Dr. Secretname", "frequency": "weekly"},
            now=now,
        ).id
        proposals.accept(s, b, agreement_id, now=now)
        proposals.flag_for_review(s, b, agreement_id, note=SECRET_WORDS, now=now)
        proposals.request_retirement(s, b, agreement_id, reason=SECRET_WORDS, now=now)
        cooldowns.start_cooldown(s, a, now=now)
        cooldowns.extend_cooldown(s, a, now=now)
        cooldowns.end_cooldown(s, a, now=now + M)
        therapy.set_next_appointment(
            s,
            a,
            agreement_id,
            local_start=dt.datetime(2026, 3, 20, 10),
            timezone="UTC",
            location="Secret street 1",
            now=now,
        )
        therapy.plan_therapy_reminders(s, now=dt.datetime(2026, 3, 19, 12, tzinfo=dt.UTC))
        messages = _mails(s, kind)
    assert messages, f"no {kind} mail was written"
    settings = Settings(base_url="http://tend.test", mail_from="Tend <tend@tend.test>")
    for message in messages:
        email = rendering.render(message, settings)
        text = email.get_body(("plain",)).get_content()
        html = email.get_body(("html",)).get_content()
        # Decoded parts: a transfer encoding must not hide a leak from this check.
        whole = "\n".join([str(email["Subject"]), text, html])
        assert "Hi " in text and "http://tend.test/" in text
        for secret in ("secret", "Secretname", "Secret street"):
            assert secret.lower() not in whole.lower()
        assert SECRET_WORDS.split()[0] not in str(message.context)
