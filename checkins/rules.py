"""The rules that turn answers into signals: topic recurrence and early warnings.

All thresholds live here, in one place, and are documented in docs/checkins.md. The
functions are pure: the service gathers the facts (from revealed answers only) and these
decide. Nothing here ever sees a private or safety answer; the facts carry none.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

# --- thresholds -------------------------------------------------------------------------
# Satisfaction totals run 0-20 (four items, 0-5 each).
DISTRESSED_MAX = 9
"""A total of 9 or less (below the middle of the scale) counts as the distressed range."""
DROP_POINTS = 4
"""A drop of 4+ points below one's own average of the previous rounds is "clearly below"."""
DROP_BASELINE_ROUNDS = 3
"""How many earlier rounds make the recent average (at least 2 are needed)."""
GAP_WIDE = 5
"""Partners 5+ points apart in the same round are diverging."""
GAP_WIDENING = 3
"""...or a gap that grew by 3+ points since the previous round (and is at least 3)."""
POOR_ADHERENCE = 2.5
"""An agreement whose ratings (self and partner, both partners) average 2.5 or less on the
1-5 scale is rated poorly; in two consecutive rounds it raises a warning."""
CERTAINTY_DROP = 2
"""Certainty (1-5) falling by 2+ points since the previous round, or falling three rounds
in a row, is "certainty falling"."""
MISSED_IN_A_ROW = 2
"""Rounds in a row in which at least one partner did not answer."""
RECURRING_WINDOW = 3
RECURRING_MIN = 2
"""A topic raised in 2 of the last 3 revealed rounds keeps coming back."""
GAP_HIGHLIGHT = 2
"""On the review page, answers 2+ points apart on a scale are highlighted."""
KEPT_MIN = 4
NOT_KEPT_MAX = 2
"""On the review page, an agreement one partner rates kept (4-5) and the other not (1-2)
for the same person is highlighted."""


def scale_gap(a: int | None, b: int | None) -> bool:
    """Two answers on a scale GAP_HIGHLIGHT or more points apart (the review highlights
    them; the talk puts them on its agenda)."""
    return a is not None and b is not None and abs(a - b) >= GAP_HIGHLIGHT


def kept_mismatch(a: int | None, b: int | None) -> bool:
    """One partner rates an agreement kept (KEPT_MIN+) and the other not (NOT_KEPT_MAX-)."""
    if a is None or b is None:
        return False
    return (a >= KEPT_MIN and b <= NOT_KEPT_MAX) or (b >= KEPT_MIN and a <= NOT_KEPT_MAX)


# --- facts ------------------------------------------------------------------------------
@dataclass(frozen=True)
class RoundFacts:
    """What warnings may know about one round: revealed answers only."""

    round_id: int
    opened_at: dt.datetime
    revealed: bool
    closed: bool
    missed_user_ids: frozenset[int] = frozenset()
    totals: dict[int, int] = field(default_factory=dict)  # user id -> satisfaction 0-20
    certainty: dict[int, int] = field(default_factory=dict)  # user id -> 1-5
    adherence: dict[int, float] = field(default_factory=dict)  # agreement id -> mean 1-5
    agreement_titles: dict[int, str] = field(default_factory=dict)


@dataclass(frozen=True)
class EarlyWarning:
    code: str
    title: str
    explanation: str
    next_step: str
    user_id: int | None = None
    subject_id: int | None = None


# --- topics -----------------------------------------------------------------------------
def keeps_coming_back(
    raised_in: set[int],
    recent_round_ids: Sequence[int],
    mention_times: Sequence[dt.datetime],
    resolved_times: Sequence[dt.datetime],
) -> bool:
    """Raised in RECURRING_MIN of the last RECURRING_WINDOW revealed rounds (newest first
    in ``recent_round_ids``), or raised again after it was once marked resolved."""
    recent = list(recent_round_ids)[:RECURRING_WINDOW]
    if sum(1 for r in recent if r in raised_in) >= RECURRING_MIN:
        return True
    return any(m > r for r in resolved_times for m in mention_times)


# --- warnings ---------------------------------------------------------------------------
def _revealed(rounds: Sequence[RoundFacts]) -> list[RoundFacts]:
    return sorted((r for r in rounds if r.revealed), key=lambda r: r.opened_at)


def early_warnings(
    rounds: Sequence[RoundFacts],
    names: dict[int, str],
    recurring_topics: Sequence[tuple[int, str]] = (),
) -> list[EarlyWarning]:
    """Every warning that holds for this history; an empty list for a steady one."""
    revealed = _revealed(rounds)
    warnings: list[EarlyWarning] = []
    for user_id, name in names.items():
        warnings += _score_drop(revealed, user_id, name)
        warnings += _distressed(revealed, user_id, name)
        warnings += _certainty_falling(revealed, user_id, name)
    warnings += _diverging(revealed, names)
    warnings += _agreement_poor(revealed)
    warnings += _missed(rounds)
    for topic_id, title in recurring_topics:
        warnings.append(
            EarlyWarning(
                "topic_recurring",
                f"“{title}” keeps coming back",
                "This topic was raised in two of your last three check-ins, or again after "
                "you had marked it resolved. Problems that return tend to grow when left.",
                "Give it its own conversation at the next check-in: what exactly happens, "
                "what each of you needs, and one small thing to try before the next round. "
                "If it keeps returning, it is a good subject for a session with a therapist.",
                subject_id=topic_id,
            )
        )
    return warnings


def _totals(revealed: list[RoundFacts], user_id: int) -> list[int]:
    return [r.totals[user_id] for r in revealed if user_id in r.totals]


def _score_drop(revealed: list[RoundFacts], user_id: int, name: str) -> list[EarlyWarning]:
    totals = _totals(revealed, user_id)
    if len(totals) < 3:
        return []
    latest, before = totals[-1], totals[-1 - DROP_BASELINE_ROUNDS : -1]
    average = sum(before) / len(before)
    if latest > average - DROP_POINTS:
        return []
    return [
        EarlyWarning(
            "score_drop",
            f"{name}'s satisfaction dropped",
            f"{name}'s score in the last check-in was {latest} of 20, clearly below their "
            f"recent average of {average:.1f}.",
            "Ask gently at your next conversation what changed lately, and listen before "
            "answering. If you cannot find it together, consider a session with a therapist.",
            user_id=user_id,
        )
    ]


def _distressed(revealed: list[RoundFacts], user_id: int, name: str) -> list[EarlyWarning]:
    totals = _totals(revealed, user_id)
    if not totals or totals[-1] > DISTRESSED_MAX:
        return []
    return [
        EarlyWarning(
            "distressed",
            f"{name}'s score is in the low range",
            f"{name} scored {totals[-1]} of 20 in the last check-in. Scores of "
            f"{DISTRESSED_MAX} or less mean the relationship feels hard right now.",
            "Take time this week to talk about it, and consider booking a session with a "
            "couples therapist: it is much easier to turn things around early.",
            user_id=user_id,
        )
    ]


def _certainty_falling(revealed: list[RoundFacts], user_id: int, name: str) -> list[EarlyWarning]:
    values = [r.certainty[user_id] for r in revealed if user_id in r.certainty]
    if len(values) < 2:
        return []
    fell_sharply = values[-1] <= values[-2] - CERTAINTY_DROP
    fell_steadily = len(values) >= 3 and values[-3] > values[-2] > values[-1]
    if not (fell_sharply or fell_steadily):
        return []
    return [
        EarlyWarning(
            "certainty_falling",
            f"{name} feels less certain about your future",
            f"{name}'s certainty about your future together went from {values[-2]} to "
            f"{values[-1]} (of 5)"
            + (", falling for three check-ins in a row." if fell_steadily else "."),
            "Talk about it openly at the next check-in: what would help {name} feel surer? "
            "Revisit the agreements you made when you got back together.".replace("{name}", name),
            user_id=user_id,
        )
    ]


def _diverging(revealed: list[RoundFacts], names: dict[int, str]) -> list[EarlyWarning]:
    both = [r for r in revealed if all(u in r.totals for u in names)]
    if len(names) != 2 or not both:
        return []
    a, b = names

    def gap(r: RoundFacts) -> int:
        return abs(r.totals[a] - r.totals[b])

    latest = gap(both[-1])
    widening = len(both) >= 2 and latest - gap(both[-2]) >= GAP_WIDENING and latest >= GAP_WIDENING
    if latest < GAP_WIDE and not widening:
        return []
    return [
        EarlyWarning(
            "diverging",
            "Your scores are drifting apart",
            f"In the last check-in your satisfaction scores were {latest} points apart"
            + (", more than the round before." if widening else "."),
            "At the next check-in, each of you says what made your score what it is, and the "
            "other repeats it back before replying. The gap itself is worth understanding.",
        )
    ]


def _agreement_poor(revealed: list[RoundFacts]) -> list[EarlyWarning]:
    if len(revealed) < 2:
        return []
    previous, latest = revealed[-2], revealed[-1]
    warnings = []
    for agreement_id, mean in latest.adherence.items():
        earlier = previous.adherence.get(agreement_id)
        if earlier is None or max(mean, earlier) > POOR_ADHERENCE:
            continue
        title = latest.agreement_titles.get(agreement_id, "An agreement")
        warnings.append(
            EarlyWarning(
                "agreement_poor",
                f"“{title}” is not being kept",
                f"You both rated how well “{title}” was kept at {POOR_ADHERENCE:g} or lower on "
                "average, two check-ins in a row.",
                "Revisit this agreement together: is it still the right one, and what gets in "
                "the way? Change it (both must agree) rather than let it quietly lapse.",
                subject_id=agreement_id,
            )
        )
    return warnings


def _missed(rounds: Sequence[RoundFacts]) -> list[EarlyWarning]:
    closed = sorted((r for r in rounds if r.closed), key=lambda r: r.opened_at)
    last = closed[-MISSED_IN_A_ROW:]
    if len(last) < MISSED_IN_A_ROW or not all(r.missed_user_ids for r in last):
        return []
    return [
        EarlyWarning(
            "missed_rounds",
            "Check-ins are being missed",
            f"The last {MISSED_IN_A_ROW} check-ins closed without answers from both of you.",
            "Look at the check-in agreement together: is the day or the rhythm wrong for you? "
            "Pick a time that works, or start the next check-in by hand.",
        )
    ]
