"""The therapist report in real browsers: both partners consent on the report page, the
therapist's mailed link opens the report (no account), the visit shows on the partners'
page, a partner downloads the PDF, one partner withdraws and the link stops working."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from infra.db import engine_for, transaction
from tests import privacy_scenario as scenario
from tests.browser import click, expect_alert, fill, open_page, sign_in
from tests.factories import PASSWORD
from tests.test_reports import pdf_text

pytestmark = pytest.mark.browser

THERAPIST = "rivera@example.org"


def test_both_consent_the_link_opens_then_one_withdraws(served, new_context, tend_env) -> None:
    engine = engine_for(tend_env["TEND_DATABASE_URL"])
    scenario.build(lambda: transaction(engine))
    a = new_context().new_page()
    b = new_context().new_page()
    for page, email, name in ((a, "a@example.org", "A"), (b, "b@example.org", "B")):
        sign_in(page, served.url, email, PASSWORD)
        expect(page.get_by_role("heading", name=f"Hi {name}")).to_be_visible()

    # A proposes: every section (ticked by default) and the "what went well" answers.
    open_page(a, served.url + "/report")
    expect(a.get_by_role("heading", name="Propose a report")).to_be_visible()
    a.get_by_text("Our answers to “what went well”").click()
    fill(a, "Therapist's name", "Dr. Rivera")
    fill(a, "Therapist's email", THERAPIST)
    click(a, "Propose")
    expect_alert(a, "Nothing is shared until your partner says yes")

    # One yes is not enough: there is no link yet, and no PDF.
    expect(a.get_by_role("heading", name="Waiting for your partner")).to_be_visible()
    expect(a.get_by_role("button", name="Download the report (PDF)")).to_have_count(0)

    # B reads what it would hold and agrees.
    open_page(b, served.url + "/report")
    expect(b.get_by_role("heading", name="A proposed a report")).to_be_visible()
    expect(b.get_by_text("Dr. Rivera")).to_be_visible()
    click(b, "Agree and share")
    expect_alert(b, "Shared")

    # The therapist's mail: neutral, with the link; it opens the report, no account.
    mail = served.wait_for_mail(THERAPIST, "A link shared with you")
    for canary in (*scenario.NEVER_FOR_B, scenario.A_REVEALED):
        assert canary not in mail.text
    link = next(line.strip() for line in mail.text.splitlines() if "/therapist/report?t=" in line)
    therapist = new_context().new_page()
    response = therapist.goto(link)
    assert response is not None and response.status == 200
    expect(therapist.get_by_role("heading", name="Relationship check-ins: A and B")).to_be_visible()
    expect(
        therapist.get_by_role("heading", name="Satisfaction and certainty over time")
    ).to_be_visible()
    page_text = therapist.content()
    assert scenario.A_REVEALED in page_text  # both ticked it
    for canary in scenario.NEVER_FOR_B:
        assert canary not in page_text

    # The visit shows on both partners' page; A downloads the PDF.
    for page in (a, b):
        open_page(page, served.url + "/report")
        expect(page.get_by_text("When the therapist's link was opened")).to_be_visible()
    with a.expect_download() as download:
        a.get_by_role("button", name="Download the report (PDF)").click()
    assert download.value.suggested_filename == "tend-report.pdf"
    text = pdf_text(download.value.path().read_bytes())
    assert "Relationship check-ins: A and B" in text
    for canary in scenario.NEVER_FOR_B:
        assert canary not in text

    # B withdraws: the link stops working at once.
    click(b, "Withdraw consent: the report is no longer shared")
    expect_alert(b, "Consent withdrawn")
    response = therapist.goto(link)
    assert response is not None and response.status == 404
    expect(therapist.get_by_role("heading", name="Link not valid")).to_be_visible()
    assert scenario.A_REVEALED not in therapist.content()
    open_page(a, served.url + "/report")
    expect(a.get_by_role("heading", name="Propose a report")).to_be_visible()
