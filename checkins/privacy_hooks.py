"""Check-ins' part of data export and account deletion (docs/privacy.md), registered with
privacy at import (listed in tend/registry.py): what a person may take with them, and
what is removed when they delete their account.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from checkins import survey
from checkins.answers import _store_round_scores
from checkins.models import (
    ActionItem,
    Adherence,
    Answer,
    Concern,
    CustomQuestion,
    Draft,
    Participation,
    Round,
    RoundAgreement,
    Topic,
    TopicEvent,
    WarningMark,
)
from checkins.questions import questions
from checkins.rounds import due_days_for
from checkins.steps import drafts_of
from checkins.talk_models import SoloNotice, Talk, TalkNote
from couples import service as couples
from privacy.erase import register_eraser
from privacy.export import register_exporter


# --- data export and account deletion (privacy) --------------------------------------------
def _question_texts(session: Session, answers: list[Answer]) -> dict[int, str]:
    ids = {a.custom_question_id for a in answers if a.custom_question_id is not None}
    if not ids:
        return {}
    return dict(
        session.execute(
            select(CustomQuestion.id, CustomQuestion.prompt).where(CustomQuestion.id.in_(ids))
        ).all()
    )


def _answer_rows(session: Session, rows: list[tuple[int, Answer]]) -> list[dict]:
    prompts = _question_texts(session, [a for _, a in rows])
    out = []
    for round_id, a in rows:
        built_in = survey.BY_KEY.get(a.item)
        out.append(
            {
                "round_id": round_id,
                "item": a.item,
                "question": built_in.prompt
                if built_in
                else prompts.get(a.custom_question_id or 0, ""),
                "visibility": a.visibility,
                "value": a.value_int,
                "value_label": built_in.label(a.value_int) if built_in else None,
                "text": a.value_text,
            }
        )
    return out


def _export_checkins(session: Session, user_id: int) -> dict[str, list[dict]]:
    """What a person may take with them from check-ins (docs/privacy.md).

    Their own answers in every round they took part in, private and safety answers
    included (they are theirs). Of the couple space they are in now: the rounds, the
    partner's answers of *revealed* rounds whose visibility is ``revealed`` (never a
    private or safety answer, never an answer before both submitted), topics, action
    items, the couple's own questions and settings. A space they left is no longer
    theirs to read, beyond what they wrote in it."""
    my_rounds = session.execute(
        select(Participation, Round)
        .join(Round, Round.id == Participation.round_id)
        .where(Participation.user_id == user_id)
        .order_by(Round.opened_at, Round.id)
    ).all()
    my_participations = {p.id: r.id for p, r in my_rounds}
    rounds = [
        {
            "round_id": r.id,
            "opened_at": r.opened_at,
            "due_at": r.due_at,
            "revealed_at": r.revealed_at,
            "closed_at": r.closed_at,
            "reviewed_at": r.reviewed_at,
            "my_status": p.status,
            "my_submitted_at": p.submitted_at,
            "my_reviewed_together_at": p.reviewed_at,
        }
        for p, r in my_rounds
    ]
    mine = list(
        session.scalars(
            select(Answer)
            .where(Answer.participation_id.in_(list(my_participations)))
            .order_by(Answer.participation_id, Answer.id)
        )
    )
    my_answers = _answer_rows(session, [(my_participations[a.participation_id], a) for a in mine])
    titles: dict[tuple[int, int], str] = {}

    def load_titles(round_ids: list[int]) -> None:
        for rid, aid, title in session.execute(
            select(
                RoundAgreement.round_id, RoundAgreement.agreement_id, RoundAgreement.title
            ).where(RoundAgreement.round_id.in_(round_ids))
        ):
            titles[(rid, aid)] = title

    load_titles(list(my_participations.values()))

    def adherence_rows(participation_round: dict[int, int], who: str | None) -> list[dict]:
        rows = session.scalars(
            select(Adherence)
            .where(Adherence.participation_id.in_(list(participation_round)))
            .order_by(Adherence.participation_id, Adherence.id)
        )
        return [
            {
                "round_id": participation_round[r.participation_id],
                **({"partner": who} if who is not None else {}),
                "agreement_id": r.agreement_id,
                "agreement": titles.get(
                    (participation_round[r.participation_id], r.agreement_id), ""
                ),
                "kept_by_author": r.kept_self,
                "kept_by_their_partner": r.kept_partner,
                "comment": r.comment,
            }
            for r in rows
        ]

    def concern_rows(participation_round: dict[int, int], who: str | None) -> list[dict]:
        rows = session.execute(
            select(Concern, Topic.title)
            .outerjoin(Topic, Topic.id == Concern.topic_id)
            .where(Concern.participation_id.in_(list(participation_round)))
            .order_by(Concern.participation_id, Concern.position)
        ).all()
        return [
            {
                "round_id": participation_round[c.participation_id],
                **({"partner": who} if who is not None else {}),
                "topic": title or c.new_topic_title,
                "bothering": c.bothering,
                "need": c.need,
            }
            for c, title in rows
        ]

    tables: dict[str, list[dict]] = {
        "rounds": rounds,
        "my_answers": my_answers,
        "my_agreement_ratings": adherence_rows(my_participations, None),
        "my_concerns": concern_rows(my_participations, None),
        "my_drafts": drafts_of(session, user_id),
    }

    couple = couples.couple_of(session, user_id)
    names = couples.shown_names(couple, user_id) if couple else {}
    # The partner's side: revealed rounds of my current couple, revealed answers only.
    theirs = (
        session.execute(
            select(Participation.id, Participation.user_id, Round.id)
            .join(Round, Round.id == Participation.round_id)
            .where(
                Round.couple_id == couple.id,
                Round.revealed_at.is_not(None),
                Participation.user_id != user_id,
            )
        ).all()
        if couple
        else []
    )
    their_round = {pid: rid for pid, _uid, rid in theirs}
    their_name = {pid: names.get(uid, couples.FORMER_PARTNER) for pid, uid, _rid in theirs}
    shared = list(
        session.scalars(
            select(Answer)
            .where(
                Answer.participation_id.in_(list(their_round)),
                Answer.visibility == survey.REVEALED,
            )
            .order_by(Answer.participation_id, Answer.id)
        )
    )
    tables["partner_answers"] = [
        {"partner": their_name[a.participation_id], **row}
        for a, row in zip(
            shared,
            _answer_rows(session, [(their_round[a.participation_id], a) for a in shared]),
            strict=True,
        )
    ]
    load_titles(list(their_round.values()))
    tables["partner_agreement_ratings"] = [
        row
        for pid in their_round
        for row in adherence_rows({pid: their_round[pid]}, their_name[pid])
    ]
    tables["partner_concerns"] = [
        row for pid in their_round for row in concern_rows({pid: their_round[pid]}, their_name[pid])
    ]
    if couple is None:
        for table in ("topics", "topic_history", "action_items", "questions", "settings"):
            tables[table] = []
        return tables
    topic_rows = list(
        session.scalars(select(Topic).where(Topic.couple_id == couple.id).order_by(Topic.id))
    )
    tables["topics"] = [
        {"topic_id": t.id, "title": t.title, "status": t.status, "created_at": t.created_at}
        for t in topic_rows
    ]
    tables["topic_history"] = [
        {
            "topic_id": e.topic_id,
            "at": e.at,
            "event": e.event,
            "status": e.status,
            "round_id": e.round_id,
            "by": names.get(e.user_id, couples.FORMER_PARTNER) if e.user_id else None,
        }
        for e in session.scalars(
            select(TopicEvent)
            .join(Topic, Topic.id == TopicEvent.topic_id)
            .where(Topic.couple_id == couple.id)
            .order_by(TopicEvent.at, TopicEvent.id)
        )
    ]
    tables["action_items"] = [
        {
            "round_id": i.round_id,
            "text": i.text,
            "who": names.get(i.owner_user_id, couples.FORMER_PARTNER)
            if i.owner_user_id
            else "Both of us",
            "created_at": i.created_at,
            "done_at": i.done_at,
        }
        for i in session.scalars(
            select(ActionItem)
            .where(ActionItem.couple_id == couple.id)
            .order_by(ActionItem.created_at, ActionItem.id)
        )
    ]
    tables["questions"] = [
        {
            "question_id": q.id,
            "prompt": q.prompt,
            "kind": q.kind,
            "visibility": q.visibility,
            "position": q.position,
            "created_at": q.created_at,
            "retired_at": q.retired_at,
        }
        for q in questions(session, user_id, include_retired=True)
    ]
    tables["warnings_talked_about"] = [
        {
            "warning": m.warning_key,
            "severity_when_marked": m.severity,
            "marked_by": names.get(m.marked_by_id, couples.FORMER_PARTNER)
            if m.marked_by_id
            else None,
            "marked_at": m.marked_at,
        }
        for m in session.scalars(
            select(WarningMark)
            .where(WarningMark.couple_id == couple.id)
            .order_by(WarningMark.marked_at, WarningMark.id)
        )
    ]
    tables["settings"] = [{"days_to_answer": due_days_for(session, couple.id)}]
    return tables


def _erase_checkins(session: Session, user_id: int, now: dt.datetime) -> None:
    """Remove everything the person answered, in every round of every couple space:
    answers (private and safety included), agreement ratings and comments, concerns,
    and the step each sheet was left on.
    Their seat in each round (answered or missed, when) stays so the partner's history
    keeps its shape; shared records (topics, action items, the couple's own questions,
    warnings marked as talked about) stay with the couple, naming the person "Former
    partner"."""
    # The person's rounds locked first, as saving and submitting lock them: a partner's
    # submit under way finishes before (and its reveal is seen below) or waits until
    # after (and stores its scores from what is left). In id order, so two erasures
    # sharing rounds (both partners at once) queue instead of deadlocking.
    rounds = session.execute(
        select(Round.id, Round.revealed_at)
        .join(Participation, Participation.round_id == Round.id)
        .where(Participation.user_id == user_id)
        .order_by(Round.id)
        .with_for_update(of=Round)
    ).all()
    participations = select(Participation.id).where(Participation.user_id == user_id)
    for model in (Answer, Adherence, Concern, Draft):
        session.execute(
            delete(model)
            .where(model.participation_id.in_(participations))
            .execution_options(synchronize_session=False)
        )
    # The revealed rounds' totals and mean ratings now count only what is left (the
    # partner's answers).
    _store_round_scores(session, [rid for rid, revealed_at in rounds if revealed_at is not None])
    session.execute(
        update(Participation)
        .where(Participation.user_id == user_id)
        .values(updated_at=None, remind_at=None)
        .execution_options(synchronize_session=False)
    )
    # "We talked about it" stays with the couple (the partner talked about it too), no
    # longer naming who pressed it.
    session.execute(
        update(WarningMark)
        .where(WarningMark.marked_by_id == user_id)
        .values(marked_by_id=None)
        .execution_options(synchronize_session=False)
    )


# --- the talk and solo notices --------------------------------------------------------------
def _export_talks(session: Session, user_id: int) -> dict[str, list[dict]]:
    """The talks of my rounds (when, where we were, finished), my own notes, and the
    notices about my not answering. The partner's notes are theirs (their export)."""
    my_rounds = select(Participation.round_id).where(Participation.user_id == user_id)
    talks = list(
        session.scalars(select(Talk).where(Talk.round_id.in_(my_rounds)).order_by(Talk.id))
    )
    return {
        "talks": [
            {
                "round_id": t.round_id,
                "position": t.position,
                "started_at": t.started_at.isoformat(),
                "finished_at": t.finished_at.isoformat() if t.finished_at else None,
                "finished_by_me": t.finished_by_id == user_id,
                "proposed_for": t.proposed_for.isoformat() if t.proposed_for else None,
                "proposed_by_me": t.proposed_by_id == user_id,
                "agreed_at": t.agreed_at.isoformat() if t.agreed_at else None,
            }
            for t in talks
        ],
        "talk_notes": [
            {
                "round_id": round_id,
                "item": note.item_key,
                "note": note.text,
                "updated_at": note.updated_at.isoformat(),
            }
            for note, round_id in session.execute(
                select(TalkNote, Talk.round_id)
                .join(Talk, Talk.id == TalkNote.talk_id)
                .where(TalkNote.author_id == user_id)
                .order_by(TalkNote.id)
            )
        ],
        "answering_notices": [
            {
                "since_round_id": n.since_round_id,
                "noticed_at": n.noticed_at.isoformat(),
                "mailed_at": n.mailed_at.isoformat() if n.mailed_at else None,
                "back_at": n.back_at.isoformat() if n.back_at else None,
            }
            for n in session.scalars(
                select(SoloNotice).where(SoloNotice.user_id == user_id).order_by(SoloNotice.id)
            )
        ],
    }


def _erase_talks(session: Session, user_id: int, now: dt.datetime) -> None:
    """My notes and the notices about me go; the talks stay with the couple, without me."""
    session.execute(delete(TalkNote).where(TalkNote.author_id == user_id))
    session.execute(delete(SoloNotice).where(SoloNotice.user_id == user_id))
    session.execute(
        update(SoloNotice)
        .where(SoloNotice.raise_requested_by_id == user_id)
        .values(raise_requested_by_id=None)
    )
    for column in (Talk.finished_by_id, Talk.proposed_by_id):
        session.execute(update(Talk).where(column == user_id).values({column.key: None}))


register_exporter("checkins", _export_checkins)
register_eraser("checkins", _erase_checkins)
register_exporter("talks", _export_talks)
register_eraser("talks", _erase_talks)
