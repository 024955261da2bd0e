"""The check-in as steps, through the real services on SQLite and PostgreSQL: which steps
a round has, saving one step keeps the others, and the draft (the step each person is
on) is resumed from anywhere, is each person's own and tells the partner nothing."""

from __future__ import annotations

import datetime as dt

import pytest

from checkins import answers, questions, rounds, steps, survey
from checkins.models import PENDING, Draft, Participation
from checkins.views import AdherenceInput, ConcernInput, Sheet
from infra.errors import InvalidInput, NotAllowed, NotFound
from tests.factories import make_couple
from tests.test_checkins_service import agree, answer_round, sheet


@pytest.fixture
def open_round(tx, now):  # type: ignore[no-untyped-def]
    with tx() as s:
        _c, a, b = make_couple(s, now=now - dt.timedelta(days=30))
        round_id = rounds.start_round_now(s, a.id, now=now).id
    return a, b, round_id


def keys(position: steps.Position) -> list[str]:
    return [step.key for step in position.steps]


def test_a_round_has_its_steps_and_the_safety_lane_is_always_last(tx, now) -> None:  # type: ignore[no-untyped-def]
    with tx() as s:
        _c, a, b = make_couple(s, now=now - dt.timedelta(days=30))
        bare = rounds.start_round_now(s, a.id, now=now - dt.timedelta(days=20)).id
        assert keys(steps.position(s, a.id, bare)) == ["feel", "certainty", "words", "safety"]
    answer_round(tx, a, b, bare, now - dt.timedelta(days=19), sheet(), sheet())
    with tx() as s:
        agree(s, a, b, "cooldown", "Cooldown", {"minutes": 5}, now - dt.timedelta(days=10))
        questions.add_question(
            s,
            a.id,
            "Date night?",
            kind="scale",
            visibility="revealed",
            now=now - dt.timedelta(days=1),
        )
        full = rounds.start_round_now(s, b.id, now=now).id
        where = steps.position(s, b.id, full)
    assert keys(where) == ["feel", "certainty", "agreements", "words", "own", "safety"]
    assert (where.number, where.total, where.current.title) == (1, 6, "How are we doing?")
    assert where.previous is None and where.next == where.steps[1]


def test_saving_a_step_keeps_every_other_step(tx, open_round) -> None:  # type: ignore[no-untyped-def]
    a, _b, round_id = open_round
    with tx() as s:
        steps.save_step(s, a.id, round_id, "words", Sheet(texts={"went_well": "Walks"}))
        steps.save_step(s, a.id, round_id, "safety", Sheet(values={"safety": 4}))
        # Only the step's own answers count: the certainty here is not this step's.
        changed = steps.save_step(
            s, a.id, round_id, "feel", Sheet(values={"sat_happy": 3, "certainty": 1})
        )
        assert changed == steps.SAVED
        mine = answers.my_answers(s, a.id, round_id)
        assert mine.values == {"sat_happy": 3, "safety": 4}
        assert mine.texts == {"went_well": "Walks"}
        # The same answers again write nothing.
        unchanged = steps.save_step(s, a.id, round_id, "feel", Sheet(values={"sat_happy": 3}))
        assert unchanged == steps.UNCHANGED
        # Emptying a step's text removes it; the other steps stay.
        steps.save_step(s, a.id, round_id, "words", Sheet(texts={"went_well": " "}))
        assert answers.my_answers(s, a.id, round_id).texts == {}
        assert answers.my_answers(s, a.id, round_id).values == {"sat_happy": 3, "safety": 4}


def test_a_device_left_open_never_overwrites_what_another_saved_since(tx, open_round) -> None:  # type: ignore[no-untyped-def]
    """A phone shows the step as saved at 9:00 (its base); a laptop saves the step at
    9:05. The phone, untouched, is refused and shows the laptop's answers; changed on
    both, nothing is written until the person chooses (a save without base keeps the
    phone's)."""
    a, _b, round_id = open_round
    phone_saw = Sheet(values={"sat_happy": 2})
    with tx() as s:
        assert steps.save_step(s, a.id, round_id, "feel", phone_saw) == steps.SAVED
    with tx() as s:  # the laptop
        laptop = Sheet(values={"sat_happy": 4})
        assert steps.save_step(s, a.id, round_id, "feel", laptop, base=phone_saw) == steps.SAVED
    with tx() as s:  # the phone, untouched, reruns
        outcome = steps.save_step(s, a.id, round_id, "feel", phone_saw, base=phone_saw)
        assert outcome == steps.NEWER_ELSEWHERE
        assert answers.my_answers(s, a.id, round_id).values == {"sat_happy": 4}
    with tx() as s:  # the phone, changed
        mine = Sheet(values={"sat_happy": 1})
        assert (
            steps.save_step(s, a.id, round_id, "feel", mine, base=phone_saw) == steps.BOTH_CHANGED
        )
        assert answers.my_answers(s, a.id, round_id).values == {"sat_happy": 4}
        # Both typed the same: nothing to choose.
        same = steps.save_step(s, a.id, round_id, "feel", laptop, base=phone_saw)
        assert same == steps.UNCHANGED
        # "Keep what is here".
        assert steps.save_step(s, a.id, round_id, "feel", mine) == steps.SAVED
        assert answers.my_answers(s, a.id, round_id).values == {"sat_happy": 1}
    with tx() as s:  # another step's change elsewhere is no conflict on this one
        words = Sheet(texts={"went_well": "Walks"})
        assert steps.save_step(s, a.id, round_id, "words", words) == steps.SAVED
        assert steps.save_step(s, a.id, round_id, "feel", mine, base=mine) == steps.UNCHANGED


def test_a_refused_step_writes_nothing(tx, open_round) -> None:  # type: ignore[no-untyped-def]
    a, _b, round_id = open_round
    with tx() as s:
        steps.save_step(s, a.id, round_id, "words", Sheet(texts={"went_well": "Walks"}))
    with pytest.raises(InvalidInput) as caught, tx() as s:
        steps.save_step(
            s,
            a.id,
            round_id,
            "words",
            Sheet(texts={"went_well": "Walks and more"}, concerns=[ConcernInput("bad\x00", "")]),
        )
    assert list(caught.value.fields) == ["concern:0"]
    with tx() as s:
        mine = answers.my_answers(s, a.id, round_id)
    assert mine.texts == {"went_well": "Walks"} and mine.concerns == []


def test_the_step_is_kept_for_another_device_and_is_mine_alone(tx, open_round) -> None:  # type: ignore[no-untyped-def]
    a, b, round_id = open_round
    with tx() as s:
        moved = steps.move(s, a.id, round_id, "words")
    assert moved.current.key == "words"
    # Another device: a new transaction with nothing but the person and the round.
    with tx() as s:
        assert steps.position(s, a.id, round_id).current.key == "words"
        # The partner's sheet starts at its own first step, not at mine.
        assert steps.position(s, b.id, round_id).current.key == "feel"
        steps.move(s, b.id, round_id, "safety")
    with tx() as s:
        assert steps.position(s, a.id, round_id).current.key == "words"
        assert steps.position(s, b.id, round_id).current.key == "safety"


def test_moving_between_steps_tells_the_partner_nothing(tx, open_round) -> None:  # type: ignore[no-untyped-def]
    a, b, round_id = open_round
    with tx() as s:
        for step in ("certainty", "words", "safety"):
            steps.move(s, a.id, round_id, step)
        steps.save_step(s, a.id, round_id, "safety", Sheet(values={"safety": 1}))
    with tx() as s:
        assert rounds.round_status(s, b.id, round_id).partner_status == PENDING
        mine = s.query(Participation).filter_by(round_id=round_id, user_id=a.id).one()
        assert mine.updated_at is None and mine.status == PENDING


def test_another_couples_round_is_not_found_and_steps_are_checked(tx, open_round, now) -> None:  # type: ignore[no-untyped-def]
    a, _b, round_id = open_round
    with tx() as s:
        _c, x, _y = make_couple(s, "x@example.org", "y@example.org", now=now)
    for call in (
        lambda s: steps.position(s, x.id, round_id),
        lambda s: steps.move(s, x.id, round_id, "words"),
        lambda s: steps.save_step(s, x.id, round_id, "feel", Sheet(values={"sat_happy": 1})),
    ):
        with pytest.raises(NotFound), tx() as s:
            call(s)
    with pytest.raises(InvalidInput), tx() as s:
        steps.move(s, a.id, round_id, "agreements")  # this round pinned none
    with tx() as s:
        assert s.query(Draft).count() == 0


def test_after_the_reveal_the_steps_are_locked(tx, open_round, now) -> None:  # type: ignore[no-untyped-def]
    a, b, round_id = open_round
    answer_round(tx, a, b, round_id, now, sheet(), sheet())
    with pytest.raises(NotAllowed), tx() as s:
        steps.move(s, a.id, round_id, "words")
    with pytest.raises(NotAllowed), tx() as s:
        steps.save_step(s, a.id, round_id, "words", Sheet(texts={"went_well": "later"}))


def test_what_is_missing_at_submit_names_its_steps(tx, now) -> None:  # type: ignore[no-untyped-def]
    with tx() as s:
        _c, a, b = make_couple(s, now=now - dt.timedelta(days=30))
        agreement_id = agree(s, a, b, "cooldown", "Cooldown", {"minutes": 5}, now)
        round_id = rounds.start_round_now(s, a.id, now=now).id
        steps.save_step(
            s, a.id, round_id, "feel", Sheet(values=dict.fromkeys(survey.SATISFACTION_KEYS, 3))
        )
        steps.save_step(
            s, a.id, round_id, "agreements", Sheet(adherence={agreement_id: AdherenceInput(4)})
        )
    with pytest.raises(InvalidInput) as caught, tx() as s:
        answers.submit(s, a.id, round_id)
    with tx() as s:
        where = steps.position(s, a.id, round_id)
    found = steps.steps_with_problems(caught.value.fields, where.steps)
    assert [step.key for step in found] == ["certainty", "agreements", "safety"]
