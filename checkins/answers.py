"""Answering a round, and THE REVEAL RULE, which lives here, in the queries, not in the
pages:
- a partner's answers are read only through :func:`partner_answers` and
  :func:`checkins.review.review`, which refuse until the round is revealed (both
  submitted) and then select only rows whose visibility is ``revealed``;
- private and safety answers are only ever selected together with the condition that
  the participation belongs to the acting user (:func:`my_answers`);
- the reveal itself (:func:`submit` -> ``_reveal``) happens when the second partner
  submits, and stores the round's scores for history and trends.
History, topics, trends and warnings aggregate revealed rounds and revealed rows only.
"""

from __future__ import annotations

import datetime as dt
import functools

from sqlalchemy import case, func, select, update
from sqlalchemy.orm import Session

from checkins import survey
from checkins.history import IDS
from checkins.models import (
    DRAFT,
    OPEN,
    PENDING,
    RESOLVED,
    SUBMITTED,
    Adherence,
    Answer,
    Concern,
    Participation,
    Round,
    RoundAgreement,
    Topic,
    TopicEvent,
)
from checkins.rounds import _notify, _participation, _round_of_user, round_questions, round_status
from checkins.views import (
    MAX_CONCERNS,
    NUL_PROBLEM,
    AdherenceInput,
    ConcernInput,
    RoundQuestions,
    RoundStatus,
    Sheet,
    _text_problem,
)
from couples import service as couples
from couples.models import User
from infra.db import utcnow
from infra.errors import InvalidInput, NotAllowed, NotFound


# --- answering ----------------------------------------------------------------------------
def _question_map(questions: RoundQuestions) -> dict[str, tuple[str, str, tuple[int, ...]]]:
    """item key -> (kind, visibility, allowed values)."""
    items = {q.key: (q.kind, q.visibility, q.values) for q in questions.built_in}
    for q in questions.custom:
        values = tuple(v for v, _ in survey.CUSTOM_SCALE_OPTIONS) if q.kind == survey.SCALE else ()
        items[survey.custom_key(q.id)] = (q.kind, q.visibility, values)
    return items


def _lock_round(session: Session, round_: Round) -> None:
    """Take the round's row lock and read it again: saving and submitting queue on it, so
    the second partner's submit (which reveals the round and stores its scores) and an
    edit by the first never overlap. An edit that waited finds the round revealed and
    is refused, instead of changing answers the partner has seen after their scores
    were stored."""
    session.execute(select(Round.id).where(Round.id == round_.id).with_for_update())
    session.refresh(round_)
    for p in round_.participations:
        session.refresh(p)


def _require_editable(round_: Round) -> None:
    if round_.revealed_at is not None:
        raise NotAllowed("You have both submitted, so the answers are locked.")
    if round_.closed_at is not None:
        raise NotAllowed("This check-in has closed; the answers are locked.")


def editable_sheet(
    session: Session, user_id: int, round_id: int
) -> tuple[Round, Participation, RoundQuestions]:
    """My sheet of this round, to change: the round locked (see :func:`_lock_round`),
    refused in a read-only couple space and once the answers are locked."""
    couples.require_active_couple(session, user_id)
    round_ = _round_of_user(session, user_id, round_id)
    _lock_round(session, round_)
    _require_editable(round_)
    return round_, _participation(round_, user_id), round_questions(session, user_id, round_id)


def save_answers(
    session: Session, user_id: int, round_id: int, sheet: Sheet, *, now: dt.datetime | None = None
) -> Participation:
    """Save what the partner has so far (a draft); editable until both have submitted."""
    now = now or utcnow()
    round_, participation, questions = editable_sheet(session, user_id, round_id)
    items = _question_map(questions)
    problems: dict[str, str] = {}
    custom_ids = {survey.custom_key(q.id): q.id for q in questions.custom}

    existing = {
        a.item: a
        for a in session.scalars(select(Answer).where(Answer.participation_id == participation.id))
    }
    wanted: dict[str, tuple[int | None, str | None]] = {}
    for key, value in sheet.values.items():
        if key not in items:
            continue  # a question retired meanwhile, or not this round's
        kind, _visibility, allowed = items[key]
        if value is None:
            continue
        if kind == survey.TEXT or int(value) not in allowed:
            problems[key] = "Pick one of the offered answers."
            continue
        wanted[key] = (int(value), None)
    for key, text in sheet.texts.items():
        if key not in items or items[key][0] != survey.TEXT:
            continue
        text = (text or "").strip()
        problem = _text_problem(text, survey.MAX_TEXT)
        if problem:
            problems[key] = problem
        elif text:
            wanted[key] = (None, text)
    by_agreement = {a.agreement_id: a for a in questions.agreements}
    for agreement_id, rating in sheet.adherence.items():
        for value in (rating.kept_self, rating.kept_partner):
            if value is not None and value not in range(1, 6):
                problems[f"agreement:{agreement_id}"] = "Rate from 1 to 5."
        comment_problem = _text_problem((rating.comment or "").strip(), survey.MAX_TEXT)
        if comment_problem:
            problems[f"agreement:{agreement_id}"] = comment_problem
        if agreement_id not in by_agreement:
            problems[f"agreement:{agreement_id}"] = "That agreement is not part of this round."
    concerns = [c for c in sheet.concerns if c.bothering.strip() or c.need.strip()]
    if len(concerns) > MAX_CONCERNS:
        problems["concerns"] = f"Up to {MAX_CONCERNS} concerns per check-in."
    for index, concern in enumerate(concerns):
        for text in (concern.bothering, concern.need):
            problem = _text_problem(text.strip(), survey.MAX_TEXT)
            if problem:
                problems[f"concern:{index}"] = problem
        if "\x00" in concern.new_topic:
            problems[f"concern:{index}"] = NUL_PROBLEM
        if concern.topic_id is not None:
            topic = session.get(Topic, concern.topic_id)
            if topic is None or topic.couple_id != round_.couple_id:
                problems[f"concern:{index}"] = "That topic does not exist."
        elif len(concern.new_topic.strip()) > 200:
            problems[f"concern:{index}"] = "Keep the topic name under 200 characters."
    if participation.status == SUBMITTED:
        # Still editable after submitting, but never back to incomplete.
        problems |= _missing(sheet, questions)
    if problems:
        raise InvalidInput(problems)

    for key, answer in existing.items():
        if key not in wanted and key in items:
            session.delete(answer)
    for key, (number, text) in wanted.items():
        answer = existing.get(key)
        if answer is None:
            answer = Answer(
                participation_id=participation.id,
                item=key,
                custom_question_id=custom_ids.get(key),
                visibility=items[key][1],
            )
            session.add(answer)
        answer.value_int, answer.value_text = number, text
    stored = {
        a.agreement_id: a
        for a in session.scalars(
            select(Adherence).where(Adherence.participation_id == participation.id)
        )
    }
    for agreement_id, rating in sheet.adherence.items():
        row = stored.get(agreement_id)
        if row is None:
            row = Adherence(
                participation_id=participation.id,
                agreement_id=agreement_id,
                version_id=by_agreement[agreement_id].version_id,
            )
            session.add(row)
        row.kept_self, row.kept_partner = rating.kept_self, rating.kept_partner
        row.comment = (rating.comment or "").strip() or None
    for old in session.scalars(select(Concern).where(Concern.participation_id == participation.id)):
        session.delete(old)
    for position, concern in enumerate(concerns):
        session.add(
            Concern(
                participation_id=participation.id,
                position=position,
                topic_id=concern.topic_id,
                new_topic_title=(concern.new_topic.strip() or None)
                if concern.topic_id is None
                else None,
                bothering=concern.bothering.strip(),
                need=concern.need.strip(),
            )
        )
    # The safety lane leaves no trace the partner can see: answering only it keeps the
    # sheet "not started" (the partner's pages show whether I started, not what).
    shared = (
        any(key not in survey.SAFETY_KEYS for key in wanted)
        or any(
            r.kept_self is not None or r.kept_partner is not None or (r.comment or "").strip()
            for r in sheet.adherence.values()
        )
        or bool(concerns)
    )
    if shared:
        if participation.status == PENDING:
            participation.status = DRAFT
        participation.updated_at = now
    session.flush()
    return participation


def _missing(sheet: Sheet, questions: RoundQuestions) -> dict[str, str]:
    missing: dict[str, str] = {}
    for q in questions.built_in:
        if q.required and sheet.values.get(q.key) is None:
            missing[q.key] = "Please answer this question."
    # The couple's own questions are optional: extras should never block a check-in.
    for agreement in questions.agreements:
        rating = sheet.adherence.get(agreement.agreement_id)
        if rating is None or rating.kept_self is None or rating.kept_partner is None:
            missing[f"agreement:{agreement.agreement_id}"] = "Rate how it was kept by both of you."
    return missing


def missing(session: Session, user_id: int, round_id: int) -> dict[str, str]:
    """What my sheet still lacks before it can be submitted (field -> message)."""
    return _missing(
        my_answers(session, user_id, round_id), round_questions(session, user_id, round_id)
    )


def _check_complete(session: Session, user_id: int, round_id: int) -> None:
    problems = missing(session, user_id, round_id)
    if problems:
        raise InvalidInput(problems)


def submit(
    session: Session, user_id: int, round_id: int, *, now: dt.datetime | None = None
) -> RoundStatus:
    """Submit my answers. When the second partner submits, the round is revealed."""
    now = now or utcnow()
    couples.require_active_couple(session, user_id)
    round_ = _round_of_user(session, user_id, round_id)
    _lock_round(session, round_)
    _require_editable(round_)
    mine = _participation(round_, user_id)
    _check_complete(session, user_id, round_id)
    if mine.status != SUBMITTED:
        mine.status = SUBMITTED
        mine.submitted_at = now
    mine.remind_at = None  # nothing left to remind this sheet of
    others = [p for p in round_.participations if p.user_id != user_id]
    if others and all(p.status == SUBMITTED for p in others):
        _reveal(session, round_, now)
    else:
        for p in others:
            partner = session.get(User, p.user_id)
            if partner is not None:
                _notify(session, round_, partner, "partner_answered", now=now)
    session.flush()
    return round_status(session, user_id, round_id)


def _reveal(session: Session, round_: Round, now: dt.datetime) -> None:
    round_.revealed_at = now
    round_.closed_at = now
    session.flush()
    _store_round_scores(session, [round_.id])
    participation_ids = [p.id for p in round_.participations]
    concerns = list(
        session.scalars(
            select(Concern)
            .where(Concern.participation_id.in_(participation_ids))
            .order_by(Concern.participation_id, Concern.position)
        )
    )
    existing = {
        t.title.casefold(): t
        for t in session.scalars(select(Topic).where(Topic.couple_id == round_.couple_id))
    }
    raised: dict[int, Topic] = {}
    owners = {p.id: p.user_id for p in round_.participations}
    raised_by: dict[int, int] = {}
    for concern in concerns:
        topic = session.get(Topic, concern.topic_id) if concern.topic_id else None
        if topic is None:
            title = (concern.new_topic_title or concern.bothering or concern.need).strip()
            title = " ".join(title.split())[:80] or "Untitled"
            topic = existing.get(title.casefold())
            if topic is None:
                topic = Topic(couple_id=round_.couple_id, title=title, status=OPEN, created_at=now)
                session.add(topic)
                session.flush()
                session.add(
                    TopicEvent(
                        topic_id=topic.id, at=now, event="created", status=OPEN, round_id=round_.id
                    )
                )
                existing[title.casefold()] = topic
            concern.topic_id = topic.id
            concern.new_topic_title = None
        raised[topic.id] = topic
        raised_by.setdefault(topic.id, owners[concern.participation_id])
    for topic_id, topic in raised.items():
        session.add(
            TopicEvent(
                topic_id=topic_id,
                at=now,
                event="raised",
                round_id=round_.id,
                user_id=raised_by[topic_id],
            )
        )
        if topic.status == RESOLVED:
            topic.status = OPEN
            session.add(
                TopicEvent(
                    topic_id=topic_id, at=now, event="status", status=OPEN, round_id=round_.id
                )
            )
    for p in round_.participations:
        user = session.get(User, p.user_id)
        if user is not None:
            _notify(session, round_, user, "ready_to_review", now=now)


# --- scores stored at the reveal ------------------------------------------------------------
# Revealed answers never change (editing ends at the reveal) unless someone's answers are
# erased, so each round's scores are worked out then, once, and again after an erasure:
# the trends and the history read one number per sheet and per agreement instead of
# summing years of answers on every view.


def _satisfaction_total_expression():  # type: ignore[no-untyped-def]
    """A sheet's satisfaction total (the revealed satisfaction answers summed), as a
    scalar subquery correlated with ``Participation``; NULL unless all are answered."""
    answered = func.count(Answer.id) == len(survey.SATISFACTION_KEYS)
    return (
        select(case((answered, func.sum(Answer.value_int)), else_=None))
        .where(
            Answer.participation_id == Participation.id,
            Answer.visibility == survey.REVEALED,
            Answer.item.in_(survey.SATISFACTION_KEYS),
        )
        .scalar_subquery()
    )


def _kept_mean_expression():  # type: ignore[no-untyped-def]
    """The mean of every rating (kept by me, by my partner) of one pinned agreement in
    its round, as a scalar subquery correlated with ``RoundAgreement``; NULL without
    ratings."""
    total = func.sum(
        func.coalesce(Adherence.kept_self, 0) + func.coalesce(Adherence.kept_partner, 0)
    )
    count = func.sum(
        case((Adherence.kept_self.is_not(None), 1), else_=0)
        + case((Adherence.kept_partner.is_not(None), 1), else_=0)
    )
    return (
        select(total * 1.0 / func.nullif(count, 0))
        .select_from(Adherence)
        .join(Participation, Participation.id == Adherence.participation_id)
        .where(
            Participation.round_id == RoundAgreement.round_id,
            Adherence.agreement_id == RoundAgreement.agreement_id,
        )
        .scalar_subquery()
    )


@functools.cache
def _round_scores_updates():  # type: ignore[no-untyped-def]
    return (
        update(Participation)
        .where(Participation.round_id.in_(IDS))
        .values(satisfaction_total=_satisfaction_total_expression())
        .execution_options(synchronize_session=False),
        update(RoundAgreement)
        .where(RoundAgreement.round_id.in_(IDS))
        .values(kept_mean=_kept_mean_expression())
        .execution_options(synchronize_session=False),
    )


def _store_round_scores(session: Session, round_ids: list[int]) -> None:
    """(Re)write these revealed rounds' satisfaction totals and mean ratings from their
    answers as they are now (at the reveal, or after an erasure removed some)."""
    if round_ids:
        for statement in _round_scores_updates():
            session.execute(statement, {"ids": round_ids})


# --- reading answers (the reveal rule) ------------------------------------------------------
def _sheet_from_rows(
    answers: list[Answer], adherence: list[Adherence], concerns: list[Concern]
) -> Sheet:
    sheet = Sheet()
    for a in answers:
        if a.value_int is not None:
            sheet.values[a.item] = a.value_int
        if a.value_text is not None:
            sheet.texts[a.item] = a.value_text
    for row in adherence:
        sheet.adherence[row.agreement_id] = AdherenceInput(
            row.kept_self, row.kept_partner, row.comment or ""
        )
    for c in sorted(concerns, key=lambda c: c.position):
        sheet.concerns.append(
            ConcernInput(c.bothering, c.need, c.topic_id, c.new_topic_title or "")
        )
    return sheet


def my_answers(session: Session, user_id: int, round_id: int) -> Sheet:
    """My own answers, all of them (private and safety included: they are mine)."""
    round_ = _round_of_user(session, user_id, round_id)
    participation = _participation(round_, user_id)
    return _load_sheet(session, participation.id, own=True)


def _load_sheet(session: Session, participation_id: int, *, own: bool) -> Sheet:
    answers = select(Answer).where(Answer.participation_id == participation_id)
    if not own:
        answers = answers.where(Answer.visibility == survey.REVEALED)
    return _sheet_from_rows(
        list(session.scalars(answers)),
        list(
            session.scalars(select(Adherence).where(Adherence.participation_id == participation_id))
        ),
        list(session.scalars(select(Concern).where(Concern.participation_id == participation_id))),
    )


def partner_answers(session: Session, user_id: int, round_id: int) -> Sheet:
    """My partner's revealed answers; refused until both have submitted."""
    round_ = _round_of_user(session, user_id, round_id)
    _participation(round_, user_id)
    if round_.revealed_at is None:
        raise NotAllowed("Your partner's answers appear once you have both submitted.")
    other = next((p for p in round_.participations if p.user_id != user_id), None)
    if other is None:
        raise NotFound("Your partner was not part of this check-in.")
    return _load_sheet(session, other.id, own=False)
