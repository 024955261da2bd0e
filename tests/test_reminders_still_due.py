"""A reminder held for later (quiet hours, a preferred hour) is asked again when it is
due. A nudge planned at 23:00 waits for 07:00; if its recipient answered in the night,
it is skipped, not sent (a real SMTP server receives nothing for them). The same for a
proposal withdrawn in the night (an agreement, or sharing a report with the therapist),
a flag cleared, a therapy appointment moved and a cooldown already over (the talk's are in
tests/test_talk.py). On SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine, select

from agreements import cooldowns, proposals, therapy
from agreements.templates import TEMPLATES
from checkins import rounds as checkin_rounds
from checkins.models import Round
from couples.models import User
from infra.db import utcnow
from notifications.dispatch import dispatch_pending
from notifications.models import PENDING, SENT, SKIPPED, OutboxMessage
from reports import content
from reports import service as reports
from reports.service import ShareInput
from tests.factories import make_couple
from tests.test_checkins_service import save_and_submit, sheet

OPENED = dt.datetime(2026, 3, 10, 12, 0, tzinfo=dt.UTC)
NIGHT = OPENED + dt.timedelta(days=2, hours=11)  # 23:00 UTC: in the default quiet hours
MORNING = dt.datetime(2026, 3, 13, 7, 5, tzinfo=dt.UTC)


def _prompts(tx) -> dict[tuple[str, int | None], OutboxMessage]:  # type: ignore[no-untyped-def]
    with tx() as s:
        rows = s.scalars(select(OutboxMessage).where(OutboxMessage.kind != "invitation"))
        return {(r.kind, r.recipient_user_id): r for r in rows}


def _night_nudges(tx, engine: Engine, smtp_settings) -> tuple[User, User, int]:  # type: ignore[no-untyped-def]
    """A couple (both in UTC, default quiet hours), a round opened at noon, and both
    nudged at 23:00 two days later: the nudges wait for 07:00."""
    with tx() as s:
        _c, a, b = make_couple(s, now=OPENED - dt.timedelta(days=30))
        round_id = checkin_rounds.start_round_now(s, a.id, now=OPENED).id
    dispatch_pending(engine, settings=smtp_settings, now=OPENED)  # "time for your check-in"
    with tx() as s:
        assert checkin_rounds.send_reminders(s, NIGHT) == 2
    held = _prompts(tx)
    assert held[("nudge", a.id)].send_after == MORNING.replace(minute=0)
    return a, b, round_id


def _a_answers_in_the_night(tx, engine: Engine, smtp_sink, smtp_settings):  # type: ignore[no-untyped-def]
    """The night nudges, then A answers at 23:30; also how many mails went before."""
    a, b, round_id = _night_nudges(tx, engine, smtp_settings)
    opening_mails = len(smtp_sink.messages())
    with tx() as s:
        save_and_submit(s, a, round_id, sheet(), NIGHT + dt.timedelta(minutes=30))
    return a, b, round_id, opening_mails


def test_a_nudge_held_for_the_morning_is_not_sent_to_someone_who_answered_in_the_night(
    tx, engine: Engine, smtp_sink, smtp_settings
) -> None:
    a, b, _round_id, opening_mails = _a_answers_in_the_night(tx, engine, smtp_sink, smtp_settings)
    dispatch_pending(engine, settings=smtp_settings, now=MORNING)
    prompts = _prompts(tx)
    assert prompts[("nudge", a.id)].status == SKIPPED
    assert prompts[("nudge", a.id)].last_error == "recipient has answered the check-in"
    # B has not answered: their nudge and "your partner answered" still go.
    assert prompts[("nudge", b.id)].status == SENT
    assert prompts[("partner_answered", b.id)].status == SENT
    received = {to for mail in smtp_sink.messages()[opening_mails:] for to in mail.envelope_to}
    assert a.email not in received and b.email in received


def test_once_both_answered_no_mail_asks_either_to_answer(
    tx, engine: Engine, smtp_sink, smtp_settings
) -> None:
    a, b, round_id, opening_mails = _a_answers_in_the_night(tx, engine, smtp_sink, smtp_settings)
    with tx() as s:
        save_and_submit(s, b, round_id, sheet(), NIGHT + dt.timedelta(minutes=45))
    dispatch_pending(engine, settings=smtp_settings, now=MORNING)
    prompts = _prompts(tx)
    for asking in [("nudge", a.id), ("nudge", b.id), ("partner_answered", b.id)]:
        assert prompts[asking].status == SKIPPED, asking
        assert prompts[asking].last_error == "recipient has answered the check-in"
    # What is still true goes: both answered, the review is ready.
    assert prompts[("ready_to_review", a.id)].status == SENT
    assert prompts[("ready_to_review", b.id)].status == SENT
    subjects = [mail.subject for mail in smtp_sink.messages()[opening_mails:]]
    assert len(subjects) == 2 and "A gentle reminder from Tend" not in subjects


def test_a_nudge_for_a_round_that_closed_meanwhile_no_longer_applies(
    tx, engine: Engine, smtp_settings
) -> None:
    a, _b, round_id = _night_nudges(tx, engine, smtp_settings)
    with tx() as s:
        round_ = s.get(Round, round_id)
        assert round_ is not None and round_.closed_at is None
        due_at = round_.due_at
    with tx() as s:
        checkin_rounds.close_due_rounds(s, due_at)
    with tx() as s:
        nudge = s.scalar(
            select(OutboxMessage).where(
                OutboxMessage.kind == "nudge", OutboxMessage.recipient_user_id == a.id
            )
        )
        assert nudge is not None and nudge.status == PENDING
        reason = checkin_rounds.reminder_still_due(s, nudge, due_at)
        assert reason == "the check-in has closed"


def _prompt_rows(tx, kind: str) -> list[OutboxMessage]:  # type: ignore[no-untyped-def]
    with tx() as s:
        return list(
            s.scalars(
                select(OutboxMessage).where(OutboxMessage.kind == kind).order_by(OutboxMessage.id)
            )
        )


def _couple_after_the_invitation(tx, engine: Engine, smtp_sink, smtp_settings):  # type: ignore[no-untyped-def]
    """A couple (both in UTC, default quiet hours) whose invitation went; also how many
    mails went so far."""
    with tx() as s:
        _c, a, b = make_couple(s, now=OPENED - dt.timedelta(days=30))
    dispatch_pending(engine, settings=smtp_settings, now=OPENED)
    return a, b, len(smtp_sink.messages())


def test_a_proposal_withdrawn_in_the_night_is_not_announced_in_the_morning(
    tx, engine: Engine, smtp_sink, smtp_settings
) -> None:
    a, b, before = _couple_after_the_invitation(tx, engine, smtp_sink, smtp_settings)
    with tx() as s:  # two proposals at 23:00, B's quiet hours: both wait for 07:00
        kept, withdrawn = (
            proposals.propose_agreement(
                s, a.id, kind="custom", title=title, body="We both do this.", params={}, now=NIGHT
            ).id
            for title in ("Walks on Sunday", "Phones away at dinner")
        )
    with tx() as s:
        proposals.withdraw(s, a.id, withdrawn, now=NIGHT + dt.timedelta(minutes=10))
    dispatch_pending(engine, settings=smtp_settings, now=MORNING)
    rows = {r.context["agreement_id"]: r for r in _prompt_rows(tx, "agreement_proposed")}
    assert rows[kept].status == SENT
    assert rows[withdrawn].status == SKIPPED
    assert rows[withdrawn].last_error == "nothing waits for the recipient's answer any more"
    # One mail to B, for the proposal that still waits (not "2 things waiting").
    [mail] = smtp_sink.messages()[before:]
    assert mail.envelope_to == [b.email] and "2 things" not in mail.subject


def test_the_reminder_of_an_appointment_moved_meanwhile_is_not_sent(
    tx, engine: Engine, smtp_sink, smtp_settings
) -> None:
    with tx() as s:
        _c, a, b = make_couple(s, now=OPENED - dt.timedelta(days=30))
        t = TEMPLATES["therapy"]
        therapy_id = proposals.propose_agreement(
            s, a.id, kind="therapy", title=t.title, body=t.body, params=dict(t.params), now=OPENED
        ).id
        proposals.accept(s, b.id, therapy_id, now=OPENED)
        first = therapy.set_next_appointment(
            s, a.id, therapy_id, local_start=dt.datetime(2026, 3, 14, 9), timezone="UTC", now=OPENED
        ).id
    dispatch_pending(engine, settings=smtp_settings, now=OPENED)
    before = len(smtp_sink.messages())
    with tx() as s:  # 23:00 the night before: the reminders wait for 07:00
        assert therapy.plan_therapy_reminders(s, now=dt.datetime(2026, 3, 13, 23, tzinfo=dt.UTC))
    with tx() as s:  # at 23:30 it moves to the next week
        therapy.set_next_appointment(
            s,
            a.id,
            therapy_id,
            local_start=dt.datetime(2026, 3, 21, 9),
            timezone="UTC",
            now=dt.datetime(2026, 3, 13, 23, 30, tzinfo=dt.UTC),
        )
    dispatch_pending(
        engine, settings=smtp_settings, now=dt.datetime(2026, 3, 14, 7, 5, tzinfo=dt.UTC)
    )
    rows = _prompt_rows(tx, "therapy_appointment")
    assert len(rows) == 2 and {r.context["appointment_id"] for r in rows} == {first}
    assert {r.status for r in rows} == {SKIPPED}
    assert {r.last_error for r in rows} == {"the appointment was cancelled"}
    assert smtp_sink.messages()[before:] == []


def test_a_report_proposal_withdrawn_in_the_night_is_not_announced_in_the_morning(
    tx, engine: Engine, smtp_sink, smtp_settings
) -> None:
    a, _b, before = _couple_after_the_invitation(tx, engine, smtp_sink, smtp_settings)
    with tx() as s:  # proposed at 23:00, in B's quiet hours: the question waits for 07:00
        choice = ShareInput([content.SCORES], "Dr. R", "r@example.org", MORNING.date())
        share_id = reports.propose_share(s, a.id, choice, now=NIGHT).id
    with tx() as s:
        reports.withdraw(s, a.id, share_id, now=NIGHT + dt.timedelta(minutes=10))
    dispatch_pending(engine, settings=smtp_settings, now=MORNING)
    [row] = _prompt_rows(tx, "report_proposed")
    assert row.status == SKIPPED
    assert row.last_error == "the report proposal no longer waits for an answer"
    assert smtp_sink.messages()[before:] == []


def test_a_cooldown_mail_that_could_only_go_after_the_cooldown_is_not_sent(
    tx, engine: Engine, smtp_sink, smtp_settings
) -> None:
    """ "Your partner started a cooldown, back at 21:40" is only worth reading before then:
    one that could not go in time (a send failed, its retry waited for the morning) is
    skipped. While the cooldown runs, it goes."""
    with tx() as s:
        _c, a, b = make_couple(s, now=utcnow() - dt.timedelta(days=30))
        cooldowns.set_cooldown_mail(s, b.id, True)
    start = utcnow()
    dispatch_pending(engine, settings=smtp_settings, now=start)  # the invitation
    before = len(smtp_sink.messages())
    with tx() as s:
        cooldowns.start_cooldown(s, a.id, now=start)
    with tx() as s:
        back_at = cooldowns.extend_cooldown(s, a.id, now=start + dt.timedelta(minutes=1))
        back_at_utc = back_at.planned_end_at
    dispatch_pending(engine, settings=smtp_settings, now=back_at_utc + dt.timedelta(minutes=1))
    rows = _prompt_rows(tx, "cooldown_started") + _prompt_rows(tx, "cooldown_extended")
    assert len(rows) == 2
    assert {(r.status, r.last_error) for r in rows} == {(SKIPPED, "the cooldown is over")}
    assert smtp_sink.messages()[before:] == []
    later = back_at_utc + dt.timedelta(hours=1)
    with tx() as s:  # the next one, sent while it runs
        cooldowns.start_cooldown(s, a.id, now=later)
    dispatch_pending(engine, settings=smtp_settings, now=later + dt.timedelta(minutes=1))
    assert _prompt_rows(tx, "cooldown_started")[-1].status == SENT
    assert [m.envelope_to for m in smtp_sink.messages()[before:]] == [[b.email]]


def test_a_flag_cleared_in_the_night_is_not_announced_in_the_morning(
    tx, engine: Engine, smtp_sink, smtp_settings
) -> None:
    a, b, _before = _couple_after_the_invitation(tx, engine, smtp_sink, smtp_settings)
    with tx() as s:  # two agreements in force
        reflagged, cleared = (
            proposals.propose_agreement(
                s, a.id, kind="custom", title=title, body="We both do this.", params={}, now=OPENED
            ).id
            for title in ("Walks on Sunday", "Phones away at dinner")
        )
        for agreement_id in (reflagged, cleared):
            proposals.accept(s, b.id, agreement_id, now=OPENED)
    dispatch_pending(engine, settings=smtp_settings, now=OPENED + dt.timedelta(minutes=1))
    before = len(smtp_sink.messages())
    minutes = dt.timedelta(minutes=1)
    odd = dt.timedelta(microseconds=250_001)  # a real clock's moment, kept to the microsecond
    with tx() as s:  # flagged at 23:00, in B's quiet hours: the mails wait for 07:00
        for agreement_id in (reflagged, cleared):
            proposals.flag_for_review(s, a.id, agreement_id, now=NIGHT + odd)
    with tx() as s:  # both cleared; one flagged again
        for agreement_id in (reflagged, cleared):
            proposals.clear_review_flag(s, a.id, agreement_id, now=NIGHT + 5 * minutes)
        proposals.flag_for_review(s, a.id, reflagged, now=NIGHT + 10 * minutes + odd)
    dispatch_pending(engine, settings=smtp_settings, now=MORNING)
    rows = [(r.context["agreement_id"], r.status) for r in _prompt_rows(tx, "agreement_flagged")]
    assert rows == [(reflagged, SKIPPED), (cleared, SKIPPED), (reflagged, SENT)]
    skipped = [r for r in _prompt_rows(tx, "agreement_flagged") if r.status == SKIPPED]
    assert {r.last_error for r in skipped} == {"the agreement is no longer flagged"}
    [mail] = smtp_sink.messages()[before:]
    assert mail.envelope_to == [b.email] and "2 things" not in mail.subject
