"""The check-in history a page at a time (checkins.history.history): newest first, a
year of rounds per page, the couple's count beside them; each page continues the last
without a gap or a repeat; the statements do not grow with the history and the rows
read are those of the rounds shown. The reveal rule holds on every page: the partner's
totals only for revealed rounds. On SQLite and PostgreSQL (the ``tx`` fixture)."""

from __future__ import annotations

import datetime as dt

import pytest

from checkins import answers as checkin_answers
from checkins import history as checkin_history
from checkins import rounds as checkin_rounds
from infra.db import utcnow
from infra.errors import InvalidInput
from tests.factories import make_couple
from tests.sql_count import counting
from tests.test_checkins_service import full_round, sheet

PAGE = checkin_history.HISTORY_PAGE
WEEK = dt.timedelta(days=7)


class _Couple:
    """A couple with revealed rounds a week apart (partner A's total is 10 + the round's
    number modulo 10, so rounds tell apart), and optionally a newest round only A has
    answered (open, not revealed)."""

    def __init__(self, tx, weeks: int = 40) -> None:  # type: ignore[no-untyped-def]
        self.tx = tx
        self.start = utcnow() - WEEK * weeks
        with tx() as s:
            _c, self.a, self.b = make_couple(s, now=self.start - dt.timedelta(days=1))
        self.ids: list[int] = []  # oldest first

    def revealed(self, count: int) -> None:
        for _ in range(count):
            k = len(self.ids)
            at = self.start + WEEK * k
            self.ids.append(full_round(self.tx, self.a, self.b, at, sheet(10 + k % 10), sheet(12)))

    def answered_by_a_only(self) -> None:
        at = self.start + WEEK * len(self.ids)
        with self.tx() as s:
            round_id = checkin_rounds.start_round_now(s, self.a.id, now=at).id
            checkin_answers.save_answers(s, self.a.id, round_id, sheet(20), now=at)
            checkin_answers.submit(s, self.a.id, round_id, now=at)
        self.ids.append(round_id)


@pytest.fixture
def long_couple(tx):  # type: ignore[no-untyped-def]
    return _Couple(tx)


def test_pages_run_newest_first_without_gap_or_repeat(tx, long_couple) -> None:
    c = long_couple
    c.revealed(2 * PAGE)
    c.answered_by_a_only()  # 25 rounds: two full pages and one round on a third
    newest_first = c.ids[::-1]
    with tx() as s:
        first = checkin_history.history(s, c.b.id)
        second = checkin_history.history(s, c.b.id, offset=PAGE)
        third = checkin_history.history(s, c.b.id, offset=2 * PAGE)
        beyond = checkin_history.history(s, c.b.id, offset=3 * PAGE)
        two_pages = checkin_history.history(s, c.b.id, limit=2 * PAGE)
        everything = checkin_history.history(s, c.a.id, limit=1000)
    assert [r.round_id for r in first.rounds] == newest_first[:PAGE]
    assert [r.round_id for r in second.rounds] == newest_first[PAGE : 2 * PAGE]
    assert [r.round_id for r in third.rounds] == newest_first[2 * PAGE :]
    assert beyond.rounds == [] and beyond.total == 25 and not beyond.more
    assert {p.total for p in (first, second, third, two_pages, everything)} == {25}
    assert first.more and second.more and not third.more and not everything.more
    assert two_pages.rounds == first.rounds + second.rounds
    assert [r.round_id for r in everything.rounds] == newest_first
    # The newest round: A answered, B did not; not revealed, so no totals for anyone.
    newest = first.rounds[0]
    assert not newest.revealed and newest.totals == {}
    assert newest.statuses == {c.a.id: "submitted", c.b.id: "pending"}
    # A revealed round on a later page: both totals, and both answered.
    oldest = third.rounds[0]
    assert oldest.revealed and oldest.totals == {c.a.id: 10, c.b.id: 12}
    assert second.rounds[-1].totals == {c.a.id: 11, c.b.id: 12}  # the second round
    assert oldest.statuses == {c.a.id: "submitted", c.b.id: "submitted"}


def test_a_couple_without_rounds_has_an_empty_first_page(tx, long_couple) -> None:
    with tx() as s:
        page = checkin_history.history(s, long_couple.a.id)
        with pytest.raises(InvalidInput):
            checkin_history.history(s, long_couple.a.id, limit=0)
        with pytest.raises(InvalidInput):
            checkin_history.history(s, long_couple.a.id, offset=-1)
    assert page.rounds == [] and page.total == 0 and not page.more


def _read(engine, tx, user_id: int, **page: int):  # type: ignore[no-untyped-def]
    with tx() as s, counting(engine) as statements:
        got = checkin_history.history(s, user_id, **page)
    return got, statements


def test_statements_do_not_grow_and_only_the_shown_rounds_are_read(engine, tx, long_couple) -> None:
    c = long_couple
    c.revealed(PAGE + 1)
    short, short_statements = _read(engine, tx, c.a.id)
    c.revealed(PAGE)
    long, long_statements = _read(engine, tx, c.a.id)
    _two, two_statements = _read(engine, tx, c.a.id, limit=2 * PAGE)
    assert (short.total, long.total) == (PAGE + 1, 2 * PAGE + 1)
    assert len(short.rounds) == len(long.rounds) == PAGE
    # The rounds (with their count), their statuses, their totals; the session's
    # membership look-up besides. The same however long the history or the page.
    assert len(short_statements) == len(long_statements) == len(two_statements)
    assert len(long_statements) <= 5, long_statements.texts()
    # Every statement over the couple's rows is bounded: a LIMIT, or the shown ids.
    rounds_statement = [t for t in long_statements.texts() if "count(*) OVER ()" in t]
    assert len(rounds_statement) == 1 and "LIMIT" in rounds_statement[0]
    for text, params in long_statements:
        if "checkin_participations" in text:
            assert " IN (" in text, text
            assert len(params) == 1 + PAGE, (text, params)  # the couple and 12 ids
    for text, params in two_statements:
        if "checkin_participations" in text:
            assert len(params) == 1 + 2 * PAGE, (text, params)
