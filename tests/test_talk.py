"""The talk after a check-in and a partner who stops answering, through the real services
on SQLite and PostgreSQL: the agenda's order, one talk shared by two sessions and paused by
a cooldown, finishing it (reviewed, action items' reminders in each owner's zone across
DST), the agreed time in both calendars, the solo mode's privacy and its one mail."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import select

from agreements import cooldowns
from checkins import agenda, solo, talk
from checkins import answers as checkin_answers
from checkins import history as checkin_history
from checkins import review as checkin_review
from checkins import rounds as checkin_rounds
from checkins import trends as checkin_trends
from checkins.models import Round
from checkins.views import AdherenceInput, ConcernInput
from infra.composition import load_registrations
from infra.errors import InvalidInput, NotAllowed, NotFound
from infra.settings import Settings
from notifications import preferences, rendering
from notifications.dispatch import dispatch_pending
from notifications.models import SENT, SKIPPED, OutboxMessage
from privacy import erase, export
from tests.factories import mail_any_time, make_couple, set_reminders
from tests.test_checkins_service import agree, full_round, save_and_submit, sheet

DAY = dt.timedelta(days=1)
HOUR = dt.timedelta(hours=1)
MINUTE = dt.timedelta(minutes=1)


@pytest.fixture
def couple(tx, now):  # type: ignore[no-untyped-def]
    with tx() as s:
        c, a, b = make_couple(
            s, now=now - 30 * DAY, timezones=("Europe/Berlin", "America/New_York")
        )
        mail_any_time(s, a, b, now=now - 30 * DAY)  # set on the test's clock
        cooldown = agree(
            s, a, b, "cooldown", "Five-minute cooldown", {"minutes": 5}, now - 20 * DAY
        )
    return c, a, b, cooldown


def outbox(s, kind: str) -> list[OutboxMessage]:  # type: ignore[no-untyped-def]
    return list(
        s.scalars(
            select(OutboxMessage).where(OutboxMessage.kind == kind).order_by(OutboxMessage.id)
        )
    )


# --- the agenda (pure) ------------------------------------------------------------------------
def test_the_agenda_runs_appreciations_gaps_kept_came_back_first_then_actions() -> None:
    a, b = 1, 2
    facts = agenda.RoundFacts(
        partners=(a, b),
        appreciations={a: "the walk", b: ""},
        scales=[
            agenda.ScaleFact("sat_happy", "Happy?", {a: 4, b: 2}),  # 2 apart: on the agenda
            agenda.ScaleFact("sat_needs", "Needs?", {a: 4, b: 3}),  # 1 apart: not
            agenda.ScaleFact("certainty", "Certain?", {a: 5, b: None}),  # one answer: not
        ],
        kept=[
            agenda.KeptFact(9, "Cooldown", b, 5, 1),  # b says kept, a says not
            agenda.KeptFact(9, "Cooldown", a, 4, 3),
        ],
        topics=[
            agenda.TopicFact(30, "Chores", {a: "dishes"}),
            agenda.TopicFact(31, "Money", {b: "spending"}, came_back=True),
            agenda.TopicFact(32, "Family", {a: "visits"}, came_back=True),
        ],
        root_causes=[
            agenda.RootCauseFact("charter:1:1", "We stopped talking", True, topic_id=32),
            agenda.RootCauseFact("charter:1:2", "Jealousy", False),
        ],
        previous_actions=[agenda.ActionFact(7, "Plan a date", a, None, True)],
        solo_raised=True,
    )
    items = agenda.build(facts)
    assert [i.key for i in items] == [
        "appreciation",
        "gap:sat_happy",
        f"kept:9:{b}",
        "root:charter:1:1",  # the root cause that came back, first (its topic not again)
        "topic:31",  # then a topic that came back
        "topic:30",  # then the others raised
        "action:7",
        "solo",
    ]
    assert [i.section for i in items][:6] == [
        agenda.APPRECIATION,
        agenda.GAP,
        agenda.KEPT,
        agenda.CAME_BACK,
        agenda.CAME_BACK,
        agenda.TOPIC,
    ]
    assert items[0].lines == ((a, "the walk"),)
    # The same facts seen from the other seat give the same agenda (both walk one list).
    swapped = agenda.RoundFacts(**{**facts.__dict__, "partners": (a, b)})
    assert [i.key for i in agenda.build(swapped)] == [i.key for i in items]
    # Nothing to talk about still opens with appreciations (then it asks for one).
    [only] = agenda.build(agenda.RoundFacts(partners=(a, b)))
    assert only.key == "appreciation" and only.lines[0][0] is None


# --- the talk on a real round -----------------------------------------------------------------
def _round_to_talk(tx, a, b, cooldown_id, now) -> int:  # type: ignore[no-untyped-def]
    """Two rounds: the first raises Money and agrees an action item; the second raises
    Money again (it came back) and Chores, with answers apart and the cooldown rated kept
    by one and not by the other."""
    first = sheet(concerns=[ConcernInput("Spending", "A budget", new_topic="Money")])
    r1 = full_round(tx, a, b, now - 14 * DAY, first, sheet(), cooldown_id)
    with tx() as s:
        [money] = checkin_history.topics(s, a.id)
        talk.add_action(s, a.id, r1, "Weekly budget talk", a.id, None, now=now - 14 * DAY)
    mine = sheet(total=16, concerns=[ConcernInput("Again", "", topic_id=money.id)])
    mine.adherence = {cooldown_id: AdherenceInput(5, 4)}
    theirs = sheet(total=8, concerns=[ConcernInput("Dishes", "Share them", new_topic="Chores")])
    theirs.adherence = {cooldown_id: AdherenceInput(4, 1)}  # B: A did not keep it
    theirs.texts["went_well"] = "BLAIR-THANKS"
    return full_round(tx, a, b, now - DAY, mine, theirs, cooldown_id)


def test_the_talk_agenda_of_a_round_is_the_same_for_both(tx, couple, now) -> None:
    _c, a, b, cooldown_id = couple
    round_id = _round_to_talk(tx, a, b, cooldown_id, now)
    with tx() as s:
        mine = talk.talk_view(s, a.id, round_id, now=now)
        theirs = talk.talk_view(s, b.id, round_id, now=now)
    keys = [i.key for i in mine.items]
    assert keys == [i.key for i in theirs.items]
    sections = [i.section for i in mine.items]
    assert sections[0] == agenda.APPRECIATION
    assert (b.id, "BLAIR-THANKS") in mine.items[0].lines
    assert sections.index(agenda.GAP) < sections.index(agenda.KEPT)
    assert f"kept:{cooldown_id}:{a.id}" in keys
    came_back = [i for i in mine.items if i.section == agenda.CAME_BACK]
    assert [i.title for i in came_back] == ["Money"]
    assert sections.index(agenda.CAME_BACK) < sections.index(agenda.TOPIC)
    assert mine.items[-1].section == agenda.ACTIONS
    assert mine.items[-1].title == "Weekly budget talk"
    assert mine.names[a.id] == "You" and theirs.names[b.id] == "You"


def test_root_causes_fed_through_the_hook_lead_what_came_back(tx, couple, now) -> None:
    _c, a, b, cooldown_id = couple
    round_id = _round_to_talk(tx, a, b, cooldown_id, now)

    def source(s, couple_id, rid):  # type: ignore[no-untyped-def]
        return [agenda.RootCauseFact(f"test:{rid}", "Trust was broken", True, "It came back.")]

    talk.register_root_cause_source(source)
    try:
        with tx() as s:
            items = talk.talk_view(s, a.id, round_id, now=now).items
    finally:
        talk._ROOT_CAUSE_SOURCES.remove(source)
    came_back = [i.title for i in items if i.section == agenda.CAME_BACK]
    assert came_back == ["Trust was broken", "Money"]


def test_two_sessions_share_the_talk_and_a_cooldown_pauses_it_on_the_same_item(
    tx, couple, now
) -> None:
    _c, a, b, cooldown_id = couple
    round_id = _round_to_talk(tx, a, b, cooldown_id, now)
    with tx() as s:
        assert talk.talk_view(s, a.id, round_id, now=now).position == 0
        assert talk.move(s, a.id, round_id, seen_position=0, step=1, now=now) == 1
    # B's session (own transaction) sees where A's went; both pressing "Next" on the same
    # item move once.
    with tx() as s:
        assert talk.talk_view(s, b.id, round_id, now=now).position == 1
        assert talk.move(s, b.id, round_id, seen_position=1, step=1, now=now) == 2
    with tx() as s:
        assert talk.move(s, a.id, round_id, seen_position=1, step=1, now=now) == 2
        item = talk.talk_view(s, a.id, round_id, now=now).current.key
        talk.save_note(s, a.id, round_id, item, "ALEX-NOTE", now=now)
        with pytest.raises(InvalidInput, match="not on this talk"):
            talk.save_note(s, a.id, round_id, "kept:x", "elsewhere", now=now)
    with tx() as s:
        view = talk.talk_view(s, b.id, round_id, now=now)
        assert view.partner_notes == {item: "ALEX-NOTE"} and view.my_notes == {}
    # A cooldown: the talk pauses for both, on this item.
    with tx() as s:
        cooldowns.start_cooldown(s, b.id, now=now)
    with tx() as s:
        view = talk.talk_view(s, a.id, round_id, now=now + dt.timedelta(minutes=1))
        assert view.paused_by_cooldown and view.position == 2
        with pytest.raises(NotAllowed, match="paused"):
            talk.move(s, a.id, round_id, seen_position=2, step=1, now=now)
        with pytest.raises(NotAllowed, match="paused"):
            talk.finish(s, a.id, round_id, now=now)
        # Writing a note down is what the pause is for.
        talk.save_note(s, b.id, round_id, item, "BLAIR-NOTE", now=now)
    after = now + dt.timedelta(minutes=6)  # the five minutes are over
    with tx() as s:
        for user in (a, b):
            view = talk.talk_view(s, user.id, round_id, now=after)
            assert not view.paused_by_cooldown and view.position == 2
        assert talk.move(s, a.id, round_id, seen_position=2, step=-1, now=after) == 1


def test_the_talk_needs_the_reveal_and_another_couple_cannot_touch_it(tx, couple, now) -> None:
    _c, a, b, cooldown_id = couple
    round_id = _round_to_talk(tx, a, b, cooldown_id, now)
    with tx() as s:
        _c2, x, _y = make_couple(s, "x@example.org", "y@example.org", now=now - 30 * DAY)
        open_id = checkin_rounds.start_round_now(s, a.id, now=now).id
    with tx() as s:
        with pytest.raises(NotFound):
            talk.talk_view(s, x.id, round_id, now=now)
        with pytest.raises(NotFound):
            talk.move(s, x.id, round_id, seen_position=0, step=1, now=now)
        with pytest.raises(NotFound):
            talk.save_note(s, x.id, round_id, "appreciation", "hi", now=now)
        with pytest.raises(NotAllowed, match="both answered"):
            talk.talk_view(s, a.id, open_id, now=now)
    with tx() as s, pytest.raises(InvalidInput) as problem:
        talk.save_note(s, a.id, round_id, "appreciation", "x" * (talk.MAX_NOTE + 1), now=now)
    assert "note" in problem.value.fields


def test_finishing_marks_the_round_reviewed_and_plans_reminders_in_each_zone(
    tx, couple, now
) -> None:
    """A in Berlin, B in New York; the due days fall on each zone's DST change."""
    _c, a, b, cooldown_id = couple
    round_id = _round_to_talk(tx, a, b, cooldown_id, now)
    berlin_dst = dt.date(2026, 3, 29)  # clocks go forward at 02:00 in Berlin
    new_york_dst = dt.date(2026, 3, 15)  # ...and (US) on 8 March; 15 March is after
    with tx() as s:
        talk.add_action(s, a.id, round_id, "A-ITEM-TEXT", a.id, berlin_dst, now=now)
        talk.add_action(s, b.id, round_id, "BOTH-ITEM", None, new_york_dst, now=now)
        with pytest.raises(InvalidInput) as problem:
            talk.add_action(s, a.id, round_id, "late", a.id, dt.date(2026, 3, 1), now=now)
        assert "due_on" in problem.value.fields
    with tx() as s:
        talk.finish(s, b.id, round_id, now=now)
        talk.finish(s, a.id, round_id, now=now)  # twice is once
        assert s.get(Round, round_id).reviewed_at == now
        with pytest.raises(NotAllowed):
            talk.move(s, a.id, round_id, seen_position=0, step=1, now=now)
        rows = outbox(s, "action_item_due")
    sent = {(r.recipient_user_id, r.send_after) for r in rows}
    assert sent == {
        # 09:00 CEST (UTC+2, from that morning) in Berlin is 07:00 UTC.
        (a.id, dt.datetime(2026, 3, 29, 7, 0, tzinfo=dt.UTC)),
        # The item for both: 09:00 in each one's zone. New York is on EDT (UTC-4).
        (a.id, dt.datetime(2026, 3, 15, 8, 0, tzinfo=dt.UTC)),  # Berlin still CET (UTC+1)
        (b.id, dt.datetime(2026, 3, 15, 13, 0, tzinfo=dt.UTC)),
    }
    assert all("ITEM" not in json.dumps(r.context) for r in rows)  # no typed text in mail
    with tx() as s:  # planning again writes nothing more
        assert talk.plan_action_reminders(s, round_id, now=now) == 0


def test_an_action_item_done_before_its_day_is_not_reminded(
    tx, engine, couple, now, smtp_sink, smtp_settings
) -> None:
    _c, a, b, cooldown_id = couple
    round_id = _round_to_talk(tx, a, b, cooldown_id, now)
    day = (now + 5 * DAY).date()
    with tx() as s:
        done = talk.add_action(s, a.id, round_id, "DONE-EARLY", a.id, day, now=now).id
        still = talk.add_action(s, a.id, round_id, "STILL-OPEN", a.id, day, now=now).id
        talk.finish(s, a.id, round_id, now=now)
    dispatch_pending(engine, settings=smtp_settings, now=now + MINUTE)  # what is due now
    before = len(smtp_sink.messages())
    with tx() as s:  # done two days early
        checkin_review.set_action_done(s, a.id, done, True, now=now + 3 * DAY)
    dispatch_pending(engine, settings=smtp_settings, now=now + 5 * DAY + 2 * HOUR)
    with tx() as s:
        rows = {r.context["item_id"]: r for r in outbox(s, "action_item_due")}
    assert rows[done].status == SKIPPED and rows[done].last_error == "the action item is done"
    assert rows[still].status == SENT
    # One mail on the day, about the item still open (not "2 things waiting").
    [mail] = smtp_sink.messages()[before:]
    assert mail.envelope_to == [a.email] and "2 things" not in mail.subject


def test_a_talk_time_changed_before_its_mail_went_sends_no_stale_calendar_entry(
    tx, engine, couple, now, smtp_sink, smtp_settings
) -> None:
    _c, a, b, cooldown_id = couple
    round_id = _round_to_talk(tx, a, b, cooldown_id, now)
    first, second = now + DAY, now + 2 * DAY
    with tx() as s:
        talk.propose_time(s, a.id, round_id, first, now=now)
        talk.accept_time(s, b.id, round_id, now=now)
    with tx() as s:  # before the dispatch pass: another time, agreed too
        talk.propose_time(s, b.id, round_id, second, now=now + MINUTE)
        talk.accept_time(s, a.id, round_id, now=now + MINUTE)
    dispatch_pending(engine, settings=smtp_settings, now=now + 2 * MINUTE)
    with tx() as s:
        rows = outbox(s, "talk_scheduled")
    status = {(r.context["talk_at"], r.recipient_user_id): r.status for r in rows}
    assert status == {
        (first.isoformat(), a.id): SKIPPED,
        (first.isoformat(), b.id): SKIPPED,
        (second.isoformat(), a.id): SENT,
        (second.isoformat(), b.id): SENT,
    }
    assert {r.last_error for r in rows if r.status == SKIPPED} == {"the talk's time has changed"}
    calendars = [
        part.get_content()
        for mail in smtp_sink.messages()
        for part in mail.message.walk()
        if part.get_content_type() == "text/calendar"
    ]
    starts = {f"DTSTART:{t:%Y%m%dT%H%M%SZ}" for t in (first, second)}
    found = {line for c in calendars for line in str(c).splitlines() if line in starts}
    assert found == {f"DTSTART:{second:%Y%m%dT%H%M%SZ}"}


def test_action_reminder_time_is_the_local_morning_across_dst() -> None:
    for day, zone, hour in [
        (dt.date(2026, 3, 28), "Europe/Berlin", 8),
        (dt.date(2026, 3, 29), "Europe/Berlin", 7),
        (dt.date(2026, 10, 25), "Europe/Berlin", 8),
        (dt.date(2026, 3, 7), "America/New_York", 14),
        (dt.date(2026, 3, 8), "America/New_York", 13),
        (dt.date(2026, 4, 5), "Australia/Sydney", 23),  # the day AEDT ends: UTC+10 from 3:00
    ]:
        moment = talk.action_reminder_at(day, zone)
        assert moment.hour == hour % 24, (day, zone, moment)


def test_the_talk_time_is_proposed_accepted_and_lands_in_both_calendars(tx, couple, now) -> None:
    _c, a, b, cooldown_id = couple
    round_id = _round_to_talk(tx, a, b, cooldown_id, now)
    when = dt.datetime(2026, 3, 15, 18, 30, tzinfo=dt.UTC)
    with tx() as s:
        with pytest.raises(InvalidInput):
            talk.propose_time(s, a.id, round_id, now - DAY, now=now)
        talk.propose_time(s, a.id, round_id, when, now=now)
        with pytest.raises(NotAllowed):
            talk.accept_time(s, a.id, round_id, now=now)
        assert outbox(s, "talk_scheduled") == []
    with tx() as s:
        view = talk.talk_view(s, b.id, round_id, now=now)
        assert view.proposed_for == when and not view.proposed_by_me and not view.agreed
        talk.accept_time(s, b.id, round_id, now=now)
        talk.accept_time(s, b.id, round_id, now=now)
        rows = outbox(s, "talk_scheduled")
    assert sorted(r.recipient_user_id for r in rows) == sorted([a.id, b.id])
    settings = Settings(
        base_url="https://tend.example.org",
        mail_from="Tend <tend@tend.example.org>",
        secret_key="k",
    )
    load_registrations()  # the attachment builders, as the scheduler has them
    email = rendering.render(rows[0], settings)
    [ics] = list(email.iter_attachments())
    data = ics.get_content()
    data = data.decode() if isinstance(data, bytes) else data
    assert f"UID:talk-{view.talk_id}@tend.example.org" in data
    assert "DTSTART:20260315T183000Z" in data


# --- a partner who stops answering ------------------------------------------------------------
def _a_answers_alone(tx, a, opened: dt.datetime, text: str) -> int:  # type: ignore[no-untyped-def]
    with tx() as s:
        round_id = checkin_rounds.start_round_now(s, a.id, now=opened).id
        alone = sheet(total=12)
        alone.texts["went_well"] = text
        save_and_submit(s, a, round_id, alone, opened)
    with tx() as s:  # the round closes; B missed it
        checkin_rounds.plan_checkins(s, opened + 6 * DAY)
    return round_id


def test_after_two_missed_rounds_one_gentle_mail_then_quiet_until_back(tx, couple, now) -> None:
    _c, a, b, _ = couple
    start = now - 20 * DAY
    _a_answers_alone(tx, a, start, "SOLO-1")
    with tx() as s:
        assert outbox(s, solo.MAIL_KIND) == []  # one missed round is nothing yet
        assert solo.solo_view(s, a.id) is None
    _a_answers_alone(tx, a, start + 7 * DAY, "SOLO-2")
    with tx() as s:
        [mail] = outbox(s, solo.MAIL_KIND)
        assert mail.recipient_user_id == b.id
        assert set(mail.context) <= {"name", "partner", "sign_in_target", "notice_id"}
        view = solo.solo_view(s, a.id)
        assert view is not None and not view.raise_requested
        assert solo.solo_view(s, b.id) is None  # B is not told about themself
        assert solo.quiet_user_ids(s, [a.id, b.id]) == {b.id}
    # A third round: B gets no round_opened, no nudge, no closing warning, no second mail.
    third_at = start + 14 * DAY
    with tx() as s:
        third = checkin_rounds.start_round_now(s, a.id, now=third_at).id
    with tx() as s:
        checkin_rounds.send_reminders(s, third_at + 3 * DAY)
        checkin_rounds.send_reminders(s, third_at + 4 * DAY + dt.timedelta(hours=12))
        checkin_rounds.plan_checkins(s, third_at + 6 * DAY)
    with tx() as s:
        to_b = [r.kind for r in s.scalars(select(OutboxMessage)) if r.recipient_user_id == b.id]
        assert to_b.count(solo.MAIL_KIND) == 1
        third_mails = [
            r for r in s.scalars(select(OutboxMessage)) if f"checkin:{third}:" in r.dedupe_key
        ]
        assert {r.recipient_user_id for r in third_mails} == {a.id}
    # B changes their reminders: prompts come back.
    with tx() as s:
        set_reminders(s, b, now=third_at + 7 * DAY)
        assert solo.quiet_user_ids(s, [b.id]) == set()
    # B answers again: the notice ends, A's note goes away.
    back_at = start + 28 * DAY
    full_round(tx, a, b, back_at)
    with tx() as s:
        checkin_rounds.plan_checkins(s, back_at + DAY)
        assert solo.solo_view(s, a.id) is None
        assert outbox(s, solo.MAIL_KIND)[0].recipient_user_id == b.id
        assert len(outbox(s, solo.MAIL_KIND)) == 1


def test_the_one_mail_is_not_sent_once_they_answered_again(tx, couple, now) -> None:
    """It may wait for the morning: if B answers the next check-in in the night, the
    mail saying B stopped answering no longer applies when it is due."""
    _c, a, b, _ = couple
    start = now - 20 * DAY
    _a_answers_alone(tx, a, start, "SOLO-1")
    _a_answers_alone(tx, a, start + 7 * DAY, "SOLO-2")
    third_at = start + 14 * DAY
    with tx() as s:
        [mail] = outbox(s, solo.MAIL_KIND)
        assert preferences.held_back_reason(s, mail, third_at) is None
        third = checkin_rounds.start_round_now(s, a.id, now=third_at).id
    with tx() as s:
        save_and_submit(s, b, third, sheet(), third_at + dt.timedelta(hours=1))
    with tx() as s:
        reason = preferences.held_back_reason(s, mail, third_at + 2 * dt.timedelta(hours=1))
        assert reason == "recipient has answered a check-in since"


def test_the_quiet_pause_silences_the_one_mail_too(tx, couple, now) -> None:
    _c, a, b, _ = couple
    with tx() as s:
        set_reminders(s, b, paused=True, now=now - 30 * DAY)
    start = now - 20 * DAY
    _a_answers_alone(tx, a, start, "SOLO-1")
    _a_answers_alone(tx, a, start + 7 * DAY, "SOLO-2")
    with tx() as s:
        assert outbox(s, solo.MAIL_KIND) == []
        assert solo.solo_view(s, a.id) is not None  # A still sees the note


def test_nothing_of_the_solo_partner_reaches_the_other(tx, couple, now) -> None:
    _c, a, b, _ = couple
    start = now - 20 * DAY
    solo_rounds = [
        _a_answers_alone(tx, a, start, "ALEX-SOLO-ONE"),
        _a_answers_alone(tx, a, start + 7 * DAY, "ALEX-SOLO-TWO"),
    ]
    with tx() as s:
        solo.raise_at_next_talk(s, a.id, now=now)
        with pytest.raises(NotAllowed):
            solo.raise_at_next_talk(s, b.id, now=now)
    with tx() as s:
        # A follows their own trend, solo rounds included; nothing of B's.
        points = solo.own_trend(s, a.id)
        assert [(p.total, p.shared) for p in points] == [(12, False), (12, False)]
        assert solo.own_trend(s, b.id) == []
        for round_id in solo_rounds:
            with pytest.raises(NotAllowed):
                checkin_answers.partner_answers(s, b.id, round_id)
            with pytest.raises(NotAllowed):
                talk.talk_view(s, b.id, round_id, now=now)
        seen_by_b = json.dumps(
            [
                export.export_data(s, b.id)["tables"],
                [str(r) for r in checkin_history.history(s, b.id, limit=1000).rounds],
                str(checkin_trends.trends(s, b.id, now=now).__dict__),
                [r.context for r in s.scalars(select(OutboxMessage))],
            ],
            default=str,
        )
    assert "ALEX-SOLO" not in seen_by_b
    # B comes back: the next talk puts answering on the agenda, in neutral words.
    round_id = full_round(tx, a, b, now)
    with tx() as s:
        items = talk.talk_view(s, b.id, round_id, now=now).items
        assert items[-1].key == "solo" and "ALEX" not in str(items)
        talk.finish(s, a.id, round_id, now=now)


def test_talk_notes_are_exported_to_their_author_and_erased_with_them(tx, couple, now) -> None:
    _c, a, b, cooldown_id = couple
    round_id = _round_to_talk(tx, a, b, cooldown_id, now)
    with tx() as s:
        talk.save_note(s, a.id, round_id, "appreciation", "ALEX-TALK-NOTE", now=now)
        talk.save_note(s, b.id, round_id, "appreciation", "BLAIR-TALK-NOTE", now=now)
        talk.propose_time(s, a.id, round_id, now + DAY, now=now)
    with tx() as s:
        mine = json.dumps(export.export_data(s, a.id)["tables"]["talks"])
        assert "ALEX-TALK-NOTE" in mine and "BLAIR-TALK-NOTE" not in mine
        assert '"proposed_by_me": true' in mine
    with tx() as s:
        erase.erase_account(s, a.id, now=now)
    with tx() as s:
        view = talk.talk_view(s, b.id, round_id, now=now)
        assert view.partner_notes == {} and view.my_notes == {"appreciation": "BLAIR-TALK-NOTE"}


def _utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("zone", "now", "offered_utc"),
    [
        # Berlin at 11:00: tonight at 19:00 (18:00 UTC).
        ("Europe/Berlin", _utc(2026, 12, 5, 10, 0), _utc(2026, 12, 5, 18, 0)),
        # Berlin at 18:30: too soon, so tomorrow's.
        ("Europe/Berlin", _utc(2026, 12, 5, 17, 30), _utc(2026, 12, 6, 18, 0)),
        # Berlin at exactly an hour before: still tonight.
        ("Europe/Berlin", _utc(2026, 12, 5, 17, 0), _utc(2026, 12, 5, 18, 0)),
        # Auckland's morning of the 6th, while the server's UTC date is still the 5th:
        # the 6th at 19:00 in Auckland (06:00 UTC), never the 5th (already past there).
        ("Pacific/Auckland", _utc(2026, 12, 5, 19, 38), _utc(2026, 12, 6, 6, 0)),
        # Los Angeles' evening of the 4th, the server already on the 5th: the 5th there.
        ("America/Los_Angeles", _utc(2026, 12, 5, 4, 0), _utc(2026, 12, 6, 3, 0)),
        # New York the evening before the clocks go forward (8 March 2026): tomorrow's
        # 19:00 is EDT, 23:00 UTC, not the 00:00 of a fixed offset.
        ("America/New_York", _utc(2026, 3, 7, 23, 30), _utc(2026, 3, 8, 23, 0)),
        # London the evening before the clocks go back (25 October 2026): GMT, 19:00 UTC.
        ("Europe/London", _utc(2026, 10, 24, 18, 30), _utc(2026, 10, 25, 19, 0)),
    ],
)
def test_the_talk_time_offered_first_is_the_next_evening_in_the_persons_zone(
    zone: str, now: dt.datetime, offered_utc: dt.datetime
) -> None:
    offered = talk.suggested_time(zone, now=now)
    assert offered.astimezone(dt.UTC) == offered_utc
    assert offered.time() == talk.SUGGESTED_TALK_TIME  # 19:00 on the person's own clock
    assert offered - now >= talk.SUGGESTION_LEAD  # never a time propose_time refuses
