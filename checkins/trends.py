"""Trends: what revealed rounds add up to over time (scores, adherence, open topics), shown
with the early warnings of :mod:`checkins.warnings`.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from dateutil.relativedelta import relativedelta
from sqlalchemy import Row, bindparam, case, func, or_, select
from sqlalchemy.orm import Session

from checkins import agreements_port, rules
from checkins.history import (
    COUPLE,
    _adherence_query,
    _couple_param,
    _topic_log_query,
    _totals_query,
)
from checkins.models import (
    MISSED,
    OPEN,
    RESOLVED,
    SUBMITTED,
    Participation,
    Round,
)
from checkins.warnings import WARNING_LOOKBACK, _early_warnings, _KnownFacts, board_of
from couples import data_version
from couples import service as couples
from couples.models import Membership
from infra.db import utcnow

# How far back the charts reach: a choice on the page once the history is longer than the
# shortest. Ten years of monthly points are hard to read on a phone (and slow to draw);
# the early warnings always read the whole history.
RANGES: dict[str, int | None] = {
    "Last year": 12,
    "Last 2 years": 24,
    "Last 5 years": 60,
    "Everything": None,
}
DEFAULT_RANGE = "Last 2 years"


@dataclass
class Trends:
    warnings: list[rules.EarlyWarning]  # to show
    names: dict[int, str]
    satisfaction: list[dict]  # {round_id, opened_at, user, total}
    gaps: list[dict]  # {opened_at, gap}
    adherence: list[dict]  # {opened_at, agreement, mean}
    cooldowns: list[dict]  # {month, count}
    open_topics: list[dict]  # {opened_at, open}
    participation: list[dict]  # {opened_at, answered, missed}
    talked_about: list[rules.EarlyWarning] = field(default_factory=list)
    # The ranges worth offering: up to the first that holds the whole history (none
    # when one range holds it all).
    ranges: list[str] = field(default_factory=list)


# What the page showed is kept while the couple's data version stands still (it moves
# with every write about the couple, in any process: couples/data_version.py) and for the
# rest of the minute: each rerun of the page (a range chosen, a warning's button, a window
# brought back) is then one read of the membership. Keyed by the viewer too (their names
# and zone); the membership is checked on every call, before anything kept is looked at.
_kept: data_version.Kept[Trends] = data_version.Kept(size=128)


def trends(
    session: Session,
    user_id: int,
    *,
    now: dt.datetime | None = None,
    months: int | None = None,
) -> Trends:
    """Everything the trends page shows (the early warnings too), as of the start of the
    minute ``now`` falls in, in a fixed number of queries at any history length.
    ``months``: the charts show only rounds opened in the last that many months (and
    cooldowns of those months); the warnings read it all. The result is shared with later
    calls (read it, never change it)."""
    at = (now or utcnow()).replace(second=0, microsecond=0)
    membership = couples.require_membership(session, user_id)
    names = couples.shown_names(membership.couple, user_id)
    key = (user_id, tuple(names.items()), membership.user.timezone, months, at)
    return _kept.get(
        session,
        membership.couple,
        key,
        lambda: _trends(session, membership, names, at, months),
    )


def _trends(
    session: Session,
    membership: Membership,
    names: dict[int, str],
    now: dt.datetime,
    months: int | None,
) -> Trends:
    couple = membership.couple
    at_couple = _couple_param(couple.id)
    rounds = session.execute(_rounds_with_counts_query(), at_couple).all()
    opened_at = {r.id: r.opened_at for r in rounds}
    since = None if months is None else now - relativedelta(months=months)
    # Scores and ratings only as far back as the charts and the warnings look (the
    # warnings: the latest closed rounds), not ten years of them for a two-year chart.
    lookback = [r.opened_at for r in rounds if r.closed_at is not None][:WARNING_LOOKBACK]
    at_scores = {**at_couple, "start": min([since, *lookback]) if since else None}
    totals = session.execute(_totals_from_query(), at_scores).all()
    satisfaction = [
        {
            "round_id": rid,
            "opened_at": opened_at[rid],
            "user": names.get(uid, "?"),
            "total": int(total),
        }
        for rid, uid, total in totals
    ]
    by_round: dict[int, list[dict]] = defaultdict(list)
    for row in satisfaction:
        by_round[row["round_id"]].append(row)
    gaps = [
        {"opened_at": rows[0]["opened_at"], "gap": abs(rows[0]["total"] - rows[1]["total"])}
        for rows in by_round.values()
        if len(rows) == 2
    ]
    kept = session.execute(_adherence_from_query(), at_scores).all()
    adherence = [
        {"opened_at": opened_at[rid], "agreement": title, "mean": float(mean)}
        for rid, _aid, title, mean in kept
    ]
    participation = [
        {"opened_at": r.opened_at, "answered": int(r.answered), "missed": int(r.missed)}
        for r in reversed(rounds)
        if r.closed_at is not None and r.partners
    ]
    known = _KnownFacts(
        totals=[tuple(row) for row in totals],
        adherence=[tuple(row) for row in kept],
        newest_first=rounds,
        topic_log=session.execute(_topic_log_query(), at_couple).all(),
    )
    open_topics = _open_topics_over_time(known)
    cooldowns = [
        {"month": month, "count": count}
        for month, count in agreements_port.cooldowns_per_month_of(
            session,
            couple.id,
            membership.user.timezone,
            now=now,
            months=_months(months, rounds, now),
        )
    ]
    # The warnings read what is loaded above (rounds, totals, adherence, topic log).
    board = board_of(session, couple.id, _early_warnings(session, couple.id, names, known, now=now))
    return Trends(
        board.shown,
        names,
        _from(since, satisfaction),
        _from(since, gaps),
        _from(since, adherence),
        cooldowns,
        _from(since, open_topics),
        _from(since, participation),
        board.talked_about,
        ranges=_ranges(rounds[-1].opened_at if rounds else None, now),
    )


def _ranges(first_opened_at: dt.datetime | None, now: dt.datetime) -> list[str]:
    if first_opened_at is None:
        return []
    offered = []
    for label, months in RANGES.items():
        offered.append(label)
        if months is None or first_opened_at >= now - relativedelta(months=months):
            break
    return offered if len(offered) > 1 else []


def _months(months: int | None, rounds: Sequence[Row], now: dt.datetime) -> int:
    """The cooldown chart's months: the range's, or (everything) back to the first round."""
    if months is not None:
        return months
    if not rounds:
        return 12
    span = relativedelta(now, rounds[-1].opened_at)
    return max(12, span.years * 12 + span.months + 1)


def _from(since: dt.datetime | None, rows: list[dict]) -> list[dict]:
    return rows if since is None else [r for r in rows if r["opened_at"] >= since]


START = bindparam("start", type_=Round.opened_at.type)


@functools.cache
def _totals_from_query():  # type: ignore[no-untyped-def]
    """The totals of rounds opened from ``start`` on (every round when it is None)."""
    return _totals_query().where(or_(START.is_(None), Round.opened_at >= START))


@functools.cache
def _adherence_from_query():  # type: ignore[no-untyped-def]
    return _adherence_query().where(or_(START.is_(None), Round.opened_at >= START))


@functools.cache
def _rounds_with_counts_query():  # type: ignore[no-untyped-def]
    """Every round newest first, with how many partners took part, answered, missed."""
    return (
        select(
            Round.id,
            Round.opened_at,
            Round.revealed_at,
            Round.closed_at,
            func.count(Participation.id).label("partners"),
            func.coalesce(func.sum(case((Participation.status == SUBMITTED, 1), else_=0)), 0).label(
                "answered"
            ),
            func.coalesce(func.sum(case((Participation.status == MISSED, 1), else_=0)), 0).label(
                "missed"
            ),
        )
        .outerjoin(Participation, Participation.round_id == Round.id)
        .where(Round.couple_id == COUPLE)
        .group_by(Round.id, Round.opened_at, Round.revealed_at, Round.closed_at)
        .order_by(Round.opened_at.desc())
    )


def _open_topics_over_time(known: _KnownFacts) -> list[dict]:
    """Open (not resolved) topics at each revealed round, replayed from the event log."""
    rounds = sorted(r.revealed_at for r in known.newest_first if r.revealed_at is not None)
    events = sorted(
        (
            (topic_id, at, event, event_status, event_id)
            for topic_id, _t, _s, _c, event, at, event_status, _r, event_id in known.topic_log
            if event in ("created", "status")
        ),
        key=lambda e: (e[1], e[4]),
    )
    state: dict[int, str] = {}
    out = []
    index = 0
    for at in rounds:
        while index < len(events) and events[index][1] <= at:
            topic_id, _at, _event, status, _id = events[index]
            state[topic_id] = status or OPEN
            index += 1
        out.append({"opened_at": at, "open": sum(1 for s in state.values() if s != RESOLVED)})
    return out
