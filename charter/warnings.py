"""WHAT ENDED IT LAST TIME IS BACK: in a revealed check-in round, a topic linked to one
of the charter's root causes was raised, or the charter (what each partner committed to
change) was rated as not kept. Registered as a check-ins warning source, so the review
and the trends show it first; :func:`came_back` is what the talk's agenda reads.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, lazyload

from charter import consent
from checkins import agenda, rules, talk, warning_sources
from checkins.models import Adherence, Participation, Round, TopicEvent
from couples import data_version
from couples import service as couples
from couples.models import Couple

RAISED = "raised"  # a topic linked to the root cause was raised in the round
NOT_KEPT = "not_kept"  # the charter's changes were rated as not kept in the round


@dataclass(frozen=True)
class CameBack:
    why: str  # RAISED | NOT_KEPT
    cause_key: str | None  # None: the charter's changes as a whole (rated together)
    title: str
    topic_id: int | None


# Kept per round while the couple's data version stands still (couples/data_version.py):
# the review, the history's past reviews and the trends ask again on every rerun.
_kept: data_version.Kept[tuple[CameBack, ...]] = data_version.Kept(size=512)


def came_back(session: Session, couple_id: int, round_id: int) -> list[CameBack]:
    """The root causes that came back in one revealed round of the couple (empty before
    the reveal or without a charter in force when the round opened): raised topics first,
    then a charter rated as not kept."""
    # The couple as the caller loaded it (no statement), or read now.
    couple = session.get(Couple, couple_id)
    if couple is None:
        return []
    # A copy: the kept value is shared.
    kept = _kept.get(
        session, couple, round_id, lambda: tuple(_came_back(session, couple_id, round_id))
    )
    return list(kept)


def _came_back(session: Session, couple_id: int, round_id: int) -> list[CameBack]:
    # Its own columns only (the trends page has not loaded it; the review has, and then
    # this reads nothing): not its sheets and pinned agreements, which load by selectin.
    round_ = session.get(
        Round, round_id, options=[lazyload(Round.participations), lazyload(Round.agreements)]
    )
    if round_ is None or round_.couple_id != couple_id or round_.revealed_at is None:
        return []
    # The charter in force when the round opened: its causes, and the agreement the
    # round's partners rated.
    charter = consent.charter_in_force(session, couple_id, at=round_.opened_at)
    if charter is None or not charter[1]:
        return []
    charter_id, causes = charter
    by_topic = {c.topic_id: c for c in causes if c.topic_id is not None}
    raised = set(
        session.scalars(
            select(TopicEvent.topic_id).where(
                TopicEvent.round_id == round_id,
                TopicEvent.event == "raised",
                TopicEvent.topic_id.in_(list(by_topic)),
            )
        )
    )
    found = [CameBack(RAISED, c.key, c.title, c.topic_id) for c in causes if c.topic_id in raised]
    not_kept = session.scalar(
        select(Adherence.id)
        .join(Participation, Participation.id == Adherence.participation_id)
        .where(
            Participation.round_id == round_id,
            Adherence.agreement_id == charter_id,
            or_(
                Adherence.kept_self <= rules.NOT_KEPT_MAX,
                Adherence.kept_partner <= rules.NOT_KEPT_MAX,
            ),
        )
        .limit(1)
    )
    if not_kept:
        found.append(CameBack(NOT_KEPT, None, "the changes in your charter", None))
    return found


def _quoted(titles: list[str]) -> str:
    quoted = [f"“{t}”" for t in titles]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]


def charter_warnings(session: Session, couple_id: int, round_id: int) -> list[rules.EarlyWarning]:
    """One warning, in plain words, when something of the charter came back."""
    back = came_back(session, couple_id, round_id)
    if not back:
        return []
    raised = [b.title for b in back if b.why == RAISED]
    parts = []
    if raised:
        which = "a root cause" if len(raised) == 1 else "root causes"
        parts.append(
            f"{_quoted(raised)}, {which} you named in your charter, came up again in this check-in."
        )
    if any(b.why == NOT_KEPT for b in back):
        parts.append("One of you rated the changes you committed to in your charter as not kept.")
    return [
        rules.EarlyWarning(
            "charter_back",
            "What ended it last time is back",
            " ".join(parts),
            "Talk about this first: read your charter together, say honestly what got in "
            "the way, and agree one small thing each of you will do before the next check-in.",
        )
    ]


def latest_charter_warnings(session: Session, user_id: int) -> list[rules.EarlyWarning]:
    """The warning about my couple's latest revealed round, for the charter page."""
    couple = couples.require_membership(session, user_id).couple
    round_id = warning_sources.latest_revealed_round(session, couple.id)
    return charter_warnings(session, couple.id, round_id) if round_id else []


def root_cause_facts(session: Session, couple_id: int, round_id: int) -> list[agenda.RootCauseFact]:
    """The talk's agenda source (``checkins.talk.register_root_cause_source``): each root
    cause of the charter in force when the round opened, and whether this round brought
    it back; a charter rated as not kept is its own item."""
    round_ = session.get(Round, round_id)
    if round_ is None or round_.couple_id != couple_id or round_.revealed_at is None:
        return []
    back = came_back(session, couple_id, round_id)
    raised = {b.cause_key for b in back if b.why == RAISED}
    facts = [
        agenda.RootCauseFact(
            key=f"charter:{cause.key}",
            title=f"What ended it last time is back: “{cause.title}”"
            if cause.key in raised
            else cause.title,
            came_back=cause.key in raised,
            detail="A root cause you named in your charter came up again in this check-in. "
            "Read together what each of you said you would do for it."
            if cause.key in raised
            else "",
            topic_id=cause.topic_id,
        )
        for cause in consent.root_causes(session, couple_id, at=round_.opened_at)
    ]
    if any(b.why == NOT_KEPT for b in back):
        facts.append(
            agenda.RootCauseFact(
                key="charter:not_kept",
                title="What ended it last time is back: the changes in your charter",
                came_back=True,
                detail="One of you rated the changes you committed to in your charter as "
                "not kept. Say honestly what got in the way, and agree one small thing.",
            )
        )
    return facts


warning_sources.register_warning_source("charter", charter_warnings)
talk.register_root_cause_source(root_cause_facts)
