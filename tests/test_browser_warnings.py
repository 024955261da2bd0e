"""A real browser on a real `tend serve`: a partner sees a quiet warning with its evidence
and next step, marks "We talked about it", and it stays away for both partners until it
gets worse."""

from __future__ import annotations

import datetime as dt

import pytest
from playwright.sync_api import Page, expect

from checkins import rounds
from couples import accounts
from infra.db import engine_for, transaction, utcnow
from tests.browser import act, open_page, wait_idle
from tests.factories import mail_any_time, make_couple
from tests.test_checkins_service import save_and_submit, sheet

pytestmark = pytest.mark.browser

TITLE = "Blair has been feeling low about us for a while"


def _round(engine, a, b, at: dt.datetime, total_b: int) -> None:  # type: ignore[no-untyped-def]
    with transaction(engine) as s:
        round_id = rounds.start_round_now(s, a.id, now=at).id
    for user, total in ((a, 16), (b, total_b)):
        with transaction(engine) as s:
            save_and_submit(s, user, round_id, sheet(total), at + dt.timedelta(hours=1))


def _sign_in(page: Page, url: str, token: str) -> None:
    open_page(page, f"{url}/auth/link?token={token}")
    page.wait_for_url("**/trends*")
    wait_idle(page)


def _warning(page: Page):  # type: ignore[no-untyped-def]
    return page.locator('[data-testid="stMain"] [class*="st-key-warning-trends-staying-low"]')


def test_a_partner_marks_a_warning_talked_about_and_it_stays_away_until_worse(
    served, new_context, database_url
) -> None:
    engine = engine_for(database_url)
    start = utcnow() - dt.timedelta(days=60)
    with transaction(engine) as s:
        _c, a, b = make_couple(
            s, "alex@example.org", "blair@example.org", name="Alex & Blair", now=start
        )
        mail_any_time(s, a, b)
    for i, total in enumerate((16, 16, 11, 10, 11, 10)):
        _round(engine, a, b, start + dt.timedelta(days=1 + 7 * i), total)
    with transaction(engine) as s:
        links = {u.email: accounts.issue_sign_in_link(s, u.id, "/trends") for u in (a, b)}

    alex = new_context().new_page()
    _sign_in(alex, served.url, links["alex@example.org"])
    warning = _warning(alex)
    expect(warning).to_be_visible()
    text = warning.inner_text()
    assert TITLE in text
    assert "11, 10, 11, 10" in text  # the evidence: Blair's scores, round by round
    assert "Next step:" in text and "therapist" in text
    assert "fault" not in text.lower()

    act(alex, warning.get_by_role("button", name="We talked about it").click)
    expect(_warning(alex)).to_have_count(0)
    expect(alex.get_by_text("You talked about 1 of them")).to_be_visible()

    # Blair sees it marked too.
    blair = new_context().new_page()
    _sign_in(blair, served.url, links["blair@example.org"])
    expect(blair.get_by_text("You talked about 1 of them")).to_be_visible()
    expect(_warning(blair)).to_have_count(0)

    # Another round just as low: it stays away.
    _round(engine, a, b, start + dt.timedelta(days=43), 11)
    open_page(alex, served.url + "/trends")
    expect(alex.get_by_text("You talked about 1 of them")).to_be_visible()
    expect(_warning(alex)).to_have_count(0)

    # Worse: it is back, with the new evidence.
    _round(engine, a, b, start + dt.timedelta(days=50), 7)
    _round(engine, a, b, start + dt.timedelta(days=57), 7)
    open_page(alex, served.url + "/trends")
    expect(_warning(alex)).to_be_visible()
    assert "7, 7" in _warning(alex).inner_text()
