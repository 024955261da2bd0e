"""Two partners, two browsers, one real `tend serve`: they run a check-in, then hold the
talk to the end on their own devices. Both follow the same item; a note written by one
appears for the other; a cooldown started inside the talk pauses it for both, and when
it ends they carry on from the same item; finishing marks the round reviewed and plans
the action item's reminder."""

from __future__ import annotations

import datetime as dt

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from checkins import rounds
from checkins.models import ActionItem, Round
from couples import accounts
from infra.db import engine_for, transaction
from notifications.models import OutboxMessage
from tests.browser import act, click, fill, open_page, wait_until
from tests.factories import mail_any_time, make_couple
from tests.test_browser_checkins import answer_all, page_text, sign_in

pytestmark = pytest.mark.browser

FOLLOW = 20_000  # ms: the talk re-reads every 2 s; a loaded machine takes longer


def main_button(page: Page, name: str):  # type: ignore[no-untyped-def]
    """A button in the page itself (the side menu has its own cooldown button)."""
    return page.locator('[data-testid="stMain"]').get_by_role("button", name=name, exact=True)


def shows(page: Page, text: str) -> None:
    expect(page.get_by_text(text, exact=False).first).to_be_visible(timeout=FOLLOW)


def test_two_partners_hold_the_talk_to_the_end_with_a_cooldown_in_the_middle(
    served, new_context, database_url
) -> None:
    engine = engine_for(database_url)
    with transaction(engine) as s:
        _c, a, b = make_couple(s, "alex@example.org", "blair@example.org", name="Alex & Blair")
        mail_any_time(s, a, b)
        round_id = rounds.start_round_now(s, a.id).id
        links = {u.email: accounts.issue_sign_in_link(s, u.id, "/checkin") for u in (a, b)}

    alex = new_context().new_page()
    blair = new_context().new_page()
    sign_in(alex, served.url, links["alex@example.org"])
    sign_in(blair, served.url, links["blair@example.org"])

    # The check-in: each answers on their own.
    answer_all(alex, happy="Very", safety="Yes", went_well="ALEX-THANKS for the walks")
    click(alex, "Submit my answers")
    answer_all(blair, happy="Somewhat", safety="Yes", went_well="BLAIR-THANKS for dinner")
    click(blair, "Submit my answers")
    shows(blair, "Hold your talk")

    # The talk, each on their own device: the same first item for both.
    open_page(alex, served.url + "/talk")
    open_page(blair, served.url + "/talk")
    for page in (alex, blair):
        shows(page, "Item 1 of 2")
        shows(page, "BLAIR-THANKS for dinner")
        shows(page, "ALEX-THANKS for the walks")

    # Alex moves on; Blair's page follows without a reload.
    act(alex, main_button(alex, "Next").click)
    shows(alex, "Item 2 of 2")
    shows(blair, "Item 2 of 2")
    assert "happy" in page_text(blair)  # the answers two points apart

    # Blair writes a note; Alex sees it.
    fill(blair, "Your note on this item", "BLAIR-NOTE: I had a rough week")
    act(blair, main_button(blair, "Save note").click)
    shows(alex, "BLAIR-NOTE: I had a rough week")

    # Alex needs a cooldown, from inside the talk: both are paused on this item.
    act(alex, main_button(alex, "I need a cooldown").click)
    for page in (alex, blair):
        shows(page, "The talk is paused while the cooldown runs")
        expect(main_button(page, "Finish the talk")).to_have_count(0, timeout=FOLLOW)
        assert "Item 2 of 2" in page_text(page)

    # Blair ends it from the side menu: they both carry on from the same item.
    blair_end = blair.locator('[data-testid="stSidebar"]').get_by_role("button", name="End now")
    act(blair, blair_end.click)
    for page in (alex, blair):
        expect(main_button(page, "Finish the talk")).to_be_visible(timeout=FOLLOW)
        assert "Item 2 of 2" in page_text(page)

    # An action item with an owner and a day, then the end.
    due = dt.date.today() + dt.timedelta(days=7)
    fill(alex, "We will…", "ACTION: a walk every Sunday")
    # In a form: choosing sends nothing until "Add" (so no run to wait for).
    alex.locator('[data-testid="stSelectbox"]').filter(has_text="Who").click()
    alex.get_by_role("option", name="Blair", exact=True).click()
    # The date field's segments (year, month, day) move on as digits are typed.
    alex.get_by_role("spinbutton", name="year, By when").click()
    alex.keyboard.type(due.strftime("%Y%m%d"))
    expect(alex.get_by_role("group", name="By when")).to_contain_text(due.strftime("%d"))
    act(alex, main_button(alex, "Add").click)
    shows(alex, "ACTION: a walk every Sunday")
    shows(blair, "ACTION: a walk every Sunday")
    act(blair, main_button(blair, "Finish the talk").click)
    for page in (alex, blair):
        shows(page, "You finished this talk")

    def reminder_planned() -> bool:
        with transaction(engine) as s:
            return (
                s.scalar(
                    select(OutboxMessage.id).where(
                        OutboxMessage.kind == "action_item_due",
                        OutboxMessage.recipient_user_id == b.id,
                    )
                )
                is not None
            )

    wait_until(reminder_planned, "action item reminder")
    with transaction(engine) as s:
        assert s.get(Round, round_id).reviewed_at is not None
        [item] = s.scalars(select(ActionItem).where(ActionItem.round_id == round_id)).all()
        assert (item.owner_user_id, item.due_on) == (b.id, due)
