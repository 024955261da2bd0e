"""Delivery times in the recipient's zone: preferred hour, quiet hours, DST."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from notifications.timing import DeliveryPrefs, delivery_time, in_quiet_hours, late_delivery_time

ZONES = [
    "UTC",
    "Europe/Berlin",
    "Europe/London",
    "Europe/Dublin",  # "negative" DST in the tz database
    "America/New_York",
    "America/Los_Angeles",
    "America/St_Johns",  # -03:30 / -02:30
    "America/Sao_Paulo",
    "Australia/Sydney",  # southern-hemisphere DST
    "Australia/Lord_Howe",  # 30-minute DST shift
    "Asia/Kolkata",  # +05:30, no DST
    "Asia/Kathmandu",  # +05:45
    "Pacific/Chatham",  # +12:45 / +13:45
    "Pacific/Apia",
    "Asia/Tokyo",
]
zones = st.sampled_from(ZONES)
dates = st.dates(min_value=dt.date(2020, 1, 1), max_value=dt.date(2037, 12, 31))
hours = st.integers(min_value=0, max_value=23)
moments = st.datetimes(min_value=dt.datetime(2020, 1, 1), max_value=dt.datetime(2037, 12, 31)).map(
    lambda d: d.replace(tzinfo=dt.UTC)
)


def local_nine(day: dt.date, tz: str) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(9), tzinfo=ZoneInfo(tz)).astimezone(dt.UTC)


def exists(day: dt.date, hour: int, tz: str) -> bool:
    """Whether hour:00 exists on that local day (not skipped by a DST change)."""
    local = dt.datetime.combine(day, dt.time(hour), tzinfo=ZoneInfo(tz))
    return local.astimezone(dt.UTC).astimezone(ZoneInfo(tz)).replace(tzinfo=None) == (
        local.replace(tzinfo=None)
    )


@settings(max_examples=400, deadline=None)
@given(tz=zones, day=dates)
def test_due_at_nine_local_goes_out_at_nine_local(tz: str, day: dt.date) -> None:
    due = local_nine(day, tz)
    for prefs in (DeliveryPrefs(), DeliveryPrefs(9, 22, 7), DeliveryPrefs(None, 21, 8)):
        sent = delivery_time(due, prefs, tz).astimezone(ZoneInfo(tz))
        assert (sent.date(), sent.hour, sent.minute) == (day, 9, 0)


@settings(max_examples=400, deadline=None)
@given(tz=zones, due=moments, hour=hours)
def test_preferred_hour_is_the_next_time_that_hour_comes_round(
    tz: str, due: dt.datetime, hour: int
) -> None:
    sent = delivery_time(due, DeliveryPrefs(preferred_hour=hour), tz)
    assert sent >= due
    assert sent - due <= dt.timedelta(hours=26)  # at most a day (plus a DST hour)
    local = sent.astimezone(ZoneInfo(tz))
    if exists(local.date(), hour, tz):
        assert (local.hour, local.minute) == (hour, 0)
        # Not a day late: the same hour earlier on was before the due time.
        previous = dt.datetime.combine(
            local.date() - dt.timedelta(days=1), dt.time(hour), tzinfo=ZoneInfo(tz)
        )
        assert previous.astimezone(dt.UTC) < due


@settings(max_examples=600, deadline=None)
@given(
    tz=zones,
    due=moments,
    preferred=st.none() | hours,
    start=hours,
    end=hours,
)
def test_quiet_hours_are_respected(
    tz: str, due: dt.datetime, preferred: int | None, start: int, end: int
) -> None:
    prefs = DeliveryPrefs(preferred, start, end)
    sent = delivery_time(due, prefs, tz)
    assert sent >= due
    assert sent - due <= dt.timedelta(hours=50)
    assert not in_quiet_hours(sent, prefs, tz)
    if preferred is None and sent > due and start != end:
        # Held back only as long as needed: it goes out when quiet hours end.
        local = sent.astimezone(ZoneInfo(tz))
        if exists(local.date(), end, tz):
            assert (local.hour, local.minute) == (end, 0)


def test_quiet_hours_across_midnight_and_dst_in_berlin() -> None:
    prefs = DeliveryPrefs(None, 22, 7)
    # 23:30 local on the night clocks go forward (29 March 2026): out at 07:00 CEST.
    due = dt.datetime(2026, 3, 28, 23, 30, tzinfo=ZoneInfo("Europe/Berlin"))
    sent = delivery_time(due.astimezone(dt.UTC), prefs, "Europe/Berlin")
    assert sent == dt.datetime(2026, 3, 29, 7, tzinfo=ZoneInfo("Europe/Berlin"))
    assert sent == dt.datetime(2026, 3, 29, 5, tzinfo=dt.UTC)  # UTC+2 now
    # The night clocks go back (25 October 2026): still 07:00 local, now UTC+1.
    due = dt.datetime(2026, 10, 25, 1, 0, tzinfo=ZoneInfo("Europe/Berlin"))
    sent = delivery_time(due.astimezone(dt.UTC), prefs, "Europe/Berlin")
    assert sent == dt.datetime(2026, 10, 25, 6, tzinfo=dt.UTC)


def test_a_preferred_hour_skipped_by_dst_goes_out_just_after_the_gap() -> None:
    # 02:00 does not exist in New York on 8 March 2026: 03:00 EDT instead.
    due = dt.datetime(2026, 3, 8, 0, 30, tzinfo=ZoneInfo("America/New_York"))
    sent = delivery_time(
        due.astimezone(dt.UTC), DeliveryPrefs(preferred_hour=2), "America/New_York"
    )
    assert sent.astimezone(ZoneInfo("America/New_York")).hour == 3
    assert sent == dt.datetime(2026, 3, 8, 7, tzinfo=dt.UTC)


def test_late_reminders_go_out_as_soon_as_quiet_hours_allow() -> None:
    tz = "Europe/Berlin"
    prefs = DeliveryPrefs(9, 22, 7)
    due = dt.datetime(2026, 6, 1, 9, tzinfo=ZoneInfo(tz)).astimezone(dt.UTC)
    # Planned a day late in the afternoon: now, not tomorrow at nine.
    afternoon = dt.datetime(2026, 6, 2, 15, tzinfo=ZoneInfo(tz)).astimezone(dt.UTC)
    assert late_delivery_time(due, prefs, tz, now=afternoon) == afternoon
    # Planned late at night: when quiet hours end.
    night = dt.datetime(2026, 6, 2, 23, tzinfo=ZoneInfo(tz)).astimezone(dt.UTC)
    assert late_delivery_time(due, prefs, tz, now=night) == dt.datetime(
        2026, 6, 3, 7, tzinfo=ZoneInfo(tz)
    )
    # On time: unchanged.
    early = dt.datetime(2026, 6, 1, 8, tzinfo=ZoneInfo(tz)).astimezone(dt.UTC)
    assert late_delivery_time(due, prefs, tz, now=early) == due
