"""Warnings other domains contribute to a check-in round, shown before the check-ins' own
(the charter's "what ended it last time is back"). A source is registered at import by a
module listed in tend/registry.py; check-ins never import the domains above them.

A source is ``fn(session, couple_id, round_id) -> [EarlyWarning]`` for a revealed round
of that couple; it reads only what both partners may see once the round is revealed.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from checkins.models import Round
from checkins.rules import EarlyWarning
from infra.composition import load_registrations

WarningSource = Callable[[Session, int, int], list[EarlyWarning]]

_SOURCES: dict[str, WarningSource] = {}


def register_warning_source(name: str, fn: WarningSource) -> None:
    """Add (or replace, for reloads) the source ``name``."""
    _SOURCES[name] = fn


def warnings_for_round(
    session: Session, couple_id: int, round_id: int, *, known_revealed: bool = False
) -> list[EarlyWarning]:
    """Every registered source's warnings about one revealed round (none before the
    reveal), in the order the sources were registered. ``known_revealed``: the caller
    read the round as the couple's and revealed in this transaction."""
    load_registrations()
    if not known_revealed:
        revealed = session.scalar(
            select(Round.revealed_at).where(Round.id == round_id, Round.couple_id == couple_id)
        )
        if revealed is None:
            return []
    return [w for fn in _SOURCES.values() for w in fn(session, couple_id, round_id)]


def latest_revealed_round(session: Session, couple_id: int) -> int | None:
    return session.scalar(
        select(Round.id)
        .where(Round.couple_id == couple_id, Round.revealed_at.is_not(None))
        .order_by(Round.opened_at.desc())
        .limit(1)
    )


def latest_warnings(
    session: Session, couple_id: int, latest_round_id: int | None = None
) -> list[EarlyWarning]:
    """The sources' warnings about the couple's latest revealed round
    (``latest_round_id``: its id, when the caller read it already)."""
    if latest_round_id is not None:
        return warnings_for_round(session, couple_id, latest_round_id, known_revealed=True)
    round_id = latest_revealed_round(session, couple_id)
    return warnings_for_round(session, couple_id, round_id, known_revealed=True) if round_id else []
