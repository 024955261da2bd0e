"""Synthetic couple histories for the quiet warnings: a steady couple with realistic noise
(moods, per-item rounding, one-off dips, a single missed round long ago, an occasional
cooldown, therapy with the odd missed session), and patterns planted into it.

Noise comes from ``random.Random(seed)``, so hypothesis chooses histories (seeds and
shapes) without shaping the noise itself into a pattern, as chance would not either.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
from dataclasses import dataclass, field

from checkins.warning_inputs import (
    ActionItemInput,
    CooldownInput,
    RoundInput,
    SheetInput,
    TherapyInput,
    TherapySessionInput,
    WarningInputs,
)

A, B = 1, 2
NAMES = {A: "Alex", B: "Blair"}
T0 = dt.datetime(2025, 1, 5, 17, tzinfo=dt.UTC)
PERIOD = dt.timedelta(days=28)
ANSWERING = dt.timedelta(days=5)
AGREEMENT = 7
THERAPY = 9


@dataclass
class Sheet:
    total: int | None  # None: missed
    certainty: int = 4
    lateness: float = 0.3
    wrote: bool = True
    kept_self: int = 4
    kept_partner: int = 4


@dataclass
class History:
    sheets: list[dict[int, Sheet]]
    reviewed: list[bool]
    cooldowns: list[CooldownInput] = field(default_factory=list)
    therapy_sessions: list[TherapySessionInput] | None = None
    items: list[ActionItemInput] = field(default_factory=list)

    @property
    def rounds(self) -> int:
        return len(self.sheets)


def opened(k: int) -> dt.datetime:
    return T0 + k * PERIOD


def closed(k: int) -> dt.datetime:
    return opened(k) + ANSWERING


def _total(rng: random.Random, base: float) -> int:
    """Four items, each the latent level plus the round's mood plus its own wobble, rounded
    to a whole answer: the total moves a point or two from round to round."""
    mood = rng.gauss(0, 0.25)
    items = [min(5, max(0, round(base / 4 + mood + rng.gauss(0, 0.2)))) for _ in range(4)]
    return sum(items)


def steady(
    seed: int,
    rounds: int = 18,
    *,
    base: tuple[float, float] = (16, 15),
    dip: bool = True,
    missed_long_ago: bool = True,
    cooldowns: bool = True,
    therapy: bool = True,
) -> History:
    rng = random.Random(seed)
    habits = {uid: rng.uniform(0.05, 0.45) for uid in NAMES}
    writers = {uid: rng.random() < 0.7 for uid in NAMES}
    sheets: list[dict[int, Sheet]] = []
    for _k in range(rounds):
        row = {}
        for uid, level in zip(NAMES, base, strict=True):
            row[uid] = Sheet(
                total=_total(rng, level),
                certainty=rng.choice((4, 4, 4, 5, 5, 3)),
                lateness=min(1.0, max(0.0, habits[uid] + rng.uniform(-0.15, 0.15))),
                wrote=writers[uid],
                kept_self=rng.choice((3, 4, 4, 5, 5)),
                kept_partner=rng.choice((3, 4, 4, 5, 5)),
            )
        sheets.append(row)
    for uid in NAMES:
        if writers[uid]:  # now and then a round with nothing written, never two in a row
            for k in range(1, rounds, rng.randint(3, 6)):
                sheets[k][uid].wrote = False
    if dip:  # one bad month for one of them
        k, uid = rng.randrange(rounds), rng.choice(list(NAMES))
        sheet = sheets[k][uid]
        assert sheet.total is not None
        sheet.total = max(0, sheet.total - rng.randint(4, 6))
        sheet.certainty = 3
    if missed_long_ago:
        sheets[rng.randrange(max(1, rounds // 4))][rng.choice(list(NAMES))].total = None
    history = History(sheets, [True] * rounds)
    if cooldowns:  # now and then, never in two months running
        k = rng.randrange(2)
        while k < rounds:
            started = opened(k) + dt.timedelta(days=rng.uniform(6, 26))
            history.cooldowns.append(
                CooldownInput(
                    started,
                    extensions=int(rng.random() < 0.3),
                    returned=rng.choice(("talked", "talked", None)),
                )
            )
            k += rng.randint(2, 4)
    if therapy:
        history.therapy_sessions = []
        day = opened(0).date() + dt.timedelta(days=3)
        last_missed = False
        while day < closed(rounds - 1).date():
            missed = not last_missed and rng.random() < 0.1
            history.therapy_sessions.append(TherapySessionInput(day, not missed))
            last_missed = missed
            day += dt.timedelta(days=14 + rng.randint(-3, 3))
    for k in range(0, rounds, 3):  # action items, done before the next round
        history.items.append(
            ActionItemInput(closed(k) + dt.timedelta(days=1), opened(k + 1) - dt.timedelta(days=2))
        )
    return history


def inputs(
    history: History, upto: int | None = None, now: dt.datetime | None = None
) -> WarningInputs:
    """The history as the rules read it (every round closed, revealed when both answered)."""
    rounds = []
    last = history.rounds if upto is None else upto
    for k, row in enumerate(history.sheets[:last]):
        revealed = all(s.total is not None for s in row.values())
        sheets = {}
        for uid, s in row.items():
            if s.total is None:
                sheets[uid] = SheetInput(status="missed")
                continue
            sheets[uid] = SheetInput(
                status="submitted",
                lateness=s.lateness,
                total=s.total if revealed else None,
                certainty=s.certainty if revealed else None,
                wrote_went_well=s.wrote if revealed else None,
                kept_self={AGREEMENT: s.kept_self} if revealed else {},
                kept_partner={AGREEMENT: s.kept_partner} if revealed else {},
            )
        reveal_at = opened(k) + dt.timedelta(days=3) if revealed else None
        rounds.append(
            RoundInput(
                round_id=k + 1,
                opened_at=opened(k),
                due_at=closed(k),
                closed_at=reveal_at or closed(k),
                revealed_at=reveal_at,
                reviewed_at=reveal_at + dt.timedelta(days=1)
                if reveal_at and history.reviewed[k]
                else None,
                sheets=sheets,
                agreement_titles={AGREEMENT: "Five-minute cooldown"},
            )
        )
    end = now or (rounds[-1].closed_at + dt.timedelta(days=1) if rounds else T0)
    therapy = ()
    if history.therapy_sessions is not None:
        therapy = (
            TherapyInput(
                THERAPY,
                "Couples therapy",
                "biweekly",
                opened(0),
                tuple(s for s in history.therapy_sessions if s.held_on <= end.date()),
            ),
        )
    return WarningInputs(
        now=end,
        names=dict(NAMES),
        rounds=tuple(rounds),
        cooldowns=tuple(c for c in history.cooldowns if c.started_at <= end),
        therapy=therapy,
        action_items=tuple(i for i in history.items if i.created_at <= end),
    )


def replace(sheet: Sheet, **changes: object) -> Sheet:
    return dataclasses.replace(sheet, **changes)  # type: ignore[arg-type]
