"""Two people, two browsers, one real `tend serve`: register, create the couple space,
invite, join through the emailed link."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser import click, expect_alert, field, fill, open_page, wait_idle

pytestmark = pytest.mark.browser


def test_partner_a_invites_partner_b_who_joins_through_the_mailed_link(served, new_context) -> None:
    a = new_context().new_page()
    open_page(a, served.url + "/register")
    fill(a, "Your name", "Alex")
    fill(a, "Email", "Alex@Example.org")
    fill(a, "Password", "tomatoes in the rain")
    click(a, "Create account")
    expect_alert(a, "Almost there")

    confirm = served.wait_for_mail("alex@example.org", "Confirm your email")
    open_page(a, served.link_in(confirm))
    # The link leads into the guided start (tests/test_browser_onboarding.py); the couple
    # page does the same job on its own.
    expect(a.get_by_role("heading", name="Welcome to Tend")).to_be_visible()
    open_page(a, served.url + "/couple")
    expect(a.get_by_role("heading", name="Create your couple space")).to_be_visible()
    fill(a, "Name of your space", "Alex & Blair")
    click(a, "Create")
    expect(a.get_by_role("heading", name="Alex & Blair")).to_be_visible()

    fill(a, "Your partner's email", "blair@example.org")
    click(a, "Send invitation")
    expect(a.get_by_text("blair@example.org: waiting")).to_be_visible()

    invitation = served.wait_for_mail("blair@example.org", "invited you")
    assert "Alex & Blair" in invitation.text
    b = new_context().new_page()
    open_page(b, served.link_in(invitation))
    expect(b.get_by_text("invited you to share")).to_be_visible()
    expect(field(b, "Email")).to_have_value("blair@example.org")
    fill(b, "Your name", "Blair")
    fill(b, "Password", "short")
    click(b, "Create account and join")
    expect_alert(b, "at least 8 characters")
    # What Blair typed is still there after the error.
    expect(field(b, "Your name")).to_have_value("Blair")
    fill(b, "Password", "a walk along the river")
    click(b, "Create account and join")
    expect(b.get_by_role("heading", name="Alex & Blair")).to_be_visible()
    expect(b.get_by_text("Blair (you)")).to_be_visible()
    expect(b.get_by_text("Alex", exact=True).or_(b.get_by_text("- Alex"))).to_have_count(1)

    # Alex sees Blair without signing in again: the session survives a reload.
    a.reload()
    wait_idle(a)
    expect(a.get_by_text("Alex (you)")).to_be_visible()
    expect(a.get_by_text("Blair", exact=True)).to_be_visible()


def test_a_page_opened_at_its_own_address_connects_without_looking_for_its_server(
    served, new_context
) -> None:
    """A link in a mail opens /sign_in or /checkin directly: the page finds its server at
    once (tend/backend_address.py), not after a 404 under the page's own address."""
    page = new_context().new_page()
    asked: list[str] = []
    sockets: list[str] = []
    page.on("request", lambda request: asked.append(request.url))
    page.on("websocket", lambda ws: sockets.append(ws.url))
    open_page(page, served.url + "/sign_in")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    assert [url for url in asked if "/sign_in/" in url] == []
    assert f"{served.url}/_stcore/health" in asked
    assert sockets == [served.url.replace("http://", "ws://") + "/_stcore/stream"]
