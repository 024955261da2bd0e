"""Sign-in that survives a refresh, sign-out, and a password reset by mail, in chromium."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from infra.db import engine_for, transaction
from tests.browser import click, expect_alert, fill, open_page, sign_in, wait_idle
from tests.factories import PASSWORD, make_couple

pytestmark = pytest.mark.browser


def _sign_in(page, url: str, email: str, password: str) -> None:  # type: ignore[no-untyped-def]
    sign_in(page, url, email, password, path="/sign_in")


def test_sign_in_survives_refresh_and_sign_out_ends_it(served, new_context, tend_env) -> None:
    with transaction(engine_for(tend_env["TEND_DATABASE_URL"])) as s:
        make_couple(s, "ari@example.org", "bo@example.org", name="Ari & Bo")
    context = new_context()
    page = context.new_page()
    _sign_in(page, served.url, "ari@example.org", "wrong password")
    expect_alert(page, "do not match")

    fill(page, "Password", PASSWORD)
    click(page, "Sign in")
    expect(page.get_by_role("heading", name="Hi Ari")).to_be_visible()
    cookie = next(c for c in context.cookies() if c["name"] == "tend_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"

    page.reload()
    wait_idle(page)
    expect(page.get_by_role("heading", name="Hi Ari")).to_be_visible()

    open_page(page, served.url + "/account")
    click(page, "Sign out")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    assert not [c for c in context.cookies() if c["name"] == "tend_session"]
    # Replaying the old cookie does not bring the session back: it ended on the server.
    context.add_cookies([cookie])
    open_page(page, served.url + "/account")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()


def test_password_reset_by_mail_signs_out_other_browsers(served, new_context, tend_env) -> None:
    with transaction(engine_for(tend_env["TEND_DATABASE_URL"])) as s:
        make_couple(s, "ari@example.org", "bo@example.org")
    other = new_context().new_page()
    _sign_in(other, served.url, "ari@example.org", PASSWORD)
    expect(other.get_by_role("heading", name="Hi Ari")).to_be_visible()

    page = new_context().new_page()
    open_page(page, served.url + "/reset_password")
    fill(page, "Email", "ARI@example.org")
    click(page, "Send me a link")
    expect_alert(page, "If that address has an account")
    mail = served.wait_for_mail("ari@example.org", "Reset your Tend password")
    open_page(page, served.link_in(mail))
    fill(page, "New password", "a fresh spring morning")
    click(page, "Set new password")
    expect(page.get_by_role("heading", name="Hi Ari")).to_be_visible()

    # The browser that was signed in before the reset is signed out on its next step.
    other.reload()
    wait_idle(other)
    expect(other.get_by_role("heading", name="Sign in")).to_be_visible()
    _sign_in(other, served.url, "ari@example.org", "a fresh spring morning")
    expect(other.get_by_role("heading", name="Hi Ari")).to_be_visible()


def test_a_page_opened_signed_out_asks_to_sign_in_then_shows_itself(
    served, new_context, tend_env
) -> None:
    with transaction(engine_for(tend_env["TEND_DATABASE_URL"])) as s:
        make_couple(s, "ari@example.org", "bo@example.org", name="Ari & Bo")
    page = new_context().new_page()
    open_page(page, served.url + "/couple")
    expect(page.get_by_role("heading", name="Sign in to continue")).to_be_visible()
    fill(page, "Email", "ari@example.org")
    fill(page, "Password", PASSWORD)
    click(page, "Sign in")
    expect(page.get_by_role("heading", name="Ari & Bo")).to_be_visible()
    assert page.url.endswith("/couple")
