"""The check-in step by step on a phone (375 px), in real chromium against a real
`tend serve`: a whole check-in through its steps, going back, resuming on another device
(a second browser context) where it was left; and the partner, trying, sees nothing of
the draft: not its step, not a word of it."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from checkins import answers, rounds, survey
from couples import accounts
from infra.db import engine_for, transaction
from tests.browser import (
    STEP_HEADING,
    choose,
    click,
    field,
    fill,
    go_to_step,
    open_page,
    step,
    step_title,
    wait_idle,
)
from tests.factories import make_couple

pytestmark = pytest.mark.browser

PHONE = {"viewport": {"width": 375, "height": 740}, "is_mobile": True, "has_touch": True}
WELL = "ALEX-STEP-WELL: the walk on Sunday"
BOTHER = "ALEX-STEP-BOTHER: the phone at dinner"
NOTE = "ALEX-STEP-NOTE for me alone"


@pytest.fixture
def phone(browser):  # type: ignore[no-untyped-def]
    """Make phone-sized browser contexts (each its own device); closed afterwards."""
    contexts = []

    def make() -> Page:
        context = browser.new_context(**PHONE)
        context.set_default_timeout(30_000)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


def follow(page: Page, url: str, token: str) -> None:
    open_page(page, f"{url}/auth/link?token={token}")
    page.wait_for_url("**/checkin*")
    wait_idle(page)


def progress(page: Page) -> str:
    return page.locator('[data-testid="stProgress"]').inner_text().strip()


def main_text(page: Page) -> str:
    return page.locator('[data-testid="stMain"]').inner_text()


def no_sideways_scroll(page: Page) -> None:
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 375, f"the page is {width} px wide on a 375 px phone"


def test_a_whole_check_in_on_a_phone_resumed_on_another_device(served, phone, database_url) -> None:
    engine = engine_for(database_url)
    with transaction(engine) as s:
        _c, a, b = make_couple(s, "alex@example.org", "blair@example.org", name="Alex & Blair")
        round_id = rounds.start_round_now(s, a.id).id
        links = [accounts.issue_sign_in_link(s, a.id, "/checkin") for _ in range(2)]
        blair_link = accounts.issue_sign_in_link(s, b.id, "/checkin")

    alex = phone()
    follow(alex, served.url, links[0])
    assert step_title(alex) == "How are we doing?"
    assert "Step 1 of 4" in progress(alex)
    expect(alex.get_by_role("button", name="Back", exact=True)).to_have_count(0)
    no_sideways_scroll(alex)
    for q, option in zip(
        survey.SATISFACTION, ("Very", "Mostly", "Mostly", "Completely"), strict=True
    ):
        choose(alex, q.prompt, option)
    step(alex, "Next")  # waits for the heading to be focused
    # The next step starts at its top, its heading focused (the button was at the bottom).
    assert step_title(alex) == "Our future"
    box = alex.locator(STEP_HEADING).first.bounding_box()
    assert box is not None and 0 <= box["y"] < 740
    assert "Step 2 of 4" in progress(alex)
    choose(alex, survey.CERTAINTY.prompt, "Fairly certain")
    step(alex, "Next")
    assert step_title(alex) == "In my own words"
    fill(alex, survey.WENT_WELL.prompt, WELL)
    fill(alex, "What is bothering me", BOTHER)
    no_sideways_scroll(alex)

    # Back: what was chosen is still chosen; forward again: what was written is there.
    step(alex, "Back")
    assert step_title(alex) == "Our future"
    certainty = alex.locator('[data-testid="stRadio"]').filter(has_text=survey.CERTAINTY.prompt)
    expect(certainty.get_by_role("radio", name="Fairly certain")).to_be_checked()
    step(alex, "Next")
    expect(field(alex, survey.WENT_WELL.prompt)).to_have_value(WELL)
    expect(field(alex, "What is bothering me")).to_have_value(BOTHER)

    # The partner, trying: Blair's own sheet starts at its first step, and no step of it,
    # nor any other page, shows a word of Alex's draft.
    blair = phone()
    follow(blair, served.url, blair_link)
    assert step_title(blair) == "How are we doing?"
    seen = [main_text(blair)]
    for title in ("Our future", "In my own words", "Just for you"):
        step(blair, "Next")
        assert step_title(blair) == title
        seen.append(main_text(blair))
    for path in ("/checkin_history", "/topics", "/trends", "/home"):
        open_page(blair, served.url + path)
        seen.append(main_text(blair))
    for text in seen:
        assert "ALEX-STEP" not in text
    open_page(blair, served.url + "/checkin")
    assert step_title(blair) == "Just for you"  # Blair's own step, kept for Blair

    # Another device: Alex puts the phone away (its browser closes) and opens the link
    # on another; the sheet opens on the step it was left on, with its words.
    alex.context.close()
    other = phone()
    follow(other, served.url, links[1])
    assert step_title(other) == "In my own words"
    assert "Step 3 of 4" in progress(other)
    expect(field(other, survey.WENT_WELL.prompt)).to_have_value(WELL)
    step(other, "Next")
    assert step_title(other) == "Just for you"
    assert "Step 4 of 4" in progress(other)
    expect(other.get_by_role("button", name="Next", exact=True)).to_have_count(0)
    choose(other, "in body and mind", "Yes")
    fill(other, survey.SAFETY_NOTE.prompt, NOTE)
    no_sideways_scroll(other)
    click(other, "Submit my answers")
    expect(other.get_by_text("waiting for your partner", exact=False)).to_be_visible()

    # Blair sees that Alex answered, and still nothing Alex wrote, until Blair answers.
    open_page(blair, served.url + "/checkin")
    expect(blair.get_by_text("Alex has already answered")).to_be_visible()
    go_to_step(blair, "In my own words")
    text = main_text(blair)
    assert "ALEX-STEP" not in text and NOTE not in text
    with transaction(engine) as s:
        assert rounds.round_status(s, b.id, round_id).partner_status == "submitted"


def test_a_phone_left_open_never_overwrites_what_the_laptop_saved_since(
    served, phone, database_url
) -> None:
    """Alex writes on the phone, then on the laptop; the phone, left open on the old
    words, is pressed again: it shows the laptop's words (and says why) instead of
    saving its own over them. Changed on both, nothing is saved until Alex chooses."""
    engine = engine_for(database_url)
    with transaction(engine) as s:
        _c, a, _b = make_couple(s, "alex@example.org", "blair@example.org", name="Alex & Blair")
        round_id = rounds.start_round_now(s, a.id).id
        links = [accounts.issue_sign_in_link(s, a.id, "/checkin") for _ in range(2)]

    def went_well() -> str | None:
        with transaction(engine) as s:
            return answers.my_answers(s, a.id, round_id).texts.get("went_well")

    alex_phone = phone()
    follow(alex_phone, served.url, links[0])
    go_to_step(alex_phone, "In my own words")
    fill(alex_phone, survey.WENT_WELL.prompt, "PHONE: the walk")
    laptop = phone()
    follow(laptop, served.url, links[1])
    assert step_title(laptop) == "In my own words"
    fill(laptop, survey.WENT_WELL.prompt, "LAPTOP: the walk, and dinner")
    assert went_well() == "LAPTOP: the walk, and dinner"

    # The phone, untouched since, is pressed: the laptop's words stay and show.
    click(alex_phone, "Next")
    expect(alex_phone.get_by_text("You changed this step on another device")).to_be_visible()
    expect(field(alex_phone, survey.WENT_WELL.prompt)).to_have_value("LAPTOP: the walk, and dinner")
    assert step_title(alex_phone) == "In my own words"
    assert went_well() == "LAPTOP: the walk, and dinner"

    # Changed on both: nothing is saved until Alex chooses; the phone's words stay typed.
    fill(laptop, survey.WENT_WELL.prompt, "LAPTOP again")
    fill(alex_phone, survey.WENT_WELL.prompt, "PHONE again")
    expect(alex_phone.get_by_text("Which answers should stay?")).to_be_visible()
    assert went_well() == "LAPTOP again"
    expect(field(alex_phone, survey.WENT_WELL.prompt)).to_have_value("PHONE again")
    click(alex_phone, "Keep what is here")
    expect(alex_phone.get_by_text("Which answers should stay?")).to_have_count(0)
    assert went_well() == "PHONE again"
