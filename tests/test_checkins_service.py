"""Check-in rounds through the real services on SQLite and PostgreSQL: opening (on
schedule and by hand), drafts, locking, the reveal rule, topics, warnings, mails."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from dateutil.relativedelta import relativedelta
from sqlalchemy import event, func, select, update

from agreements import proposals
from checkins import answers as checkin_answers
from checkins import history as checkin_history
from checkins import questions, survey, trends, warnings
from checkins import review as checkin_review
from checkins import rounds as checkin_rounds
from checkins import views as checkin_views
from checkins.models import DRAFT, MISSED, PENDING, SUBMITTED, Answer, Participation, Round
from checkins.views import AdherenceInput, ConcernInput, Sheet
from infra.errors import InvalidInput, NotAllowed, NotFound
from notifications.models import OutboxMessage
from tests.factories import make_couple

SUNDAY_BERLIN = {
    "cadence": "weekly",
    "weekday": 6,
    "day_of_month": 1,
    "local_time": "19:00",
    "timezone": "Europe/Berlin",
}


def agree(s, a, b, kind: str, title: str, params: dict, now: dt.datetime) -> int:  # type: ignore[no-untyped-def]
    agreement = proposals.propose_agreement(
        s, a.id, kind=kind, title=title, body="We both commit to this.", params=params, now=now
    )
    proposals.accept(s, b.id, agreement.id, now=now)
    return agreement.id


@pytest.fixture
def couple(tx, now):  # type: ignore[no-untyped-def]
    with tx() as s:
        c, a, b = make_couple(
            s, now=now - dt.timedelta(days=30), timezones=("Europe/Berlin", "UTC")
        )
        cooldown = agree(
            s, a, b, "cooldown", "Five-minute cooldown", {"minutes": 5}, now - dt.timedelta(days=20)
        )
    return c, a, b, cooldown


def sheet(total: int = 16, certainty: int = 4, kept: int = 4, **extra) -> Sheet:  # type: ignore[no-untyped-def]
    base, rest = divmod(total, 4)
    values = {k: base + (1 if i < rest else 0) for i, k in enumerate(survey.SATISFACTION_KEYS)}
    values |= {"certainty": certainty, "safety": 4}
    result = Sheet(values=values, texts={"went_well": "Sunday walks"})
    result.adherence = extra.pop("adherence", {})
    for name, value in extra.items():
        setattr(result, name, value)
    return result


def save_and_submit(s, user, round_id, answers: Sheet, now):  # type: ignore[no-untyped-def]
    """Answer every agreement of the round that the sheet leaves out with a 4, then submit."""
    for agreement in checkin_rounds.round_questions(s, user.id, round_id).agreements:
        answers.adherence.setdefault(agreement.agreement_id, AdherenceInput(4, 4))
    checkin_answers.save_answers(s, user.id, round_id, answers, now=now)
    return checkin_answers.submit(s, user.id, round_id, now=now)


def answer_round(tx, a, b, round_id, now, sheet_a: Sheet, sheet_b: Sheet) -> None:  # type: ignore[no-untyped-def]
    with tx() as s:
        save_and_submit(s, a, round_id, sheet_a, now)
    with tx() as s:
        save_and_submit(s, b, round_id, sheet_b, now)


def full_round(tx, a, b, now, sheet_a=None, sheet_b=None, agreement_id=None) -> int:  # type: ignore[no-untyped-def]
    with tx() as s:
        round_id = checkin_rounds.start_round_now(s, a.id, now=now).id
    sheet_a, sheet_b = sheet_a or sheet(), sheet_b or sheet()
    if agreement_id:
        for sh in (sheet_a, sheet_b):
            sh.adherence.setdefault(agreement_id, AdherenceInput(4, 4))
    answer_round(tx, a, b, round_id, now, sheet_a, sheet_b)
    return round_id


# --- opening and closing ------------------------------------------------------------------


def test_a_due_round_opens_once_however_often_planning_runs(tx, couple, now) -> None:
    _c, a, b, cooldown = couple
    with tx() as s:
        agree(s, a, b, "regular_checkin", "Sunday check-in", SUNDAY_BERLIN, now)
    with tx() as s:  # Saturday: nothing due yet
        assert checkin_rounds.open_due_rounds(s, now) == []
    sunday_evening = dt.datetime(2026, 3, 15, 18, 0, tzinfo=dt.UTC)  # 19:00 in Berlin (CET)
    with tx() as s:
        assert checkin_rounds.open_due_rounds(s, sunday_evening - dt.timedelta(seconds=1)) == []
        opened = checkin_rounds.open_due_rounds(s, sunday_evening)
        assert [r.scheduled_for for r in opened] == [sunday_evening]
        assert opened[0].due_at == sunday_evening + dt.timedelta(days=5)
        assert next((x.agreement_id, x.title) for x in opened[0].agreements) == (
            cooldown,
            "Five-minute cooldown",
        )
    for later in (sunday_evening, sunday_evening + dt.timedelta(minutes=5)):
        with tx() as s:
            assert checkin_rounds.open_due_rounds(s, later) == []
            assert checkin_rounds.plan_checkins(s, later) == 0
    with tx() as s:
        assert s.scalar(select(func.count(Round.id))) == 1
        mails = s.scalars(select(OutboxMessage).where(OutboxMessage.kind == "round_opened")).all()
        assert sorted(m.to_address for m in mails) == [a.email, b.email]


def test_the_idempotency_key_refuses_a_second_round_for_the_same_start(tx, couple, now) -> None:
    c, _a, _b, _ = couple
    with tx() as s:
        from couples.models import Couple

        couple_row = s.get(Couple, c.id)
        first = checkin_rounds._open_round(
            s, couple_row, scheduled_for=now, origin="schedule", now=now, due_at=now
        )
        assert first is not None
        first.closed_at = now  # even a closed round keeps its key
    with tx() as s:
        again = checkin_rounds._open_round(
            s, s.get(Couple, c.id), scheduled_for=now, origin="schedule", now=now, due_at=now
        )
        assert again is None
        assert s.scalar(select(func.count(Round.id))) == 1


def test_rounds_follow_the_schedule_across_the_dst_change(tx, couple, now) -> None:
    _c, a, b, _ = couple
    with tx() as s:
        agree(s, a, b, "regular_checkin", "Sunday check-in", SUNDAY_BERLIN, now)
    starts = []
    # The planner runs every hour through four weeks: 15, 22, 29 March (CEST from the
    # 29th) and 5 April.
    at = now
    while at < dt.datetime(2026, 4, 6, tzinfo=dt.UTC):
        with tx() as s:
            checkin_rounds.close_due_rounds(s, at)
            starts += [r.scheduled_for for r in checkin_rounds.open_due_rounds(s, at)]
        at += dt.timedelta(hours=1)
    assert [t.astimezone(dt.UTC).hour for t in starts] == [18, 18, 17, 17]


def test_start_now_by_hand_and_only_one_open_round(tx, couple, now) -> None:
    _c, a, b, _ = couple
    with tx() as s:
        checkin_rounds.set_due_days(s, b.id, 3)
        round_ = checkin_rounds.start_round_now(s, a.id, now=now)
        assert round_.due_at == now + dt.timedelta(days=3) and round_.origin == "manual"
    with tx() as s, pytest.raises(NotAllowed, match="already open"):
        checkin_rounds.start_round_now(s, b.id, now=now)
    with tx() as s, pytest.raises(InvalidInput):
        checkin_rounds.set_due_days(s, a.id, 60)


def test_closing_records_who_missed_the_round(tx, couple, now) -> None:
    _c, a, b, _ = couple
    with tx() as s:
        round_id = checkin_rounds.start_round_now(s, a.id, now=now).id
        save_and_submit(s, a, round_id, sheet(), now)
    with tx() as s:
        assert checkin_rounds.close_due_rounds(s, now + dt.timedelta(days=4)) == []
        closed = checkin_rounds.close_due_rounds(s, now + dt.timedelta(days=5))
        assert [r.id for r in closed] == [round_id]
        statuses = {p.user_id: p.status for p in closed[0].participations}
        assert statuses == {a.id: SUBMITTED, b.id: MISSED}
    with tx() as s, pytest.raises(NotAllowed):
        # A's answers stay hidden: B never answered.
        checkin_answers.partner_answers(s, b.id, round_id)


def test_reminders_nudge_then_warn_before_closing_and_stop_after_answering(tx, couple, now) -> None:
    _c, a, _b, _ = couple
    with tx() as s:
        round_id = checkin_rounds.start_round_now(s, a.id, now=now).id
    with tx() as s:
        assert checkin_rounds.send_reminders(s, now + dt.timedelta(days=1)) == 0
        assert checkin_rounds.send_reminders(s, now + dt.timedelta(days=2)) == 2  # both nudged
        assert checkin_rounds.send_reminders(s, now + dt.timedelta(days=2, hours=1)) == 0
        save_and_submit(s, a, round_id, sheet(), now)
    with tx() as s:
        assert checkin_rounds.send_reminders(s, now + dt.timedelta(days=4, hours=1)) == 1
        kinds = dict(
            s.execute(
                select(OutboxMessage.kind, func.count())
                .where(OutboxMessage.dedupe_key.startswith("checkin:"))
                .group_by(OutboxMessage.kind)
            ).all()
        )
    assert kinds == {"round_opened": 2, "nudge": 2, "partner_answered": 1, "round_closing": 1}


def _reminder_keys(s) -> set[str]:  # type: ignore[no-untyped-def]
    return set(
        s.scalars(
            select(OutboxMessage.dedupe_key).where(
                OutboxMessage.kind.in_(("nudge", "round_closing"))
            )
        )
    )


def _what_examining_every_open_round_sends(s, now: dt.datetime) -> set[str]:  # type: ignore[no-untyped-def]
    """The reminder rule as it was before the notes: every pass looked at every sheet
    still to be answered in every open round older than NUDGE_AFTER."""
    from notifications.preferences import kind_enabled, preferences_for

    used = _reminder_keys(s)
    expected = set()
    rows = s.execute(
        select(Round, Participation)
        .join(Participation, Participation.round_id == Round.id)
        .where(
            Round.closed_at.is_(None),
            Participation.status.in_((PENDING, DRAFT)),
            Round.opened_at <= now - checkin_views.NUDGE_AFTER,
        )
    ).all()
    for round_, p in rows:
        closing = now >= round_.due_at - checkin_views.CLOSING_NOTICE
        kind = "round_closing" if closing else "nudge"
        key = f"checkin:{round_.id}:{kind}:{p.user_id}"
        if key not in used and kind_enabled(preferences_for(s, p.user_id), kind):
            expected.add(key)
    return expected


def _set_reminders(s, user, *, paused: bool = False, nudges: bool = True) -> None:  # type: ignore[no-untyped-def]
    import checkins.planners  # noqa: F401  (registers the check-in reminder kinds)
    from notifications.preferences import update_preferences

    update_preferences(
        s,
        user.id,
        paused=paused,
        enabled={"nudge": nudges},
        preferred_hour=None,
        quiet_start=None,
        quiet_end=None,
    )


def test_reminder_notes_send_what_examining_every_open_round_sends(tx, couple, now) -> None:
    """Three weeks in five-hour steps, two couples: a draft, an answer, a short answering
    period (the closing warning before any nudge), reminders paused and resumed, nudges
    turned off, second rounds. Each pass sends exactly what the old full examination
    would have, and the notes of finished sheets end up empty."""
    _c, a, b, _ = couple
    with tx() as s:
        _c2, c, d = make_couple(s, "c@example.org", "d@example.org", name="C & D", now=now)
        checkin_rounds.set_due_days(s, c.id, 3)  # the closing warning is due before a nudge
        for user in (a, b, c, d):
            _set_reminders(s, user)
        first = {
            checkin_rounds.start_round_now(s, a.id, now=now).id,
            checkin_rounds.start_round_now(s, c.id, now=now).id,
        }
    step = dt.timedelta(hours=5)
    events = {
        4: lambda s, t: checkin_answers.save_answers(s, b.id, _open(s, a), sheet(), now=t),
        6: lambda s, t: _set_reminders(s, d, paused=True),
        7: lambda s, t: _set_reminders(s, b, nudges=False),
        12: lambda s, t: save_and_submit(s, a, _open(s, a), sheet(), t),
        14: lambda s, t: _set_reminders(s, d),
        40: lambda s, t: checkin_rounds.start_round_now(s, a.id, now=t),
        41: lambda s, t: checkin_rounds.start_round_now(s, c.id, now=t),
    }
    sent: set[str] = set()
    for i in range(1, 101):
        t = now + i * step
        with tx() as s:
            if i in events:
                events[i](s, t)
        with tx() as s:
            checkin_rounds.close_due_rounds(s, t)
        with tx() as s:
            expected = _what_examining_every_open_round_sends(s, t)
            before = _reminder_keys(s)
            written = checkin_rounds.send_reminders(s, t)
            new = _reminder_keys(s) - before
        assert new == expected, (i, t, new, expected)
        assert written == len(new)
        sent |= new
    # checkin:<round>:<kind>:<user>, in the first rounds
    parts = [key.split(":") for key in sent]
    kinds = {(kind, int(user)) for _c, round_id, kind, user in parts if int(round_id) in first}
    assert any(int(round_id) not in first for _c, round_id, _k, _u in parts)
    assert ("nudge", a.id) in kinds and ("round_closing", a.id) not in kinds  # answered
    assert ("nudge", b.id) not in kinds and ("round_closing", b.id) in kinds  # nudges off
    assert ("nudge", c.id) not in kinds and ("round_closing", c.id) in kinds
    assert ("round_closing", d.id) in kinds  # resumed in time for the warning
    with tx() as s:
        assert s.scalar(select(func.count(Round.id)).where(Round.closed_at.is_(None))) == 0
        assert s.scalar(select(func.count()).where(Participation.remind_at.is_not(None))) == 0


def _open(s, user) -> int:  # type: ignore[no-untyped-def]
    round_ = checkin_rounds.current_round(s, user.id)
    assert round_ is not None and round_.closed_at is None
    return round_.id


def test_a_pass_reads_only_the_reminders_that_are_due(tx, engine, couple, now) -> None:
    """Many open rounds whose moment has not come cost a pass one statement; a note set
    too early (the migration starts open sheets in the past) is moved to its moment."""
    _c, a, _b, _ = couple
    with tx() as s:
        for i in range(6):
            _ci, x, _y = make_couple(s, f"x{i}@example.org", f"y{i}@example.org", now=now)
            checkin_rounds.start_round_now(s, x.id, now=now)
        round_id = checkin_rounds.start_round_now(s, a.id, now=now).id
    later = now + dt.timedelta(hours=20)
    with tx() as s:
        assert _count_statements(engine, lambda: checkin_rounds.send_reminders(s, later)) == 1
    with tx() as s:
        s.execute(
            update(Participation)
            .where(Participation.round_id == round_id)
            .values(remind_at=dt.datetime(1970, 1, 1, tzinfo=dt.UTC))
        )
    with tx() as s:
        assert checkin_rounds.send_reminders(s, later) == 0
        notes = set(
            s.scalars(select(Participation.remind_at).where(Participation.round_id == round_id))
        )
    assert notes == {now + checkin_views.NUDGE_AFTER}


# --- answering -----------------------------------------------------------------------------


def test_drafts_are_kept_between_visits_and_not_shown_as_submitted(tx, couple, now) -> None:
    _c, a, _b, cooldown = couple
    with tx() as s:
        round_id = checkin_rounds.start_round_now(s, a.id, now=now).id
    partial = Sheet(
        values={"sat_happy": 3},
        texts={"went_well": "Dinner on Friday"},
        adherence={cooldown: AdherenceInput(kept_self=4, comment="I took the five minutes")},
        concerns=[ConcernInput("Late replies", "A quick text", new_topic="Phones")],
    )
    with tx() as s:
        checkin_answers.save_answers(s, a.id, round_id, partial, now=now)
    with tx() as s:  # a "refresh": a new transaction reads everything back
        back = checkin_answers.my_answers(s, a.id, round_id)
        status = checkin_rounds.round_status(s, a.id, round_id)
    assert back.values == {"sat_happy": 3}
    assert back.texts == {"went_well": "Dinner on Friday"}
    assert back.adherence[cooldown] == AdherenceInput(4, None, "I took the five minutes")
    assert back.concerns == [ConcernInput("Late replies", "A quick text", None, "Phones")]
    assert (status.phase, status.my_status) == ("answer", "draft")
    with tx() as s, pytest.raises(InvalidInput) as missing:
        checkin_answers.submit(s, a.id, round_id, now=now)
    assert "sat_needs" in missing.value.fields and f"agreement:{cooldown}" in missing.value.fields
    with tx() as s, pytest.raises(InvalidInput):
        checkin_answers.save_answers(s, a.id, round_id, Sheet(values={"sat_happy": 9}), now=now)
    with tx() as s:  # the bad input changed nothing
        assert checkin_answers.my_answers(s, a.id, round_id).values == {"sat_happy": 3}


def test_answers_are_editable_until_both_submitted_then_locked(tx, couple, now) -> None:
    _c, a, b, cooldown = couple
    with tx() as s:
        round_id = checkin_rounds.start_round_now(s, a.id, now=now).id
    first = sheet(adherence={cooldown: AdherenceInput(4, 4)})
    with tx() as s:
        checkin_answers.save_answers(s, a.id, round_id, first, now=now)
        assert checkin_answers.submit(s, a.id, round_id, now=now).phase == "waiting"
    edited = sheet(total=12, adherence={cooldown: AdherenceInput(3, 4)})
    with tx() as s:  # still editable while B has not submitted
        checkin_answers.save_answers(s, a.id, round_id, edited, now=now)
        assert checkin_answers.my_answers(s, a.id, round_id).satisfaction == 12
    with tx() as s, pytest.raises(InvalidInput):  # but not back to incomplete
        checkin_answers.save_answers(s, a.id, round_id, Sheet(values={"sat_happy": 1}), now=now)
    with tx() as s:
        checkin_answers.save_answers(
            s, b.id, round_id, sheet(adherence={cooldown: AdherenceInput(4, 3)})
        )
        assert checkin_answers.submit(s, b.id, round_id, now=now).phase == "review"
    for user in (a, b):
        with tx() as s, pytest.raises(NotAllowed, match="locked"):
            checkin_answers.save_answers(s, user.id, round_id, sheet(total=20), now=now)
    with tx() as s:
        assert checkin_answers.my_answers(s, a.id, round_id).satisfaction == 12


def test_another_couples_round_is_not_found(tx, couple, now) -> None:
    _c, a, _b, _ = couple
    with tx() as s:
        round_id = checkin_rounds.start_round_now(s, a.id, now=now).id
        _, x, _y = make_couple(s, "x@example.org", "y@example.org", now=now)
    for call in (
        lambda s: checkin_answers.my_answers(s, x.id, round_id),
        lambda s: checkin_answers.partner_answers(s, x.id, round_id),
        lambda s: checkin_review.review(s, x.id, round_id),
        lambda s: checkin_answers.save_answers(s, x.id, round_id, sheet()),
        lambda s: checkin_rounds.round_status(s, x.id, round_id),
    ):
        with tx() as s, pytest.raises(NotFound):
            call(s)


# --- the reveal rule ----------------------------------------------------------------------

SECRETS = ("SECRET-PRIVATE-ANSWER", "SECRET-SAFETY")
EARLY = ("WELL-FROM-A", "CONCERN-FROM-A", "TOPIC-FROM-A", "COMMENT-FROM-A")


def _everything_b_can_read(tx, b, round_id) -> str:  # type: ignore[no-untyped-def]
    """The repr of every read function's result for B (refusals included)."""
    calls = {
        "round_status": lambda s: checkin_rounds.round_status(s, b.id, round_id),
        "current_round": lambda s: checkin_rounds.current_round(s, b.id),
        "my_answers": lambda s: checkin_answers.my_answers(s, b.id, round_id),
        "partner_answers": lambda s: checkin_answers.partner_answers(s, b.id, round_id),
        "review": lambda s: checkin_review.review(s, b.id, round_id),
        "round_questions": lambda s: checkin_rounds.round_questions(s, b.id, round_id),
        "history": lambda s: checkin_history.history(s, b.id),
        "topics": lambda s: checkin_history.topics(s, b.id),
        "trends": lambda s: trends.trends(s, b.id),
        "early_warnings": lambda s: warnings.early_warnings(s, b.id),
        "open_action_items": lambda s: checkin_review.open_action_items(s, b.id),
    }
    out = []
    for name, call in calls.items():
        with tx() as s:
            try:
                result = call(s)
            except NotAllowed as exc:
                result = exc
            out.append(f"{name}: {_deep_repr(result)}")
    return "\n".join(out)


def _deep_repr(value) -> str:  # type: ignore[no-untyped-def]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return repr({f.name: _deep_repr(getattr(value, f.name)) for f in dataclasses.fields(value)})
    if isinstance(value, list | tuple):
        return repr([_deep_repr(v) for v in value])
    if hasattr(value, "__table__"):
        return repr({c.name: getattr(value, c.key, None) for c in value.__table__.columns})
    return repr(value)


def test_the_partner_sees_nothing_early_and_private_or_safety_answers_never(
    tx, couple, now
) -> None:
    _c, a, b, cooldown = couple
    with tx() as s:
        private_q = questions.add_question(
            s, a.id, "Something just for me", kind="text", visibility="private", now=now
        )
        shared_q = questions.add_question(s, a.id, "Laughed together?", kind="scale", now=now)
        round_id = checkin_rounds.start_round_now(s, a.id, now=now + dt.timedelta(minutes=1)).id
    a_sheet = sheet(adherence={cooldown: AdherenceInput(5, 2, "COMMENT-FROM-A")})
    a_sheet.values |= {"safety": 2, survey.custom_key(shared_q.id): 5}
    a_sheet.texts |= {"went_well": "WELL-FROM-A", survey.custom_key(private_q.id): SECRETS[0]}
    a_sheet.concerns = [ConcernInput("CONCERN-FROM-A", "more time", new_topic="TOPIC-FROM-A")]
    with tx() as s:
        checkin_answers.save_answers(s, a.id, round_id, a_sheet, now=now)
        checkin_answers.submit(s, a.id, round_id, now=now)
    before = _everything_b_can_read(tx, b, round_id)
    for text in (*EARLY, *SECRETS):
        assert text not in before
    assert "partner_answers: NotAllowed" in before and "review: NotAllowed" in before

    b_sheet = sheet(adherence={cooldown: AdherenceInput(4, 4)})
    b_sheet.values[survey.custom_key(shared_q.id)] = 2
    with tx() as s:
        checkin_answers.save_answers(s, b.id, round_id, b_sheet, now=now)
        checkin_answers.submit(s, b.id, round_id, now=now)
    after = _everything_b_can_read(tx, b, round_id)
    for text in EARLY:
        assert text in after, text
    assert SECRETS[0] not in after
    with tx() as s:
        theirs = checkin_answers.partner_answers(s, b.id, round_id)
        mine = checkin_answers.my_answers(s, a.id, round_id)
    assert "safety" not in theirs.values and survey.custom_key(private_q.id) not in theirs.texts
    assert mine.values["safety"] == 2 and mine.texts[survey.custom_key(private_q.id)] == SECRETS[0]
    # No mail carries anything anyone wrote.
    with tx() as s:
        contexts = repr([m.context for m in s.scalars(select(OutboxMessage))])
    for text in (*EARLY, *SECRETS):
        assert text not in contexts


def test_the_review_highlights_differences_and_change_since_last_round(tx, couple, now) -> None:
    _c, a, b, cooldown = couple
    full_round(tx, a, b, now, sheet(16), sheet(16), agreement_id=cooldown)
    later = now + dt.timedelta(days=7)
    sa = sheet(18, adherence={cooldown: AdherenceInput(5, 4)})
    sb = sheet(12, adherence={cooldown: AdherenceInput(4, 1)})
    sb.values["sat_happy"] = 1
    round_id = full_round(tx, a, b, later, sa, sb)
    with tx() as s:
        review = checkin_review.review(s, a.id, round_id)
        checkin_review.add_action_item(s, a.id, round_id, "Phones away at dinner", b.id, now=later)
        checkin_review.mark_reviewed(s, b.id, round_id, now=later)
        assert s.get(Round, round_id).reviewed_at is None  # one partner is not "together"
        checkin_review.mark_reviewed(s, a.id, round_id, now=later + dt.timedelta(minutes=1))
    happy = next(x for x in review.scales if x.label == survey.SATISFACTION[0].prompt)
    assert happy.highlight and (happy.mine, happy.theirs) == (5, 1)
    about_me = next(x for x in review.adherence if x.about == "you")
    assert (about_me.by_me, about_me.by_partner, about_me.highlight) == (5, 1, True)
    assert review.previous_totals == {"me": 16, "partner": 16}
    with tx() as s:
        items = checkin_review.open_action_items(s, b.id)
        assert [(i.text, i.owner_user_id) for i in items] == [("Phones away at dinner", b.id)]
        assert s.get(Round, round_id).reviewed_by_id == a.id
        assert s.get(Round, round_id).reviewed_at == later + dt.timedelta(minutes=1)


# --- topics -----------------------------------------------------------------------------------


def test_a_topic_raised_in_two_of_three_rounds_keeps_coming_back(tx, couple, now) -> None:
    _c, a, b, _ = couple
    money = sheet(concerns=[ConcernInput("Spending", "A budget", new_topic="Money")])
    full_round(tx, a, b, now, money)
    with tx() as s:
        [topic] = checkin_history.topics(s, a.id)
        assert (topic.title, topic.keeps_coming_back) == ("Money", False)
    full_round(tx, a, b, now + dt.timedelta(days=7))
    again = sheet(concerns=[ConcernInput("Spending again", "", topic_id=topic.id)])
    full_round(tx, a, b, now + dt.timedelta(days=14), sheet(), again)
    with tx() as s:
        [topic] = checkin_history.topics(s, b.id)
        assert topic.keeps_coming_back and topic.times_raised == 2
        assert [w.code for w in warnings.early_warnings(s, a.id)] == ["topic_recurring"]
        _view, entries = checkin_history.topic_history(s, a.id, topic.id)
        assert [e.event for e in entries] == ["created", "raised", "raised"]


def test_a_resolved_topic_raised_again_reopens_and_keeps_coming_back(tx, couple, now) -> None:
    _c, a, b, _ = couple
    full_round(tx, a, b, now, sheet(concerns=[ConcernInput("Chores", "", new_topic="Chores")]))
    with tx() as s:
        [topic] = checkin_history.topics(s, a.id)
        checkin_history.set_topic_status(
            s, b.id, topic.id, "resolved", now=now + dt.timedelta(days=1)
        )
    for week in (1, 2, 3):  # quiet rounds push the first mention out of the window
        full_round(tx, a, b, now + dt.timedelta(days=7 * week))
    with tx() as s:
        assert checkin_history.topics(s, a.id)[0].keeps_coming_back is False
    back = sheet(concerns=[ConcernInput("Chores again", "", topic_id=topic.id)])
    full_round(tx, a, b, now + dt.timedelta(days=28), back)
    with tx() as s:
        [view] = checkin_history.topics(s, a.id)
    assert view.status == "open" and view.keeps_coming_back


# --- warnings and trends from the service -------------------------------------------------------


def test_a_steady_history_raises_no_warning_and_a_drop_raises_one(tx, couple, now) -> None:
    _c, a, b, cooldown = couple
    for week in range(4):
        full_round(tx, a, b, now + dt.timedelta(days=7 * week), agreement_id=cooldown)
    with tx() as s:
        assert warnings.early_warnings(s, a.id) == []
    # A private low answer (the safety question) never feeds a warning.
    low_safety = sheet()
    low_safety.values["safety"] = 1
    full_round(tx, a, b, now + dt.timedelta(days=28), low_safety, agreement_id=cooldown)
    with tx() as s:
        assert warnings.early_warnings(s, a.id) == []
    full_round(tx, a, b, now + dt.timedelta(days=35), sheet(8), agreement_id=cooldown)
    with tx() as s:
        codes = sorted(w.code for w in warnings.early_warnings(s, b.id))
    assert codes == ["distressed", "diverging", "score_drop"]


def test_custom_questions_can_be_added_reordered_and_retired_keeping_history(
    tx, couple, now
) -> None:
    _c, a, b, _ = couple
    with tx() as s:
        q1 = questions.add_question(s, a.id, "Did we laugh?", now=now)
        q2 = questions.add_question(s, b.id, "Date night?", kind="text", now=now)
        questions.move_question(s, a.id, q2.id, -1)
        assert [q.id for q in questions.questions(s, a.id)] == [q2.id, q1.id]
    round_id = full_round(tx, a, b, now + dt.timedelta(minutes=1))
    with tx() as s:
        questions.retire_question(s, a.id, q1.id, now=now + dt.timedelta(days=1))
        assert [q.id for q in questions.questions(s, a.id)] == [q2.id]
        # The old round still asks it (history keeps its wording).
        assert q1.id in [q.id for q in checkin_rounds.round_questions(s, a.id, round_id).custom]
        new_round = checkin_rounds.start_round_now(s, a.id, now=now + dt.timedelta(days=2))
        assert q1.id not in [
            q.id for q in checkin_rounds.round_questions(s, a.id, new_round.id).custom
        ]


def _count_statements(engine, fn) -> int:  # type: ignore[no-untyped-def]
    count = 0

    def before(*_args) -> None:  # type: ignore[no-untyped-def]
        nonlocal count
        count += 1

    event.listen(engine, "before_cursor_execute", before)
    try:
        fn()
    finally:
        event.remove(engine, "before_cursor_execute", before)
    return count


def test_history_trends_and_warnings_do_not_query_per_round(tx, engine, couple, now) -> None:
    _c, a, b, cooldown = couple
    counts = []
    week = 0
    for rounds in (2, 8):
        while week < rounds:
            full_round(tx, a, b, now + dt.timedelta(days=7 * week), agreement_id=cooldown)
            week += 1

        def read() -> None:
            with tx() as s:
                checkin_history.history(s, a.id)
                trends.trends(s, a.id, now=now)
                checkin_history.topics(s, a.id)
                warnings.early_warnings(s, a.id)

        counts.append(_count_statements(engine, read))
    assert counts[0] == counts[1], counts
    with tx() as s:
        data = trends.trends(s, a.id, now=now)
    assert len(data.satisfaction) == 16 and len(data.gaps) == 8 and len(data.adherence) == 8


def test_trends_rows_per_chart(tx, couple, now) -> None:
    """Each chart's rows, oldest first: totals and gaps of revealed rounds only, kept
    agreements per round, and who answered or missed each closed round."""
    _c, a, b, cooldown = couple
    week = dt.timedelta(days=7)
    kept_a = {cooldown: AdherenceInput(5, 5)}
    kept_b = {cooldown: AdherenceInput(4, 4)}
    first = full_round(tx, a, b, now, sheet(12, adherence=kept_a), sheet(17, adherence=kept_b))
    second = full_round(tx, a, b, now + week, sheet(15), sheet(14), agreement_id=cooldown)
    with tx() as s:  # a third round: only a answers, and it closes at its due date
        third = checkin_rounds.start_round_now(s, a.id, now=now + 2 * week)
        save_and_submit(s, a, third.id, sheet(10), now + 2 * week)
        due = third.due_at
    with tx() as s:
        checkin_rounds.close_due_rounds(s, due)
        checkin_rounds.start_round_now(s, a.id, now=due + dt.timedelta(hours=1))  # still open
    with tx() as s:
        opened = {r.id: r.opened_at for r in s.scalars(select(Round))}
        data = trends.trends(s, a.id, now=due + dt.timedelta(hours=2))
    names = data.names
    assert [(r["opened_at"], r["user"], r["total"]) for r in data.satisfaction] == [
        (opened[first], names[a.id], 12),
        (opened[first], names[b.id], 17),
        (opened[second], names[a.id], 15),
        (opened[second], names[b.id], 14),
    ]
    assert data.gaps == [
        {"opened_at": opened[first], "gap": 5},
        {"opened_at": opened[second], "gap": 1},
    ]
    assert [(r["opened_at"], r["mean"]) for r in data.adherence] == [
        (opened[first], 4.5),
        (opened[second], 4.0),
    ]
    assert data.participation == [
        {"opened_at": opened[first], "answered": 2, "missed": 0},
        {"opened_at": opened[second], "answered": 2, "missed": 0},
        {"opened_at": opened[third.id], "answered": 1, "missed": 1},
    ]


def test_the_conversation_ics_is_a_valid_event_with_no_answer_content(tx, couple, now) -> None:
    from icalendar import Calendar

    from checkins.calendar import conversation_ics

    _c, a, _b, _ = couple
    with tx() as s:
        round_ = checkin_rounds.start_round_now(s, a.id, now=now)
        context = s.scalars(
            select(OutboxMessage.context).where(OutboxMessage.kind == "round_opened")
        ).first()
    starts = dt.datetime.fromisoformat(context["conversation_at"])
    assert starts == round_.due_at
    data = conversation_ics(
        round_id=round_.id,
        couple_name=context["couple"],
        starts_at=starts,
        base_url="http://tend.test",
        domain="tend.test",
    )
    [event] = Calendar.from_ical(data).walk("VEVENT")
    assert event.decoded("dtstart") == round_.due_at
    assert str(event["uid"]) == f"checkin-{round_.id}@tend.test"
    assert data == conversation_ics(
        round_id=round_.id,
        couple_name=context["couple"],
        starts_at=starts,
        base_url="http://tend.test",
        domain="tend.test",
    )


def test_two_planners_at_the_same_moment_open_one_round(tx, engine, couple, now) -> None:
    import threading

    _c, a, b, _ = couple
    with tx() as s:
        agree(s, a, b, "regular_checkin", "Sunday check-in", SUNDAY_BERLIN, now)
    due = dt.datetime(2026, 3, 15, 18, 5, tzinfo=dt.UTC)
    barrier = threading.Barrier(2)
    outcomes: list[object] = []

    # On SQLite a pass takes the write lock when it begins (BEGIN IMMEDIATE), so the two
    # can only start at the same moment; on PostgreSQL they overlap inside.
    serialised = engine.dialect.name == "sqlite"

    def planner() -> None:
        try:
            if serialised:
                barrier.wait(timeout=10)
            with tx() as s:
                checkin_rounds.close_due_rounds(s, due)  # read first, as a real pass does
                if not serialised:
                    barrier.wait(timeout=10)
                outcomes.append(len(checkin_rounds.open_due_rounds(s, due)))
        except Exception as exc:  # SQLite may refuse the second writer outright
            outcomes.append(exc)

    threads = [threading.Thread(target=planner) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    with tx() as s:
        assert s.scalar(select(func.count(Round.id))) == 1
        opened_mails = s.scalar(
            select(func.count(OutboxMessage.id)).where(OutboxMessage.kind == "round_opened")
        )
    assert opened_mails == 2
    assert sorted(o for o in outcomes if isinstance(o, int))[-1] == 1, outcomes
    if engine.dialect.name == "postgresql":
        # The loser waits on the unique key, then finds the round there: no error at all.
        assert sorted(outcomes) == [0, 1], outcomes  # type: ignore[type-var]


def _mean_ratings_from_every_rating(s, couple_id: int) -> list[tuple[int, int, float]]:  # type: ignore[no-untyped-def]
    """The mean ratings as the trends computed them before they were stored: every rating
    of every revealed round averaged on the spot (the reference for the stored means)."""
    from sqlalchemy import text

    rows = s.execute(
        text(
            "SELECT r.id, ra.agreement_id, sum(coalesce(a.kept_self, 0) + "
            "coalesce(a.kept_partner, 0)) * 1.0 / sum(CASE WHEN a.kept_self IS NULL THEN 0 "
            "ELSE 1 END + CASE WHEN a.kept_partner IS NULL THEN 0 ELSE 1 END) "
            "FROM checkin_rounds r JOIN checkin_participations p ON p.round_id = r.id "
            "JOIN checkin_adherence a ON a.participation_id = p.id "
            "JOIN checkin_round_agreements ra ON ra.round_id = r.id "
            "AND ra.agreement_id = a.agreement_id "
            "WHERE r.couple_id = :c AND r.revealed_at IS NOT NULL GROUP BY r.id, ra.agreement_id "
            "HAVING sum(CASE WHEN a.kept_self IS NULL THEN 0 ELSE 1 END + CASE WHEN "
            "a.kept_partner IS NULL THEN 0 ELSE 1 END) > 0 ORDER BY r.id, ra.agreement_id"
        ),
        {"c": couple_id},
    ).all()
    return [(rid, aid, round(float(mean), 9)) for rid, aid, mean in rows]


def _totals_from_every_answer(s, couple_id: int) -> list[tuple[int, int, int]]:  # type: ignore[no-untyped-def]
    """Satisfaction totals as the trends and history summed them before they were stored:
    every revealed sheet with all its satisfaction answers, summed on the spot."""
    keys = survey.SATISFACTION_KEYS
    rows = s.execute(
        select(Round.id, Participation.user_id, func.sum(Answer.value_int))
        .join(Participation, Participation.round_id == Round.id)
        .join(Answer, Answer.participation_id == Participation.id)
        .where(
            Round.couple_id == couple_id,
            Round.revealed_at.is_not(None),
            Answer.visibility == survey.REVEALED,
            Answer.item.in_(keys),
        )
        .group_by(Round.id, Participation.user_id)
        .having(func.count(Answer.id) == len(keys))
    ).all()
    return sorted((rid, uid, int(total)) for rid, uid, total in rows)


def test_stored_round_scores_equal_every_answer_summed_or_averaged(tx, couple, now) -> None:
    """The totals and mean ratings written at the reveal are what summing and averaging
    every answer gives; a round not yet revealed has none; after one partner's erasure
    they count only the other's answers; the migration fills them the same."""
    import importlib

    from sqlalchemy import text

    from privacy.erase import erase_account

    c, a, b, cooldown = couple
    week = dt.timedelta(days=7)
    ratings = [
        (AdherenceInput(5, 1), AdherenceInput(2, 3)),
        (AdherenceInput(4, 4), AdherenceInput(1, 1)),
        (AdherenceInput(3, 5), AdherenceInput(5, 4)),  # 17 / 4; 8 / 2 after the erasure
        (AdherenceInput(1, 2), AdherenceInput(5, 4)),
    ]
    for i, (mine, theirs) in enumerate(ratings):
        full_round(
            tx,
            a,
            b,
            now + i * week,
            sheet(8 + i, adherence={cooldown: mine}),
            sheet(17 - i, adherence={cooldown: theirs}),
        )
    with tx() as s:  # answered by one only: not revealed, no means
        waiting = checkin_rounds.start_round_now(s, a.id, now=now + 5 * week).id
        save_and_submit(s, a, waiting, sheet(adherence={cooldown: AdherenceInput(1, 1)}), now)

    def stored(s) -> list[tuple[int, int, float]]:  # type: ignore[no-untyped-def]
        rows = s.execute(checkin_history._adherence_query(), {"couple_id": c.id}).all()
        return sorted((rid, aid, round(mean, 9)) for rid, aid, _title, mean in rows)

    def stored_totals(s) -> list[tuple[int, int, int]]:  # type: ignore[no-untyped-def]
        return sorted(
            tuple(r) for r in s.execute(checkin_history._totals_query(), {"couple_id": c.id})
        )

    with tx() as s:
        assert stored_totals(s) == _totals_from_every_answer(s, c.id)
        assert len(stored_totals(s)) == 8  # both partners, 4 revealed rounds
        reference = _mean_ratings_from_every_rating(s, c.id)
        assert len(reference) == 4  # the cooldown, rated in 4 revealed rounds
        assert stored(s) == reference
        assert waiting not in {rid for rid, _aid, _mean in stored(s)}
        trend = trends.trends(s, a.id, now=now + 6 * week).adherence
        assert [round(r["mean"], 9) for r in trend] == [m for *_, m in reference]
    with tx() as s:
        erase_account(s, b.id, now=now + 6 * week)
    with tx() as s:
        after = _mean_ratings_from_every_rating(s, c.id)
        assert after != reference and stored(s) == after
        totals = _totals_from_every_answer(s, c.id)
        assert stored_totals(s) == totals
        migration = importlib.import_module("migrations.versions.perf_0005")
        s.execute(text("UPDATE checkin_round_agreements SET kept_mean = NULL"))
        s.execute(text("UPDATE checkin_participations SET satisfaction_total = NULL"))
        s.execute(text(migration._FILL_TOTALS))
        s.execute(text(migration._FILL_MEANS))
        assert stored(s) == after
        assert stored_totals(s) == totals


def test_an_edit_waiting_on_the_partner_s_revealing_submit_is_refused(tx, couple, now) -> None:
    """A submits; B's submit (which reveals the round and stores its scores) is under
    way when A edits. The edit waits for the round's lock, then finds the round revealed:
    refused, so the answers B sees and the stored scores stay A's submitted ones."""
    import threading

    _c, a, b, cooldown = couple
    with tx() as s:
        round_id = checkin_rounds.start_round_now(s, a.id, now=now).id
        save_and_submit(s, a, round_id, sheet(19, adherence={cooldown: AdherenceInput(1, 1)}), now)
    outcome: list[BaseException | None] = []

    def edit() -> None:
        try:
            with tx() as s:
                checkin_answers.save_answers(s, a.id, round_id, sheet(4), now=now)
            outcome.append(None)
        except BaseException as error:
            outcome.append(error)

    with tx() as s:  # B's submit, not yet committed while A's edit starts
        save_and_submit(s, b, round_id, sheet(10), now)
        s.flush()
        editing = threading.Thread(target=edit)
        editing.start()
        editing.join(1.0)
        assert editing.is_alive()  # waiting for B's transaction
    editing.join(30)
    assert len(outcome) == 1 and isinstance(outcome[0], NotAllowed), outcome
    with tx() as s:
        assert checkin_answers.my_answers(s, a.id, round_id).satisfaction == 19
        totals = {
            uid: total
            for rid, uid, total in s.execute(checkin_history._totals_query(), {"couple_id": _c.id})
            if rid == round_id
        }
        assert totals == {a.id: 19, b.id: 10}


# --- reviewed together --------------------------------------------------------------------


def test_reviewed_together_takes_both_partners(tx, couple, now) -> None:
    _c, a, b, _cooldown = couple
    round_id = full_round(tx, a, b, now, sheet(16), sheet(12))
    with tx() as s:
        checkin_review.mark_reviewed(s, a.id, round_id, now=now)
        checkin_review.mark_reviewed(s, a.id, round_id, now=now + dt.timedelta(hours=1))
    with tx() as s:
        review = checkin_review.review(s, b.id, round_id)
        assert checkin_review.reviewed_together(review, b.id) == (
            checkin_review.ReviewedTogether(by_me=False, by_partner=True, at=None)
        )
        mine = next(p for p in s.get(Round, round_id).participations if p.user_id == a.id)
        assert mine.reviewed_at == now  # confirming again changes nothing
    later = now + dt.timedelta(days=1)
    with tx() as s:
        checkin_review.mark_reviewed(s, b.id, round_id, now=later)
    with tx() as s:
        round_ = s.get(Round, round_id)
        assert (round_.reviewed_at, round_.reviewed_by_id) == (later, b.id)
        together = checkin_review.reviewed_together(checkin_review.review(s, a.id, round_id), a.id)
        assert together == checkin_review.ReviewedTogether(True, True, later)


def test_two_confirmations_at_once_make_the_round_reviewed(tx, couple, now) -> None:
    """B's confirmation is under way when A's starts: A's waits for the round's lock,
    then sees B's, so the round is reviewed together, not left with both confirmations
    and no one to finish it."""
    import threading

    _c, a, b, _cooldown = couple
    round_id = full_round(tx, a, b, now, sheet(16), sheet(12))
    outcome: list[BaseException | None] = []

    def confirm_a() -> None:
        try:
            with tx() as s:
                checkin_review.mark_reviewed(s, a.id, round_id, now=now)
            outcome.append(None)
        except BaseException as error:
            outcome.append(error)

    with tx() as s:
        checkin_review.mark_reviewed(s, b.id, round_id, now=now)
        s.flush()
        confirming = threading.Thread(target=confirm_a)
        confirming.start()
        confirming.join(1.0)
    confirming.join(30)
    assert outcome == [None]
    with tx() as s:
        assert s.get(Round, round_id).reviewed_at == now


def test_trends_charts_reach_back_as_far_as_the_range_and_the_warnings_read_it_all(
    tx, couple, now
) -> None:
    """Rounds 30, 18 and 6 months before the clock: the last year shows one, two years
    two, everything three; the ranges offered stop at the first that holds the whole
    history; the cooldown chart has one month per month of the range."""
    _c, a, b, _ = couple
    opened = [now - relativedelta(months=m) for m in (30, 18, 6)]
    for at, total in zip(opened, (16, 20, 8), strict=True):
        full_round(tx, a, b, at, sheet(total), sheet(total))
    later = now + dt.timedelta(hours=1)
    with tx() as s:
        year = trends.trends(s, a.id, now=later, months=12)
        two = trends.trends(s, a.id, now=later, months=24)
        everything = trends.trends(s, a.id, now=later)
    assert [r["opened_at"] for r in year.satisfaction] == [opened[2]] * 2
    assert [r["opened_at"] for r in two.gaps] == opened[1:]
    assert [r["opened_at"] for r in everything.gaps] == opened
    assert [r["opened_at"] for r in two.participation] == opened[1:]
    assert len(year.cooldowns) == 12 and len(two.cooldowns) == 24
    assert len(everything.cooldowns) == 31  # back to the first round's month
    # The warnings do not depend on the range: the drop from 20 to 8 is seen from the
    # last year too, though the 20 is older than a year.
    assert "score_drop" in {w.code for w in year.warnings}
    assert year.warnings == everything.warnings
    assert year.ranges == everything.ranges == ["Last year", "Last 2 years", "Last 5 years"]
    with tx() as s:
        short = trends.trends(s, a.id, now=opened[1] + dt.timedelta(days=200))
    assert short.ranges == ["Last year", "Last 2 years"]
    with tx() as s:
        shorter = trends.trends(s, a.id, now=opened[0] + dt.timedelta(days=100))
    assert shorter.ranges == []  # one range holds it all: no choice to make
