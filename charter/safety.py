"""The charter's private safety lane: anything about abuse or fear goes here, never into
the shared charter. Only its author reads it (no couple needed); it is never in a
warning, a mail, the partner's pages or the partner's export.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy.orm import Session

from charter import words
from charter.models import CharterSafetyNote
from couples.accounts import get_user
from infra.db import utcnow
from infra.errors import InvalidInput


@dataclass(frozen=True)
class SafetyNoteView:
    afraid: int | None
    note: str
    written_at: dt.datetime

    @property
    def concerning(self) -> bool:
        return self.afraid in words.SAFETY_CONCERNING


def my_safety_note(session: Session, user_id: int) -> SafetyNoteView | None:
    row = session.get(CharterSafetyNote, user_id)
    return SafetyNoteView(row.afraid, row.note, row.written_at) if row else None


def save_safety_note(
    session: Session,
    user_id: int,
    afraid: int | None,
    note: str,
    *,
    now: dt.datetime | None = None,
) -> SafetyNoteView:
    get_user(session, user_id)
    note = (note or "").strip()
    if afraid is not None and afraid not in words.SAFETY_OPTIONS:
        raise InvalidInput({"afraid": "Choose one of the answers, or leave it empty."})
    if "\x00" in note:
        raise InvalidInput({"note": words.NUL_PROBLEM})
    if len(note) > words.MAX_NOTE:
        raise InvalidInput({"note": f"Keep it under {words.MAX_NOTE} characters."})
    row = session.get(CharterSafetyNote, user_id)
    if row is None:
        row = CharterSafetyNote(user_id=user_id)
        session.add(row)
    row.afraid, row.note, row.written_at = afraid, note, now or utcnow()
    session.flush()
    return SafetyNoteView(row.afraid, row.note, row.written_at)
