"""The guided start in a real browser: register, confirm, name the space, choose and
adjust the plan, invite the partner (the mail goes out), see what happens next; the
partner joins and finds the plan waiting for their answer."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from couples.models import User
from infra.db import engine_for, transaction
from onboarding.models import OnboardingProgress
from tests.browser import act, click, fill, open_page

pytestmark = pytest.mark.browser


def test_from_registration_to_the_invitation_and_what_comes_next(
    served, new_context, tend_env
) -> None:
    a = new_context().new_page()
    open_page(a, served.url + "/register")
    fill(a, "Your name", "Alex")
    fill(a, "Email", "alex@example.org")
    fill(a, "Password", "tomatoes in the rain")
    click(a, "Create account")
    open_page(a, served.link_in(served.wait_for_mail("alex@example.org", "Confirm your email")))

    # 1. The couple space.
    expect(a.get_by_role("heading", name="Welcome to Tend")).to_be_visible()
    expect(a.get_by_role("heading", name="1. Your couple space")).to_be_visible()
    fill(a, "Name of your space", "Alex & Blair")
    click(a, "Create our space")

    # 2. The plan: the three suggested agreements are chosen; one more, one adjusted.
    expect(a.get_by_role("heading", name="2. Your plan")).to_be_visible()
    act(a, a.get_by_text("Say what bothers us while it is small", exact=False).first.click)
    a.get_by_text("Adjust “Cooldown when an argument heats up”").click()
    minutes = a.get_by_label("Minutes", exact=True)
    minutes.fill("20")
    act(a, lambda: minutes.press("Enter"))
    click(a, "Save my plan (4 agreements)")

    # 3. The invitation.
    expect(a.get_by_role("heading", name="3. Invite your partner")).to_be_visible()
    fill(a, "Your partner's email", "blair@example.org")
    click(a, "Send invitation")

    # 4. What ended it last time: the charter's first step, put off for now.
    expect(a.get_by_role("heading", name="4. What ended it last time")).to_be_visible()
    click(a, "Later")

    # 5. What happens next: when the first check-in opens, which mails come.
    expect(a.get_by_role("heading", name="5. What happens next")).to_be_visible()
    expect(a.get_by_text("Your first check-in opens on")).to_be_visible()
    expect(a.get_by_text("Ready to review together")).to_be_visible()
    invitation = served.wait_for_mail("blair@example.org", "invited you")
    assert "Alex & Blair" in invitation.text

    with transaction(engine_for(tend_env["TEND_DATABASE_URL"])) as s:
        alex = s.scalar(select(User).where(User.email == "alex@example.org"))
        plan = s.get(OnboardingProgress, alex.id).plan
    assert [item["kind"] for item in plan] == ["regular_checkin", "cooldown", "therapy", "speak_up"]
    assert next(i for i in plan if i["kind"] == "cooldown")["params"]["minutes"] == 20

    click(a, "Go to my dashboard")
    expect(a.get_by_role("heading", name="Hi Alex")).to_be_visible()
    expect(a.get_by_text("your invitation to blair@example.org is on its way")).to_be_visible()
    expect(a.get_by_text("Your plan of 4 agreements is proposed to them")).to_be_visible()

    # Blair joins and finds the plan waiting for an answer.
    b = new_context().new_page()
    open_page(b, served.link_in(invitation))
    fill(b, "Your name", "Blair")
    fill(b, "Password", "a walk along the river")
    click(b, "Create account and join")
    expect(b.get_by_role("heading", name="Alex & Blair")).to_be_visible()
    open_page(b, served.url + "/")
    expect(b.get_by_role("heading", name="Hi Blair")).to_be_visible()
    expect(b.get_by_text("4 agreements wait for your answer.")).to_be_visible()
