"""SQL statements per page run: a page reads what it shows in a number of statements that
does not grow with the couple's history (no query per round, agreement or topic), and
reads the signed-in person's session once per run.

Counted with a ``before_cursor_execute`` listener on the app's engine
(tests/sql_count.py), over one AppTest run of the full app after a warm run. No counts
are pinned here: the history test compares the same couple's page before and after
twelve more rounds (each with a new topic, an action item, and every third a new
agreement), so any statement per row of history shows up as a difference of twelve or
more. Figures: docs/performance.md ("Fifth session")."""

from __future__ import annotations

import datetime as dt

import pytest
from streamlit.testing.v1 import AppTest

from checkins import review as checkin_review
from checkins.views import ConcernInput
from couples import accounts
from infra.db import engine_for, utcnow
from tend import web
from tests.canary import APP
from tests.factories import make_couple
from tests.sql_count import counting
from tests.test_checkins_service import agree, full_round, sheet

# The pages a couple with a long history opens most: the check-in page (showing the
# latest round's review), its history, trends; and home.
PAGES = ("checkin", "checkin_history", "trends", "home")
# A page may read a few things only a longer history has (a warning that now holds and
# reads its inputs), but nothing per round.
SLACK = 2
AUTH = "FROM auth_sessions"
WRITES = {"INSERT", "UPDATE", "DELETE"}


def _page(token: str, page: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state[web.TEST_TOKEN_KEY] = token
    at.run()
    # Only now: st.Page objects must be made inside a script run (the first one).
    from tend.navigation import PAGES as TEND_PAGES

    at._page_hash = TEND_PAGES[page]._script_hash
    at.run()  # warm: imports and the session's menu
    assert not at.exception, at.exception
    return at


def _run_statements(url: str, at: AppTest):  # type: ignore[no-untyped-def]
    with counting(engine_for(url)) as statements:
        at.run()
    assert not at.exception, at.exception
    return statements


class _History:
    """One couple, its rounds added a few at a time, a week apart, ending a day ago."""

    ROUNDS = 15

    def __init__(self, tx) -> None:  # type: ignore[no-untyped-def]
        self.tx = tx
        self.now = utcnow()
        self.start = self.now - dt.timedelta(days=7 * self.ROUNDS + 1)
        with tx() as s:
            _c, self.a, self.b = make_couple(s, now=self.start - dt.timedelta(days=30))
            agree(s, self.a, self.b, "custom", "Phones away", {}, self.start)
            self.token = accounts.start_session(s, self.a.id)
        self.done = 0
        self.topics: list[int] = []

    def add(self, count: int) -> None:
        from checkins import history as checkin_history

        for k in range(self.done, self.done + count):
            at = self.start + dt.timedelta(days=7 * k)
            if k % 3 == 2:
                with self.tx() as s:
                    agree(s, self.a, self.b, "custom", f"Agreement {k}", {}, at)
            concerns = [ConcernInput(f"Worry {k}", "", new_topic=f"Topic {k}")]
            if self.topics:  # the first topic keeps coming back
                concerns.append(ConcernInput("Again", "", topic_id=self.topics[0]))
            round_id = full_round(
                self.tx,
                self.a,
                self.b,
                at + dt.timedelta(hours=1),
                sheet(12 + k % 5, concerns=concerns),
                sheet(14 - k % 4),
            )
            with self.tx() as s:
                checkin_review.add_action_item(s, self.a.id, round_id, f"Step {k}", None)
                self.topics = [t.id for t in checkin_history.topics(s, self.a.id)]
        self.done += count


@pytest.fixture
def history(tend_env, tx):  # type: ignore[no-untyped-def]
    return _History(tx)


def test_a_page_s_statements_do_not_grow_with_the_history(tend_env, history) -> None:
    url = tend_env["TEND_DATABASE_URL"]
    history.add(3)
    short = {page: len(_run_statements(url, _page(history.token, page))) for page in PAGES}
    history.add(_History.ROUNDS - 3)
    long = {}
    for page in PAGES:
        at = _page(history.token, page)
        if page == "checkin":  # the review of the latest round, with its agreements
            assert "Side by side" in [h.value for h in at.subheader]
            assert any("Agreement 14" in m.value for m in at.markdown)
        if page == "checkin_history":  # a year of rounds listed, in one element
            assert max(m.value.count("revealed") for m in at.markdown) == 12
            assert [c.value for c in at.caption][-1] == "Showing 12 of 15 check-ins"
        long[page] = len(_run_statements(url, at))
    grown = {page: long[page] - short[page] for page in PAGES if long[page] - short[page] > SLACK}
    assert grown == {}, f"statements grew with 12 more rounds: {short} -> {long}"


@pytest.mark.parametrize("page", PAGES)
def test_a_page_run_reads_the_session_once(tend_env, tx, page) -> None:
    """app.py resolves the session at the start of the run; the page's readings (and the
    sidebar's cooldown control drawn in the same run) do not look it up again. The
    check-in, history and trends pages read nothing twice (the home page's dashboard
    still does: see docs/performance.md). Drawing a page writes nothing and, on SQLite,
    does not take the write lock (the home page took it twice per run)."""
    url = tend_env["TEND_DATABASE_URL"]
    now = utcnow()
    with tx() as s:
        _c, a, b = make_couple(s, now=now - dt.timedelta(days=30))
        token = accounts.start_session(s, a.id)
    full_round(tx, a, b, now - dt.timedelta(days=1), sheet(16), sheet(10))
    statements = _run_statements(url, _page(token, page))
    assert len(statements.matching(AUTH)) == 1, statements.matching(AUTH)
    writes = [t for t in statements.texts() if t.split(None, 1)[0].upper() in WRITES]
    assert writes == [] and statements.matching("BEGIN IMMEDIATE") == []
    if page != "home":
        assert set(statements.repeated()) <= {"BEGIN"}, statements.repeated()
