"""The local Mailbox in real chromium against a real `tend serve`: a signed-out visitor
reads no mail, a partner cannot read the other's reset mail, the Quick start still works
(register, confirm through the Mailbox), and with a mail server there is no Mailbox."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from infra.db import engine_for, transaction
from tests.browser import click, expect_alert, fill, open_page, wait_idle
from tests.factories import PASSWORD, make_couple

pytestmark = pytest.mark.browser
RESET = "Reset your Tend password"


def test_the_mailbox_shows_each_browser_only_its_own_mails(served, new_context, tend_env) -> None:
    with transaction(engine_for(tend_env["TEND_DATABASE_URL"])) as s:
        make_couple(s)
    served.wait_for_mail("b@example.org")  # A's invitation to B

    # Signed out, B asks for a reset of A's password and opens the Mailbox.
    stranger = new_context().new_page()
    open_page(stranger, served.url + "/reset_password")
    fill(stranger, "Email", "a@example.org")
    click(stranger, "Send me a link")
    expect_alert(stranger, "If that address has an account")
    served.wait_for_mail("a@example.org", RESET)
    open_page(stranger, served.url + "/mailbox")
    expect(stranger.get_by_role("heading", name="Mailbox (local)")).to_be_visible()
    # Wait until the list is drawn (either way), then: no mail at all.
    drawn = stranger.get_by_text(RESET).or_(stranger.get_by_text("No mail for you yet"))
    expect(drawn.first).to_be_visible()
    expect(stranger.get_by_text(RESET)).to_have_count(0)
    expect(stranger.get_by_text("To: b@example.org")).to_have_count(0)
    expect(stranger.get_by_text("No mail for you yet")).to_be_visible()

    # Signed in as B: B's own mail (the invitation), still not A's reset.
    partner = new_context().new_page()
    open_page(partner, served.url + "/")
    fill(partner, "Email", "b@example.org")
    fill(partner, "Password", PASSWORD)
    click(partner, "Sign in")
    expect(partner.get_by_role("heading", name="Hi B")).to_be_visible()
    open_page(partner, served.url + "/mailbox")
    # Each mail is an expander labelled with its subject alone (an address in the label
    # would be a link inside the expander's control); the address is inside.
    invitation = partner.get_by_text("A invited you to Tend")
    expect(invitation.first).to_be_visible()
    invitation.first.click()
    expect(partner.get_by_text("To: b@example.org").first).to_be_visible()
    expect(partner.get_by_text(RESET)).to_have_count(0)

    # The Quick start: register, then confirm through the Mailbox in the same tab.
    newcomer = new_context().new_page()
    open_page(newcomer, served.url + "/register")
    fill(newcomer, "Your name", "Noa")
    fill(newcomer, "Email", "noa@example.org")
    fill(newcomer, "Password", "tomatoes in the rain")
    click(newcomer, "Create account")
    expect_alert(newcomer, "Almost there")
    served.wait_for_mail("noa@example.org", "Confirm your email")
    newcomer.get_by_role("link", name="Open the Mailbox").click()
    wait_idle(newcomer)
    expect(newcomer.get_by_role("heading", name="Mailbox (local)")).to_be_visible()
    confirmation = newcomer.get_by_text("Confirm your email")
    expect(confirmation).to_have_count(1)
    expect(newcomer.get_by_text(RESET)).to_have_count(0)
    expect(newcomer.get_by_text("To: b@example.org")).to_have_count(0)
    confirmation.click()
    expect(newcomer.get_by_text("To: noa@example.org")).to_be_visible()
    link = newcomer.get_by_role("link", name="Open the link in this mail").first
    href = link.get_attribute("href")
    assert href and href.startswith(served.url + "/auth/confirm?token=")
    open_page(newcomer, href)
    expect(newcomer.get_by_role("heading", name="Welcome to Tend")).to_be_visible()


@pytest.fixture
def served_smtp(smtp_sink, serve):  # type: ignore[no-untyped-def]
    # The sink is set up first, so it is still there when the server settles.
    return serve(
        {
            "TEND_SMTP_HOST": smtp_sink.host,
            "TEND_SMTP_PORT": str(smtp_sink.port),
            "TEND_SMTP_STARTTLS": "false",
        }
    )


def test_with_a_mail_server_there_is_no_mailbox(served_smtp, new_context, tend_env) -> None:
    with transaction(engine_for(tend_env["TEND_DATABASE_URL"])) as s:
        make_couple(s)
    page = new_context().new_page()
    for signed_in in (False, True):
        if signed_in:
            open_page(page, served_smtp.url + "/")
            fill(page, "Email", "a@example.org")
            fill(page, "Password", PASSWORD)
            click(page, "Sign in")
            expect(page.get_by_role("heading", name="Hi A")).to_be_visible()
        expect(page.get_by_role("link", name="Mailbox (local)")).to_have_count(0)
        open_page(page, served_smtp.url + "/mailbox")
        # Not a page: Streamlit shows the default page instead.
        expect(page.get_by_role("heading", name="Hi A" if signed_in else "Sign in")).to_be_visible()
        expect(page.get_by_role("heading", name="Mailbox (local)")).to_have_count(0)
