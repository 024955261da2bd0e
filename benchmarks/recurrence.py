"""schedule_age: working out a round's latest and next start for a schedule agreed ten
years ago vs one agreed a month ago, in the same process (the planning sweep does this
for every due couple). Goal: the age of a schedule costs nothing (ratio ≤ 1.2)."""

from __future__ import annotations

import datetime as dt

from agreements.views import CheckinSchedule
from benchmarks.common import Result, interleaved_medians
from checkins.recurrence import latest_and_next

NOW = dt.datetime(2026, 6, 15, 12, 0, tzinfo=dt.UTC)
CALLS = 200  # per timed run: one call is a few microseconds


def _schedule(cadence: str, agreed: dt.datetime) -> CheckinSchedule:
    return CheckinSchedule(
        version_id=1,
        cadence=cadence,
        weekday=6,
        day_of_month=1,
        local_time=dt.time(19, 0),
        timezone="Europe/Berlin",
        active_since=agreed,
    )


def run(repeat: int = 30) -> Result:
    detail: dict[str, object] = {}
    ratios = []
    for cadence in ("weekly", "biweekly", "monthly"):
        fns = {}
        for label, age in (("new", dt.timedelta(days=30)), ("old", dt.timedelta(days=3652))):
            schedule = _schedule(cadence, NOW - age)

            def calls(schedule: CheckinSchedule = schedule) -> None:
                for _ in range(CALLS):
                    latest_and_next(schedule, NOW)

            fns[label] = calls
        times = interleaved_medians(fns, repeat=repeat)
        ratio = times["old"] / times["new"]
        ratios.append(ratio)
        detail[cadence] = {
            "per_call_us": {k: round(v / CALLS * 1e6, 1) for k, v in times.items()},
            "ratio": round(ratio, 2),
        }
    return Result("schedule_age", max(ratios), 1.2, detail)
