"""Planners, the plan job, preferences applied when planning, pass records and health."""

from __future__ import annotations

import datetime as dt
import json
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session
from starlette.requests import Request

from couples.models import User
from infra.errors import InvalidInput
from notifications import scheduler
from notifications.dispatch import dispatch_pending
from notifications.models import NotificationPreference, OutboxMessage, SchedulerPass
from notifications.preferences import Reminder, plan_reminder, plan_reminders, update_preferences
from tests.factories import make_user

ZONES = ["Europe/Berlin", "America/New_York", "Australia/Sydney", "Asia/Kolkata", "UTC"]


@pytest.fixture
def planners():  # type: ignore[no-untyped-def]
    """Planners registered by a test are removed afterwards."""
    # The real planners register when their modules are first imported: import them
    # before the snapshot, or restoring it would drop them for every later test.
    scheduler.load_planners()
    before = dict(scheduler.PLANNERS)
    yield scheduler.register_planner
    scheduler.PLANNERS.clear()
    scheduler.PLANNERS.update(before)


def latest_nine(now: dt.datetime, tz: str) -> dt.datetime:
    """The most recent 09:00 local at or before ``now`` (a daily round opening)."""
    zone = ZoneInfo(tz)
    day = now.astimezone(zone).date()
    nine = dt.datetime.combine(day, dt.time(9), tzinfo=zone).astimezone(dt.UTC)
    if nine > now:
        nine = dt.datetime.combine(day - dt.timedelta(days=1), dt.time(9), tzinfo=zone)
    return nine.astimezone(dt.UTC)


def daily_planner(kind: str):  # type: ignore[no-untyped-def]
    """Like a check-in planner: derives what is due from the database and the clock,
    one reminder per user per local day, keyed so that re-planning adds nothing."""

    def plan(session: Session, now: dt.datetime) -> int:
        written = 0
        for user in session.scalars(select(User)):
            due = latest_nine(now, user.timezone)
            day = due.astimezone(ZoneInfo(user.timezone)).date()
            row = plan_reminder(
                session,
                user,
                kind=kind,
                dedupe_key=f"daily:{user.id}:{day.isoformat()}",
                due_utc=due,
                context={"name": user.display_name, "couple": "Us"},
                now=now,
                sign_in_target="/home",
            )
            written += row is not None
        return written

    return plan


def outbox(session: Session) -> list[OutboxMessage]:
    return list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def test_planning_twice_writes_one_row_per_reminder(
    engine: Engine, tx, planners, test_prompt, now
) -> None:
    with tx() as s:
        for i, tz in enumerate(ZONES):
            make_user(s, f"u{i}@example.org", timezone=tz)
    planners("daily", daily_planner(test_prompt))
    first = scheduler.plan_pass(now, engine)
    second = scheduler.plan_pass(now, engine)
    third = scheduler.plan_pass(now + dt.timedelta(minutes=5), engine)
    assert first.written == len(ZONES) and second.written == 0 and third.written == 0
    with tx() as s:
        assert s.scalar(select(func.count()).select_from(OutboxMessage)) == len(ZONES)


@pytest.mark.parametrize("tz", ZONES)
def test_a_reminder_due_at_nine_local_is_queued_for_nine_local(
    engine: Engine, tx, planners, test_prompt, tz: str
) -> None:
    # Before nine on a DST-change day in Europe and the US, and in the southern summer.
    for day in (
        dt.date(2026, 3, 29),
        dt.date(2026, 3, 8),
        dt.date(2026, 11, 1),
        dt.date(2026, 1, 5),
    ):
        now = dt.datetime.combine(day, dt.time(8, 59), tzinfo=ZoneInfo(tz)).astimezone(dt.UTC)
        with tx() as s:
            user = make_user(s, f"{day}@example.org", timezone=tz)
            row = plan_reminder(
                s,
                user,
                kind=test_prompt,
                dedupe_key=f"k:{day}",
                due_utc=now + dt.timedelta(minutes=1),
                context={},
                now=now,
            )
            assert row is not None
            local = row.send_after.astimezone(ZoneInfo(tz))
            assert (local.date(), local.hour, local.minute) == (day, 9, 0)


def test_preferences_decide_whether_and_when(tx, test_prompt, now) -> None:
    with tx() as s:
        user = make_user(s, "sam@example.org", timezone="America/New_York")
        update_preferences(
            s,
            user.id,
            paused=False,
            enabled={},
            preferred_hour=18,
            quiet_start=None,
            quiet_end=None,
        )
        due = dt.datetime(2026, 5, 4, 9, tzinfo=ZoneInfo("America/New_York")).astimezone(dt.UTC)
        row = plan_reminder(
            s, user, kind=test_prompt, dedupe_key="a", due_utc=due, context={}, now=due
        )
        assert row is not None
        assert row.send_after.astimezone(ZoneInfo("America/New_York")).hour == 18
    with tx() as s:
        update_preferences(
            s,
            user.id,
            paused=True,
            enabled={},
            preferred_hour=None,
            quiet_start=None,
            quiet_end=None,
        )
        assert (
            plan_reminder(
                s, user, kind=test_prompt, dedupe_key="b", due_utc=due, context={}, now=due
            )
            is None
        )
    with tx() as s:
        update_preferences(
            s,
            user.id,
            paused=False,
            enabled={test_prompt: False},
            preferred_hour=None,
            quiet_start=None,
            quiet_end=None,
        )
        assert (
            plan_reminder(
                s, user, kind=test_prompt, dedupe_key="c", due_utc=due, context={}, now=due
            )
            is None
        )
        prefs = s.get(NotificationPreference, user.id)
        assert prefs is not None and prefs.disabled_kinds == [test_prompt]


def test_bad_preferences_are_refused_with_field_messages(tx, test_prompt) -> None:
    with tx() as s:
        user = make_user(s, "sam@example.org")
    with pytest.raises(InvalidInput) as caught, tx() as s:
        update_preferences(
            s,
            user.id,
            paused=False,
            enabled={"no_such_kind": True},
            preferred_hour=24,
            quiet_start=22,
            quiet_end=None,
        )
    assert set(caught.value.fields) == {"enabled", "preferred_hour", "quiet_end"}
    with tx() as s:
        assert s.get(NotificationPreference, user.id) is None  # nothing half-saved


def test_a_failing_planner_does_not_stop_the_others(
    engine: Engine, tx, planners, test_prompt, now, caplog
) -> None:
    with tx() as s:
        make_user(s, "sam@example.org")

    def broken(session: Session, now: dt.datetime) -> int:
        session.add(User(email="half@example.org", display_name="x", password_hash="x"))
        session.flush()
        raise RuntimeError("planner bug")

    planners("a_broken", broken)
    planners("daily", daily_planner(test_prompt))
    report = scheduler.plan_pass(now, engine)
    assert report.written == 1
    assert "planner bug" in report.failed["a_broken"]
    assert "planner a_broken failed" in caplog.text
    with tx() as s:
        # The broken planner's own writes were rolled back.
        assert s.scalar(select(User).where(User.email == "half@example.org")) is None
        record = s.get(SchedulerPass, "plan")
        assert record is not None and record.last_success_at is None
        assert "planner bug" in (record.last_error or "")


def test_a_scheduler_down_for_a_day_sends_what_became_due_once(
    engine: Engine, tx, planners, test_prompt, smtp_sink, smtp_settings
) -> None:
    tz = "Europe/Berlin"
    with tx() as s:
        make_user(s, "sam@example.org", timezone=tz)
    planners("daily", daily_planner(test_prompt))
    # Last pass at 08:00 on Monday; the next at noon on Tuesday (down for 28 hours:
    # hundreds of missed plan and dispatch ticks).
    monday = dt.datetime(2026, 6, 1, 8, tzinfo=ZoneInfo(tz)).astimezone(dt.UTC)
    scheduler.plan_pass(monday, engine)
    dispatch_pending(engine, settings=smtp_settings, now=monday)
    sent_before = len(smtp_sink.messages())
    tuesday = dt.datetime(2026, 6, 2, 12, tzinfo=ZoneInfo(tz)).astimezone(dt.UTC)
    scheduler.plan_pass(tuesday, engine)
    dispatch_pending(engine, settings=smtp_settings, now=tuesday)
    scheduler.plan_pass(tuesday + dt.timedelta(minutes=1), engine)
    dispatch_pending(engine, settings=smtp_settings, now=tuesday + dt.timedelta(minutes=1))
    received = smtp_sink.messages()[sent_before:]
    assert len(received) == 1  # once: not zero times, not once per missed tick


def test_job_defaults_and_fixed_ids() -> None:
    from apscheduler.schedulers.background import BackgroundScheduler

    sched = scheduler.build_scheduler(BackgroundScheduler)
    sched.start(paused=True)  # jobs get their defaults when the scheduler starts
    try:
        jobs = {job.id: job for job in sched.get_jobs()}
    finally:
        sched.shutdown(wait=False)
    assert set(jobs) == {"plan", "dispatch"}
    for job in jobs.values():
        assert job.coalesce is True
        assert job.max_instances == 1
        assert job.misfire_grace_time is None
    assert jobs["plan"].func is scheduler.plan_job
    assert jobs["dispatch"].func is scheduler.dispatch_job


def _request(path: str, method: str = "GET", query: str = "") -> Request:
    return Request(
        {
            "type": "http",
            "method": method,
            "path": path,
            "query_string": query.encode(),
            "headers": [],
        }
    )


def test_healthz_reports_the_database_and_the_last_passes(
    engine: Engine, tx, tend_env, planners
) -> None:
    from tend.routes import SCHEDULER_STALE_AFTER, healthz

    fresh = healthz(_request("/healthz"))
    assert fresh.status_code == 200
    assert json.loads(fresh.body)["scheduler"] == "not run yet"
    scheduler.run_once()  # file drop: nothing to send, but a successful pass
    body = json.loads(healthz(_request("/healthz")).body)
    assert body["status"] == "ok" and body["database"] == "ok" and body["scheduler"] == "ok"
    assert body["jobs"]["dispatch"]["last_success"] and body["jobs"]["plan"]["last_success"]
    with tx() as s:
        record = s.get(SchedulerPass, "dispatch")
        assert record is not None and record.last_success_at is not None
        record.last_success_at -= SCHEDULER_STALE_AFTER + dt.timedelta(minutes=1)
    stale = healthz(_request("/healthz"))
    assert stale.status_code == 503 and json.loads(stale.body)["scheduler"] == "stale"


CANARY = "CANARY-answer-9f2c: I felt unheard on Sunday"


def test_no_mail_carries_answer_text(
    engine: Engine, tx, planners, test_prompt, smtp_sink, smtp_settings, now
) -> None:
    from tests.factories import make_couple

    with tx() as s:
        couple, _a, _b = make_couple(s, name="Robin & Kim")
        couple_id, couple_name = couple.id, couple.name

    def partner_answered(session: Session, now: dt.datetime) -> int:
        # What a real planner does: ids and names in the context, never the answer,
        # even though it has the answer at hand.
        answer_at_hand = CANARY
        assert answer_at_hand
        written = 0
        for user in session.scalars(select(User)):
            written += (
                plan_reminder(
                    session,
                    user,
                    kind=test_prompt,
                    dedupe_key=f"answered:{couple_id}:{user.id}",
                    due_utc=now,
                    context={"name": user.display_name, "couple": couple_name},
                    now=now,
                    sign_in_target="/review",
                )
                is not None
            )
        return written

    planners("answered", partner_answered)
    at = dt.datetime(2026, 6, 1, 12, tzinfo=dt.UTC)  # outside default quiet hours in UTC
    assert scheduler.plan_pass(at, engine).written == 2
    dispatch_pending(engine, settings=smtp_settings, now=at)
    received = smtp_sink.messages()
    assert len(received) == 2
    for mail in received:
        # The search works: the names are there (decoded), the canary nowhere.
        assert "Robin &amp; Kim" in mail.text() or "Robin & Kim" in mail.text()
        for haystack in (mail.text(), mail.subject, mail.raw.decode("utf-8", "replace")):
            assert CANARY not in haystack
            assert "CANARY" not in haystack


def test_plan_reminders_decides_as_plan_reminder_one_by_one(tx, test_prompt, now) -> None:
    """The batch path (the check-in sweep's) honours the same preferences: default,
    preferred hour, quiet hours, paused, kind off, each in the recipient's own zone (the
    same preferences elsewhere give another moment); and skips a key already used."""
    evening = dict(preferred_hour=18, quiet_start=None, quiet_end=None, enabled={})
    zones = {"default_ny": "America/New_York", "evening_tokyo": "Asia/Tokyo"}
    settings = {
        "default": None,
        "default_ny": None,  # 05:35 in New York: the default quiet hours hold it
        "evening": evening,
        "evening_tokyo": evening,
        "quiet": dict(preferred_hour=None, quiet_start=0, quiet_end=23, enabled={}),
        "paused": dict(preferred_hour=None, quiet_start=None, quiet_end=None, enabled={}),
        "off": dict(
            preferred_hour=None, quiet_start=None, quiet_end=None, enabled={test_prompt: False}
        ),
    }
    due = now + dt.timedelta(minutes=5)
    with tx() as s:
        users = {}
        for name, prefs in settings.items():
            zone = zones.get(name, "Europe/Berlin")
            users[name] = make_user(s, f"{name}@example.org", timezone=zone)
            if prefs is not None:
                update_preferences(s, users[name].id, paused=name == "paused", **prefs)
        plan_reminder(
            s, users["evening"], kind=test_prompt, dedupe_key="batch:used", due_utc=due,
            context={}, now=now,
        )  # fmt: skip
    with tx() as s:
        single = {
            name: plan_reminder(
                s,
                s.get(User, u.id),
                kind=test_prompt,
                dedupe_key=f"single:{name}",
                due_utc=due,
                context={"n": name},
                now=now,
                sign_in_target="/checkin",
            )
            for name, u in users.items()
        }
        reminders = [
            Reminder(s.get(User, u.id), test_prompt, f"batch:{name}", due, {"n": name}, "/checkin")
            for name, u in users.items()
        ]
        reminders.append(
            Reminder(s.get(User, users["default"].id), test_prompt, "batch:used", due, {})
        )
        written = plan_reminders(s, reminders, now=now)
        s.flush()
        batch = {
            m.dedupe_key.removeprefix("batch:"): m
            for m in s.scalars(
                select(OutboxMessage).where(
                    OutboxMessage.dedupe_key.like("batch:%"),
                    OutboxMessage.dedupe_key != "batch:used",
                )
            )
        }
    expected = {name for name, m in single.items() if m is not None}
    assert expected == {"default", "default_ny", "evening", "evening_tokyo", "quiet"}
    assert set(batch) == expected
    assert batch["default_ny"].send_after != batch["default"].send_after
    assert batch["evening_tokyo"].send_after != batch["evening"].send_after
    assert written == len(expected)
    for name in expected:
        one, many = single[name], batch[name]
        assert (many.send_after, many.context, many.to_address, many.recipient_user_id) == (
            one.send_after, one.context, one.to_address, one.recipient_user_id,
        )  # fmt: skip
