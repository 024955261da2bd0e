"""When is a check-in round due? Occurrences of a check-in schedule, computed in the
schedule's own time zone so that "Sunday 19:00" stays Sunday 19:00 on the wall clock
across daylight-saving changes.

The schedule is anything with the attributes of ``agreements.views.CheckinSchedule``:
cadence ("weekly" | "biweekly" | "monthly"), weekday (0 = Monday), day_of_month (1..28),
local_time, timezone, active_since (aware).

Wall-clock times that do not exist (the hour skipped in spring) are moved forward by the
length of the gap (02:30 becomes 03:30); times that happen twice (the hour repeated in
autumn) mean the first of the two.
"""

from __future__ import annotations

import datetime as dt
from typing import Protocol
from zoneinfo import ZoneInfo

from dateutil import rrule

CADENCES = ("weekly", "biweekly", "monthly")
# Per cadence, a window of local time wide enough to hold at least one occurrence on
# either side of any instant: the longest gap (a week, a fortnight, 31 days between the
# same day of two months) plus a day for daylight-saving shifts. No wider: the planning
# sweep expands it for every due couple, and each occurrence costs.
_WINDOWS = {
    "weekly": dt.timedelta(days=8),
    "biweekly": dt.timedelta(days=15),
    "monthly": dt.timedelta(days=32),
}


class ScheduleLike(Protocol):
    cadence: str
    weekday: int
    day_of_month: int
    local_time: dt.time
    timezone: str
    active_since: dt.datetime


# Expanding a rule walks every occurrence from its start, so a schedule agreed years ago
# would cost its age on every call. The rule starts instead a whole number of weeks later,
# just before the window asked about: the same occurrences there, since weekly and
# monthly rules repeat from any start, and whole fortnights keep a biweekly rule's weeks.
_WEEK = dt.timedelta(days=7)


def _rule(schedule: ScheduleLike, from_local: dt.datetime | None = None) -> rrule.rrule:
    """The schedule's rule; given ``from_local`` (naive local), started less than one
    step (a week; a fortnight if biweekly) before it, never before the schedule's own
    start."""
    tz = ZoneInfo(schedule.timezone)
    # The rule runs on naive local wall-clock times; zone offsets are applied afterwards.
    start = schedule.active_since.astimezone(tz).replace(tzinfo=None)
    if from_local is not None and from_local > start:
        step = 2 * _WEEK if schedule.cadence == "biweekly" else _WEEK
        start += (from_local - start) // step * step
    at = {
        "byhour": schedule.local_time.hour,
        "byminute": schedule.local_time.minute,
        "bysecond": 0,
        "dtstart": start.replace(microsecond=0),
    }
    if schedule.cadence == "weekly":
        return rrule.rrule(rrule.WEEKLY, byweekday=schedule.weekday, **at)
    if schedule.cadence == "biweekly":
        # Every other week, counted from the week in which the schedule became active.
        return rrule.rrule(rrule.WEEKLY, interval=2, byweekday=schedule.weekday, **at)
    if schedule.cadence == "monthly":
        return rrule.rrule(rrule.MONTHLY, bymonthday=schedule.day_of_month, **at)
    raise ValueError(f"unknown cadence {schedule.cadence!r}")


def to_utc(local: dt.datetime, timezone: str) -> dt.datetime:
    """A naive wall-clock time in ``timezone`` as an aware UTC instant.

    fold=0 gives the first of two repeated times; for a skipped time zoneinfo applies the
    offset from before the gap, which lands the same distance after the gap."""
    return local.replace(tzinfo=ZoneInfo(timezone), fold=0).astimezone(dt.UTC)


def _window(schedule: ScheduleLike) -> dt.timedelta:
    window = _WINDOWS.get(schedule.cadence)
    if window is None:
        raise ValueError(f"unknown cadence {schedule.cadence!r}")
    return window


def _weekly_between(
    schedule: ScheduleLike, start: dt.datetime, lo: dt.datetime, hi: dt.datetime
) -> list[dt.datetime]:
    """What ``_rule(schedule).between(lo, hi, inc=True)`` gives for a weekly or biweekly
    schedule (naive local times), by date arithmetic instead of expanding the rule: the
    schedule's weekday at its local time, from ``start`` (the rule's start) on; if
    biweekly, only in the weeks (Monday to Sunday, as the rule counts them) an even
    number of weeks after the week of ``start``."""
    first = lo.date() + dt.timedelta(days=(schedule.weekday - lo.weekday()) % 7)
    at = schedule.local_time.replace(second=0, microsecond=0)
    start_monday = start.date() - dt.timedelta(days=start.weekday())
    out = []
    day = first
    while day <= hi.date():
        moment = dt.datetime.combine(day, at)
        if (
            lo <= moment <= hi
            and moment >= start
            and (
                schedule.cadence == "weekly"
                or (day - dt.timedelta(days=day.weekday()) - start_monday).days // 7 % 2 == 0
            )
        ):
            out.append(moment)
        day += _WEEK
    return out


def _occurrences_near(schedule: ScheduleLike, instant: dt.datetime) -> list[dt.datetime]:
    tz = ZoneInfo(schedule.timezone)
    local = instant.astimezone(tz).replace(tzinfo=None)
    window = _window(schedule)
    if schedule.cadence in ("weekly", "biweekly"):
        # The sweep asks this for every due couple: no rule to build and expand.
        start = schedule.active_since.astimezone(tz).replace(tzinfo=None, microsecond=0)
        naive = _weekly_between(schedule, start, local - window, local + window)
    else:
        rule = _rule(schedule, from_local=local - window)
        naive = rule.between(local - window, local + window, inc=True)
    since = schedule.active_since
    return sorted({t for t in (to_utc(n, schedule.timezone) for n in naive) if t >= since})


def next_start(schedule: ScheduleLike, after: dt.datetime) -> dt.datetime:
    """The first round start strictly after ``after`` (aware UTC)."""
    probe = max(after, schedule.active_since)
    while True:
        later = [t for t in _occurrences_near(schedule, probe) if t > after]
        if later:
            return later[0]
        probe = probe + _window(schedule)


def latest_start(schedule: ScheduleLike, at: dt.datetime) -> dt.datetime | None:
    """The last round start at or before ``at``, or None if there has been none yet."""
    if at < schedule.active_since:
        return None
    earlier = [t for t in _occurrences_near(schedule, at) if t <= at]
    return earlier[-1] if earlier else None


def latest_and_next(
    schedule: ScheduleLike, at: dt.datetime
) -> tuple[dt.datetime | None, dt.datetime]:
    """``(latest_start(schedule, at), next_start(schedule, at))``, expanding the rule once
    (the planning sweep asks both for every couple it examines)."""
    if at < schedule.active_since:
        return None, next_start(schedule, at)
    near = _occurrences_near(schedule, at)
    earlier = [t for t in near if t <= at]
    later = [t for t in near if t > at]
    return (earlier[-1] if earlier else None), (later[0] if later else next_start(schedule, at))
