"""The check-in as a short sequence of steps, and the draft that remembers where each
person is in it.

The steps come from the round's questions, in this order: how we feel, certainty, our
agreements (when the round pinned any), in our words (what went well, concerns), our own
questions (when the couple has any), and just for you (the private safety lane). The
safety lane is always the last step and submitting is offered only there, so everyone
passes through it; it stays as private as ever (its answers are stored like any other
safety answer, and moving to it changes nothing the partner can see).

A step's answers are saved as they are given, merged with what the sheet already holds
(:func:`save_step`), so leaving a step, reloading or switching devices loses nothing
that was saved; a device left open on a step never overwrites what another saved there
since it last showed the step. The step itself is kept per participation (``Draft``):
another device opens the sheet where it was left. Both are read only for the acting
user's own sheet.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from checkins import survey
from checkins.answers import editable_sheet, my_answers, save_answers
from checkins.models import Draft, Participation
from checkins.rounds import _participation, _round_of_user, round_questions
from checkins.views import RoundQuestions, Sheet
from infra.db import utcnow
from infra.errors import InvalidInput

FEEL, CERTAINTY, AGREEMENTS, WORDS, OWN, SAFETY = (
    "feel",
    "certainty",
    "agreements",
    "words",
    "own",
    "safety",
)
ORDER = (FEEL, CERTAINTY, AGREEMENTS, WORDS, OWN, SAFETY)
TITLES = {
    FEEL: "How are we doing?",
    CERTAINTY: "Our future",
    AGREEMENTS: "Our agreements",
    WORDS: "In my own words",
    OWN: "Our own questions",
    SAFETY: "Just for you",
}


@dataclass(frozen=True)
class Step:
    key: str
    title: str


@dataclass(frozen=True)
class Position:
    """The steps of one person's sheet and the one they are on."""

    steps: tuple[Step, ...]
    index: int

    @property
    def current(self) -> Step:
        return self.steps[self.index]

    @property
    def number(self) -> int:
        return self.index + 1

    @property
    def total(self) -> int:
        return len(self.steps)

    @property
    def previous(self) -> Step | None:
        return self.steps[self.index - 1] if self.index > 0 else None

    @property
    def next(self) -> Step | None:
        return self.steps[self.index + 1] if self.index + 1 < len(self.steps) else None


def steps_for(questions: RoundQuestions) -> tuple[Step, ...]:
    """The steps of a round with these questions (agreements and own questions only when
    there are any)."""
    present = {AGREEMENTS: bool(questions.agreements), OWN: bool(questions.custom)}
    return tuple(Step(key, TITLES[key]) for key in ORDER if present.get(key, True))


def step_of(item: str) -> str:
    """The step that asks ``item``: a question key, or a field named in ``InvalidInput``
    (``agreement:<id>``, ``concerns``, ``concern:<n>``)."""
    if item in survey.SATISFACTION_KEYS:
        return FEEL
    if item == survey.CERTAINTY.key:
        return CERTAINTY
    if item in survey.SAFETY_KEYS:
        return SAFETY
    if item.startswith("agreement:"):
        return AGREEMENTS
    if item.startswith("custom:"):
        return OWN
    return WORDS  # went_well, concerns


def steps_with_problems(problems: dict[str, str], steps: tuple[Step, ...]) -> list[Step]:
    """The steps holding these problems, in order (where to send someone back to)."""
    keys = {step_of(item) for item in problems}
    return [step for step in steps if step.key in keys]


def part_of(sheet: Sheet, step: str) -> Sheet:
    """Only the answers ``step`` asks for."""
    return Sheet(
        values={k: v for k, v in sheet.values.items() if step_of(k) == step},
        texts={k: v for k, v in sheet.texts.items() if step_of(k) == step},
        adherence=dict(sheet.adherence) if step == AGREEMENTS else {},
        concerns=list(sheet.concerns) if step == WORDS else [],
    )


def merged(stored: Sheet, step: str, part: Sheet) -> Sheet:
    """The whole sheet with ``step``'s answers replaced by ``part`` (anything in ``part``
    another step asks is ignored)."""
    mine = part_of(part, step)
    return Sheet(
        values={k: v for k, v in stored.values.items() if step_of(k) != step} | mine.values,
        texts={k: v for k, v in stored.texts.items() if step_of(k) != step} | mine.texts,
        adherence=mine.adherence if step == AGREEMENTS else dict(stored.adherence),
        concerns=mine.concerns if step == WORDS else list(stored.concerns),
    )


def _normalized(sheet: Sheet) -> tuple:  # type: ignore[type-arg]
    return (
        {k: v for k, v in sheet.values.items() if v is not None},
        {k: v.strip() for k, v in sheet.texts.items() if v and v.strip()},
        {
            k: (v.kept_self, v.kept_partner, (v.comment or "").strip())
            for k, v in sheet.adherence.items()
            if v.kept_self is not None or v.kept_partner is not None or (v.comment or "").strip()
        },
        [
            (
                c.bothering.strip(),
                c.need.strip(),
                c.topic_id,
                c.new_topic.strip() if c.topic_id is None else "",
            )
            for c in sheet.concerns
            if c.bothering.strip() or c.need.strip()
        ],
    )


def same(a: Sheet, b: Sheet) -> bool:
    """Whether two sheets hold the same answers (blank and absent alike)."""
    return _normalized(a) == _normalized(b)


# --- the draft: the step each person is on --------------------------------------------
def _own_participation(session: Session, user_id: int, round_id: int) -> Participation:
    return _participation(_round_of_user(session, user_id, round_id), user_id)


def _position(questions: RoundQuestions, step: str | None) -> Position:
    steps = steps_for(questions)
    keys = [s.key for s in steps]
    if step in keys:
        return Position(steps, keys.index(step))
    if step in ORDER:  # a step this round does not have: the next one it has
        later = ORDER[ORDER.index(step) :]
        return Position(steps, next(i for i, k in enumerate(keys) if k in later))
    return Position(steps, 0)


def position(session: Session, user_id: int, round_id: int) -> Position:
    """Where I am in my sheet of this round: the step my draft was left on, on whatever
    device, else the first."""
    participation = _own_participation(session, user_id, round_id)
    draft = session.get(Draft, participation.id)
    return _position(round_questions(session, user_id, round_id), draft.step if draft else None)


def move(
    session: Session, user_id: int, round_id: int, step: str, *, now: dt.datetime | None = None
) -> Position:
    """Go to ``step`` of my sheet (back, forward, or to a step with something missing).
    Changes nothing the partner can see: not my status, not when I last answered."""
    _round, participation, questions = editable_sheet(session, user_id, round_id)
    if step not in {s.key for s in steps_for(questions)}:
        raise InvalidInput({"step": "This check-in has no such step."})
    draft = session.get(Draft, participation.id)
    if draft is None:
        draft = Draft(participation_id=participation.id)
        session.add(draft)
    draft.step, draft.updated_at = step, now or utcnow()
    session.flush()
    return _position(questions, step)


# What saving a step did (:func:`save_step`).
SAVED, UNCHANGED = "saved", "unchanged"
NEWER_ELSEWHERE, BOTH_CHANGED = "newer_elsewhere", "both_changed"


def save_step(
    session: Session,
    user_id: int,
    round_id: int,
    step: str,
    part: Sheet,
    *,
    base: Sheet | None = None,
    now: dt.datetime | None = None,
) -> str:
    """Save ``step``'s answers as they are now, keeping every other step's: SAVED when
    something changed, UNCHANGED when nothing did. Refused (``InvalidInput``, per field)
    as :func:`save_answers` refuses, and then nothing is written.

    ``base`` is the step as this device last showed it saved. When the stored step
    differs from it, another device (a second tab, a phone left open) saved the step
    since, and a stale device must not overwrite that unasked: with nothing changed
    here, nothing is written (NEWER_ELSEWHERE: the device shows the stored answers);
    with changes here too, nothing is written either (BOTH_CHANGED: the person chooses,
    and keeping theirs is a save without ``base``)."""
    stored = my_answers(session, user_id, round_id)
    here, there = part_of(part, step), part_of(stored, step)
    if base is not None and not same(there, part_of(base, step)) and not same(here, there):
        return NEWER_ELSEWHERE if same(here, part_of(base, step)) else BOTH_CHANGED
    whole = merged(stored, step, part)
    if same(whole, stored):
        return UNCHANGED
    save_answers(session, user_id, round_id, whole, now=now)
    return SAVED


def drafts_of(session: Session, user_id: int) -> list[dict]:
    """My drafts in every round (for my data export): which step I was on, and when."""
    rows = session.execute(
        select(Participation.round_id, Draft.step, Draft.updated_at)
        .join(Participation, Participation.id == Draft.participation_id)
        .where(Participation.user_id == user_id)
        .order_by(Participation.round_id)
    ).all()
    return [
        {"round_id": rid, "step": TITLES.get(step, step), "updated_at": at}
        for rid, step, at in rows
    ]
