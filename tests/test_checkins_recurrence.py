"""Round starts from a check-in schedule: wall-clock time in the schedule's zone, across
daylight-saving changes, for every cadence."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from agreements.views import CheckinSchedule
from checkins.recurrence import latest_start, next_start, to_utc

ZONES = [
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "America/Sao_Paulo",
    "Australia/Sydney",
    "Australia/Lord_Howe",  # a 30-minute DST shift
    "Asia/Kolkata",
    "Pacific/Chatham",
    "America/St_Johns",
    "Europe/London",
]


def schedule(cadence: str = "weekly", **kw) -> CheckinSchedule:  # type: ignore[no-untyped-def]
    defaults = {
        "version_id": 1,
        "cadence": cadence,
        "weekday": 6,
        "day_of_month": 1,
        "local_time": dt.time(19, 0),
        "timezone": "Europe/Berlin",
        "active_since": dt.datetime(2025, 1, 1, tzinfo=dt.UTC),
    }
    defaults.update(kw)
    return CheckinSchedule(**defaults)


def _wall(t: dt.datetime, zone: str) -> dt.datetime:
    return t.astimezone(ZoneInfo(zone))


def _expected_wall(local_date: dt.date, at: dt.time, zone: str) -> dt.datetime:
    return _wall(to_utc(dt.datetime.combine(local_date, at), zone), zone)


schedules = st.builds(
    schedule,
    cadence=st.sampled_from(["weekly", "biweekly", "monthly"]),
    weekday=st.integers(0, 6),
    day_of_month=st.integers(1, 28),
    local_time=st.times().map(lambda t: t.replace(second=0, microsecond=0)),
    timezone=st.sampled_from(ZONES),
    active_since=st.datetimes(dt.datetime(2020, 1, 1), dt.datetime(2030, 1, 1)).map(
        lambda d: d.replace(tzinfo=dt.UTC)
    ),
)
instants = st.datetimes(dt.datetime(2019, 6, 1), dt.datetime(2032, 1, 1)).map(
    lambda d: d.replace(tzinfo=dt.UTC)
)


@settings(max_examples=300, deadline=None)
@given(s=schedules, after=instants)
def test_next_start_is_the_first_matching_wall_clock_time_after(s, after) -> None:  # type: ignore[no-untyped-def]
    start = next_start(s, after)
    assert start > after and start >= s.active_since
    local = _wall(start, s.timezone)
    # On the right day, at the agreed wall-clock time (or just after a skipped hour).
    if s.cadence == "monthly":
        assert local.day == s.day_of_month
    else:
        assert local.weekday() == s.weekday
    assert local == _expected_wall(local.date(), s.local_time, s.timezone)
    # Nothing earlier qualifies: latest_start just before it is before `after`.
    previous = latest_start(s, start - dt.timedelta(seconds=1))
    assert previous is None or previous <= after
    assert latest_start(s, start) == start


@settings(max_examples=200, deadline=None)
@given(s=schedules, after=instants)
def test_consecutive_starts_keep_the_local_rhythm(s, after) -> None:  # type: ignore[no-untyped-def]
    first = next_start(s, after)
    second = next_start(s, first)
    a, b = _wall(first, s.timezone).date(), _wall(second, s.timezone).date()
    if s.cadence == "weekly":
        assert (b - a).days == 7
    elif s.cadence == "biweekly":
        assert (b - a).days == 14
    else:
        assert (b.year * 12 + b.month) - (a.year * 12 + a.month) == 1
    # In absolute time the gap differs from whole days by a DST shift at most.
    drift = (second - first) - dt.timedelta(days=(b - a).days)
    assert abs(drift) <= dt.timedelta(hours=1)


def test_sunday_evening_in_berlin_stays_at_19_across_the_spring_change() -> None:
    s = schedule(timezone="Europe/Berlin", weekday=6, local_time=dt.time(19, 0))
    before = next_start(s, dt.datetime(2026, 3, 20, tzinfo=dt.UTC))
    after = next_start(s, before)
    assert before == dt.datetime(2026, 3, 22, 18, 0, tzinfo=dt.UTC)  # CET, UTC+1
    assert after == dt.datetime(2026, 3, 29, 17, 0, tzinfo=dt.UTC)  # CEST, UTC+2


def test_a_time_in_the_skipped_hour_moves_forward_and_a_repeated_one_is_the_first() -> None:
    s = schedule(timezone="America/New_York", weekday=6, local_time=dt.time(2, 30))
    spring = next_start(s, dt.datetime(2026, 3, 7, tzinfo=dt.UTC))
    assert _wall(spring, s.timezone).replace(tzinfo=None) == dt.datetime(2026, 3, 8, 3, 30)
    s = schedule(timezone="America/New_York", weekday=6, local_time=dt.time(1, 30))
    autumn = next_start(s, dt.datetime(2026, 10, 31, tzinfo=dt.UTC))
    assert autumn == dt.datetime(2026, 11, 1, 5, 30, tzinfo=dt.UTC)  # EDT, the first 01:30


def test_biweekly_counts_from_when_the_schedule_became_active() -> None:
    since = dt.datetime(2026, 1, 5, 12, tzinfo=dt.UTC)  # a Monday
    s = schedule(
        "biweekly", weekday=0, local_time=dt.time(18, 0), timezone="UTC", active_since=since
    )
    starts = [next_start(s, since)]
    for _ in range(3):
        starts.append(next_start(s, starts[-1]))
    assert [d.date() for d in starts] == [
        dt.date(2026, 1, 5),
        dt.date(2026, 1, 19),
        dt.date(2026, 2, 2),
        dt.date(2026, 2, 16),
    ]


def test_nothing_is_due_before_the_schedule_became_active() -> None:
    s = schedule(active_since=dt.datetime(2026, 3, 10, tzinfo=dt.UTC))
    assert latest_start(s, dt.datetime(2026, 3, 9, tzinfo=dt.UTC)) is None
    assert latest_start(s, dt.datetime(2026, 3, 14, tzinfo=dt.UTC)) is None  # before Sunday
    assert latest_start(s, dt.datetime(2026, 3, 15, 19, tzinfo=dt.UTC)) is not None


def test_latest_and_next_agree_with_latest_start_and_next_start() -> None:
    """Every cadence, across a DST change, before and after the schedule starts."""
    import itertools

    from checkins.recurrence import latest_and_next

    since = dt.datetime(2026, 3, 1, 12, tzinfo=dt.UTC)
    for cadence, tz in itertools.product(
        ("weekly", "biweekly", "monthly"), ("Europe/Berlin", "America/New_York", "UTC")
    ):
        sched = schedule(
            cadence,
            weekday=2,
            day_of_month=31,
            local_time=dt.time(2, 30),
            timezone=tz,
            active_since=since,
        )
        at = since - dt.timedelta(days=3)
        while at < since + dt.timedelta(days=120):
            assert latest_and_next(sched, at) == (
                latest_start(sched, at),
                next_start(sched, at),
            ), (cadence, tz, at)
            at += dt.timedelta(hours=7)


old_schedules = st.builds(
    schedule,
    cadence=st.sampled_from(["weekly", "biweekly", "monthly"]),
    weekday=st.integers(0, 6),
    # 1..28, as agreements allow (a 31st is missing in some months: a gap longer than
    # any window, which the schedule's contract rules out).
    day_of_month=st.integers(1, 28),
    local_time=st.times().map(lambda t: t.replace(microsecond=0)),
    timezone=st.sampled_from(ZONES),
    active_since=st.datetimes(dt.datetime(2000, 1, 1), dt.datetime(2026, 1, 1)).map(
        lambda d: d.replace(tzinfo=dt.UTC)
    ),
)


def _from_the_schedules_start(s: CheckinSchedule, at: dt.datetime):  # type: ignore[no-untyped-def]
    """The rule expanded from the day the schedule became active (the way it was done
    before the rule was started near the window): latest and next start around ``at``."""
    from dateutil import rrule

    tz = ZoneInfo(s.timezone)
    fields = {
        "byhour": s.local_time.hour,
        "byminute": s.local_time.minute,
        "bysecond": 0,
        "dtstart": s.active_since.astimezone(tz).replace(tzinfo=None, microsecond=0),
    }
    if s.cadence == "monthly":
        rule = rrule.rrule(rrule.MONTHLY, bymonthday=s.day_of_month, **fields)
    else:
        interval = 2 if s.cadence == "biweekly" else 1
        rule = rrule.rrule(rrule.WEEKLY, interval=interval, byweekday=s.weekday, **fields)
    local = at.astimezone(tz).replace(tzinfo=None)
    starts = sorted(
        t
        for t in (
            to_utc(n, s.timezone)
            for n in rule.between(
                local - dt.timedelta(days=70), local + dt.timedelta(days=70), inc=True
            )
        )
        if t >= s.active_since
    )
    latest = [t for t in starts if t <= at]
    return (latest[-1] if latest else None), next(t for t in starts if t > at)


@settings(max_examples=400, deadline=None)
@given(s=old_schedules, after=instants)
def test_a_schedule_agreed_years_ago_gives_the_starts_its_whole_rule_gives(s, after) -> None:  # type: ignore[no-untyped-def]
    """The rule is started near the instant asked about, not on the day the schedule
    became active (years of weekly occurrences per call otherwise): same starts."""
    from checkins.recurrence import latest_and_next

    if after < s.active_since:
        after = s.active_since + (s.active_since - after) % dt.timedelta(days=3000)
    assert latest_and_next(s, after) == _from_the_schedules_start(s, after)
    assert latest_start(s, after) == _from_the_schedules_start(s, after)[0]


def test_the_rule_is_started_near_the_instant_asked_about() -> None:
    """What keeps a ten-year-old schedule as cheap as a new one: the expansion starts
    less than a week (a fortnight if biweekly) before the window, whatever its age."""
    from checkins.recurrence import _rule

    for cadence in ("weekly", "biweekly", "monthly"):
        s = schedule(cadence, active_since=dt.datetime(2016, 5, 4, 7, 30, tzinfo=dt.UTC))
        near = dt.datetime(2026, 11, 1, 12, 0)
        start = _rule(s, from_local=near)._dtstart
        step = dt.timedelta(days=14 if cadence == "biweekly" else 7)
        assert near - step < start <= near, (cadence, start)
        assert _rule(s)._dtstart == dt.datetime(2016, 5, 4, 9, 30)  # Berlin, summer time


@settings(max_examples=500, deadline=None)
@given(
    s=schedules.filter(lambda s: s.cadence != "monthly"),
    after=instants,
    near=st.integers(-20 * 86_400, 20 * 86_400),
)
def test_weekly_starts_by_date_arithmetic_equal_the_rules_expansion(s, after, near) -> None:  # type: ignore[no-untyped-def]
    """Weekly and biweekly starts are found by date arithmetic, not by expanding the rule
    (the sweep asks for every due couple): the same naive local times the rule gives in
    any window, also one that begins before the schedule or in its first weeks."""
    from checkins.recurrence import _rule, _weekly_between

    tz = ZoneInfo(s.timezone)
    for instant in (after, s.active_since + dt.timedelta(seconds=near)):
        local = instant.astimezone(tz).replace(tzinfo=None)
        lo, hi = local - dt.timedelta(days=8), local + dt.timedelta(days=15)
        start = s.active_since.astimezone(tz).replace(tzinfo=None, microsecond=0)
        assert _weekly_between(s, start, lo, hi) == _rule(s).between(lo, hi, inc=True)
