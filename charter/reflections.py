"""What each partner thinks ended it last time, and THE CHARTER'S REVEAL RULE: the
partner's reflection is read only once both partners have written theirs (as check-in
answers are), and from then on both stay as they were.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from charter import words
from charter.models import Charter, CharterReflection
from couples import service as couples
from couples.models import Couple
from infra.db import utcnow
from infra.errors import InvalidInput, NotAllowed


@dataclass(frozen=True)
class ReflectionView:
    who: str
    causes: tuple[str, ...]  # keys of words.CAUSES
    words: str
    written_at: dt.datetime

    @property
    def cause_titles(self) -> list[str]:
        return [words.CAUSES[key] for key in self.causes if key in words.CAUSES]


@dataclass(frozen=True)
class ReflectionStatus:
    mine_written: bool
    partner_written: bool
    partner_name: str  # "" without a partner
    revealed: bool


def charter_row(session: Session, couple_id: int, *, lock: bool = False) -> Charter:
    """The couple's charter row, made on first use; ``lock`` orders the partners' writes
    (a row lock on PostgreSQL; SQLite writes one at a time anyway)."""
    row = session.get(Charter, couple_id, with_for_update=lock or None)
    if row is None:
        try:
            # Both partners may make it at once: the primary key settles who.
            with session.begin_nested():
                session.add(Charter(couple_id=couple_id, created_at=utcnow()))
        except IntegrityError:
            pass
        row = session.get(Charter, couple_id, with_for_update=lock or None, populate_existing=True)
        assert row is not None
    return row


def _current_partner_ids(couple: Couple, user_id: int) -> list[int]:
    return [m.user_id for m in couple.members if m.left_at is None and m.user_id != user_id]


def _writers(session: Session, couple_id: int) -> set[int]:
    """Who has written theirs: ids only, so no one's words are loaded before the reveal."""
    return set(
        session.scalars(
            select(CharterReflection.user_id).where(CharterReflection.couple_id == couple_id)
        )
    )


def _row(session: Session, couple_id: int, user_id: int) -> CharterReflection | None:
    return session.scalar(
        select(CharterReflection).where(
            CharterReflection.couple_id == couple_id, CharterReflection.user_id == user_id
        )
    )


def _revealed(couple: Couple, user_id: int, rows: set[int]) -> bool:
    partners = _current_partner_ids(couple, user_id)
    return bool(partners) and user_id in rows and all(p in rows for p in partners)


def status(session: Session, user_id: int) -> ReflectionStatus:
    couple = couples.require_membership(session, user_id).couple
    rows = _writers(session, couple.id)
    partners = _current_partner_ids(couple, user_id)
    other = next((m for m in couple.members if m.user_id in partners), None)
    return ReflectionStatus(
        mine_written=user_id in rows,
        partner_written=any(p in rows for p in partners),
        partner_name=couples.member_name(other, user_id) if other else "",
        revealed=_revealed(couple, user_id, rows),
    )


def is_revealed(session: Session, user_id: int) -> bool:
    return status(session, user_id).revealed


def write_reflection(
    session: Session,
    user_id: int,
    causes: list[str],
    own_words: str,
    *,
    now: dt.datetime | None = None,
) -> ReflectionView:
    """Write (or rewrite, until both have written) what I think ended it last time."""
    now = now or utcnow()
    couple = couples.require_active_couple(session, user_id)
    own_words = (own_words or "").strip()
    chosen = list(dict.fromkeys(causes or []))
    problems = {}
    if any(key not in words.CAUSES for key in chosen):
        problems["causes"] = "Choose from the list, and add anything else in your own words."
    if "\x00" in own_words:
        problems["words"] = words.NUL_PROBLEM
    elif len(own_words) > words.MAX_WORDS:
        problems["words"] = f"Keep it under {words.MAX_WORDS} characters."
    if not chosen and not own_words and not problems:
        problems["causes"] = "Pick at least one from the list, or write it in your own words."
    if problems:
        raise InvalidInput(problems)
    charter_row(session, couple.id, lock=True)
    if _revealed(couple, user_id, _writers(session, couple.id)):
        raise NotAllowed(
            "You have both written yours, so they were shown to you both and stay as they "
            "were. Bring anything you would add to your next check-in."
        )
    row = _row(session, couple.id, user_id)
    if row is None:
        row = CharterReflection(couple_id=couple.id, user_id=user_id, written_at=now)
        session.add(row)
    row.causes = chosen
    row.words = own_words
    row.updated_at = now
    session.flush()
    return _view(row, "You")


def _view(row: CharterReflection, who: str) -> ReflectionView:
    return ReflectionView(who, tuple(row.causes or ()), row.words or "", row.updated_at)


def my_reflection(session: Session, user_id: int) -> ReflectionView | None:
    couple = couples.require_membership(session, user_id).couple
    row = _row(session, couple.id, user_id)
    return _view(row, "You") if row else None


def partner_reflection(session: Session, user_id: int) -> ReflectionView | None:
    """My partner's reflection: None until we have both written ours (the reveal rule)."""
    couple = couples.require_membership(session, user_id).couple
    if not _revealed(couple, user_id, _writers(session, couple.id)):
        return None
    other = next(m for m in couple.members if m.user_id in _current_partner_ids(couple, user_id))
    row = _row(session, couple.id, other.user_id)
    return _view(row, couples.member_name(other, user_id)) if row else None
