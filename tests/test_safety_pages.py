"""The safety pages and controls through AppTest: quick exit on every page, the support
panel, help for everyone, pause, delete, leaving, and the canary as the partner."""

from __future__ import annotations

import datetime as dt
import logging
from zoneinfo import ZoneInfo

import pytest
from streamlit.testing.v1 import AppTest

from couples import accounts
from couples import service as couples
from couples.models import AuthSession, User
from infra.db import engine_for, transaction
from infra.settings import get_settings
from notifications.preferences import update_preferences
from privacy import pause
from tend import web
from tests.canary import APP, assert_canary_unreachable, comparable, pages_as, rendered_text
from tests.factories import PASSWORD, make_couple


def _app(token: str | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=30)
    if token:
        at.session_state[web.TEST_TOKEN_KEY] = token
    return at


def go(at: AppTest, name: str) -> AppTest:
    from tend.navigation import PAGES

    at._page_hash = PAGES[name]._script_hash
    return at.run()


def _couple_tokens(tend_env) -> tuple[int, int, str, str]:  # type: ignore[no-untyped-def]
    with transaction(engine_for(tend_env["TEND_DATABASE_URL"])) as s:
        _, a, b = make_couple(s)
        return a.id, b.id, accounts.start_session(s, a.id), accounts.start_session(s, b.id)


@pytest.mark.parametrize("signed_in", [False, True])
def test_quick_exit_is_on_every_page_and_replaces_history(
    tend_env, monkeypatch, signed_in: bool
) -> None:
    monkeypatch.setenv("TEND_QUICK_EXIT_URL", "https://news.example.org/today?x=1&y=2")
    get_settings.cache_clear()
    token = _couple_tokens(tend_env)[2] if signed_in else None
    for title, text in pages_as(token).items():
        assert 'id="tend-quick-exit"' in text, title
        assert 'id="tend-quick-exit-sidebar"' in text, title
        # The link's href is escaped; the script replaces the history entry.
        assert "https://news.example.org/today?x=1&amp;y=2" in text, title
        assert 'window.location.replace("https://news.example.org/today?x=1&y=2")' in text


def test_a_quick_exit_url_that_could_run_script_is_refused(monkeypatch) -> None:
    from infra.settings import ConfigError, load_settings

    for bad in ("javascript:alert(1)", 'https://x.example/"onmouseover=', "https://a b"):
        monkeypatch.setenv("TEND_QUICK_EXIT_URL", bad)
        with pytest.raises(ConfigError, match="TEND_QUICK_EXIT_URL"):
            load_settings()


def test_help_pages_are_there_signed_out_and_say_what_tend_promises(tend_env) -> None:
    pages = pages_as(None)
    assert "How the reveal works" in pages["Help and about"]
    assert "Where your data lives" in pages["Help and about"]
    dealbreakers = pages["When to get help"]
    for words in ("Cheating", "Big lies", "Constant put-downs", "Verbal or physical abuse"):
        assert words in dealbreakers
    assert "1-800-799-7233" in dealbreakers and "START to 88788" in dealbreakers
    assert "911" in dealbreakers


def _panel_script() -> None:
    import streamlit as st

    from privacy.pages import show_support_panel
    from tend.navigation import PAGES

    def panel() -> None:
        st.title("Panel")
        show_support_panel(key="t")

    st.navigation([st.Page(panel, title="Panel"), PAGES["get_help"], PAGES["help"]]).run()


def test_support_panel_shows_the_deployments_numbers_and_the_therapy_note(
    tend_env, monkeypatch
) -> None:
    monkeypatch.setenv("TEND_SUPPORT_HOTLINE_NAME", "Helpline Nord")
    monkeypatch.setenv("TEND_SUPPORT_HOTLINE_PHONE", "0800 123 456")
    monkeypatch.setenv("TEND_EMERGENCY_NUMBER", "112")
    get_settings.cache_clear()
    at = AppTest.from_function(_panel_script, default_timeout=30).run()
    assert not at.exception
    text = rendered_text(at)
    assert "Helpline Nord" in text and "0800 123 456" in text and "112" in text
    assert "Couples therapy is generally not recommended" in text
    assert "When to get help" in text


def test_support_panel_offers_the_quiet_pause_to_the_signed_in_person(tend_env) -> None:
    a_id, b_id, a_token, _ = _couple_tokens(tend_env)
    at = AppTest.from_function(_panel_script, default_timeout=30)
    at.session_state[web.TEST_TOKEN_KEY] = a_token
    at.run()
    # The panel script does not resolve the session itself (app.py does): do it here.
    with transaction() as s:
        user = accounts.resolve_session(s, a_token)
        s.expunge(user)
    at.session_state[web.USER_KEY] = user
    at.run()
    at.button(key="t_pause").click().run()
    assert not at.exception
    with transaction() as s:
        assert pause.is_paused(s, a_id) and not pause.is_paused(s, b_id)


def test_pausing_hides_my_prompts_and_my_partner_sees_nothing_different(tend_env) -> None:
    a_id, _, a_token, b_token = _couple_tokens(tend_env)
    # A's quiet hours around the current hour, whenever the test runs: B's check-in page
    # then says when A's mail would arrive, and must say it the same once A has paused.
    with transaction() as s:
        hour = dt.datetime.now(ZoneInfo(accounts.get_user(s, a_id).timezone)).hour
        update_preferences(
            s,
            a_id,
            paused=False,
            enabled={},
            preferred_hour=None,
            quiet_start=hour,
            quiet_end=(hour + 2) % 24,
        )
    partner_before = comparable(pages_as(b_token))
    assert "Mail to" in partner_before["This check-in"]
    at = go(_app(a_token).run(), "account")
    at.button(key="account_pause").click().run()
    assert not at.exception
    with transaction() as s:
        assert pause.is_paused(s, a_id)
    home = go(at, "home")
    assert "paused" in rendered_text(home)
    assert "You and" not in rendered_text(home)
    assert comparable(pages_as(b_token)) == partner_before
    go(at, "account").button(key="account_pause").click().run()
    with transaction() as s:
        assert not pause.is_paused(s, a_id)


def test_the_partner_who_stays_sees_former_partner_and_nothing_else(tend_env) -> None:
    _a_id, b_id, a_token, _ = _couple_tokens(tend_env)
    with transaction() as s:
        couples.leave_couple(s, b_id)
    with transaction() as s:
        accounts.update_profile(s, b_id, display_name="Brand New Name", timezone="Asia/Tokyo")
    pages = pages_as(a_token)
    assert "Your partner left" in pages["Couple space"]
    assert "Former partner" in pages["Couple space"]
    assert "Your partner left" in pages["Home"]
    assert not any("Brand New Name" in text for text in pages.values())


def test_deleting_my_account_from_the_account_page(tend_env) -> None:
    _a_id, b_id, a_token, b_token = _couple_tokens(tend_env)
    at = go(_app(b_token).run(), "account")
    at.text_input(key="delete_password").input("wrong password here")
    at.checkbox(key="delete_sure").check()
    at.button(key="FormSubmitter:delete_account-Delete my account").click().run()
    assert not at.exception
    assert "not your current password" in at.error[0].value
    at.text_input(key="delete_password").input(PASSWORD)
    at.button(key="FormSubmitter:delete_account-Delete my account").click().run()
    assert not at.exception
    with transaction() as s:
        assert s.get(User, b_id).display_name == "Former partner"
        assert accounts.user_by_email(s, "b@example.org") is None
        assert s.query(AuthSession).filter_by(user_id=b_id).count() == 0
    # B's browser is signed out on its next run; A sees only that the partner left.
    assert _app(b_token).run().title[0].value == "Sign in"
    assert "Your partner left" in pages_as(a_token)["Couple space"]


def test_canary_written_by_a_is_unreachable_for_b(tend_env, caplog) -> None:
    """A's secret things (password, a failed sign-in, a reset request, the pause) must not
    reach B. The check-ins tests extend this with private and safety answers."""
    canary = "canary-7f3a9c-ǂ-مرحبا"
    caplog.set_level(logging.DEBUG)
    with transaction() as s:
        _, a, b = make_couple(s)
        accounts.change_password(s, a.id, PASSWORD, canary)
        accounts.sign_in(s, "a@example.org", canary + "-typo", client="phone")
        accounts.request_password_reset(s, "a@example.org")
        pause.pause_reminders(s, a.id)
        b_token = accounts.start_session(s, b.id)
        a_id, b_id = a.id, b.id
    # A uses the account page (and its export) too, so A's own page runs are logged.
    pages_as(_start(a_id))
    from notifications.dispatch import dispatch_pending

    dispatch_pending()
    assert_canary_unreachable(canary, viewer_token=b_token, viewer_id=b_id, log_text=caplog.text)


def _start(user_id: int) -> str:
    with transaction() as s:
        return accounts.start_session(s, user_id)
