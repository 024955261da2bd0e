"""When a reminder goes out: the recipient's time zone, preferred hour and quiet hours.

All arithmetic is done on local wall-clock dates and converted to UTC with zoneinfo, so
a reminder for 09:00 stays at 09:00 local across daylight-saving changes. A wall-clock
time that does not exist (the hour skipped in spring) resolves to the moment just after
the gap; one that exists twice (autumn) resolves to its first occurrence.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class DeliveryPrefs:
    preferred_hour: int | None = None  # local hour 0-23; None = when due
    quiet_start: int | None = None  # local hour quiet hours begin
    quiet_end: int | None = None  # local hour quiet hours end (may be < start: wraps)

    @property
    def has_quiet_hours(self) -> bool:
        return (
            self.quiet_start is not None
            and self.quiet_end is not None
            and self.quiet_start != self.quiet_end
        )


def _at(day: dt.date, hour: int, zone: ZoneInfo) -> dt.datetime:
    """``hour``:00 local on ``day`` as aware UTC (gap -> just after it, fold -> first)."""
    local = dt.datetime.combine(day, dt.time(hour), tzinfo=zone)
    # Round-tripping through UTC normalises a non-existent wall time to a real instant.
    return local.astimezone(dt.UTC)


def in_quiet_hours(moment: dt.datetime, prefs: DeliveryPrefs, tz: str) -> bool:
    if not prefs.has_quiet_hours:
        return False
    assert prefs.quiet_start is not None and prefs.quiet_end is not None
    t = moment.astimezone(ZoneInfo(tz)).time()
    start, end = dt.time(prefs.quiet_start), dt.time(prefs.quiet_end)
    if start < end:
        return start <= t < end
    return t >= start or t < end


def _end_of_quiet(moment: dt.datetime, prefs: DeliveryPrefs, zone: ZoneInfo) -> dt.datetime:
    assert prefs.quiet_start is not None and prefs.quiet_end is not None
    local = moment.astimezone(zone)
    day = local.date()
    if prefs.quiet_start > prefs.quiet_end and local.time() >= dt.time(prefs.quiet_start):
        day += dt.timedelta(days=1)  # evening part of a window that ends tomorrow morning
    end = _at(day, prefs.quiet_end, zone)
    return max(end, moment)


def delivery_time(due_utc: dt.datetime, prefs: DeliveryPrefs, tz: str) -> dt.datetime:
    """The first moment at or after ``due_utc`` that suits the recipient (aware UTC).

    With a preferred hour, the reminder waits for the next time that hour comes round
    locally. Quiet hours win over the preferred hour: a reminder that would fall inside
    them goes out when they end.
    """
    if due_utc.tzinfo is None:
        raise ValueError("due_utc must be timezone-aware")
    zone = ZoneInfo(tz)
    due = due_utc.astimezone(dt.UTC)
    moment = due
    if prefs.preferred_hour is not None:
        day = due.astimezone(zone).date()
        moment = _at(day, prefs.preferred_hour, zone)
        if moment < due:
            moment = _at(day + dt.timedelta(days=1), prefs.preferred_hour, zone)
    if in_quiet_hours(moment, prefs, tz):
        moment = _end_of_quiet(moment, prefs, zone)
    return moment


def late_delivery_time(
    due_utc: dt.datetime, prefs: DeliveryPrefs, tz: str, *, now: dt.datetime
) -> dt.datetime:
    """Like :func:`delivery_time`, but a reminder whose moment has already passed (the
    scheduler was down, or it was planned late) goes out as soon as quiet hours allow,
    instead of waiting a day for the preferred hour to come round again."""
    moment = delivery_time(due_utc, prefs, tz)
    if moment >= now:
        return moment
    return delivery_time(now, DeliveryPrefs(None, prefs.quiet_start, prefs.quiet_end), tz)


def part_of_day(hour: int) -> str:
    """The part of a day a local hour falls in, as people say it."""
    if 5 <= hour < 12:
        return "morning"
    if 12 <= hour < 17:
        return "afternoon"
    if 17 <= hour < 22:
        return "evening"
    return "night"


def _day_words(local: dt.datetime, today: dt.date) -> str:
    days = (local.date() - today).days
    if days == 0:
        return ""
    if days == 1:
        return " tomorrow"
    if 1 < days < 7:
        return f" on {local:%A}"
    return f" on {local:%A %d %B}"


def held_note(
    who: str,
    moment: dt.datetime,
    tz: str,
    *,
    now: dt.datetime,
    viewer_tz: str | None = None,
    what: str = "this",
    whose: str = "their",
) -> str:
    """What to tell someone whose own mail waits (quiet hours, a preferred hour) until
    ``moment``: "You will get yours at 07:00 tomorrow, your morning." """
    return (
        f"{who} will get {what} at {_when(moment, tz, now=now, viewer_tz=viewer_tz, whose=whose)}."
    )


def partner_held_note(
    who: str, moment: dt.datetime, tz: str, *, now: dt.datetime, viewer_tz: str | None = None
) -> str:
    """What to tell the person who acted when mail to ``who`` waits for their quiet hours
    (or preferred hour) until ``moment``: "Mail to Kestrel waits until 07:00 tomorrow,
    their morning." Worded so that it stays true when no mail goes at all: the same
    words are said whether or not Kestrel paused their reminders, which the one told
    must never learn."""
    return f"Mail to {who} waits until {_when(moment, tz, now=now, viewer_tz=viewer_tz)}."


def _when(
    moment: dt.datetime,
    tz: str,
    *,
    now: dt.datetime,
    viewer_tz: str | None = None,
    whose: str = "their",
) -> str:
    """ "07:00 tomorrow, their morning", in ``tz``; with the viewer's own clock beside it
    when the two zones differ at that moment (across DST too): "(01:00 tomorrow for you)"."""
    zone = ZoneInfo(tz)
    local = moment.astimezone(zone)
    words = (
        f"{local:%H:%M}{_day_words(local, now.astimezone(zone).date())}"
        f", {whose} {part_of_day(local.hour)}"
    )
    if viewer_tz:
        mine = ZoneInfo(viewer_tz)
        own = moment.astimezone(mine)
        if own.utcoffset() != local.utcoffset():
            words += f" ({own:%H:%M}{_day_words(own, now.astimezone(mine).date())} for you)"
    return words
