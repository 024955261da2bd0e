"""Two partners, two browsers, one real `tend serve`: a round opens, A answers and waits
without seeing B's draft, B answers, both see the review; A's safety answer never
appears on B's pages."""

from __future__ import annotations

import datetime as dt

import pytest
from playwright.sync_api import Page, expect

from checkins import rounds, survey
from couples import accounts
from infra.db import engine_for, transaction
from tests.browser import (
    answer_checkin,
    choose,
    click,
    field,
    fill,
    go_to_step,
    open_page,
    wait_idle,
)
from tests.factories import mail_any_time, make_couple

pytestmark = pytest.mark.browser

SAFETY_WORDS = "in body and mind"


def sign_in(page: Page, url: str, token: str) -> None:
    """Follow an emailed-style sign-in link: it sets the session cookie, then lands on
    the check-in page."""
    open_page(page, f"{url}/auth/link?token={token}")
    page.wait_for_url("**/checkin*")
    wait_idle(page)


def page_text(page: Page) -> str:
    return page.locator('[data-testid="stMain"]').inner_text()


def alex_and_blair_with_a_round(database_url: str):  # type: ignore[no-untyped-def]
    """Alex and Blair, a round open, and a sign-in link to it for each (by address)."""
    engine = engine_for(database_url)
    with transaction(engine) as s:
        _c, a, b = make_couple(s, "alex@example.org", "blair@example.org", name="Alex & Blair")
        mail_any_time(s, a, b)
        round_id = rounds.start_round_now(s, a.id).id  # a round opens
        links = {u.email: accounts.issue_sign_in_link(s, u.id, "/checkin") for u in (a, b)}
    return engine, a, b, round_id, links


def test_two_partners_answer_privately_then_review_side_by_side(
    served, new_context, database_url
) -> None:
    _engine, _a, _b, _round_id, links = alex_and_blair_with_a_round(database_url)

    mail = served.wait_for_mail("alex@example.org", "check-in")
    assert "Alex & Blair" in mail.text

    alex = new_context().new_page()
    blair = new_context().new_page()
    sign_in(alex, served.url, links["alex@example.org"])
    sign_in(blair, served.url, links["blair@example.org"])

    # Blair starts a draft but does not submit.
    open_page(blair, served.url + "/checkin")
    go_to_step(blair, "In my own words")
    fill(blair, survey.WENT_WELL.prompt, "BLAIR-DRAFT-WELL")

    open_page(alex, served.url + "/checkin")
    answer_checkin(alex, happy="Very", safety="Not always", went_well="ALEX-WELL")
    click(alex, "Submit my answers")
    expect(alex.get_by_text("waiting for your partner", exact=False)).to_be_visible()
    assert "BLAIR-DRAFT-WELL" not in page_text(alex)
    for path in ("/checkin_history", "/topics", "/trends"):
        open_page(alex, served.url + path)
        assert "BLAIR-DRAFT-WELL" not in page_text(alex)

    # Blair's draft survived, on the step Blair left it; Blair does not see Alex's
    # answers before submitting.
    blair.reload()
    wait_idle(blair)
    expect(blair.get_by_role("heading", name="In my own words")).to_be_visible()
    expect(field(blair, survey.WENT_WELL.prompt)).to_have_value("BLAIR-DRAFT-WELL")
    expect(blair.get_by_text("Alex has already answered")).to_be_visible()
    assert "ALEX-WELL" not in page_text(blair)
    answer_checkin(blair, happy="Somewhat", safety="Yes", went_well="BLAIR-DRAFT-WELL and more")
    click(blair, "Submit my answers")
    expect(blair.get_by_text("Side by side")).to_be_visible()
    blair_review = page_text(blair)
    assert "ALEX-WELL" in blair_review and "BLAIR-DRAFT-WELL and more" in blair_review

    open_page(alex, served.url + "/checkin")
    expect(alex.get_by_text("Side by side")).to_be_visible()
    # The page streams in: wait for the later part, not only its heading.
    expect(alex.get_by_text("BLAIR-DRAFT-WELL and more", exact=False).first).to_be_visible()
    assert "BLAIR-DRAFT-WELL and more" in page_text(alex)
    assert "⚠️" in page_text(alex)  # "Very" (4) vs "Somewhat" (2) is highlighted

    # Alex's safety answer appears nowhere on Blair's pages.
    for path in ("/checkin", "/checkin_history", "/topics", "/trends", "/home"):
        open_page(blair, served.url + path)
        text = page_text(blair)
        assert SAFETY_WORDS not in text and "Not always" not in text, path
    served.wait_for_mail("alex@example.org", "ready to review")

    # Trends draw one chart at a time: satisfaction first, then the one chosen.
    open_page(blair, served.url + "/trends")
    charts = blair.locator('[data-testid="stMain"] [data-testid="stVegaLiteChart"]')
    expect(blair.get_by_role("heading", name="Satisfaction (0-20)")).to_be_visible()
    choose(blair, "Chart", "Gap between you")
    expect(blair.get_by_role("heading", name="Gap between you")).to_be_visible()
    expect(charts).to_have_count(1)
    expect(charts.locator("canvas, svg").first).to_be_visible()


def test_a_partner_shows_older_check_ins_in_the_history(served, new_context, database_url) -> None:  # type: ignore[no-untyped-def]
    """Thirteen rounds both answered: the history lists the newest twelve; Blair presses
    "Show older check-ins" and the oldest round appears, the button gone."""
    from checkins.pages import _local
    from tests.test_checkins_service import full_round, sheet

    engine = engine_for(database_url)
    start = dt.datetime.now(dt.UTC) - dt.timedelta(weeks=14)
    with transaction(engine) as s:
        _c, a, b = make_couple(
            s, "alex@example.org", "blair@example.org", now=start - dt.timedelta(days=1)
        )
    opened = [start + dt.timedelta(weeks=k) for k in range(13)]
    for at in opened:
        full_round(lambda: transaction(engine), a, b, at, sheet(16), sheet(10))
    with transaction(engine) as s:
        link = accounts.issue_sign_in_link(s, b.id, "/checkin_history")
    oldest, second = (_local(at, b.timezone) for at in opened[:2])

    blair = new_context().new_page()
    sign_in(blair, served.url, link)
    open_page(blair, served.url + "/checkin_history")
    expect(blair.get_by_text("Showing 12 of 13 check-ins")).to_be_visible()
    expect(blair.get_by_text(second, exact=False)).to_be_visible()
    assert oldest not in page_text(blair)
    click(blair, "Show older check-ins")
    expect(blair.get_by_text(oldest, exact=False)).to_be_visible()
    expect(blair.get_by_text("Showing 13 of 13 check-ins")).to_be_visible()
    expect(blair.get_by_role("button", name="Show older check-ins")).to_have_count(0)
