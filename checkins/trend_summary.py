"""Each trend chart in words: its accessible name, so that someone who cannot see the
chart hears what it shows (WCAG 1.1.1). Said as a screen reader would want it: how many
check-ins, over which months, and per line where it started, where it is now, and how
low and high it went. Only what the chart itself shows, to the same two people."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from zoneinfo import ZoneInfo

from checkins.solo import OwnPoint
from checkins.trends import Trends


def summary(name: str, data: Trends, timezone: str) -> str:
    """The words for the chart ``name`` (a key of checkins.pages.CHARTS) of ``data``."""
    zone = ZoneInfo(timezone or "UTC")
    if name == "satisfaction":
        return lines("Satisfaction, 0 to 20", data.satisfaction, "total", timezone, series="user")
    if name == "gaps":
        return lines("Points apart in each check-in", data.gaps, "gap", timezone)
    if name == "adherence":
        title = "How well agreements were kept, 1 to 5"
        return lines(title, data.adherence, "mean", timezone, series="agreement")
    if name == "open_topics":
        return lines("Open topics after each check-in", data.open_topics, "open", timezone)
    if name == "cooldowns":
        counts = [row["count"] for row in data.cooldowns]
        return (
            f"Cooldowns per month, {_span((row['month'] for row in data.cooldowns), zone)}: "
            f"{sum(counts)} in all, at most {max(counts, default=0)} in one month."
        )
    if name == "participation":
        rows = data.participation
        both = sum(1 for row in rows if row["answered"] >= 2)
        span = _span((row["opened_at"] for row in rows), zone)
        return (
            f"Check-ins answered, {_count(len(rows))} {span}: both of you answered "
            f"{both}, at least one of you did not answer {len(rows) - both}."
        )
    raise ValueError(f"no such chart: {name}")


def own_trend(points: Sequence[OwnPoint], timezone: str) -> str:
    """The words for one's own trend (checkins.solo.own_trend), on the solo note."""
    rows = [{"opened_at": p.opened_at, "total": p.total} for p in points]
    return lines("Your own satisfaction, 0 to 20", rows, "total", timezone)


def lines(
    title: str, rows: list[dict], value: str, timezone: str, *, series: str | None = None
) -> str:
    """A chart of one value per check-in (``opened_at``), one line per ``series`` (or a
    single line) in words."""
    zone = ZoneInfo(timezone or "UTC")
    rounds = {row["opened_at"] for row in rows}
    words = [f"{title}, {_count(len(rounds))} {_span(rounds, zone)}."]
    by_series: dict[str, list[float]] = {}
    for row in sorted(rows, key=lambda r: r["opened_at"]):
        by_series.setdefault(row[series] if series else "", []).append(row[value])
    for who, values in sorted(by_series.items()):  # the legend's order (Vega sorts names)
        said = (
            f"{_number(values[0])} at first, {_number(values[-1])} in the latest, "
            f"between {_number(min(values))} and {_number(max(values))}."
        )
        words.append(f"{who}: {said}" if who else said[0].upper() + said[1:])
    return " ".join(words)


def _count(rounds: int) -> str:
    return "1 check-in" if rounds == 1 else f"{rounds} check-ins"


def _span(moments: Iterable[dt.date], zone: ZoneInfo) -> str:
    months = sorted({_month(at, zone) for at in moments})
    if not months:
        return "none yet"
    first, last = (f"{m:%B %Y}" for m in (months[0], months[-1]))
    return f"in {first}" if first == last else f"from {first} to {last}"


def _month(at: dt.date, zone: ZoneInfo) -> dt.date:
    if isinstance(at, dt.datetime):
        at = (at if at.tzinfo else at.replace(tzinfo=dt.UTC)).astimezone(zone).date()
    return at.replace(day=1)


def _number(value: float) -> str:
    return f"{value:g}" if float(value).is_integer() else f"{value:.1f}"
