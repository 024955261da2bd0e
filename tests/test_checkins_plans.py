"""The planner looks only at couples whose CheckinPlan note says "now". These tests prove
it opens exactly the rounds that examining every couple (the earlier design, kept here
as the reference) would open, through schedule changes, hand-started and revealed
rounds, a shorter answering period, a partner leaving, a retired and a new schedule,
and the daylight-saving change; on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from agreements import in_force, proposals
from agreements.models import AgreementVersion
from checkins import agreements_port, recurrence, rounds
from checkins import views as checkin_views
from checkins.models import STALE, CheckinPlan, CheckinSettings, Round
from couples import service as couples
from couples.models import Couple
from tests.factories import make_couple
from tests.test_checkins_service import agree, save_and_submit, sheet

WEEKLY_SUNDAY_BERLIN = {
    "cadence": "weekly",
    "weekday": 6,
    "day_of_month": 1,
    "local_time": "19:00",
    "timezone": "Europe/Berlin",
}


def weekly(weekday: int, at: str = "19:00", tz: str = "UTC") -> dict:
    return {**WEEKLY_SUNDAY_BERLIN, "weekday": weekday, "local_time": at, "timezone": tz}


def reference_due(s: Session, now: dt.datetime) -> set[int]:
    """Which couples are due, by examining every couple (the design before the plans)."""
    last_start = dict(
        s.execute(
            select(Round.couple_id, func.max(Round.scheduled_for)).group_by(Round.couple_id)
        ).all()
    )
    has_open = set(s.scalars(select(Round.couple_id).where(Round.closed_at.is_(None))))
    due_days = dict(s.execute(select(CheckinSettings.couple_id, CheckinSettings.due_days)).all())
    due = set()
    for couple in s.scalars(select(Couple).where(Couple.ended_at.is_(None))):
        members = [m for m in couple.members if m.left_at is None]
        if couple.id in has_open or len(members) < 2:
            continue
        schedule = agreements_port.schedule(s, couple.id, now)
        start = recurrence.latest_start(schedule, now) if schedule else None
        if start is None:
            continue
        period = dt.timedelta(days=due_days.get(couple.id, checkin_views.DEFAULT_DUE_DAYS))
        previous = last_start.get(couple.id)
        if previous is None or previous < start - period:
            due.add(couple.id)
    return due


def test_the_planner_opens_exactly_what_examining_every_couple_would(tx, now) -> None:
    people = {}
    with tx() as s:
        for n in range(1, 7):
            c, a, b = make_couple(
                s,
                f"a{n}@example.org",
                f"b{n}@example.org",
                name=f"Couple {n}",
                now=now - dt.timedelta(days=30),
            )
            people[n] = (c.id, a, b)
    c1, a1, b1 = people[1]
    c2, a2, b2 = people[2]
    c3, a3, b3 = people[3]
    c4, a4, b4 = people[4]
    c5, a5, b5 = people[5]
    _c6, a6, b6 = people[6]
    with tx() as s:
        agree(s, a1, b1, "regular_checkin", "Sundays", WEEKLY_SUNDAY_BERLIN, now)
        schedule2 = agree(s, a2, b2, "regular_checkin", "Sundays", weekly(6), now)
        agree(s, a3, b3, "regular_checkin", "Mondays", weekly(0, "07:30"), now)
        agree(s, a4, b4, "regular_checkin", "Tuesdays", weekly(1, "12:00", "Asia/Tokyo"), now)
        monthly = {**WEEKLY_SUNDAY_BERLIN, "cadence": "monthly", "day_of_month": 20}
        agree(s, a5, b5, "regular_checkin", "Monthly", monthly | {"local_time": "02:30"}, now)
        schedule6 = agree(s, a6, b6, "regular_checkin", "Fridays", weekly(4, "18:00"), now)

    def at_day(day: float) -> dt.datetime:
        return now + dt.timedelta(days=day)

    def change_schedule() -> None:  # Sunday -> Wednesday, sooner than the note says
        with tx() as s:
            proposals.propose_change(
                s, a2.id, schedule2, title="Wednesdays", body="Midweek.", params=weekly(2)
            )
            proposals.accept(s, b2.id, schedule2, now=at_day(3))

    def shorter_period() -> None:
        with tx() as s:
            rounds.set_due_days(s, a3.id, 2)

    def by_hand() -> None:
        with tx() as s:
            rounds.start_round_now(s, a1.id, now=at_day(8))

    def reveal() -> None:  # both answer: the round closes days before its due date
        with tx() as s:
            round_id = rounds.open_round_of(s, c1).id  # type: ignore[union-attr]
            save_and_submit(s, a1, round_id, sheet(), at_day(10))
            save_and_submit(s, b1, round_id, sheet(), at_day(10))

    def leave() -> None:
        with tx() as s:
            couples.leave_couple(s, b4.id, now=at_day(12))

    def retire() -> None:
        with tx() as s:
            proposals.request_retirement(s, a6.id, schedule6, now=at_day(13))
            proposals.answer_retirement(s, b6.id, schedule6, agree=True, now=at_day(13))

    def new_schedule() -> None:
        with tx() as s:
            agree(s, a6, b6, "regular_checkin", "Saturdays", weekly(5, "09:00"), at_day(20))

    events = {
        3: change_schedule,
        5: shorter_period,
        8: by_hand,
        10: reveal,
        12: leave,
        13: retire,
        20: new_schedule,
    }
    opened_by_couple: dict[int, int] = {}
    step = dt.timedelta(hours=3)
    at = now
    while at < at_day(36):
        day = (at - now) / dt.timedelta(days=1)
        if day in events:
            events.pop(day)()
        with tx() as s:
            rounds.close_due_rounds(s, at)
            expected = reference_due(s, at)
            opened = rounds.open_due_rounds(s, at)
            assert sorted(r.couple_id for r in opened) == sorted(expected), at
            for r in opened:
                opened_by_couple[r.couple_id] = opened_by_couple.get(r.couple_id, 0) + 1
        at += step
    assert not events
    # Every scenario really happened: rounds opened for each couple, and not for couple 4
    # after its partner left (two Tuesdays before, none after).
    assert set(opened_by_couple) == {c1, c2, c3, c4, c5, people[6][0]}
    assert opened_by_couple[c4] == 2


def test_a_change_marks_the_couple_for_the_next_pass(tx, now) -> None:
    with tx() as s:
        c, a, b = make_couple(s, now=now)
        # A new couple is looked at once (two members joined), then set aside: no schedule.
        assert s.get(CheckinPlan, c.id).next_check_at == STALE  # type: ignore[union-attr]
        rounds.open_due_rounds(s, now)
        assert s.get(CheckinPlan, c.id).next_check_at is None  # type: ignore[union-attr]
    with tx() as s:
        agree(s, a, b, "regular_checkin", "Sundays", WEEKLY_SUNDAY_BERLIN, now)
    with tx() as s:
        assert s.get(CheckinPlan, c.id).next_check_at == STALE  # type: ignore[union-attr]
        rounds.open_due_rounds(s, now)
        plan = s.get(CheckinPlan, c.id)
        # Saturday 14 March: the next start is Sunday 19:00 in Berlin.
        assert plan is not None
        assert plan.next_check_at == dt.datetime(2026, 3, 15, 18, 0, tzinfo=dt.UTC)


def test_the_sweeps_batch_reads_equal_the_one_by_one_reads(tx, now) -> None:
    """The sweep reads a batch's couples, partners and agreements as plain rows in one
    query each; they must equal what the ORM objects and the per-couple queries say:
    partners still in the couple by seat, agreements in force (a retired schedule not,
    its successor yes) with the moment each came into force, the schedule chosen, and
    per couple its own answering period, whether a round is open and the latest round's
    scheduled start (a revealed round's and an open one's)."""
    with tx() as s:
        c1, a1, b1 = make_couple(s, "a1@example.org", "b1@example.org", name="One", now=now)
        c2, a2, b2 = make_couple(s, "a2@example.org", "b2@example.org", name="Two", now=now)
        c3, a3, b3 = make_couple(
            s, "a3@example.org", "b3@example.org", now=now, timezones=("Asia/Tokyo", "UTC")
        )
        c4, a4, _b4 = make_couple(s, "a4@example.org", "b4@example.org", now=now)
        ids = [c1.id, c2.id, c3.id, c4.id, 999_999]
    with tx() as s:
        agree(s, a1, b1, "cooldown", "Cooldown", {"minutes": 5}, now)
        agree(s, a1, b1, "regular_checkin", "Sundays", WEEKLY_SUNDAY_BERLIN, now)
        old = agree(s, a2, b2, "regular_checkin", "Mondays", weekly(0), now)
        agree(s, a3, b3, "regular_checkin", "Fridays", weekly(4, "18:00", "Asia/Tokyo"), now)
    later = now + dt.timedelta(days=2)
    with tx() as s:
        proposals.request_retirement(s, a2.id, old, now=later)
        proposals.answer_retirement(s, b2.id, old, agree=True, now=later)
        agree(s, a2, b2, "regular_checkin", "Saturdays", weekly(5, "09:00"), later)
        couples.leave_couple(s, b3.id, now=later)
        rounds.set_due_days(s, a1.id, 3)
        revealed = rounds.start_round_now(s, a1.id, now=now + dt.timedelta(hours=1))
        revealed.closed_at = later
        rounds.start_round_now(s, a1.id, now=later)
        rounds.start_round_now(s, a2.id, now=later - dt.timedelta(hours=2))
        rounds.start_round_now(s, a4.id, now=now).closed_at = later
    at = later + dt.timedelta(hours=1)
    with tx() as s:
        facts = rounds._couple_facts(s, ids)
        expected = {
            c.id: (c.name, c.ended_at, [m.user for m in rounds._members(c)])
            for c in s.scalars(select(Couple).where(Couple.id.in_(ids)))
        }
        assert set(facts) == set(expected) == set(ids[:4])
        for cid, (name, ended_at, users) in expected.items():
            assert (facts[cid].name, facts[cid].ended_at) == (name, ended_at)
            assert [(p.id, p.display_name, p.email, p.timezone) for p in facts[cid].partners] == [
                (u.id, u.display_name, u.email, u.timezone) for u in users
            ]
        assert len(facts[c3.id].partners) == 1
        by_couple = in_force.agreements_in_force_by_couple(s, ids, at)
        for cid in ids:
            one_by_one = in_force.agreements_in_force(s, cid, at)
            assert [a for a, _since in by_couple[cid]] == one_by_one
            for a, since in by_couple[cid]:
                version = s.get(AgreementVersion, a.version_id)
                assert version is not None and since == version.in_force_from
            assert agreements_port.schedule_among(by_couple[cid]) == agreements_port.schedule(
                s, cid, at
            )
        assert len(by_couple[c1.id]) == 2 and by_couple[c4.id] == []
        batch = rounds._BatchFacts.read(s, ids, at)
        for cid in ids:
            assert (cid in batch.open_round) == (rounds.open_round_of(s, cid) is not None)
            assert batch.due_days.get(cid, checkin_views.DEFAULT_DUE_DAYS) == (
                rounds.due_days_for(s, cid)
            )
            assert batch.latest_scheduled.get(cid) == s.scalar(
                select(func.max(Round.scheduled_for)).where(Round.couple_id == cid)
            )
        assert batch.open_round == {c1.id, c2.id} and batch.due_days == {c1.id: 3}
        assert batch.latest_scheduled == {
            c1.id: later,
            c2.id: later - dt.timedelta(hours=2),
            c4.id: now,
        }
