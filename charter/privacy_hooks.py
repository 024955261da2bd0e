"""The charter's part of data export and account deletion (docs/privacy.md), registered
with privacy at import (listed in tend/registry.py). The charter's words themselves are
an agreement, exported and kept as the agreements' are (agreements.privacy_hooks).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from charter import reflections, safety, words
from charter.models import CharterReflection, CharterSafetyNote, CharterTopicLink
from couples import service as couples
from privacy.erase import register_eraser
from privacy.export import register_exporter


def _export(session: Session, user_id: int) -> dict[str, list[dict[str, Any]]]:
    """My own reflections (in any couple space), my partner's only once revealed to me
    (as the charter page shows it), the topics our root causes became, and my private
    safety note. Never my partner's reflection before the reveal, never their note."""
    rows = [
        {
            "couple_id": r.couple_id,
            "who": "me",
            "causes": [words.CAUSES.get(key, key) for key in r.causes or []],
            "words": r.words,
            "written_at": r.written_at,
            "updated_at": r.updated_at,
        }
        for r in session.scalars(
            select(CharterReflection)
            .where(CharterReflection.user_id == user_id)
            .order_by(CharterReflection.written_at, CharterReflection.id)
        )
    ]
    links: list[dict[str, Any]] = []
    couple = couples.couple_of(session, user_id)
    if couple is not None:
        partner = reflections.partner_reflection(session, user_id)
        if partner is not None:
            rows.append(
                {
                    "couple_id": couple.id,
                    "who": partner.who,
                    "causes": partner.cause_titles,
                    "words": partner.words,
                    "written_at": partner.written_at,
                    "updated_at": partner.written_at,
                }
            )
        links = [
            {"cause_key": key, "topic_id": topic_id, "created_at": at}
            for key, topic_id, at in session.execute(
                select(
                    CharterTopicLink.cause_key,
                    CharterTopicLink.topic_id,
                    CharterTopicLink.created_at,
                )
                .where(CharterTopicLink.couple_id == couple.id)
                .order_by(CharterTopicLink.id)
            )
        ]
    note = safety.my_safety_note(session, user_id)
    return {
        "charter_reflections": rows,
        "charter_root_cause_topics": links,
        "my_charter_safety_note": (
            [
                {
                    "answer": words.SAFETY_OPTIONS.get(note.afraid) if note.afraid else None,
                    "note": note.note,
                    "written_at": note.written_at,
                }
            ]
            if note
            else []
        ),
    }


def _erase(session: Session, user_id: int, now: dt.datetime) -> None:
    """My reflections and my private safety note go. The charter's words stay with the
    partner, as every agreement's do; the topics the root causes became are the couple's."""
    for statement in (
        delete(CharterReflection).where(CharterReflection.user_id == user_id),
        delete(CharterSafetyNote).where(CharterSafetyNote.user_id == user_id),
    ):
        session.execute(statement.execution_options(synchronize_session=False))


register_exporter("charter", _export)
register_eraser("charter", _erase)
