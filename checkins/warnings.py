"""Early warnings: the facts of recent revealed rounds, handed to the pure thresholds of
:mod:`checkins.rules` (the loud signals), and the inputs of the quiet ones
(:mod:`checkins.warning_inputs` to :mod:`checkins.quiet_rules`); what a couple marked as
talked about (:mod:`checkins.warning_marks`) stays away until it gets worse.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Row, select
from sqlalchemy.orm import Session

from checkins import quiet_rules, rules, survey, warning_marks, warning_sources
from checkins.history import (
    COUPLE,
    IDS,
    TopicView,
    _adherence_query,
    _couple,
    _couple_param,
    _topic_views,
    _totals_query,
)
from checkins.models import (
    MISSED,
    RESOLVED,
    Answer,
    Participation,
    Round,
)
from checkins.warning_inputs import revealed_items, warning_inputs
from couples import service as couples
from infra.db import utcnow

# --- early warnings -------------------------------------------------------------------------
WARNING_LOOKBACK = 8  # rounds; every rule looks at the last few only


@dataclass(frozen=True)
class _KnownFacts:
    """What the trends page has already loaded, for the warnings: per revealed round
    (round, user, total) and (round, agreement, title, mean adherence) rows, the rounds
    newest first, and the topic log."""

    totals: list[tuple[int, int, int]]
    adherence: list[tuple[int, int, str, float]]
    newest_first: Sequence[Row]  # every round: id, opened_at, revealed_at, closed_at, ...
    topic_log: Sequence[Row]  # _topic_log_query's rows


@functools.cache
def _rounds_newest_first_query():  # type: ignore[no-untyped-def]
    return (
        select(Round.id, Round.opened_at, Round.revealed_at, Round.closed_at)
        .where(Round.couple_id == COUPLE)
        .order_by(Round.opened_at.desc())
    )


@functools.cache
def _recent_closed_query():  # type: ignore[no-untyped-def]
    return _rounds_newest_first_query().where(Round.closed_at.is_not(None))


@functools.cache
def _missed_query():  # type: ignore[no-untyped-def]
    return select(Participation.round_id, Participation.user_id).where(
        Participation.round_id.in_(IDS), Participation.status == MISSED
    )


@functools.cache
def _certainty_query():  # type: ignore[no-untyped-def]
    """Each partner's revealed certainty answer in the given rounds."""
    return (
        select(Round.id, Participation.user_id, Answer.value_int)
        .join(Participation, Participation.round_id == Round.id)
        .join(Answer, Answer.participation_id == Participation.id)
        .where(*revealed_items(survey.CERTAINTY.key))
    )


def round_facts(
    session: Session,
    couple_id: int,
    known: _KnownFacts | None = None,
    *,
    every_round: bool = False,
) -> list[rules.RoundFacts]:
    """The facts warnings may use: the latest rounds (every closed round, newest first,
    with ``every_round``: the therapist report replays the warnings), revealed answers
    only."""
    if known is None:
        query = _recent_closed_query()
        if not every_round:
            query = query.limit(WARNING_LOOKBACK)
        recent = session.execute(query, _couple_param(couple_id)).all()
    else:
        recent = [r for r in known.newest_first if r.closed_at is not None][:WARNING_LOOKBACK]
    ids = [r.id for r in recent]
    missed: dict[int, set[int]] = defaultdict(set)
    for rid, uid in session.execute(_missed_query(), {"ids": ids}):
        missed[rid].add(uid)
    if known is None:
        known = _KnownFacts(
            newest_first=recent,
            topic_log=[],
            totals=[
                (rid, uid, total)
                for rid, uid, total in session.execute(
                    _totals_query().where(Round.id.in_(ids)), _couple_param(couple_id)
                )
            ],
            adherence=[
                (rid, aid, title, mean)
                for rid, aid, title, mean in session.execute(
                    _adherence_query().where(Round.id.in_(ids)), _couple_param(couple_id)
                )
            ],
        )
    wanted = set(ids)
    totals: dict[int, dict[int, int]] = defaultdict(dict)
    for rid, uid, total in known.totals:
        if rid in wanted:
            totals[rid][uid] = int(total)
    adherence: dict[int, dict[int, float]] = defaultdict(dict)
    titles: dict[int, dict[int, str]] = defaultdict(dict)
    for rid, agreement_id, title, mean in known.adherence:
        if rid in wanted:
            adherence[rid][agreement_id] = float(mean)
            titles[rid][agreement_id] = title
    certainty: dict[int, dict[int, int]] = defaultdict(dict)
    for rid, uid, value in session.execute(_certainty_query(), {"ids": ids}):
        certainty[rid][uid] = value
    return [
        rules.RoundFacts(
            round_id=r.id,
            opened_at=r.opened_at,
            revealed=r.revealed_at is not None,
            closed=r.closed_at is not None,
            missed_user_ids=frozenset(missed.get(r.id, ())),
            totals=totals.get(r.id, {}),
            certainty=certainty.get(r.id, {}),
            adherence=adherence.get(r.id, {}),
            agreement_titles=titles.get(r.id, {}),
        )
        for r in recent
    ]


@dataclass(frozen=True)
class WarningBoard:
    """The couple's warnings now: those to show, and those marked “we talked about it”
    that are no worse since (checkins/warning_marks.py)."""

    shown: list[rules.EarlyWarning]
    talked_about: list[rules.EarlyWarning]


def early_warnings(
    session: Session, user_id: int, *, now: dt.datetime | None = None
) -> list[rules.EarlyWarning]:
    """The warnings to show now (talked-about ones that are no worse left out)."""
    return warning_board(session, user_id, now=now).shown


def warning_board(
    session: Session,
    user_id: int,
    *,
    now: dt.datetime | None = None,
    topics: list[TopicView] | None = None,
) -> WarningBoard:
    """``topics``: the couple's topics (:func:`checkins.history.topics`), when the
    caller read them already (the home page's dashboard)."""
    couple = _couple(session, user_id)
    found = _early_warnings(
        session, couple.id, couples.shown_names(couple, user_id), now=now, topics=topics
    )
    return board_of(session, couple.id, found)


def board_of(session: Session, couple_id: int, found: list[rules.EarlyWarning]) -> WarningBoard:
    shown, talked = warning_marks.split(found, warning_marks.marks_of(session, couple_id))
    return WarningBoard(shown, talked)


def mark_talked_about(
    session: Session, user_id: int, key: str, *, now: dt.datetime | None = None
) -> rules.EarlyWarning:
    """Either partner: “we talked about it”. The warning stays away until it gets
    worse."""
    now = now or utcnow()
    couple = couples.require_active_couple(session, user_id)
    found = _early_warnings(session, couple.id, couples.shown_names(couple, user_id), now=now)
    return warning_marks.mark_talked_about(session, couple.id, user_id, found, key, now=now)


def _early_warnings(
    session: Session,
    couple_id: int,
    names: dict[int, str],
    known: _KnownFacts | None = None,
    *,
    now: dt.datetime | None = None,
    topics: list[TopicView] | None = None,
) -> list[rules.EarlyWarning]:
    """Every warning that holds now: the loud ones of :mod:`checkins.rules` and the quiet
    ones of :mod:`checkins.quiet_rules`."""
    if topics is None:
        topics = _topic_views(session, couple_id, known)
    recurring = [(t.id, t.title) for t in topics if t.keeps_coming_back and t.status != RESOLVED]
    latest = (
        next((r.id for r in known.newest_first if r.revealed_at is not None), None)
        if known is not None
        else None
    )
    # Other domains' warnings (the charter's "what ended it last time is back") first.
    first = warning_sources.latest_warnings(session, couple_id, latest)
    facts = round_facts(session, couple_id, known)
    loud = rules.early_warnings(facts, names, recurring, quiet=False)
    inputs = warning_inputs(session, couple_id, names, now or utcnow())
    return first + loud + quiet_rules.quiet_warnings(inputs)
