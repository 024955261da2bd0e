"""Sign-in throttling and invitations, tried from outside as an attacker would: Debian's
chromium against a real `tend serve`, each person in their own browser context."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from couples import service as couples
from couples.db import engine_for, transaction
from couples.models import Invitation
from couples.tokens import new_token, token_hash
from tests.browser import click, expect_alert, fill, open_page
from tests.factories import PASSWORD, make_user

pytestmark = pytest.mark.browser


def _sign_in(page: Page, url: str, email: str, password: str) -> None:
    open_page(page, url + "/sign_in")
    fill(page, "Email", email)
    fill(page, "Password", password)
    click(page, "Sign in")


def test_an_invitation_joins_only_the_account_it_was_sent_to(served, new_context, tend_env) -> None:
    engine = engine_for(tend_env["TEND_DATABASE_URL"])
    with transaction(engine) as s:
        alex = make_user(s, "alex@example.org", "Alex")
        couples.create_couple(s, alex.id, name="Alex & Blair", reunited_on=None)
        invitation = couples.invite_partner(s, alex.id, "blair@example.org")
        # The raw token travels only in the mail; set a known one (as tests/factories.py).
        token = new_token()
        invitation.token_hash = token_hash(token)
        casey = make_user(s, "casey@example.org", "Casey")
        make_user(s, "blair@example.org", "Blair")
        alex_id, casey_id = alex.id, casey.id
    link = f"{served.url}/join?token={token}"

    # Casey, signed in with another address, holds the link (forwarded, or read on a
    # shared computer): told why it cannot join, not told whom it was for.
    casey_page = new_context().new_page()
    _sign_in(casey_page, served.url, "casey@example.org", PASSWORD)
    expect(casey_page.get_by_role("heading", name="Hi Casey")).to_be_visible()
    open_page(casey_page, link)
    expect_alert(casey_page, "sent to a different email address")
    expect(casey_page.get_by_role("button", name="Join as Casey")).to_have_count(0)
    assert "blair@example.org" not in casey_page.content()
    with transaction(engine) as s:
        assert couples.couple_of(s, casey_id) is None
        assert couples.partner_of(s, alex_id) is None
        assert s.scalar(select(Invitation.accepted_at)) is None

    # Blair, signed in with the invited address, joins with the same link.
    blair_page = new_context().new_page()
    _sign_in(blair_page, served.url, "blair@example.org", PASSWORD)
    expect(blair_page.get_by_role("heading", name="Hi Blair")).to_be_visible()
    open_page(blair_page, link)
    click(blair_page, "Join as Blair")
    expect(blair_page.get_by_role("heading", name="Alex & Blair")).to_be_visible()
    with transaction(engine) as s:
        assert couples.partner_of(s, alex_id).email == "blair@example.org"
