"""The quiet relapses: patterns that build up over several rounds without any single loud
signal (docs/checkins.md, "Quiet warnings").

Pure functions over :class:`checkins.warning_inputs.WarningInputs` (plain dataclasses, no
database): a slow decline, staying low, one partner drifting away from answering, a
one-sided view of an agreement, withdrawal after conflict, therapy lapsing, reviews
lapsing. Each rule has a condition that turns it on and a looser one that turns it off
again (hysteresis), so a warning does not flicker from one round to the next: the rules
are walked round by round through the history (:func:`timeline`), and what holds at the
last checkpoint is what the couple sees.

Every threshold is grounded in what the measure can tell apart from noise: the satisfaction
total (0-20) moves by a point or two from one round to the next in a steady couple (the
four items are rounded, moods vary), so a change counts only when it is larger than
:data:`RELIABLE_CHANGE` and is carried by several rounds, not one step. Nothing here reads
the safety lane; the inputs carry none of it.
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from checkins.models import MISSED, SUBMITTED
from checkins.rules import EarlyWarning, RoundFacts
from checkins.warning_inputs import (
    CooldownInput,
    RoundInput,
    SheetInput,
    TherapyInput,
    WarningInputs,
)

# --- thresholds -----------------------------------------------------------------------------
MEASUREMENT_ERROR = 1.5
"""Points a steady partner's satisfaction total (0-20) moves from one round to the next
without anything having changed (four items rounded to whole answers; the day's mood)."""
RELIABLE_CHANGE = 4
"""A change of 4+ points is beyond what measurement error makes (about 1.96 x sqrt(2) x
the error above): something changed."""
DECLINE_WINDOW = 8
DECLINE_MIN_ROUNDS = 6
"""A slow decline is judged over the partner's last (up to) 8 revealed rounds, at least 6."""
DECLINE_FALL = RELIABLE_CHANGE
"""...by at least the reliable change, between the levels at the start and at the end of the
window (medians of three rounds), along the trend through every round, and below the
partner's usual level over the whole history read (so a run at the noisy edge of a steady
level is no decline)..."""
DECLINE_SLOPE = -0.5
"""...falling by at least half a point per round (the median of all pairwise slopes, so a
single dip or one sudden step does not make a slope)..."""
DECLINE_RELEASE = 2
"""...and it ends once the partner is back within 2 points of where the decline started,
or the score has stopped falling for :data:`PLATEAU_ROUNDS` rounds (the staying-low rule
takes over from there)."""
PLATEAU_ROUNDS = 5
LOW_TOTAL = 11
"""Staying low: a total of 11 or less (below 'Mostly' on average)..."""
LOW_ROUNDS = 4
"""...in each of the partner's last 4 revealed rounds."""
LOW_RELEASE_TOTAL = 13
"""It ends after two rounds in a row at 13 or more (two points above, so that a round at 12
neither raises nor ends it)."""
LOW_CERTAINTY = 2
LOW_CERTAINTY_ROUNDS = 3
"""Certainty at 2 ('Rather unsure') or lower in each of the last 3 rounds; it ends after two
rounds in a row at 4 or more ('Fairly certain')."""
LOW_CERTAINTY_RELEASE = 4
MISSED_WINDOW = 6
MISSED_MIN = 3
"""Drifting from answering: one partner missed 3 of the last 6 closed rounds (every other
round is enough; no two need be in a row). It ends after 3 answered rounds in a row."""
ANSWERED_RELEASE = 3
LATE_SHARE = 0.6
EARLY_SHARE = 0.3
LATE_SHIFT = 0.35
LATE_ROUNDS = 3
"""Answering ever later: the last 3 sheets each submitted after 60% of the answering period
had passed, where the partner's earlier sheets (at least 3) were typically in by 30%, and
even the earliest of the 3 at least 35% of the period later than that."""
WROTE_SHARE = 2 / 3
SILENT_ROUNDS = 3
"""Writing nothing any more: nothing under "What went well" in the last 3 revealed rounds,
where the partner had written something in at least two thirds of the earlier ones (3+)."""
BREACH_OTHER_MAX = 2
BREACH_SELF_MIN = 4
BREACH_ROUNDS = 2
"""A one-sided view of an agreement: one partner rates the other's keeping of it 2 or
lower while the other rates their own keeping 4 or higher, in 2 revealed rounds in a row
(the mean of the two hides it). It ends after 2 revealed rounds without it."""
CONFLICT_WINDOW_DAYS = 56
"""Withdrawal after conflict looks at the cooldowns of the last 8 weeks..."""
CONFLICT_MANY = 4
"""...frequent: 4 or more in that window, and at least twice as many as in the 8 weeks
before (an occasional cooldown is what the tool is for)..."""
CONFLICT_SIGNS_MIN = 3
"""...or 3 or more with a sign of withdrawal: 2+ of them extended, 2+ ended without
coming back to the conversation ("not yet" or "we left it"), or a round after them that
one of you missed or scored clearly lower. It ends once the window holds at most one
cooldown."""
THERAPY_DAYS = {"weekly": 7, "biweekly": 14, "monthly": 31}
THERAPY_LAPSE = 2.5
THERAPY_GRACE = dt.timedelta(days=7)
"""Therapy lapsing: no session attended for 2.5 times the agreed interval plus a week (every
two weeks: 42 days; one missed session in between is not yet a lapse), or the last two
logged sessions both missed; an appointment booked within the agreed interval holds it off.
It ends with the next session attended."""
REVIEW_WINDOW = 3
UNREVIEWED_MIN = 2
REVIEW_HABIT = 2
STALE_ITEMS_MIN = 2
STALE_ROUNDS = 2
"""Reviews lapsing: 2 of the last 3 revealed rounds (before the one just closed) never
marked as reviewed together, by a couple who had marked at least 2 reviews before, or 2+
action items still open two rounds after they were agreed. It ends when the last two
revealed rounds were reviewed and at most one item is overdue."""


# --- what one rule finds ---------------------------------------------------------------------
@dataclass(frozen=True)
class Finding:
    """What a rule found: its numbers for the explanation, its evidence lines, and a
    severity that only grows as the pattern gets worse (a mark "we talked about it" holds
    until it does)."""

    severity: int
    explanation: str
    evidence: tuple[str, ...]
    anchor: float = 0.0  # a level remembered at the onset (e.g. where a decline began)
    since: dt.datetime | None = None  # the checkpoint at which it turned on


@dataclass(frozen=True)
class Checkpoint:
    """The history as it stood at one moment: the rounds closed by then (oldest first),
    everything else that happened by then."""

    at: dt.datetime
    rounds: Sequence[RoundInput]
    inputs: WarningInputs

    @functools.cached_property
    def revealed(self) -> list[RoundInput]:
        # Asked thousands of times per page (each rule, each partner): worked out once.
        return [r for r in self.rounds if r.revealed_at is not None]


@dataclass(frozen=True)
class Rule:
    code: str
    title: Callable[[str | None], str]
    next_step: Callable[[str | None], str]
    per_partner: bool
    # (checkpoint, partner or subject or None) -> what it finds, if it holds
    on: Callable[[Checkpoint, Any], Finding | None]
    # (checkpoint, the same, the finding held so far) -> True when the pattern is over
    released: Callable[[Checkpoint, Any, Finding], bool]
    subjects: Callable[[Checkpoint], Sequence[int]] | None = None  # per agreement and so on


def _name(cp: Checkpoint, user_id: int) -> str:
    return cp.inputs.names.get(user_id, "One of you")


def _day(at: dt.datetime) -> str:
    return f"{at:%d %b %Y}"


def _median_slope(values: Sequence[float]) -> float:
    """Theil-Sen: the median of the slopes between every pair of rounds. One dip or one
    step moves few of the pairs, so it makes no slope."""
    slopes = [
        (values[j] - values[i]) / (j - i)
        for i in range(len(values))
        for j in range(i + 1, len(values))
    ]
    return statistics.median(slopes) if slopes else 0.0


def _scores(cp: Checkpoint, user_id: int) -> list[tuple[RoundInput, int]]:
    return [
        (r, s.total)
        for r in cp.revealed
        if (s := r.sheets.get(user_id)) is not None and s.total is not None
    ]


def _certainties(cp: Checkpoint, user_id: int) -> list[tuple[RoundInput, int]]:
    return [
        (r, s.certainty)
        for r in cp.revealed
        if (s := r.sheets.get(user_id)) is not None and s.certainty is not None
    ]


# --- slow decline ----------------------------------------------------------------------------
def _decline_on(cp: Checkpoint, user_id: int) -> Finding | None:
    name = _name(cp, user_id)
    everything = _scores(cp, user_id)
    scored = everything[-DECLINE_WINDOW:]
    if len(scored) < DECLINE_MIN_ROUNDS:
        return None
    values = [t for _, t in scored]
    slope = _median_slope(values)
    start = statistics.median(values[:3])
    now = statistics.median(values[-3:])
    # The partner's usual level before the last six rounds, over all the history read: a
    # run of low-ish rounds at the usual level's noisy edge is no fall from it.
    earlier = [t for _, t in everything[:-6]]
    usual = statistics.median(earlier) if len(earlier) >= 3 else start
    # The levels, the trend through every round and the usual level must all show it.
    fall = min(start - now, -slope * (len(values) - 1), usual - now)
    # Carried by the last rounds together, not by one low round at the end.
    settled = max(values[-3:]) <= start - DECLINE_RELEASE
    # ...and a slide, not a step: the rounds in between are already on the way down.
    sliding = statistics.median(values[1:-2]) <= start - 1
    if slope > DECLINE_SLOPE or fall < DECLINE_FALL or not (settled and sliding):
        return None
    downs = sum(1 for a, b in itertools.pairwise(values) if b < a)
    ups = sum(1 for a, b in itertools.pairwise(values) if b > a)
    if downs <= ups + 1:
        return None
    first, last = scored[0][0], scored[-1][0]
    return Finding(
        severity=int(fall // 2),
        explanation=(
            f"{name}'s satisfaction has been sliding slowly: from about {start:g} to "
            f"{values[-1]} of 20 over {len(values)} check-ins, about {-slope:.1f} points "
            "a round. No single round looked alarming, which is why it is easy to miss."
        ),
        evidence=(
            f"{name}'s scores from {_day(first.opened_at)} to {_day(last.opened_at)}: "
            + ", ".join(str(v) for v in values),
            # The smallest of the three measures of the fall, said as such: the first
            # line's "from about … to …" may show a larger one.
            f"Down by at least {fall:g} points however it is measured (first rounds against "
            f"last, the trend through all of them, the usual level before); a steady score "
            f"moves by about {MEASUREMENT_ERROR:g} from round to round.",
        ),
        anchor=start,
    )


def _decline_released(cp: Checkpoint, user_id: int, onset: Finding) -> bool:
    values = [t for _, t in _scores(cp, user_id)]
    if len(values) >= 2 and statistics.mean(values[-2:]) >= onset.anchor - DECLINE_RELEASE:
        return True
    recent = values[-PLATEAU_ROUNDS:]
    return len(recent) == PLATEAU_ROUNDS and _median_slope(recent) >= 0


# --- staying low -----------------------------------------------------------------------------
def _low_on(cp: Checkpoint, user_id: int) -> Finding | None:
    name = _name(cp, user_id)
    scored = _scores(cp, user_id)
    certain = _certainties(cp, user_id)
    score = _low_part(scored, LOW_TOTAL, LOW_ROUNDS, f"{name}'s scores")
    certainty = _low_part(certain, LOW_CERTAINTY, LOW_CERTAINTY_ROUNDS, f"{name}'s certainty (1-5)")
    if score is None and certainty is None:
        return None
    parts, evidence, severity = [], [], 0
    if score is not None:
        values, line = score
        parts.append(f"{name}'s satisfaction has stayed at {min(values)}-{max(values)} of 20")
        evidence.append(line)
        severity += 1 + int(LOW_TOTAL - statistics.median(values[-3:])) // 2
    if certainty is not None:
        values, line = certainty
        parts.append(f"{name}'s certainty about your future has stayed at {max(values)} or less")
        evidence.append(line)
        severity += 1 + (LOW_CERTAINTY - min(values[-2:]))
    return Finding(
        severity=severity,
        anchor=(1 if score else 0) + (2 if certainty else 0),
        explanation=" and ".join(parts)
        + f" for {LOW_ROUNDS if score else LOW_CERTAINTY_ROUNDS} or more check-ins. "
        "The fall has stopped, but staying low is a signal of its own.",
        evidence=tuple(evidence),
    )


def _low_part(
    series: Sequence[tuple[RoundInput, int]], limit: int, rounds: int, what: str
) -> tuple[list[int], str] | None:
    """The run of values at or below ``limit`` that ends the series, with its evidence
    line, if it is at least ``rounds`` long."""
    run = _run_length(series, lambda v: v <= limit)
    if run < rounds:
        return None
    values = [v for _, v in series[-run:]]
    line = (
        f"{what} in the last {run} check-ins (since {_day(series[-run][0].opened_at)}): "
        + ", ".join(str(v) for v in values)
    )
    return values, line


def _run_length(values: Sequence[tuple[RoundInput, int]], low: Callable[[int], bool]) -> int:
    run = 0
    for _r, v in reversed(values):
        if not low(v):
            break
        run += 1
    return run


def _low_released(cp: Checkpoint, user_id: int, onset: Finding) -> bool:
    if _low_on(cp, user_id) is not None:
        return False
    scored = [t for _, t in _scores(cp, user_id)][-2:]
    certain = [c for _, c in _certainties(cp, user_id)][-2:]
    # Each part that raised it must be clearly back (``anchor``: 1 the score, 2 certainty).
    scores_back = len(scored) == 2 and min(scored) >= LOW_RELEASE_TOTAL
    certainty_back = len(certain) == 2 and min(certain) >= LOW_CERTAINTY_RELEASE
    parts = int(onset.anchor)
    return (scores_back or not parts & 1) and (certainty_back or not parts & 2)


# --- drifting away from answering ------------------------------------------------------------
def _drift_signs(cp: Checkpoint, user_id: int, name: str) -> list[str]:
    closed = [r for r in cp.rounds if r.closed_at is not None and user_id in r.sheets]
    signs = []
    window = closed[-MISSED_WINDOW:]
    missed = [r for r in window if r.sheets[user_id].missed]
    if len(missed) >= MISSED_MIN:
        signs.append(
            f"{name} did not get to {len(missed)} of the last {len(window)} check-ins ("
            + ", ".join(_day(r.opened_at) for r in missed)
            + ")."
        )
    shares = [(r, share) for r in closed if (share := r.sheets[user_id].lateness) is not None]
    if len(shares) >= LATE_ROUNDS + 3:
        late = shares[-LATE_ROUNDS:]
        earlier = [s for _, s in shares[-LATE_ROUNDS - 6 : -LATE_ROUNDS]]
        usual = statistics.median(earlier)
        if min(s for _, s in late) >= max(LATE_SHARE, usual + LATE_SHIFT) and usual <= EARLY_SHARE:
            signs.append(
                f"{name} answered later and later: in the last {LATE_ROUNDS} check-ins after "
                + ", ".join(f"{s:.0%}" for _, s in late)
                + f" of the answering time, where earlier it was typically "
                f"{usual:.0%}."
            )
    wrote = [
        (r, w)
        for r in cp.revealed
        if (w := r.sheets[user_id].wrote_went_well if user_id in r.sheets else None) is not None
    ]
    if len(wrote) >= SILENT_ROUNDS + 3:
        recent, earlier_w = wrote[-SILENT_ROUNDS:], [w for _, w in wrote[:-SILENT_ROUNDS]][-8:]
        if not any(w for _, w in recent) and sum(earlier_w) >= WROTE_SHARE * len(earlier_w):
            signs.append(
                f"{name} wrote nothing under “What went well” in the last "
                f"{SILENT_ROUNDS} check-ins, after writing something in {sum(earlier_w)} of "
                f"the {len(earlier_w)} before."
            )
    return signs


def _drift_on(cp: Checkpoint, user_id: int) -> Finding | None:
    name = _name(cp, user_id)
    signs = _drift_signs(cp, user_id, name)
    if not signs:
        return None
    return Finding(
        severity=len(signs),
        explanation=(
            f"{name} seems to be stepping back from the check-ins. That often says something "
            "about how things feel, more than about time or forgetfulness."
        ),
        evidence=tuple(signs),
    )


def _drift_released(cp: Checkpoint, user_id: int, onset: Finding) -> bool:
    if _drift_signs(cp, user_id, ""):
        return False
    closed = [r for r in cp.rounds if r.closed_at is not None and user_id in r.sheets]
    last = closed[-ANSWERED_RELEASE:]
    return len(last) == ANSWERED_RELEASE and not any(r.sheets[user_id].missed for r in last)


# --- a one-sided view of an agreement --------------------------------------------------------
def _breaches(r: RoundInput, agreement_id: int) -> list[tuple[int, int, int, int]]:
    """(rater, rated, rater's rating of the other, rated's rating of themselves)."""
    found = []
    for rater, sheet in r.sheets.items():
        for rated, other in r.sheets.items():
            if rated == rater:
                continue
            of_other = sheet.kept_partner.get(agreement_id)
            of_self = other.kept_self.get(agreement_id)
            if of_other is None or of_self is None:
                continue
            if of_other <= BREACH_OTHER_MAX and of_self >= BREACH_SELF_MIN:
                found.append((rater, rated, of_other, of_self))
    return found


def _agreements(cp: Checkpoint) -> list[int]:
    seen: dict[int, None] = {}
    for r in cp.revealed[-BREACH_ROUNDS:]:
        for aid in r.agreement_titles:
            seen[aid] = None
    return list(seen)


def _breach_on(cp: Checkpoint, agreement_id: int) -> Finding | None:
    last = cp.revealed[-BREACH_ROUNDS:]
    if len(last) < BREACH_ROUNDS or not all(_breaches(r, agreement_id) for r in last):
        return None
    names = cp.inputs.names
    title = last[-1].agreement_titles.get(agreement_id, "an agreement")
    evidence = []
    for r in last:
        for rater, rated, of_other, of_self in _breaches(r, agreement_id):
            evidence.append(
                f"{_day(r.opened_at)}: {names.get(rater, 'one of you')} rated how "
                f"{names.get(rated, 'the other')} kept “{title}” {of_other} of 5; "
                f"{names.get(rated, 'they')} rated it {of_self}."
            )
    gap = max(s - o for r in last for _a, _b, o, s in _breaches(r, agreement_id))
    return Finding(
        severity=gap,
        explanation=(
            f"You see “{title}” very differently: one of you feels it is being kept, "
            "the other does not, two check-ins in a row. The average hides it; neither view is "
            "wrong, but the difference is worth understanding."
        ),
        evidence=tuple(evidence),
    )


def _breach_released(cp: Checkpoint, agreement_id: int, onset: Finding) -> bool:
    last = cp.revealed[-BREACH_ROUNDS:]
    return len(last) == BREACH_ROUNDS and not any(_breaches(r, agreement_id) for r in last)


# --- withdrawal after conflict ---------------------------------------------------------------
def _cooldowns_between(
    cooldowns: Sequence[CooldownInput], start: dt.datetime, end: dt.datetime
) -> list[CooldownInput]:
    return [c for c in cooldowns if start < c.started_at <= end]


def _conflict_on(cp: Checkpoint, _target: int | None = None) -> Finding | None:
    window = dt.timedelta(days=CONFLICT_WINDOW_DAYS)
    recent = _cooldowns_between(cp.inputs.cooldowns, cp.at - window, cp.at)
    before = _cooldowns_between(cp.inputs.cooldowns, cp.at - 2 * window, cp.at - window)
    evidence = []
    frequent = len(recent) >= CONFLICT_MANY and len(recent) >= 2 * len(before)
    if len(recent) >= 2:
        evidence.append(
            f"{len(recent)} cooldowns in the last {CONFLICT_WINDOW_DAYS // 7} weeks ("
            + ", ".join(_day(c.started_at) for c in recent)
            + f"), {len(before)} in the {CONFLICT_WINDOW_DAYS // 7} weeks before."
        )
    signs = 0
    extended = [c for c in recent if c.extensions > 0]
    if len(extended) >= 2 or any(c.extensions >= 2 for c in recent):
        signs += 1
        evidence.append(f"{len(extended)} of them were extended.")
    unreturned = [c for c in recent if c.returned in ("not_yet", "left")]
    if len(unreturned) >= 2:
        signs += 1
        evidence.append(
            f"{len(unreturned)} of them ended without coming back to the conversation "
            "(“not yet” or “we left it”)."
        )
    after = _rounds_after_cooldowns(cp, recent)
    if after:
        signs += 1
        evidence.extend(after)
    if not (frequent or (len(recent) >= CONFLICT_SIGNS_MIN and signs)):
        return None
    return Finding(
        severity=len(recent) // 2 + signs,
        explanation=(
            "Cooldowns have become frequent"
            + (", and after them you seem to pull back from each other" if signs else "")
            + ". A cooldown is meant to lead back to the conversation; when it becomes the "
            "way arguments end, the topics stay unresolved."
        ),
        evidence=tuple(evidence),
    )


def _rounds_after_cooldowns(cp: Checkpoint, recent: list[CooldownInput]) -> list[str]:
    """Rounds right after cooldowns that one partner missed or scored clearly lower."""
    found = []
    rounds = [r for r in cp.rounds if r.closed_at is not None]
    for i, r in enumerate(rounds):
        previous = rounds[i - 1].opened_at if i else None
        if previous is None or not _cooldowns_between(recent, previous, r.opened_at):
            continue
        for uid, sheet in r.sheets.items():
            name = cp.inputs.names.get(uid, "one of you")
            if sheet.missed:
                found.append(f"{name} did not get to the check-in of {_day(r.opened_at)}.")
                continue
            earlier = [
                s.total
                for q in rounds[max(0, i - 5) : i]
                if (s := q.sheets.get(uid)) is not None and s.total is not None
            ]
            if sheet.total is not None and len(earlier) >= 3:
                usual = statistics.median(earlier)
                if sheet.total <= usual - RELIABLE_CHANGE + 1:
                    found.append(
                        f"{name}'s score on {_day(r.opened_at)} was {sheet.total}, below "
                        f"their usual {usual:g}."
                    )
    return found


def _conflict_released(cp: Checkpoint, _target: int | None, onset: Finding) -> bool:
    window = dt.timedelta(days=CONFLICT_WINDOW_DAYS)
    return len(_cooldowns_between(cp.inputs.cooldowns, cp.at - window, cp.at)) <= 1


# --- therapy lapsing -------------------------------------------------------------------------
def _therapies(cp: Checkpoint) -> list[int]:
    return [t.agreement_id for t in cp.inputs.therapy if t.since <= cp.at]


def _therapy(cp: Checkpoint, agreement_id: int) -> TherapyInput:
    return next(t for t in cp.inputs.therapy if t.agreement_id == agreement_id)


def _therapy_on(cp: Checkpoint, agreement_id: int) -> Finding | None:
    therapy = _therapy(cp, agreement_id)
    every = dt.timedelta(days=THERAPY_DAYS.get(therapy.frequency, 14))
    today = cp.at.date()
    logged = [s for s in therapy.sessions if s.held_on <= today]
    attended = [s.held_on for s in logged if s.attended]
    last = max(attended) if attended else therapy.since.date()
    gap = today - last
    booked = [a for a in therapy.appointments if cp.at < a <= cp.at + every]
    both_missed = len(logged) >= 2 and not any(s.attended for s in logged[-2:])
    lapsed = gap > THERAPY_LAPSE * every + THERAPY_GRACE and not booked
    if not (lapsed or both_missed):
        return None
    evidence = [
        f"You agreed on therapy {therapy.frequency_words}; the last session you went to was "
        + (f"on {last:%d %b %Y}" if attended else "never logged")
        + f", {gap.days} days ago.",
    ]
    if both_missed:
        evidence.append(
            "The last two sessions logged were missed ("
            + ", ".join(f"{s.held_on:%d %b %Y}" for s in logged[-2:])
            + ")."
        )
    if not booked:
        evidence.append("No appointment is booked.")
    return Finding(
        severity=gap.days // every.days + (1 if both_missed else 0),
        explanation=(
            f"Therapy (“{therapy.title}”) seems to have lapsed. Therapy usually "
            "helps through regular sessions, and it tends to lapse just when it is hard."
        ),
        evidence=tuple(evidence),
    )


def _therapy_released(cp: Checkpoint, agreement_id: int, onset: Finding) -> bool:
    return _therapy_on(cp, agreement_id) is None


# --- reviews lapsing -------------------------------------------------------------------------
def _review_on(cp: Checkpoint, _target: int | None = None) -> Finding | None:
    revealed = cp.revealed
    if not revealed:
        return None
    # The round just closed may still be reviewed; look at the ones before it.
    earlier = revealed[:-1][-REVIEW_WINDOW:]
    unreviewed = [r for r in earlier if r.reviewed_at is None or r.reviewed_at > cp.at]
    # A lapse: the couple used to mark their reviews (a couple that never uses the
    # button is not told that something stopped).
    before = revealed[: -1 - len(earlier)]
    habit = sum(1 for r in before if r.reviewed_at is not None and r.reviewed_at <= cp.at)
    if habit < REVIEW_HABIT:
        unreviewed = []
    opened = [r.opened_at for r in cp.rounds]
    cutoff = opened[-STALE_ROUNDS] if len(opened) >= STALE_ROUNDS else None
    stale = [
        item
        for item in cp.inputs.action_items
        if cutoff is not None
        and item.created_at < cutoff
        and (item.done_at is None or item.done_at > cp.at)
    ]
    evidence = []
    if len(unreviewed) >= UNREVIEWED_MIN:
        evidence.append(
            f"{len(unreviewed)} of the last {len(earlier)} check-ins you both answered were "
            "never marked as reviewed together ("
            + ", ".join(_day(r.opened_at) for r in unreviewed)
            + ")."
        )
    if len(stale) >= STALE_ITEMS_MIN:
        evidence.append(
            f"{len(stale)} things you agreed to do are still open, the oldest from "
            f"{_day(min(i.created_at for i in stale))}."
        )
    if not evidence:
        return None
    return Finding(
        severity=len(unreviewed) + len(stale),
        explanation=(
            "You answer the check-ins, but the conversation after them is falling away. The "
            "answers help only when you go through them together."
        ),
        evidence=tuple(evidence),
    )


def _review_released(cp: Checkpoint, _target: int | None, onset: Finding) -> bool:
    if _review_on(cp) is not None:
        return False
    last = cp.revealed[:-1][-2:]
    return all(r.reviewed_at is not None and r.reviewed_at <= cp.at for r in last)


# --- the rules ------------------------------------------------------------------------------
def _for(name: str | None) -> str:
    return name or "one of you"


RULES: tuple[Rule, ...] = (
    Rule(
        "slow_decline",
        lambda n: f"{_for(n)}'s satisfaction is slowly sliding",
        lambda n: (
            f"Set aside an hour this week, without phones, and ask {_for(n)}: “What has "
            "changed for you over the last months?” Listen first; then each of you names "
            "one thing to bring back that used to work."
        ),
        True,
        _decline_on,
        _decline_released,
    ),
    Rule(
        "staying_low",
        lambda n: f"{_for(n)} has been feeling low about us for a while",
        lambda n: (
            "Book a session with a couples therapist now, rather than waiting for it to pass: "
            "a stretch this long rarely lifts by itself."
        ),
        True,
        _low_on,
        _low_released,
    ),
    Rule(
        "drifting_away",
        lambda n: f"{_for(n)} seems to be stepping back from the check-ins",
        lambda n: (
            f"Ask {_for(n)}, without reproach, how the check-ins feel to them right now, and "
            "change what gets in the way: a different day, fewer questions, or answering "
            "side by side."
        ),
        True,
        _drift_on,
        _drift_released,
    ),
    Rule(
        "one_sided_agreement",
        lambda n: "You see how an agreement is kept very differently",
        lambda n: (
            "Each describe one concrete moment when the agreement was or was not kept, and "
            "agree together on one sign you will both be able to see next time."
        ),
        False,
        _breach_on,
        _breach_released,
        _agreements,
    ),
    Rule(
        "conflict_withdrawal",
        lambda n: "Cooldowns are frequent, and you may be pulling back after them",
        lambda n: (
            "After the next cooldown, come back within the day, even for ten minutes, and "
            "record how it went on the Cooldown page. Bring the argument that keeps "
            "returning to your next check-in or to therapy."
        ),
        False,
        _conflict_on,
        _conflict_released,
    ),
    Rule(
        "therapy_lapsing",
        lambda n: "Therapy has lapsed",
        lambda n: (
            "Book the next session this week (put it on the Therapy page), or, if it no "
            "longer helps, talk about that together and change the agreement."
        ),
        False,
        _therapy_on,
        _therapy_released,
        _therapies,
    ),
    Rule(
        "reviews_lapsing",
        lambda n: "The talks after the check-ins are falling away",
        lambda n: (
            "Put the next review in your calendars as a date: 30 minutes after both have "
            "answered, going through the answers and ticking off what you agreed to do."
        ),
        False,
        _review_on,
        _review_released,
    ),
)
CODES = tuple(rule.code for rule in RULES)


# --- walking the history ---------------------------------------------------------------------
@dataclass
class _State:
    active: dict[tuple[str, int | None], Finding] = field(default_factory=dict)


def checkpoints(inputs: WarningInputs) -> list[Checkpoint]:
    """One checkpoint when each round closed, and one at ``inputs.now``."""
    closed = [r for r in inputs.rounds if r.closed_at is not None]
    points = [Checkpoint(r.closed_at, closed[: i + 1], inputs) for i, r in enumerate(closed)]  # type: ignore[arg-type]
    points.append(Checkpoint(inputs.now, closed, inputs))
    return points


def _step(state: _State, cp: Checkpoint) -> None:
    """Each rule at one checkpoint: an inactive warning turns on when its condition holds;
    an active one follows its latest finding, and turns off only when released."""
    for rule in RULES:
        if rule.per_partner:
            targets: list[int | None] = list(cp.inputs.names)
        elif rule.subjects is not None:
            current = list(rule.subjects(cp))
            targets = [*current]
            targets += [t for (c, t) in state.active if c == rule.code and t not in current]
        else:
            targets = [None]
        for target in targets:
            key = (rule.code, target)
            present = rule.subjects is None or target in rule.subjects(cp)
            finding = rule.on(cp, target) if present else None
            onset = state.active.get(key)
            if finding is not None:
                first = onset if onset is not None else finding
                state.active[key] = Finding(
                    finding.severity,
                    finding.explanation,
                    finding.evidence,
                    first.anchor,
                    first.since or cp.at,
                )
            elif onset is not None and (not present or rule.released(cp, target, onset)):
                del state.active[key]


def timeline(inputs: WarningInputs) -> list[tuple[dt.datetime, list[EarlyWarning]]]:
    """The quiet warnings as they stood at each checkpoint, oldest first."""
    state = _State()
    out = []
    for cp in checkpoints(inputs):
        _step(state, cp)
        out.append((cp.at, _warnings(state, inputs)))
    return out


def from_round_facts(rounds: Sequence[RoundFacts], names: dict[int, str]) -> list[EarlyWarning]:
    """The quiet warnings that the loud rules' facts alone can show (scores, certainty,
    missed rounds; nothing about timing, writing, cooldowns, therapy or reviews)."""
    ordered = sorted(rounds, key=lambda r: r.opened_at)
    inputs = WarningInputs(
        now=ordered[-1].opened_at if ordered else dt.datetime.now(dt.UTC),
        names=dict(names),
        rounds=tuple(
            RoundInput(
                round_id=r.round_id,
                opened_at=r.opened_at,
                due_at=r.opened_at,
                closed_at=r.opened_at if r.closed else None,
                revealed_at=r.opened_at if r.revealed else None,
                sheets={
                    uid: SheetInput(
                        status=MISSED if uid in r.missed_user_ids else SUBMITTED,
                        total=r.totals.get(uid) if r.revealed else None,
                        certainty=r.certainty.get(uid) if r.revealed else None,
                    )
                    for uid in names
                },
            )
            for r in ordered
        ),
    )
    return quiet_warnings(inputs)


def quiet_warnings(inputs: WarningInputs) -> list[EarlyWarning]:
    """The quiet warnings that hold now: the timeline's last point, without drawing up
    the warnings at every point before it."""
    state = _State()
    for cp in checkpoints(inputs):
        _step(state, cp)
    return _warnings(state, inputs)


def _warnings(state: _State, inputs: WarningInputs) -> list[EarlyWarning]:
    by_code = {rule.code: rule for rule in RULES}
    out = []
    for (code, target), finding in state.active.items():
        rule = by_code[code]
        user_id = target if rule.per_partner else None
        subject_id = None if rule.per_partner else target
        name = inputs.names.get(user_id) if user_id is not None else None
        out.append(
            EarlyWarning(
                code,
                rule.title(name),
                finding.explanation,
                rule.next_step(name),
                user_id=user_id,
                subject_id=subject_id,
                evidence=finding.evidence,
                severity=max(1, finding.severity),
                since=finding.since,
            )
        )
    order = {code: i for i, code in enumerate(CODES)}
    return sorted(out, key=lambda w: (order[w.code], w.user_id or 0, w.subject_id or 0))
