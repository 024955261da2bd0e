"""Sessions through the app itself (AppTest, real clock): idle and absolute expiry end a
sign-in; sign-out and a password change on the account page end every session of the
person (and no one else's). The two-browser versions are in tests/test_browser_safety.py
and tests/test_browser_sessions.py."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from couples import accounts
from couples.models import AuthSession
from infra.db import engine_for, transaction, utcnow
from tend import web
from tests.canary import APP
from tests.factories import PASSWORD, make_couple


def _title(token: str) -> str:
    at = AppTest.from_file(APP, default_timeout=30)
    at.session_state[web.TEST_TOKEN_KEY] = token
    at.run()
    assert not at.exception
    return at.title[0].value


def _session_started(user_id: int, *, started_ago: dt.timedelta, idle: dt.timedelta) -> str:
    now = utcnow()
    with transaction() as s:
        token = accounts.start_session(s, user_id, now=now - started_ago)
        s.flush()
        record = s.scalars(select(AuthSession).order_by(AuthSession.id.desc())).first()
        record.last_seen_at = now - idle
    return token


@pytest.mark.parametrize(
    ("started_ago", "idle", "signed_in"),
    [
        (dt.timedelta(minutes=29), dt.timedelta(minutes=29), True),
        (dt.timedelta(minutes=31), dt.timedelta(minutes=31), False),  # idle too long
        (dt.timedelta(hours=11, minutes=58), dt.timedelta(minutes=1), True),
        (dt.timedelta(hours=12, minutes=1), dt.timedelta(minutes=1), False),  # 12 h at most
    ],
)
def test_idle_and_absolute_expiry_in_the_app(tend_env, started_ago, idle, signed_in) -> None:
    with transaction(engine_for(tend_env["TEND_DATABASE_URL"])) as s:
        _, a, _b = make_couple(s)
        a_id = a.id
    token = _session_started(a_id, started_ago=started_ago, idle=idle)
    assert (_title(token) != "Sign in") is signed_in
    if not signed_in:
        # Ended for good: the record says so, and coming back later does not revive it.
        with transaction() as s:
            assert s.scalar(select(AuthSession.ended_at)) is not None
        assert _title(token) == "Sign in"


def _tokens(tend_env, count: int) -> tuple[int, int, list[str], str]:  # type: ignore[no-untyped-def]
    with transaction(engine_for(tend_env["TEND_DATABASE_URL"])) as s:
        _, a, b = make_couple(s)
        tokens = [accounts.start_session(s, a.id) for _ in range(count)]
        return a.id, b.id, tokens, accounts.start_session(s, b.id)


def _account(token: str) -> AppTest:
    from tend.navigation import PAGES

    at = AppTest.from_file(APP, default_timeout=30)
    at.session_state[web.TEST_TOKEN_KEY] = token
    at.run()
    at._page_hash = PAGES["account"]._script_hash
    return at.run()


def test_sign_out_ends_every_session_of_mine_and_none_of_my_partners(tend_env) -> None:
    a_id, _b_id, tokens, partner = _tokens(tend_env, 3)
    assert all(_title(t) != "Sign in" for t in tokens)
    at = _account(tokens[0])
    at.button(key=next(b.key for b in at.button if b.label == "Sign out")).click().run()
    assert not at.exception
    assert [_title(t) for t in tokens] == ["Sign in"] * 3
    assert _title(partner) != "Sign in"
    with transaction() as s:
        open_ = s.scalars(
            select(AuthSession).where(AuthSession.user_id == a_id, AuthSession.ended_at.is_(None))
        ).all()
    assert open_ == []


def test_changing_the_password_ends_every_other_session(tend_env) -> None:
    _a_id, _b_id, tokens, partner = _tokens(tend_env, 3)
    at = _account(tokens[0])
    at.text_input(key="acct_current").input(PASSWORD)
    at.text_input(key="acct_new").input("a completely new phrase")
    at.button(key="FormSubmitter:password-Change password").click().run()
    assert not at.exception
    # Every session that existed is over (the browser that changed it gets a new one
    # through a single-use ticket, tested in the browser tests).
    assert [_title(t) for t in tokens] == ["Sign in"] * 3
    assert _title(partner) != "Sign in"


def _acts_after_its_session_ended() -> None:
    """A run that began signed in; before its action, another device signs out
    everywhere (as a fragment does: its user was resolved long before it acts)."""
    import streamlit as st

    from agreements import cooldowns
    from couples import accounts
    from infra.db import transaction
    from tend import web

    user = web.resolve_current_user()
    if user is None:
        st.title("Sign in")
        return
    st.title("Signed in")
    how = st.radio("how", ["action", "reading"])
    if st.button("I need a cooldown"):
        with transaction() as s:
            accounts.end_all_sessions(s, user.id)
        with web.action() if how == "action" else web.reading() as s:
            cooldowns.start_cooldown(s, user.id)
        st.title("Cooldown started")


@pytest.mark.parametrize("how", ["action", "reading"])
def test_an_action_whose_session_ended_meanwhile_does_nothing(
    tend_env, how: str, monkeypatch
) -> None:
    """An action checks the session in its own transaction, always; a reading does in a
    fragment's rerun, which runs without app.py (in a full run app.py checked it at the
    start of the same run). AppTest reruns a fragment as a full run, so the reading is
    told it runs in a fragment's rerun; the real one is in
    tests/test_browser_safety.py::test_ending_sessions_signs_out_the_other_browser (the
    sidebar's control, rerun every two seconds, finds the session ended)."""
    from agreements.models import Cooldown

    if how == "reading":
        monkeypatch.setattr(web, "fragment_rerun", lambda: True)
    _a_id, _b_id, [token], _partner = _tokens(tend_env, 1)
    at = AppTest.from_function(_acts_after_its_session_ended, default_timeout=30)
    at.session_state[web.TEST_TOKEN_KEY] = token
    at.run()
    assert at.title[0].value == "Signed in"
    at.radio[0].set_value(how)
    at.button[0].click().run()
    assert not at.exception
    # The whole app ran again and found no session: the sign-in page, nothing started.
    assert [t.value for t in at.title] == ["Sign in"]
    with transaction() as s:
        assert s.scalars(select(Cooldown)).all() == []


def _writes_during(url: str, run) -> list[str]:  # type: ignore[no-untyped-def]
    """The statements that write or take SQLite's write lock while ``run()`` runs."""
    from sqlalchemy import event

    seen: list[str] = []

    def record(_conn, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        if statement.split(None, 1)[0].upper() in {"INSERT", "UPDATE", "DELETE"} or (
            statement.upper().startswith("BEGIN IMMEDIATE")
        ):
            seen.append(statement.split("\n", 1)[0])

    engine = engine_for(url)
    event.listen(engine, "before_cursor_execute", record)
    try:
        run()
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return seen


@pytest.mark.parametrize("page", ["trends", "checkin", "checkin_history"])
def test_a_page_run_writes_nothing_until_the_session_is_due_a_touch(tend_env, page) -> None:
    """Every page run resolves its session: read-only, so on SQLite it neither waits for
    nor holds the write lock (the scheduler's and every other session's). Once a minute
    the run moves the session's last-seen time on, and only that run writes."""
    url = tend_env["TEND_DATABASE_URL"]
    a_id, _b_id, [token], _partner = _tokens(tend_env, 1)
    mine = select(AuthSession).where(AuthSession.user_id == a_id)
    at = AppTest.from_file(APP, default_timeout=30)
    at.session_state[web.TEST_TOKEN_KEY] = token
    at.run()
    # Only now: st.Page objects must be made inside a script run (the first one).
    from tend.navigation import PAGES

    at._page_hash = PAGES[page]._script_hash
    assert _writes_during(url, at.run) == []
    assert not at.exception and at.title[0].value == PAGES[page].title.replace("This c", "C")
    with transaction() as s:
        record = s.scalars(mine).one()
        record.last_seen_at = utcnow() - accounts.SESSION_TOUCH_EVERY
    writes = _writes_during(url, at.run)
    assert [w for w in writes if w.startswith("UPDATE")] == [
        next(w for w in writes if w.startswith("UPDATE auth_sessions"))
    ]
    with transaction() as s:
        seen = s.scalars(mine).one().last_seen_at
    assert utcnow() - seen < accounts.SESSION_TOUCH_EVERY
