"""By keyboard alone, in Debian's chromium against a real `tend serve`: the Quick exit is
the first Tab stop on every layout, a cooldown starts from the keyboard and focus lands
on it (not on the page body), moving between pages puts focus on the new page's heading,
a whole check-in is answered and submitted from the keyboard with focus on each new
step's heading, and on a phone "I need a cooldown" is on screen without opening the
menu, one tap."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from checkins import rounds
from tests.browser import STEP_HEADING, act, open_page, sign_in_and_land, step_title, wait_idle
from tests.factories import PASSWORD, mail_any_time, make_couple

pytestmark = pytest.mark.browser

PHONE = {"width": 375, "height": 740}
DESKTOP = {"width": 1200, "height": 900}


@pytest.fixture
def couple_site(served, tx):  # type: ignore[no-untyped-def]
    with tx() as s:
        _c, a, b = make_couple(s)
        mail_any_time(s, a, b)
    return served, a


def _focused(page: Page) -> dict[str, str]:
    return page.evaluate(
        """() => { const e = document.activeElement;
                   return {id: e.id || '', tag: e.tagName, text: (e.innerText || '').trim()}; }"""
    )


def _first_child(page: Page) -> str:
    return page.evaluate("() => document.body.firstElementChild.outerHTML.slice(0, 120)")


def _wait_for_quick_exit_first(page: Page) -> None:
    """The run that draws the Quick exit has ended; its script moves the link to the
    start of the document a moment later, when the browser draws it. A person's first
    Tab comes after that; the test's must too."""
    page.wait_for_function(
        "() => document.body.firstElementChild && "
        "document.body.firstElementChild.id === 'tend-quick-exit'"
    )


def _tab_to(page: Page, text: str, limit: int = 80) -> None:
    """Tab until a link or button showing ``text`` has focus (not a region that
    merely contains it: Streamlit's main area is a Tab stop, its text the whole page)."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        focused = _focused(page)
        if focused["tag"] in ("A", "BUTTON") and text in focused["text"]:
            return
    raise AssertionError(f"Tab never reached {text!r}")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_quick_exit_is_the_first_tab_stop(couple_site, browser, viewport) -> None:  # type: ignore[no-untyped-def]
    served, a = couple_site
    context = browser.new_context(viewport=viewport)
    try:
        page = context.new_page()
        open_page(page, served.url + "/")
        _wait_for_quick_exit_first(page)
        page.keyboard.press("Tab")
        assert _focused(page)["id"] == "tend-quick-exit", (_focused(page), _first_child(page))
        sign_in_and_land(page, served.url, a.email, PASSWORD)
        # After the runs that drew the signed-in page, still first.
        page.locator("body").focus()
        page.evaluate("() => document.activeElement && document.activeElement.blur()")
        _wait_for_quick_exit_first(page)
        page.keyboard.press("Tab")
        assert _focused(page)["id"] == "tend-quick-exit", (_focused(page), _first_child(page))
    finally:
        context.close()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_cooldown_by_keyboard_puts_focus_on_the_countdown(couple_site, browser) -> None:  # type: ignore[no-untyped-def]
    served, a = couple_site
    context = browser.new_context(viewport=DESKTOP)
    try:
        page = context.new_page()
        sign_in_and_land(page, served.url, a.email, PASSWORD)
        _tab_to(page, "I need a cooldown")
        act(page, lambda: page.keyboard.press("Enter"))
        running = page.locator(".st-key-cooldown_running")
        expect(running).to_be_visible()
        page.wait_for_function(
            """() => { const box = document.querySelector('.st-key-cooldown_running');
                       return box && box.contains(document.activeElement); }""",
            timeout=10_000,
        )
        # Moving between pages by keyboard: focus goes to the new page's heading.
        _tab_to(page, "Agreements")
        page.keyboard.press("Enter")
        page.wait_for_url(lambda u: u.endswith("/agreements"))
        wait_idle(page)
        page.wait_for_function(
            """() => { const e = document.activeElement;
                       return e && e.tagName === 'H1' && e.innerText.includes('Agreements'); }""",
            timeout=10_000,
        )
    finally:
        context.close()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_on_a_phone_the_cooldown_is_one_tap_away(couple_site, browser) -> None:  # type: ignore[no-untyped-def]
    served, a = couple_site
    context = browser.new_context(viewport=PHONE, has_touch=True, is_mobile=True)
    try:
        page = context.new_page()
        sign_in_and_land(page, served.url, a.email, PASSWORD)
        # The phone's own control, not the sidebar's (folded away, off screen).
        button = page.locator(".st-key-tend-phone-only-cooldown button")
        expect(button).to_be_in_viewport()
        box = button.bounding_box()
        assert box is not None and box["width"] >= 24 and box["height"] >= 24
        act(page, button.tap)
        expect(page.get_by_text("Cooldown: back to each other at")).to_be_visible()
    finally:
        context.close()


def _focused_control(page: Page) -> dict[str, object]:
    """What has focus: a radio (and whether its group has an answer yet), a text field,
    a button."""
    return page.evaluate(
        """() => { const e = document.activeElement;
                   const group = e.type === 'radio' && e.name
                     ? document.querySelectorAll('input[type=radio][name="' + e.name + '"]:checked')
                     : [];
                   return {tag: e.tagName, type: e.type || '', text: (e.innerText || '').trim(),
                           answered: group.length > 0, value: e.value || ''}; }"""
    )


def _answer_step_by_keyboard(page: Page, finish: str) -> None:
    """Tab through the step on screen: answer every question not yet answered with Space
    (a radio group) or by typing (a text area), until ``finish`` has focus, then press
    Enter on it."""
    trail: list[str] = []  # what had focus, for the message if it fails
    tab = True
    for _ in range(120):
        if tab:
            page.keyboard.press("Tab")
        tab = True
        focused = _focused_control(page)
        trail.append(f"{focused['tag']}:{focused['type'] or focused['text'][:20]}")
        if focused["tag"] == "BUTTON" and focused["text"] == finish:
            act(page, lambda: page.keyboard.press("Enter"))
            return
        if focused["type"] == "radio" and not focused["answered"]:
            act(page, lambda: page.keyboard.press("Space"))
            # The answer is saved by the run it asked for; focus stays on the question.
            assert _focused_control(page)["answered"], "the answer did not stick"
        elif focused["tag"] == "TEXTAREA" and not focused["value"]:
            page.keyboard.type("Typed from the keyboard")
            # Leaving the field sends what was typed: the next Tab, and its run.
            act(page, lambda: page.keyboard.press("Tab"))
            tab = False
    raise AssertionError(
        f"Tab never reached {finish!r} on step {step_title(page)!r}; focus went: {trail}"
    )


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_whole_checkin_by_keyboard(served, tx, browser) -> None:  # type: ignore[no-untyped-def]
    with tx() as s:
        _c, a, b = make_couple(s)
        mail_any_time(s, a, b)
        rounds.start_round_now(s, a.id)
    context = browser.new_context(viewport=DESKTOP)
    try:
        page = context.new_page()
        sign_in_and_land(page, served.url, a.email, PASSWORD)
        open_page(page, served.url + "/checkin")
        titles = [step_title(page)]
        while not page.get_by_role("button", name="Submit my answers", exact=True).count():
            _answer_step_by_keyboard(page, "Next")
            # Focus lands on the new step's heading, not on the page body.
            expect(page.locator(STEP_HEADING).first).to_be_focused()
            titles.append(step_title(page))
            assert len(titles) < 10, titles
        _answer_step_by_keyboard(page, "Submit my answers")
        expect(page.get_by_text("waiting for your partner", exact=False)).to_be_visible()
        assert titles[-1] == "Just for you", titles
        # After the submit re-draws the page, focus is somewhere a screen reader reads
        # from (the page's heading), never the page body.
        page.wait_for_function(
            "() => document.activeElement && document.activeElement !== document.body"
        )
    finally:
        context.close()
