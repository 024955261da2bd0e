"""Each trend chart in words (checkins.trend_summary): what a screen reader says for it."""

import datetime as dt

import pytest

from checkins.trend_summary import summary
from checkins.trends import Trends

UTC = dt.UTC


def _at(day: str, hour: int = 12) -> dt.datetime:
    return dt.datetime.fromisoformat(day).replace(hour=hour, tzinfo=UTC)


def _trends(**charts: list[dict]) -> Trends:
    empty: dict[str, list[dict]] = {
        "satisfaction": [],
        "gaps": [],
        "adherence": [],
        "cooldowns": [],
        "open_topics": [],
        "participation": [],
    }
    return Trends(warnings=[], names={}, **(empty | charts))


def test_satisfaction_says_each_partner_first_latest_lowest_and_highest() -> None:
    rows = [
        {"round_id": i, "opened_at": _at(day), "user": who, "total": total}
        for i, (day, scores) in enumerate(
            [("2025-03-02", (12, 9)), ("2025-06-01", (18, 11)), ("2026-01-04", (15, 14))]
        )
        for who, total in zip(("Al *ex*", "Sam"), scores, strict=True)
    ]
    # Given newest first, said oldest first: "at first" is the earliest check-in.
    words = summary("satisfaction", _trends(satisfaction=rows[::-1]), "Europe/Berlin")
    assert words == (
        "Satisfaction, 0 to 20, 3 check-ins from March 2025 to January 2026. "
        "Al *ex*: 12 at first, 15 in the latest, between 12 and 18. "
        "Sam: 9 at first, 14 in the latest, between 9 and 14."
    )


def test_months_are_the_viewers_own() -> None:
    # 23:30 UTC on 31 March is already April in Auckland, still March in New York.
    late = dt.datetime(2026, 3, 31, 23, 30, tzinfo=UTC)
    data = _trends(gaps=[{"opened_at": late, "gap": 2}])
    assert summary("gaps", data, "Pacific/Auckland").startswith(
        "Points apart in each check-in, 1 check-in in April 2026."
    )
    assert summary("gaps", data, "America/New_York").startswith(
        "Points apart in each check-in, 1 check-in in March 2026."
    )
    # No zone on record: UTC.
    assert "in March 2026." in summary("gaps", data, "")


def test_one_series_charts_and_averages() -> None:
    data = _trends(
        gaps=[
            {"opened_at": _at("2026-01-04"), "gap": 3},
            {"opened_at": _at("2026-02-01"), "gap": 1},
        ],
        adherence=[
            {"opened_at": _at("2026-01-04"), "agreement": "No phones", "mean": 3.5},
            {"opened_at": _at("2026-02-01"), "agreement": "No phones", "mean": 4.0},
        ],
        open_topics=[{"opened_at": _at("2026-02-01"), "open": 2}],
    )
    assert summary("gaps", data, "UTC") == (
        "Points apart in each check-in, 2 check-ins from January 2026 to February 2026. "
        "3 at first, 1 in the latest, between 1 and 3."
    )
    assert summary("adherence", data, "UTC").endswith(
        "No phones: 3.5 at first, 4 in the latest, between 3.5 and 4."
    )
    assert summary("open_topics", data, "UTC") == (
        "Open topics after each check-in, 1 check-in in February 2026. "
        "2 at first, 2 in the latest, between 2 and 2."
    )


def test_cooldowns_and_participation_are_counted() -> None:
    data = _trends(
        cooldowns=[
            {"month": dt.date(2026, 1, 1), "count": 0},
            {"month": dt.date(2026, 2, 1), "count": 3},
            {"month": dt.date(2026, 3, 1), "count": 1},
        ],
        participation=[
            {"opened_at": _at("2026-01-04"), "answered": 2, "missed": 0},
            {"opened_at": _at("2026-02-01"), "answered": 1, "missed": 1},
            {"opened_at": _at("2026-03-01"), "answered": 0, "missed": 2},
        ],
    )
    assert summary("cooldowns", data, "UTC") == (
        "Cooldowns per month, from January 2026 to March 2026: 4 in all, at most 3 in one month."
    )
    assert summary("participation", data, "UTC") == (
        "Check-ins answered, 3 check-ins from January 2026 to March 2026: both of you "
        "answered 1, at least one of you did not answer 2."
    )


def test_an_unknown_chart_is_refused() -> None:
    with pytest.raises(ValueError, match="no such chart"):
        summary("pie", _trends(), "UTC")
