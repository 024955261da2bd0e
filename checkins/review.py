"""Reviewing a revealed round together: both sheets side by side, the gaps between them,
and the action items agreed on (open ones carry over to the next round).
"""

from __future__ import annotations

import datetime as dt
import functools
from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from checkins import rules, survey, warning_sources
from checkins.answers import _lock_round, _sheet_from_rows
from checkins.history import COUPLE, _couple_param
from checkins.models import (
    ActionItem,
    Adherence,
    Answer,
    Concern,
    CustomQuestion,
    Participation,
    Round,
    Topic,
)
from checkins.rounds import _get_round, _participation, _round_of_user
from checkins.views import NUL_PROBLEM, AdherenceInput, ConcernInput, RoundQuestions, Sheet
from couples import data_version
from couples import service as couples
from couples.models import Membership
from infra.db import utcnow
from infra.errors import InvalidInput, NotAllowed, NotFound


# --- review -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Comparison:
    label: str
    mine: int | None
    theirs: int | None
    highlight: bool
    # The scale as asked, (value, words) lowest first: the review shows the words.
    options: tuple[tuple[int, str], ...] = ()


@dataclass(frozen=True)
class AdherenceComparison:
    title: str
    agreement_id: int
    about: str  # whose keeping is rated: "you" | partner name
    by_me: int | None
    by_partner: int | None
    highlight: bool


@dataclass(frozen=True)
class ReviewedRound:
    """The round a review is of, as plain values: a review is kept between page runs
    (ORM objects in it would be expired by the reading transaction's rollback)."""

    id: int
    opened_at: dt.datetime
    reviewed_at: dt.datetime | None
    reviewed_by: frozenset[int]  # the partners who confirmed they went through it


@dataclass(frozen=True)
class ReviewedItem:
    """An action item agreed on in the round."""

    id: int
    text: str
    owner_user_id: int | None
    done_at: dt.datetime | None


@dataclass(frozen=True)
class ReviewedQuestion:
    """A shared custom question asked in the round."""

    id: int
    prompt: str
    kind: str


@dataclass
class Review:
    round: ReviewedRound
    me: str
    partner: str
    mine: Sheet
    theirs: Sheet
    scales: list[Comparison]
    adherence: list[AdherenceComparison]
    previous_totals: dict[str, int | None]  # "me" / "partner" -> total in the round before
    previous_certainty: dict[str, int | None]
    topics: list[tuple[str, str, str]]  # (who, topic title, what bothers + need)
    action_items: list[ReviewedItem]
    custom_questions: list[ReviewedQuestion]
    agreement_titles: dict[int, str]
    # user id -> name, both partners (who owns an action item), from the loaded couple.
    owners: dict[int, str] = field(default_factory=dict)
    # Warnings other domains raise about this round, shown first (the charter's "what
    # ended it last time is back"): checkins.warning_sources.
    warnings: list[rules.EarlyWarning] = field(default_factory=list)


_scale_gap = rules.scale_gap
_kept_mismatch = rules.kept_mismatch


@functools.cache
def _sheet_queries():  # type: ignore[no-untyped-def]
    """Answers (my own, and only the revealed ones of my partner), adherence, concerns."""
    ids = bindparam("ids", expanding=True)
    return (
        select(Answer)
        .where(
            Answer.participation_id.in_(ids),
            Answer.participation_id.in_(bindparam("own", expanding=True))
            | (Answer.visibility == survey.REVEALED),
        )
        .order_by(Answer.id),
        select(Adherence).where(Adherence.participation_id.in_(ids)).order_by(Adherence.id),
        select(Concern).where(Concern.participation_id.in_(ids)).order_by(Concern.id),
    )


@functools.cache
def _review_queries():  # type: ignore[no-untyped-def]
    """The previous revealed round's participations; the round's questions; the couple's
    topic titles; the round's action items."""
    before = bindparam("before")
    previous = (
        select(Round.id)
        .where(Round.couple_id == COUPLE, Round.revealed_at.is_not(None), Round.opened_at < before)
        .order_by(Round.opened_at.desc())
        .limit(1)
        .scalar_subquery()
    )
    return (
        select(Participation.id, Participation.user_id).where(Participation.round_id == previous),
        select(CustomQuestion)
        .where(
            CustomQuestion.couple_id == COUPLE,
            CustomQuestion.created_at <= before,
            (CustomQuestion.retired_at.is_(None)) | (CustomQuestion.retired_at > before),
        )
        .order_by(CustomQuestion.position, CustomQuestion.id),
        select(Topic.id, Topic.title).where(Topic.couple_id == COUPLE),
        select(ActionItem)
        .where(ActionItem.round_id == bindparam("round_id"))
        .order_by(ActionItem.id),
    )


def _sheets(session: Session, own_ids: list[int], partner_ids: list[int]) -> dict[int, Sheet]:
    """Sheets of several participations in three queries: all of my own answers, only the
    revealed ones of my partner's (the reveal rule, as in ``_load_sheet``)."""
    ids = [*own_ids, *partner_ids]
    answers: dict[int, list[Answer]] = defaultdict(list)
    adherence: dict[int, list[Adherence]] = defaultdict(list)
    concerns: dict[int, list[Concern]] = defaultdict(list)
    if ids:
        answers_q, adherence_q, concerns_q = _sheet_queries()
        for a in session.scalars(answers_q, {"ids": ids, "own": own_ids}):
            answers[a.participation_id].append(a)
        for row in session.scalars(adherence_q, {"ids": ids}):
            adherence[row.participation_id].append(row)
        for c in session.scalars(concerns_q, {"ids": ids}):
            concerns[c.participation_id].append(c)
    return {pid: _sheet_from_rows(answers[pid], adherence[pid], concerns[pid]) for pid in ids}


def _both(round_: Round, user_id: int) -> tuple[Participation, Participation]:
    """My participation and my partner's in a revealed round (the reveal rule)."""
    mine = _participation(round_, user_id)
    if round_.revealed_at is None:
        raise NotAllowed("Your partner's answers appear once you have both submitted.")
    other = next((p for p in round_.participations if p.user_id != user_id), None)
    if other is None:
        raise NotFound("Your partner was not part of this check-in.")
    return mine, other


# Reviews are kept while the couple's data version stands still (it moves with every
# write about the couple, in any process: couples/data_version.py): the check-in and
# history pages draw one on every run. Keyed by the viewer and the names they see (a
# renamed partner is no write about the couple); the membership is checked on every call.
_kept: data_version.Kept[Review] = data_version.Kept(size=256)


def review(session: Session, user_id: int, round_id: int) -> Review:
    """Everything the review draws. The result is shared with later calls (read it,
    never change it)."""
    membership = couples.require_membership(session, user_id)
    names = couples.shown_names(membership.couple, user_id)  # the viewer's own name too
    key = (user_id, round_id, tuple(names.items()))
    return _kept.get(
        session, membership.couple, key, lambda: _review(session, membership, round_id)
    )


def _review(session: Session, membership: Membership, round_id: int) -> Review:
    """The review, in a fixed number of statements: the round (with its participations
    and agreements) and the previous round are loaded once, and the four sheets (this
    round and the one before, both partners) in one query each for answers, adherence
    and concerns."""
    couple = membership.couple
    user_id = membership.user_id
    round_ = _get_round(session, round_id)
    if round_ is None or round_.couple_id != couple.id:
        raise NotFound("No such check-in.")
    mine_p, theirs_p = _both(round_, user_id)  # refuses before the reveal
    other = next((m for m in couple.members if m.user_id != user_id), None)
    me_name = membership.user.display_name
    # A partner who left is "Former partner" (couples.service.member_name).
    partner_name = couples.member_name(other, user_id) if other else "Partner"
    previous_q, questions_q, titles_q, items_q = _review_queries()
    at_round = {"couple_id": round_.couple_id, "before": round_.opened_at}
    # The revealed round before this one: my participation and my partner's, if both.
    previous = dict((uid, pid) for pid, uid in session.execute(previous_q, at_round))
    mine_before = previous.pop(user_id, None)
    theirs_before = next(iter(previous.values()), None)
    before = (mine_before, theirs_before) if mine_before and theirs_before else None
    own_ids = [mine_p.id] + ([before[0]] if before else [])
    partner_ids = [theirs_p.id] + ([before[1]] if before else [])
    sheets = _sheets(session, own_ids, partner_ids)
    mine, theirs = sheets[mine_p.id], sheets[theirs_p.id]
    custom = list(session.scalars(questions_q, at_round))
    questions = RoundQuestions(survey.BUILT_IN, custom, list(round_.agreements))
    scale_questions = [
        (q.prompt, q.key, q.options) for q in (*survey.SATISFACTION, survey.CERTAINTY)
    ]
    shared_custom = [q for q in questions.custom if q.visibility == survey.REVEALED]
    scale_questions += [
        (q.prompt, survey.custom_key(q.id), survey.CUSTOM_SCALE_OPTIONS)
        for q in shared_custom
        if q.kind == survey.SCALE
    ]
    scales = []
    for prompt, key, options in scale_questions:
        a, b = mine.values.get(key), theirs.values.get(key)
        scales.append(Comparison(prompt, a, b, _scale_gap(a, b), options))
    adherence = []
    for agreement in questions.agreements:
        m = mine.adherence.get(agreement.agreement_id, AdherenceInput())
        t = theirs.adherence.get(agreement.agreement_id, AdherenceInput())
        adherence.append(
            AdherenceComparison(
                agreement.title,
                agreement.agreement_id,
                "you",
                m.kept_self,
                t.kept_partner,
                _kept_mismatch(m.kept_self, t.kept_partner),
            )
        )
        adherence.append(
            AdherenceComparison(
                agreement.title,
                agreement.agreement_id,
                partner_name,
                m.kept_partner,
                t.kept_self,
                _kept_mismatch(m.kept_partner, t.kept_self),
            )
        )
    prev_totals: dict[str, int | None] = {"me": None, "partner": None}
    prev_certainty: dict[str, int | None] = {"me": None, "partner": None}
    if before is not None:
        before_mine, before_theirs = sheets[before[0]], sheets[before[1]]
        prev_totals = {"me": before_mine.satisfaction, "partner": before_theirs.satisfaction}
        prev_certainty = {
            "me": before_mine.values.get("certainty"),
            "partner": before_theirs.values.get("certainty"),
        }
    titles = dict(session.execute(titles_q, _couple_param(round_.couple_id)).all())
    topics = [
        (who, titles.get(c.topic_id, c.new_topic or "New topic"), _concern_text(c))
        for who, sheet in (("you", mine), (partner_name, theirs))
        for c in sheet.concerns
    ]
    items = [
        ReviewedItem(i.id, i.text, i.owner_user_id, i.done_at)
        for i in session.scalars(items_q, {"round_id": round_.id})
    ]
    reviewed = ReviewedRound(
        round_.id,
        round_.opened_at,
        round_.reviewed_at,
        frozenset(p.user_id for p in round_.participations if p.reviewed_at),
    )
    return Review(
        reviewed,
        me_name,
        partner_name,
        mine,
        theirs,
        scales,
        adherence,
        prev_totals,
        prev_certainty,
        topics,
        items,
        [ReviewedQuestion(q.id, q.prompt, q.kind) for q in shared_custom],
        {a.agreement_id: a.title for a in questions.agreements},
        couples.shown_names(couple, user_id),
        warning_sources.warnings_for_round(
            session, couple.id, round_.id, known_revealed=round_.revealed_at is not None
        ),
    )


def _concern_text(c: ConcernInput) -> str:
    parts = []
    if c.bothering:
        parts.append(f"Bothers: {c.bothering}")
    if c.need:
        parts.append(f"Needs: {c.need}")
    return " — ".join(parts)


def _revealed_round(session: Session, user_id: int, round_id: int) -> Round:
    round_ = _round_of_user(session, user_id, round_id)
    if round_.revealed_at is None:
        raise NotAllowed("You can do this once you have both submitted.")
    return round_


def add_action_item(
    session: Session,
    user_id: int,
    round_id: int,
    text: str,
    owner_user_id: int | None,
    *,
    now: dt.datetime | None = None,
) -> ActionItem:
    now = now or utcnow()
    couples.require_active_couple(session, user_id)
    round_ = _revealed_round(session, user_id, round_id)
    text = text.strip()
    problems = {}
    if "\x00" in text:
        problems["text"] = NUL_PROBLEM
    elif not text:
        problems["text"] = "Write what you will do differently."
    elif len(text) > 500:
        problems["text"] = "Keep it under 500 characters."
    members = {p.user_id for p in round_.participations}
    if owner_user_id is not None and owner_user_id not in members:
        problems["owner"] = "Pick one of you (or both)."
    if problems:
        raise InvalidInput(problems)
    item = ActionItem(
        couple_id=round_.couple_id,
        round_id=round_.id,
        owner_user_id=owner_user_id,
        text=text,
        created_at=now,
    )
    session.add(item)
    session.flush()
    return item


def set_action_done(
    session: Session, user_id: int, item_id: int, done: bool, *, now: dt.datetime | None = None
) -> None:
    couple = couples.require_active_couple(session, user_id)
    item = session.get(ActionItem, item_id)
    if item is None or item.couple_id != couple.id:
        raise NotFound("No such action item.")
    item.done_at = (now or utcnow()) if done else None


def open_action_items(session: Session, user_id: int) -> list[ActionItem]:
    """What we said we would do differently, from earlier reviews, not yet done."""
    couple = couples.require_membership(session, user_id).couple
    return list(
        session.scalars(
            select(ActionItem)
            .where(ActionItem.couple_id == couple.id, ActionItem.done_at.is_(None))
            .order_by(ActionItem.created_at, ActionItem.id)
        )
    )


def mark_reviewed(
    session: Session,
    user_id: int,
    round_id: int,
    *,
    now: dt.datetime | None = None,
    by_both: bool = False,
) -> Round:
    """I confirm that we went through this round's review together. The round is reviewed
    together once both partners have confirmed: one partner alone cannot say it for two.

    Under the round's row lock (as saving and submitting), so two confirmations at the
    same moment queue and the second one sees the first: the round is never left
    unreviewed with both confirmations written. ``by_both``: the two went through it
    together in Tend itself (the talk, ``checkins.talk.finish``), which confirms for both."""
    couples.require_active_couple(session, user_id)
    round_ = _revealed_round(session, user_id, round_id)
    _lock_round(session, round_)
    now = now or utcnow()
    _participation(round_, user_id)  # refuses someone not in this round
    for p in round_.participations:
        if p.reviewed_at is None and (by_both or p.user_id == user_id):
            p.reviewed_at = now
    if round_.reviewed_at is None and all(p.reviewed_at for p in round_.participations):
        round_.reviewed_at = now
        round_.reviewed_by_id = user_id
    return round_


@dataclass(frozen=True)
class ReviewedTogether:
    """Who has confirmed the review together: me, my partner, and when both had."""

    by_me: bool
    by_partner: bool
    at: dt.datetime | None


def reviewed_together(review_: Review, user_id: int) -> ReviewedTogether:
    """The confirmations of a loaded review's round (no query)."""
    round_ = review_.round
    mine = user_id in round_.reviewed_by
    theirs = any(uid != user_id for uid in round_.reviewed_by)
    return ReviewedTogether(mine, theirs, round_.reviewed_at)
