"""The couple's own questions: adding, retiring and ordering them (asked in new rounds)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from checkins import survey
from checkins.models import (
    CustomQuestion,
)
from checkins.views import NUL_PROBLEM
from couples import service as couples
from infra.db import utcnow
from infra.errors import InvalidInput, NotFound


# --- own questions --------------------------------------------------------------------------
def questions(
    session: Session, user_id: int, *, include_retired: bool = False
) -> list[CustomQuestion]:
    couple = couples.require_membership(session, user_id).couple
    query = select(CustomQuestion).where(CustomQuestion.couple_id == couple.id)
    if not include_retired:
        query = query.where(CustomQuestion.retired_at.is_(None))
    return list(session.scalars(query.order_by(CustomQuestion.position, CustomQuestion.id)))


def add_question(
    session: Session,
    user_id: int,
    prompt: str,
    *,
    kind: str = survey.SCALE,
    visibility: str = survey.REVEALED,
    now: dt.datetime | None = None,
) -> CustomQuestion:
    couple = couples.require_active_couple(session, user_id)
    prompt = " ".join(prompt.split())
    problems = {}
    if "\x00" in prompt:
        problems["prompt"] = NUL_PROBLEM
    elif not prompt:
        problems["prompt"] = "Write the question."
    elif len(prompt) > survey.MAX_PROMPT:
        problems["prompt"] = f"Keep the question under {survey.MAX_PROMPT} characters."
    if kind not in (survey.SCALE, survey.TEXT):
        problems["kind"] = "Choose a 1-5 scale or a written answer."
    if visibility not in (survey.REVEALED, survey.PRIVATE):
        problems["visibility"] = "Choose shared after both answer, or private."
    if problems:
        raise InvalidInput(problems)
    position = (
        session.scalar(
            select(func.max(CustomQuestion.position)).where(CustomQuestion.couple_id == couple.id)
        )
        or 0
    ) + 1
    question = CustomQuestion(
        couple_id=couple.id,
        prompt=prompt,
        kind=kind,
        visibility=visibility,
        position=position,
        created_at=now or utcnow(),
    )
    session.add(question)
    session.flush()
    return question


def _own_question(session: Session, user_id: int, question_id: int) -> CustomQuestion:
    couple = couples.require_active_couple(session, user_id)
    question = session.get(CustomQuestion, question_id)
    if question is None or question.couple_id != couple.id:
        raise NotFound("No such question.")
    return question


def retire_question(
    session: Session, user_id: int, question_id: int, *, now: dt.datetime | None = None
) -> None:
    """Stop asking it; earlier answers keep the question's wording."""
    question = _own_question(session, user_id, question_id)
    question.retired_at = question.retired_at or now or utcnow()


def move_question(session: Session, user_id: int, question_id: int, offset: int) -> None:
    """Move a question up (-1) or down (+1) among the active ones."""
    question = _own_question(session, user_id, question_id)
    active = questions(session, user_id)
    index = next(i for i, q in enumerate(active) if q.id == question.id)
    target = index + offset
    if not 0 <= target < len(active):
        return
    active[index], active[target] = active[target], active[index]
    for position, q in enumerate(active, start=1):
        q.position = position
