"""The consent model both partners share, for agreements and for anything else that
needs both (sharing a report with a therapist): one partner proposes, only the other
can say yes, and nothing counts while there is no partner to ask."""

from __future__ import annotations

from sqlalchemy.orm import Session

from couples import service as couples
from couples.models import User
from infra.errors import NotAllowed


def require_partner(session: Session, user_id: int, why: str) -> User:
    """The partner whose yes is needed; ``why`` tells the person what needs both."""
    partner = couples.partner_of(session, user_id)
    if partner is None:
        raise NotAllowed(f"Invite your partner first: {why}")
    return partner


def refuse_own_answer(proposed_by_id: int, user_id: int, what: str) -> None:
    """Nobody consents on their partner's behalf: the proposer cannot answer their own
    proposal. ``what`` names the proposal ("this", "this report")."""
    if proposed_by_id == user_id:
        raise NotAllowed(
            f"You proposed {what} yourself; it needs your partner's answer. You can still "
            "change or withdraw it."
        )
