"""Every page renders through Streamlit's AppTest, signed out and signed in."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from couples import accounts
from infra.db import engine_for, transaction
from tend import web
from tend.web import TEST_TOKEN_KEY
from tests.factories import make_couple, make_user

APP = str(Path(__file__).resolve().parent.parent / "app.py")


def _app(token: str | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=30)
    if token:
        at.session_state[TEST_TOKEN_KEY] = token
    return at


def _signed_in(tend_env, couple: bool = True) -> str:  # type: ignore[no-untyped-def]
    with transaction(engine_for(tend_env["TEND_DATABASE_URL"])) as s:
        user = make_couple(s)[1] if couple else make_user(s, "solo@example.org")
        return accounts.start_session(s, user.id)


def go(at: AppTest, page) -> AppTest:  # type: ignore[no-untyped-def]
    """Switch to a function page. AppTest.switch_page only takes page files, so set the
    page hash a browser would request (the hash of the page's url path)."""
    at._page_hash = page._script_hash
    return at.run()


def test_signed_out_visitors_land_on_sign_in(tend_env) -> None:
    at = _app().run()
    assert not at.exception
    assert at.title[0].value == "Sign in"


@pytest.mark.parametrize("signed_in", [False, True])
def test_every_page_in_the_navigation_renders(tend_env, signed_in: bool) -> None:
    token = _signed_in(tend_env) if signed_in else None
    at = _app(token).run()
    assert not at.exception
    # Only now: st.Page objects must be made inside a script run (the first one).
    from tend.navigation import navigation_for

    with transaction(engine_for(tend_env["TEND_DATABASE_URL"])) as s:
        user = accounts.resolve_session(s, token) if token else None
    pages = [p for section in navigation_for(user).values() for p in section]
    assert pages
    titles = set()
    for page in pages:
        go(at, page)
        assert not at.exception, (page.title, at.exception)
        assert at.title, page.title
        titles.add(at.title[0].value)
    # Each page drew its own heading: the switch really happened every time.
    assert len(titles) == len(pages)


def test_register_form_error_keeps_what_was_typed(tend_env) -> None:
    at = _app().run()
    # Imported after a run: st.Page built outside a script run lacks its page.
    from tend.navigation import PAGES

    go(at, PAGES["register"])
    at.text_input(key="reg_name").input("Robin")
    at.text_input(key="reg_email").input("robin@example.org")
    at.text_input(key="reg_password").input("short")
    at.button[0].click().run()
    assert not at.exception
    assert "at least 8" in at.error[0].value
    assert at.text_input(key="reg_name").value == "Robin"
    assert at.text_input(key="reg_email").value == "robin@example.org"


def test_register_refuses_a_guessable_password_with_advice_and_keeps_the_form(tend_env) -> None:
    at = _app().run()
    # Imported after a run: st.Page built outside a script run lacks its page.
    from tend.navigation import PAGES

    go(at, PAGES["register"])
    at.text_input(key="reg_name").input("Pat")
    at.text_input(key="reg_email").input("pat@example.org")
    at.text_input(key="reg_password").input("Pat Pat Pat")
    at.button[0].click().run()
    assert not at.exception
    [error] = at.error
    shown = error.value.replace("\\", "")  # as read: the advice is escaped Markdown
    assert "Password" in shown
    assert "Leave out your name and email address." in shown
    assert "Add another word or two." in shown
    assert at.text_input(key="reg_name").value == "Pat"
    assert at.text_input(key="reg_email").value == "pat@example.org"
    assert at.text_input(key="reg_password").value == "Pat Pat Pat"
    assert not at.success
    # A long phrase of ordinary words passes.
    at.text_input(key="reg_password").input("pebbles under a quiet bridge")
    at.button[0].click().run()
    assert not at.error and "Almost there" in at.success[0].value


def test_user_text_is_escaped_not_interpreted(tend_env) -> None:
    from tend.navigation import PAGES

    with transaction(engine_for(tend_env["TEND_DATABASE_URL"])) as s:
        _, a, _ = make_couple(s, name="**bold** <b>x</b> [link](http://evil)")
        token = accounts.start_session(s, a.id)
    at = _app(token).run()
    go(at, PAGES["couple"])
    assert not at.exception
    # The title's markdown source is the escaped name: drawn, it reads exactly as typed.
    assert at.title[0].value == web.md("**bold** <b>x</b> [link](http://evil)")


def test_a_person_without_a_couple_is_led_to_create_one(tend_env) -> None:
    from tend.navigation import PAGES

    at = _app(_signed_in(tend_env, couple=False)).run()
    assert not at.exception
    assert any("create the space" in m.value for m in at.markdown)
    # Counted out of every step of the guided start (the charter made it five).
    assert any("step 1 of 5" in m.value for m in at.markdown)
    # The guided start, whose first step is the couple space.
    go(at, PAGES["welcome"])
    assert at.title[0].value == "Welcome to Tend"
    assert at.text_input(key="onb_couple_name") is not None


def test_the_guided_start_names_the_next_check_in_once_there_were_check_ins(tend_env) -> None:
    """Back on "Getting started" after months of check-ins (the demo couple: Alex made the
    space), its last step speaks of the next check-in, not the first."""
    from tend import demo
    from tend.navigation import PAGES

    demo.create_demo(years=1)
    with transaction(engine_for(tend_env["TEND_DATABASE_URL"])) as s:
        alex = accounts.user_by_email(s, demo.DEMO_PARTNERS[0][0])
        assert alex is not None
        token = accounts.start_session(s, alex.id)
    at = go(_app(token).run(), PAGES["welcome"])
    assert not at.exception
    said = " ".join(m.value for m in at.markdown)
    assert "Your next check-in opens on" in said
    assert "Your first check-in" not in said


def test_the_day_we_got_back_together_may_be_today_on_the_persons_own_clock(tend_env) -> None:
    """In Auckland's morning the server's date is yesterday: "today" (the latest day the
    form allows) is theirs."""
    from tend.navigation import PAGES

    with transaction(engine_for(tend_env["TEND_DATABASE_URL"])) as s:
        user = make_user(s, "kiri@example.org", timezone="Pacific/Auckland")
        token = accounts.start_session(s, user.id)
    before = web.local_today("Pacific/Auckland")
    at = go(_app(token).run(), PAGES["couple"])
    after = web.local_today("Pacific/Auckland")
    assert not at.exception
    assert at.date_input(key="couple_reunited").max in {before, after}


def test_an_invitation_says_until_when_on_the_inviters_own_clock(tend_env) -> None:
    from zoneinfo import ZoneInfo

    from couples import service as couples
    from tend.navigation import PAGES

    with transaction(engine_for(tend_env["TEND_DATABASE_URL"])) as s:
        user = make_user(s, "asha@example.org", timezone="Asia/Kolkata")
        couples.create_couple(s, user.id, name="Asha & Ravi", reunited_on=None)
        expires = couples.invite_partner(s, user.id, "ravi@example.org").expires_at
        token = accounts.start_session(s, user.id)
    at = go(_app(token).run(), PAGES["couple"])
    assert not at.exception
    [line] = [m.value for m in at.markdown if "valid until" in m.value]
    local = expires.astimezone(ZoneInfo("Asia/Kolkata"))
    assert line.endswith(f"waiting, valid until {local:%A %d %B, %H:%M}")
    assert "UTC" not in line


def test_the_partner_who_joined_gets_a_start_of_their_own(tend_env) -> None:
    """ "Getting started" for the partner who was invited: not "already set up", but what
    is theirs to do, with the way to each; the inviter's name as typed."""
    from agreements import proposals
    from agreements.templates import TEMPLATES
    from tend.navigation import PAGES

    with transaction(engine_for(tend_env["TEND_DATABASE_URL"])) as s:
        _, a, b = make_couple(s)
        a.display_name = "Ana *x*"
        for kind in ("cooldown", "therapy"):
            t = TEMPLATES[kind]
            proposals.propose_agreement(
                s, a.id, kind=kind, title=t.title, body=t.body, params=t.params
            )
        token = accounts.start_session(s, b.id)
    at = go(_app(token).run(), PAGES["welcome"])
    assert not at.exception
    said = " ".join(m.value for m in at.markdown)
    assert "already set up" not in said
    assert r"Ana \*x\* set up your couple space and invited you" in said
    assert r"**Answer Ana \*x\*'s proposals:** 2 agreements wait for your yes" in said
    assert "**Your side of the charter:** what you think ended it last time" in said
    links = {link.label for link in at.get("page_link")}
    assert {"Answer the agreements", "Write your side of the charter"} <= links
    assert {"Choose your reminders", "Go to your dashboard"} <= links
    assert "Invitation" not in said  # nothing for them to send


def test_signed_in_pages_ask_a_signed_out_visitor_to_sign_in_first(tend_env) -> None:
    from tend.navigation import PAGES

    at = _app().run()
    for name in ("couple", "account"):
        go(at, PAGES[name])
        assert not at.exception
        assert at.title[0].value == "Sign in to continue"
        assert at.text_input(key="signin_email") is not None


def _menus() -> None:
    import streamlit as st

    from tend.navigation import menu_for, session_menu

    st.session_state["signed_out"] = menu_for(None)
    st.session_state["signed_in"] = menu_for(object())  # type: ignore[arg-type]
    # A session builds its menu once per kind of visitor and reuses it on later runs.
    st.session_state["reused"] = session_menu(None) is session_menu(None)


def test_pages_outside_the_menu_keep_their_address(tend_env) -> None:
    """Streamlit's menu lists only what fits the visitor; every other page is a hidden
    twin with the same address, so a link from a mail still opens it (and, signed out,
    asks for a sign-in first)."""
    at = _app().run()
    from tend.navigation import PAGES, navigation_for

    # st.Page objects are made inside a script run: the menus are made in one.
    menus = AppTest.from_function(_menus, default_timeout=30).run()
    assert menus.session_state["reused"]
    for user, key in ((None, "signed_out"), (object(), "signed_in")):
        menu = menus.session_state[key]
        listed = [p for pages in navigation_for(user).values() for p in pages]  # type: ignore[arg-type]
        entries = [p for pages in menu.values() for p in pages]
        # Every page once: the visitor's own visible, the rest hidden twins.
        assert sorted(p._script_hash for p in entries) == sorted(
            p._script_hash for p in PAGES.values()
        )
        visible = [p for p in entries if p.visibility != "hidden"]
        assert [(p._script_hash, p.title) for p in visible] == [
            (p._script_hash, p.title) for p in listed
        ]
        # Made for this run, so no session's run touches another's (build_pages).
        assert not {id(p) for p in entries} & {id(p) for p in PAGES.values()}
    # Signed out, a signed-in page opened by its address asks for a sign-in.
    go(at, PAGES["trends"])
    assert not at.exception
    assert at.title[0].value == "Sign in to continue"
