"""Sign-in throttling and invitations, tried from outside as an attacker would: Debian's
chromium against a real `tend serve`, each person in their own browser context."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import func, select

from couples import service as couples
from couples.models import FailedSignIn, Invitation
from infra.db import engine_for, transaction
from infra.tokens import new_token, token_hash
from tests.browser import click, expect_alert, fill, open_page, sign_in
from tests.factories import PASSWORD, make_user

pytestmark = pytest.mark.browser


def _sign_in(page: Page, url: str, email: str, password: str) -> None:
    sign_in(page, url, email, password, path="/sign_in")


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


def test_failed_sign_ins_in_one_browser_lock_out_neither_the_owner_nor_anyone_else(
    served, new_context, tend_env
) -> None:
    """All browsers here share one network address (loopback), as a couple's home
    Wi-Fi would: the partner's guessing slows their own browser, and then browsers that
    never signed in to the account, but never the owner's browser that has."""
    engine = engine_for(tend_env["TEND_DATABASE_URL"])
    with transaction(engine) as s:
        make_user(s, "ari@example.org", "Ari")

    def failures_recorded() -> int:
        with transaction(engine) as s:
            return s.scalar(select(func.count()).select_from(FailedSignIn))

    # The owner signed in on this browser before (and signed out since).
    owner = new_context()
    owner_page = owner.new_page()
    _sign_in(owner_page, served.url, "ari@example.org", PASSWORD)
    expect(owner_page.get_by_role("heading", name="Hi Ari")).to_be_visible()
    device = next(c for c in owner.cookies() if c["name"] == "tend_device")
    assert device["httpOnly"] and device["sameSite"] == "Lax"
    owner.clear_cookies(name="tend_session")

    def guess(page: Page, times: int) -> None:
        for _ in range(times):
            before = failures_recorded()
            fill(page, "Email", "ari@example.org")
            fill(page, "Password", "is it our anniversary")
            click(page, "Sign in")
            expect_alert(page, "do not match")
            # The alert of the guess before may still be on the page: wait for this
            # one to be on record before the next (a click during a run restarts it).
            deadline = time.monotonic() + 30
            while failures_recorded() == before:
                assert time.monotonic() < deadline, "the failed sign-in was not recorded"
                time.sleep(0.2)

    # The partner guesses in their own browser until it is slowed down.
    partner_page = new_context().new_page()
    open_page(partner_page, served.url + "/sign_in")
    guess(partner_page, 5)
    fill(partner_page, "Password", PASSWORD)
    click(partner_page, "Sign in")
    expect_alert(partner_page, "Too many attempts from this device")

    # Another browser on the same network is not: the slowing is per device.
    third_page = new_context().new_page()
    _sign_in(third_page, served.url, "ari@example.org", PASSWORD)
    expect(third_page.get_by_role("heading", name="Hi Ari")).to_be_visible()

    # More guessing from a fresh browser: now new browsers wait for this address...
    second_partner_page = new_context().new_page()
    open_page(second_partner_page, served.url + "/sign_in")
    guess(second_partner_page, 5)
    newcomer_page = new_context().new_page()
    _sign_in(newcomer_page, served.url, "ari@example.org", PASSWORD)
    expect_alert(newcomer_page, "devices it has not signed in on before")

    # ...but the owner's browser that signed in before is never locked out.
    _sign_in(owner_page, served.url, "ari@example.org", PASSWORD)
    expect(owner_page.get_by_role("heading", name="Hi Ari")).to_be_visible()
