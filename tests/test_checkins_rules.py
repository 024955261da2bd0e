"""Early warnings and topic recurrence, rule by rule, and silence for a steady history."""

from __future__ import annotations

import datetime as dt

from checkins import rules
from checkins.rules import RoundFacts

A, B = 1, 2
NAMES = {A: "Alex", B: "Blair"}
T0 = dt.datetime(2025, 1, 5, 18, tzinfo=dt.UTC)


def history(
    totals: list[tuple[int, int]],
    certainty: list[tuple[int, int]] | None = None,
    adherence: list[float] | None = None,
) -> list[RoundFacts]:
    rounds = []
    for i, (ta, tb) in enumerate(totals):
        rounds.append(
            RoundFacts(
                round_id=i + 1,
                opened_at=T0 + dt.timedelta(weeks=4 * i),
                revealed=True,
                closed=True,
                totals={A: ta, B: tb},
                certainty=dict(zip((A, B), certainty[i], strict=True))
                if certainty
                else {A: 4, B: 4},
                adherence={7: adherence[i]} if adherence else {7: 4.25},
                agreement_titles={7: "Five-minute cooldown"},
            )
        )
    return rounds


def codes(rounds: list[RoundFacts], topics=()) -> list[str]:  # type: ignore[no-untyped-def]
    return sorted(w.code for w in rules.early_warnings(rounds, NAMES, topics))


def test_a_steady_history_raises_no_warning() -> None:
    steady = history([(16, 15), (15, 16), (16, 16), (17, 15), (16, 15), (15, 15)])
    assert codes(steady) == []


def test_an_empty_history_raises_no_warning() -> None:
    assert codes([]) == []


def test_a_clear_drop_below_ones_own_average() -> None:
    warnings = rules.early_warnings(history([(16, 15), (17, 15), (16, 15), (12, 15)]), NAMES)
    drop = [w for w in warnings if w.code == "score_drop"]
    assert [w.user_id for w in drop] == [A]
    assert "12 of 20" in drop[0].explanation and drop[0].next_step
    # A smaller dip is not "clearly below".
    assert codes(history([(16, 15), (17, 15), (16, 15), (14, 15)])) == []


def test_a_score_in_the_distressed_range() -> None:
    warnings = rules.early_warnings(history([(10, 15), (9, 14)]), NAMES)
    assert [(w.code, w.user_id) for w in warnings if w.code == "distressed"] == [("distressed", A)]
    assert codes(history([(10, 15), (10, 14)])) == []


def test_scores_drifting_apart() -> None:
    assert "diverging" in codes(history([(16, 16), (17, 12)]))
    assert "diverging" in codes(history([(15, 15), (17, 14)]))  # widened by 3
    assert "diverging" not in codes(history([(16, 15), (17, 15)]))


def test_an_agreement_rated_poorly_two_rounds_in_a_row() -> None:
    warnings = rules.early_warnings(history([(16, 16)] * 3, adherence=[4.0, 2.5, 2.0]), NAMES)
    poor = [w for w in warnings if w.code == "agreement_poor"]
    assert len(poor) == 1 and "Five-minute cooldown" in poor[0].title and poor[0].subject_id == 7
    # Once is not a pattern.
    assert codes(history([(16, 16)] * 3, adherence=[4.0, 4.0, 2.0])) == []


def test_two_missed_rounds_in_a_row() -> None:
    base = history([(16, 16)])
    missed = [
        RoundFacts(10, T0 + dt.timedelta(weeks=8), False, True, frozenset({B})),
        RoundFacts(11, T0 + dt.timedelta(weeks=12), False, True, frozenset({A, B})),
    ]
    assert codes(base + missed) == ["missed_rounds"]
    assert codes(base + missed[:1]) == []
    # An open round in between does not count as missed.
    still_open = RoundFacts(12, T0 + dt.timedelta(weeks=16), False, False)
    assert codes([*base, missed[0], still_open]) == []


def test_certainty_falling() -> None:
    assert "certainty_falling" in codes(history([(16, 16)] * 2, certainty=[(5, 4), (3, 4)]))
    assert "certainty_falling" in codes(history([(16, 16)] * 3, certainty=[(5, 4), (4, 4), (3, 4)]))
    assert codes(history([(16, 16)] * 3, certainty=[(4, 4), (3, 4), (4, 4)])) == []


def test_a_recurring_topic_is_a_warning() -> None:
    warnings = rules.early_warnings(history([(16, 16)]), NAMES, [(3, "Money")])
    assert [(w.code, w.subject_id) for w in warnings] == [("topic_recurring", 3)]


def test_keeps_coming_back_two_of_the_last_three_rounds() -> None:
    recent = [30, 20, 10]  # newest first
    assert rules.keeps_coming_back({30, 10}, recent, [], [])
    assert rules.keeps_coming_back({20, 10}, recent, [], [])
    assert not rules.keeps_coming_back({30}, recent, [], [])
    assert not rules.keeps_coming_back({5, 10}, recent, [], [])  # 5 is older than three rounds


def test_keeps_coming_back_after_resolved() -> None:
    resolved = [T0]
    assert rules.keeps_coming_back({1}, [1], [T0 + dt.timedelta(days=30)], resolved)
    assert not rules.keeps_coming_back({1}, [1], [T0 - dt.timedelta(days=30)], resolved)
