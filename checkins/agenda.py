"""THE AGENDA of the talk after a check-in: pure, from the facts of one revealed round.

The order is the advice's: first what each appreciated, then where the answers are two
or more points apart, agreements one thinks kept and the other does not, the root causes
and topics that came back (those first), and last time's action items. Nothing here reads
the database; :mod:`checkins.talk` gathers the facts (revealed answers only) and the
root causes a charter names (:func:`checkins.talk.register_root_cause_source`).

The order does not depend on who looks: both partners' sessions walk the same list by
position. Only the wording ("you", the partner's name) is the reader's.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from checkins import rules

APPRECIATION = "appreciation"
GAP = "gap"
KEPT = "kept"
CAME_BACK = "came_back"
TOPIC = "topic"
ACTIONS = "actions"
SOLO = "solo"
SECTION_TITLES = {
    APPRECIATION: "What you appreciated",
    GAP: "Where your answers are apart",
    KEPT: "Agreements you see differently",
    CAME_BACK: "What came back",
    TOPIC: "Topics you raised",
    ACTIONS: "Last time's action items",
    SOLO: "Answering the check-ins",
}


@dataclass(frozen=True)
class ScaleFact:
    key: str
    label: str
    values: dict[int, int | None]  # user id -> answer


@dataclass(frozen=True)
class KeptFact:
    """How well one partner kept one agreement: by themselves, by the other."""

    agreement_id: int
    title: str
    about_user_id: int
    by_self: int | None
    by_other: int | None


@dataclass(frozen=True)
class TopicFact:
    topic_id: int
    title: str
    raised_by: dict[int, str]  # user id -> what bothers and what is needed
    came_back: bool = False


@dataclass(frozen=True)
class RootCauseFact:
    """A root cause the couple named (their charter); ``came_back`` when this round
    raised its topic or rated its change as not kept."""

    key: str  # stable, e.g. "charter:3:1"
    title: str
    came_back: bool
    detail: str = ""
    topic_id: int | None = None


@dataclass(frozen=True)
class ActionFact:
    item_id: int
    text: str
    owner_id: int | None
    due_on: dt.date | None
    done: bool


@dataclass(frozen=True)
class RoundFacts:
    """What the agenda may know of one revealed round: revealed answers only."""

    partners: tuple[int, int]  # by seat
    appreciations: dict[int, str] = field(default_factory=dict)  # user id -> went well
    scales: list[ScaleFact] = field(default_factory=list)
    kept: list[KeptFact] = field(default_factory=list)
    topics: list[TopicFact] = field(default_factory=list)
    root_causes: list[RootCauseFact] = field(default_factory=list)
    previous_actions: list[ActionFact] = field(default_factory=list)
    solo_raised: bool = False  # a partner asked to talk about answering alone


@dataclass(frozen=True)
class AgendaItem:
    key: str
    section: str
    title: str
    # (who, text) lines: who is a user id, or None for Tend's own words.
    lines: tuple[tuple[int | None, str], ...] = ()
    first: bool = False  # "what ended it last time is back": shown before its section


def _apart(values: dict[int, int | None]) -> bool:
    a, b = [*values.values(), None, None][:2]
    return rules.scale_gap(a, b)


def build(facts: RoundFacts) -> list[AgendaItem]:
    """The agenda, in order. Always at least the appreciations item (it opens every
    talk, even when nobody wrote anything: then it asks)."""
    seat = {uid: i for i, uid in enumerate(facts.partners)}
    items: list[AgendaItem] = [
        AgendaItem(
            "appreciation",
            APPRECIATION,
            "What each of you appreciated",
            tuple(
                (uid, facts.appreciations[uid])
                for uid in facts.partners
                if facts.appreciations.get(uid)
            )
            or ((None, "Say one thing you appreciated about each other since last time."),),
        )
    ]
    for s in facts.scales:
        if _apart(s.values):
            items.append(
                AgendaItem(
                    f"gap:{s.key}",
                    GAP,
                    s.label,
                    tuple((uid, str(s.values.get(uid))) for uid in facts.partners),
                )
            )
    kept = sorted(facts.kept, key=lambda k: (k.agreement_id, seat.get(k.about_user_id, 9)))
    for k in kept:
        if rules.kept_mismatch(k.by_self, k.by_other):
            other = next((u for u in facts.partners if u != k.about_user_id), None)
            items.append(
                AgendaItem(
                    f"kept:{k.agreement_id}:{k.about_user_id}",
                    KEPT,
                    k.title,
                    ((k.about_user_id, str(k.by_self)), (other, str(k.by_other))),
                )
            )
    # Root causes that came back lead this section; topics that came back next; then the
    # other topics raised this round.
    root_topics = {r.topic_id for r in facts.root_causes if r.topic_id is not None}
    for r in facts.root_causes:
        if r.came_back:
            items.append(
                AgendaItem(
                    f"root:{r.key}",
                    CAME_BACK,
                    r.title,
                    ((None, r.detail),) if r.detail else (),
                    first=True,
                )
            )
    topics = sorted(facts.topics, key=lambda t: (not t.came_back, t.topic_id))
    for t in topics:
        if t.topic_id in root_topics and any(
            r.came_back and r.topic_id == t.topic_id for r in facts.root_causes
        ):
            continue  # already on the agenda as the root cause it belongs to
        items.append(
            AgendaItem(
                f"topic:{t.topic_id}",
                CAME_BACK if t.came_back else TOPIC,
                t.title,
                tuple((uid, t.raised_by[uid]) for uid in facts.partners if uid in t.raised_by),
            )
        )
    for a in facts.previous_actions:
        items.append(
            AgendaItem(
                f"action:{a.item_id}",
                ACTIONS,
                a.text,
                ((a.owner_id, "done" if a.done else "not done yet"),),
            )
        )
    if facts.solo_raised:
        items.append(
            AgendaItem(
                "solo",
                SOLO,
                "Answering the check-ins",
                (
                    (
                        None,
                        "Lately the check-ins were not answered by both of you. What would "
                        "make them easier to keep up: another day, fewer questions, a "
                        "different rhythm?",
                    ),
                ),
            )
        )
    return items
