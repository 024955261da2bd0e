"""Every service function that takes a record id, called by someone of another couple
with that couple's ids: "not found", for reads and writes, and nothing written.

The functions are found by introspection (every public function of the service modules
with a parameter ending in ``_id`` other than the acting ``user_id``), so a new one
added without a case here fails the test until someone decides how it is guarded.
"""

from __future__ import annotations

import datetime as dt
import importlib
import inspect
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select

from agreements import cooldown_returns, cooldowns, proposals, reading, therapy
from checkins import answers, questions, review, rounds, steps
from checkins import history as checkin_history
from checkins.views import AdherenceInput, ConcernInput, Sheet
from couples import service as couples
from couples.models import Invitation
from infra.db import Base, utcnow
from infra.errors import InvalidInput, NotFound
from tests import privacy_scenario as scenario

MODULES = (
    "agreements.proposals",
    "agreements.reading",
    "agreements.in_force",
    "agreements.cooldowns",
    "agreements.cooldown_returns",
    "agreements.therapy",
    "checkins.rounds",
    "checkins.answers",
    "checkins.steps",
    "checkins.review",
    "checkins.questions",
    "checkins.history",
    "checkins.trends",
    "checkins.warnings",
    "checkins.warning_marks",
    "couples.service",
    "couples.accounts",
    "notifications.preferences",
    "privacy.mail_hooks",
    "privacy.export",
    "privacy.erase",
    "privacy.pause",
    "charter.reflections",
    "charter.consent",
    "charter.warnings",
    "charter.safety",
)

# Functions for callers that already resolved the couple (the scheduler, the check-ins
# service asking the agreements service), never called with an id from a request.
INTERNAL = {
    "agreements.in_force.agreement_version",
    "agreements.in_force.agreements_in_force",
    "agreements.in_force.checkin_schedule",
    "agreements.cooldowns.cooldowns_per_month_of",  # the trends of a couple already resolved
    "agreements.in_force.next_checkin_schedule_from",
    "checkins.rounds.due_days_for",
    "checkins.rounds.open_round_of",
    "checkins.warnings.round_facts",
    "checkins.warnings.board_of",  # the warnings of a couple already resolved
    "checkins.warning_marks.marks_of",
    "checkins.warning_marks.mark_talked_about",  # called by warnings.mark_talked_about
    "agreements.cooldowns.cooldown_history_of",  # the warnings' inputs, couple resolved
    "agreements.therapy.therapy_history_of",
    "couples.service.member_name",  # takes a membership the caller already holds
    "couples.service.shown_names",  # takes a couple the caller already holds
    # The charter's reads for the talk, the warnings and the report (couple resolved):
    "charter.reflections.charter_row",
    "charter.consent.root_causes",
    "charter.consent.charter_in_force",
    "charter.warnings.came_back",
    "charter.warnings.charter_warnings",
    "charter.warnings.root_cause_facts",
    # Dispatch's retry of an outbox row it has claimed (no person's request reaches it):
    "notifications.preferences.retry_time",
    # Dispatch asking whether a mail's proposal still waits for that mail's own recipient
    # (a yes or no, for the mail machinery only; no person's request reaches it):
    "agreements.reading.awaits_answer_of",
}
# Answers for another couple's person with "Former partner", never their name
# (tested below, not NotFound: it is used for history lines).
NAMES = {"couples.service.shown_name"}


def id_taking_functions() -> set[str]:
    import tend.schema  # noqa: F401  (every model known)

    found = set()
    for module_name in MODULES:
        module = importlib.import_module(module_name)
        for name, fn in inspect.getmembers(module, inspect.isfunction):
            if name.startswith("_") or fn.__module__ != module_name:
                continue
            params = inspect.signature(fn).parameters
            if any(p.endswith("_id") and p != "user_id" for p in params):
                found.add(f"{module_name}.{name}")
    return found


Ids = dict[str, int]
Call = Callable[[Any, int, Ids], Any]
LATER = dt.datetime(2100, 1, 1)

CASES: dict[str, Call] = {
    # agreements: reads
    "agreements.reading.get_agreement": lambda s, me, v: reading.get_agreement(
        s, me, v["agreement"]
    ),
    "agreements.reading.versions": lambda s, me, v: reading.versions(s, me, v["agreement"]),
    "agreements.reading.history": lambda s, me, v: reading.history(s, me, v["agreement"]),
    "agreements.reading.diff_versions": lambda s, me, v: reading.diff_versions(
        s, me, v["agreement"], 1, 1
    ),
    "agreements.therapy.appointment_ics": lambda s, me, v: therapy.appointment_ics(
        s, me, v["appointment"]
    ),
    # agreements: writes
    "agreements.proposals.accept": lambda s, me, v: proposals.accept(s, me, v["pending"]),
    "agreements.proposals.decline": lambda s, me, v: proposals.decline(
        s, me, v["pending"], reason="no"
    ),
    "agreements.proposals.counter_propose": lambda s, me, v: proposals.counter_propose(
        s, me, v["pending"], title="Mine now", body="Changed."
    ),
    "agreements.proposals.withdraw": lambda s, me, v: proposals.withdraw(s, me, v["pending"]),
    "agreements.proposals.propose_change": lambda s, me, v: proposals.propose_change(
        s, me, v["agreement"], title="Changed", body="Changed.", params={}
    ),
    "agreements.proposals.request_retirement": lambda s, me, v: proposals.request_retirement(
        s, me, v["agreement"], reason="done"
    ),
    "agreements.proposals.answer_retirement": lambda s, me, v: proposals.answer_retirement(
        s, me, v["agreement"], agree=True
    ),
    "agreements.proposals.withdraw_retirement": lambda s, me, v: proposals.withdraw_retirement(
        s, me, v["agreement"]
    ),
    "agreements.proposals.flag_for_review": lambda s, me, v: proposals.flag_for_review(
        s, me, v["agreement"], note="look"
    ),
    "agreements.proposals.clear_review_flag": lambda s, me, v: proposals.clear_review_flag(
        s, me, v["agreement"]
    ),
    "agreements.therapy.log_therapy_session": lambda s, me, v: therapy.log_therapy_session(
        s, me, v["agreement"], held_on=dt.date(2020, 1, 1), attendance="together"
    ),
    "agreements.therapy.rate_therapy_session": lambda s, me, v: therapy.rate_therapy_session(
        s, me, v["therapy_session"], 1
    ),
    "agreements.therapy.set_next_appointment": lambda s, me, v: therapy.set_next_appointment(
        s, me, v["agreement"], local_start=LATER, timezone="UTC"
    ),
    "agreements.therapy.cancel_appointment": lambda s, me, v: therapy.cancel_appointment(
        s, me, v["appointment"]
    ),
    "agreements.cooldown_returns.record_return": lambda s, me, v: cooldown_returns.record_return(
        s, me, v["cooldown"], "talked"
    ),
    "agreements.cooldowns.save_cooldown_note": lambda s, me, v: cooldowns.save_cooldown_note(
        s, me, v["cooldown"], "mine"
    ),
    # check-ins: reads
    "checkins.rounds.round_status": lambda s, me, v: rounds.round_status(s, me, v["round"]),
    "checkins.rounds.round_questions": lambda s, me, v: rounds.round_questions(s, me, v["round"]),
    "checkins.answers.my_answers": lambda s, me, v: answers.my_answers(s, me, v["round"]),
    "checkins.answers.missing": lambda s, me, v: answers.missing(s, me, v["open_round"]),
    "checkins.steps.position": lambda s, me, v: steps.position(s, me, v["open_round"]),
    "checkins.answers.partner_answers": lambda s, me, v: answers.partner_answers(s, me, v["round"]),
    "checkins.review.review": lambda s, me, v: review.review(s, me, v["round"]),
    "checkins.history.topic_history": lambda s, me, v: checkin_history.topic_history(
        s, me, v["topic"]
    ),
    # check-ins: writes
    "checkins.answers.save_answers": lambda s, me, v: answers.save_answers(
        s, me, v["open_round"], Sheet(values={"safety": 1}, texts={"went_well": "mine"})
    ),
    "checkins.answers.submit": lambda s, me, v: answers.submit(s, me, v["open_round"]),
    "checkins.answers.editable_sheet": lambda s, me, v: answers.editable_sheet(
        s, me, v["open_round"]
    ),
    "checkins.steps.move": lambda s, me, v: steps.move(s, me, v["open_round"], steps.WORDS),
    "checkins.steps.save_step": lambda s, me, v: steps.save_step(
        s, me, v["open_round"], steps.WORDS, Sheet(texts={"went_well": "mine"})
    ),
    "checkins.review.add_action_item": lambda s, me, v: review.add_action_item(
        s, me, v["round"], "mine", None
    ),
    "checkins.review.mark_reviewed": lambda s, me, v: review.mark_reviewed(s, me, v["round"]),
    "checkins.review.set_action_done": lambda s, me, v: review.set_action_done(
        s, me, v["action_item"], True
    ),
    "checkins.history.set_topic_status": lambda s, me, v: checkin_history.set_topic_status(
        s, me, v["topic"], "resolved"
    ),
    "checkins.questions.retire_question": lambda s, me, v: questions.retire_question(
        s, me, v["question"]
    ),
    "checkins.questions.move_question": lambda s, me, v: questions.move_question(
        s, me, v["question"], 1
    ),
    # couple space
    "couples.service.resend_invitation": lambda s, me, v: couples.resend_invitation(
        s, me, v["invitation"]
    ),
    "couples.service.revoke_invitation": lambda s, me, v: couples.revoke_invitation(
        s, me, v["invitation"]
    ),
}

# Ids inside a form's input rather than a parameter: another couple's topic, agreement
# or person is refused with a message, the same as one that does not exist.
NESTED: dict[str, Call] = {
    "a concern filed under their topic": lambda s, me, v: answers.save_answers(
        s, me, v["my_open_round"], Sheet(concerns=[ConcernInput("x", "y", v["topic"])])
    ),
    "a rating of their agreement": lambda s, me, v: answers.save_answers(
        s, me, v["my_open_round"], Sheet(adherence={v["agreement"]: AdherenceInput(1, 1)})
    ),
    "an action item for their person": lambda s, me, v: review.add_action_item(
        s, me, v["my_revealed_round"], "mine", v["person"]
    ),
}


def test_every_id_taking_function_has_a_case() -> None:
    found = id_taking_functions()
    missing = found - set(CASES) - INTERNAL - NAMES
    assert not missing, f"new id-taking service functions without an authorization case: {missing}"
    # And no case is stale (a renamed function must not leave its case untested).
    assert set(CASES) | INTERNAL | NAMES <= found


def snapshot(s) -> dict[str, list[tuple]]:  # type: ignore[no-untyped-def]
    """Every row of every table, for "nothing was written"."""
    out = {}
    for table in Base.metadata.sorted_tables:
        rows = s.execute(select(table)).all()
        out[table.name] = sorted((tuple(map(repr, r)) for r in rows), key=repr)
    return out


@pytest.fixture
def two_couples(tx):  # type: ignore[no-untyped-def]
    """The victim couple (x, y) with a record of every kind, and the other couple (a, b),
    fully active with records of their own, so a refusal cannot come from anything but
    the id belonging to another couple."""
    now = utcnow()
    me = scenario.build(tx, now, ("a@example.org", "b@example.org"))
    them = scenario.build(tx, now, ("x@example.org", "y@example.org"))
    with tx() as s:
        appointment = therapy.set_next_appointment(
            s,
            them.a_id,
            them.therapy_agreement,
            local_start=(now + dt.timedelta(days=3)).replace(tzinfo=None),
            timezone="UTC",
        ).id
        pending = proposals.propose_agreement(
            s, them.a_id, kind="custom", title="Theirs", body="Their words."
        ).id
        topic = checkin_history.add_topic(s, them.a_id, "Their topic").id
        item = review.add_action_item(s, them.a_id, them.revealed_round, "Theirs", None).id
        invitation = s.scalar(select(Invitation.id).where(Invitation.couple_id == them.couple_id))
    victim = {
        "agreement": them.therapy_agreement,
        "pending": pending,
        "appointment": appointment,
        "therapy_session": them.therapy_session,
        "cooldown": them.cooldown,
        "round": them.revealed_round,
        "open_round": them.open_round,
        "topic": topic,
        "action_item": item,
        "question": them.private_question,
        "invitation": invitation,
        "person": them.b_id,
        "my_open_round": me.open_round,
        "my_revealed_round": me.revealed_round,
    }
    return me, them, victim


def _refused_without_writing(tx, call, me: int, victim: Ids, expected) -> None:  # type: ignore[no-untyped-def]
    with tx() as s:
        before = snapshot(s)
    # Even a caller that swallows the refusal and commits must have written nothing.
    with tx() as s:
        with pytest.raises(expected):
            call(s, me, victim)
        s.flush()
    with tx() as s:
        assert snapshot(s) == before


@pytest.mark.parametrize("name", sorted(CASES))
def test_another_couples_id_is_not_found_and_nothing_is_written(tx, two_couples, name) -> None:
    me, _them, victim = two_couples
    # Both partners of the other couple are tried: the proposer and the one who answers.
    for actor in (me.a_id, me.b_id):
        _refused_without_writing(tx, CASES[name], actor, victim, NotFound)


@pytest.mark.parametrize("name", sorted(NESTED))
def test_another_couples_ids_inside_a_form_are_refused(tx, two_couples, name) -> None:
    me, _them, victim = two_couples
    _refused_without_writing(tx, NESTED[name], me.b_id, victim, (NotFound, InvalidInput))


def test_names_of_another_couple_are_never_shown(tx, two_couples) -> None:
    me, them, _victim = two_couples
    with tx() as s:
        assert couples.shown_name(s, me.a_id, them.a_id) == couples.FORMER_PARTNER
        assert couples.shown_name(s, me.a_id, me.b_id) == "B"
