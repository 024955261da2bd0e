"""A couple's life in Tend with secrets in every private place, built through the real
services, for the export, deletion and canary tests.

A writes a unique string into each place B must never reach: a private question's
answer, the safety note (with "not safe" answers), a private cooldown note, and answers
to a round B has not answered yet (shared-type answers before the reveal). A also writes
things B *may* see (a revealed answer, a decline reason in the shared history), so the
tests can tell that the search works.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass

from sqlalchemy.orm import Session

from agreements import cooldowns, proposals, therapy
from agreements.templates import TEMPLATES
from checkins import answers, questions, rounds, steps, survey
from checkins.views import AdherenceInput, ConcernInput, Sheet
from infra.db import utcnow
from tests.factories import make_couple

Tx = Callable[[], AbstractContextManager[Session]]

# Never reachable by B (each distinct, so a hit names the leak).
SECRET_PRIVATE = "canary-private-7c1e"
SECRET_SAFETY = "canary-safety-4b9d"
SECRET_COOLDOWN = "canary-cooldown-note-2f6a"
SECRET_BEFORE_REVEAL = "canary-before-reveal-8e3b"
SECRET_CONCERN_BEFORE_REVEAL = "canary-concern-before-reveal-5d0c"
SECRET_SAFETY_OPEN = "canary-safety-open-round-1a7f"
NEVER_FOR_B = (
    SECRET_PRIVATE,
    SECRET_SAFETY,
    SECRET_COOLDOWN,
    SECRET_BEFORE_REVEAL,
    SECRET_CONCERN_BEFORE_REVEAL,
    SECRET_SAFETY_OPEN,
)
# Shared with B once revealed (or always, as part of the shared history).
A_REVEALED = "a-revealed-went-well-3c8e"
A_DECLINE_REASON = "a-decline-reason-9a2d"
B_OWN_NOTE = "b-own-cooldown-note-6e4f"


@dataclass
class Scenario:
    a_id: int
    b_id: int
    couple_id: int
    revealed_round: int
    open_round: int
    private_question: int
    therapy_session: int
    cooldown: int
    therapy_agreement: int


def _sheet(s: Session, user_id: int, round_id: int, **texts: str) -> Sheet:
    values = {k: 3 for k in survey.SATISFACTION_KEYS} | {"certainty": 4, "safety": 4}
    sheet = Sheet(values=values, texts=dict(texts))
    for agreement in rounds.round_questions(s, user_id, round_id).agreements:
        sheet.adherence[agreement.agreement_id] = AdherenceInput(4, 4)
    return sheet


def build(
    tx: Tx,
    now: dt.datetime | None = None,
    emails: tuple[str, str] = ("a@example.org", "b@example.org"),
) -> Scenario:
    """Everything happened in the last month; the open round waits for B."""
    now = now or utcnow()
    day = dt.timedelta(days=1)
    with tx() as s:
        couple, a, b = make_couple(s, *emails, now=now - 40 * day)
        a_id, b_id, couple_id = a.id, b.id, couple.id
    with tx() as s:
        for kind in ("cooldown", "therapy"):
            t = TEMPLATES[kind]
            agreement = proposals.propose_agreement(
                s, a_id, kind=kind, title=t.title, body=t.body, params=t.params, now=now - 30 * day
            )
            proposals.accept(s, b_id, agreement.id, now=now - 30 * day)
            if kind == "therapy":
                therapy_id = agreement.id
        declined = proposals.propose_agreement(
            s,
            b_id,
            kind="custom",
            title="Phones away at dinner",
            body="No phones at the table.",
            now=now - 29 * day,
        )
        proposals.decline(s, a_id, declined.id, reason=A_DECLINE_REASON, now=now - 29 * day)
    with tx() as s:
        cooldown = cooldowns.start_cooldown(s, a_id, now=now - 20 * day).cooldown_id
        cooldowns.save_cooldown_note(s, a_id, cooldown, SECRET_COOLDOWN, now=now - 20 * day)
        cooldowns.save_cooldown_note(s, b_id, cooldown, B_OWN_NOTE, now=now - 20 * day)
        session_row = therapy.log_therapy_session(
            s, a_id, therapy_id, held_on=(now - 15 * day).date(), attendance="together"
        )
        # A rated, B has not: A's rating stays hidden from B.
        therapy.rate_therapy_session(s, a_id, session_row.id, 4, now=now - 15 * day)
        therapy_session = session_row.id
        private_q = questions.add_question(
            s, a_id, "Just for me", kind="text", visibility="private", now=now - 14 * day
        ).id

    # A revealed round: A's private and safety answers stay A's.
    with tx() as s:
        revealed = rounds.start_round_now(s, a_id, now=now - 10 * day).id
        sheet_a = _sheet(
            s,
            a_id,
            revealed,
            went_well=A_REVEALED,
            safety_note=SECRET_SAFETY,
            **{survey.custom_key(private_q): SECRET_PRIVATE},
        )
        sheet_a.values |= {"safety": 1, "safety_happened": 1}
        answers.save_answers(s, a_id, revealed, sheet_a, now=now - 10 * day)
        answers.submit(s, a_id, revealed, now=now - 10 * day)
    with tx() as s:
        answers.save_answers(
            s, b_id, revealed, _sheet(s, b_id, revealed, went_well="b went well"), now=now - 9 * day
        )
        answers.submit(s, b_id, revealed, now=now - 9 * day)

    # An open round: A submitted, B has not answered, so nothing of A's is revealed.
    with tx() as s:
        open_round = rounds.start_round_now(s, a_id, now=now - day).id
        sheet_a = _sheet(
            s, a_id, open_round, went_well=SECRET_BEFORE_REVEAL, safety_note=SECRET_SAFETY_OPEN
        )
        sheet_a.values |= {"safety": 2, "safety_happened": 2}
        sheet_a.concerns = [ConcernInput(SECRET_CONCERN_BEFORE_REVEAL, "time", new_topic="")]
        answers.save_answers(s, a_id, open_round, sheet_a, now=now - day)
        answers.submit(s, a_id, open_round, now=now - day)
        # A went back to the questions just for them (the draft keeps that step).
        steps.move(s, a_id, open_round, steps.SAFETY, now=now - day)
    return Scenario(
        a_id,
        b_id,
        couple_id,
        revealed,
        open_round,
        private_q,
        therapy_session,
        cooldown,
        therapy_id,
    )
