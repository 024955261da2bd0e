"""A tab left open after its session ended elsewhere, in real chromium against a real
`tend serve`: it neither acts nor keeps showing anything, and asks to sign in. And the
account page's own sign-out and data download, which post to Tend's routes."""

from __future__ import annotations

import contextlib
import io
import zipfile

import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import expect
from sqlalchemy import func, select

from agreements.models import Cooldown
from infra.db import engine_for, transaction
from tests.browser import click, fill, open_page, sign_in
from tests.factories import PASSWORD, make_couple

pytestmark = pytest.mark.browser
NEW_PASSWORD = "another long secret phrase"


def _sign_in(page, url: str) -> None:  # type: ignore[no-untyped-def]
    sign_in(page, url, "a@example.org", PASSWORD)
    expect(page.get_by_role("heading", name="Hi A")).to_be_visible()


@pytest.mark.parametrize("how", ["sign out", "password change"])
def test_a_stale_tab_starts_no_cooldown_and_asks_to_sign_in(
    served, new_context, tend_env, how: str
) -> None:
    engine = engine_for(tend_env["TEND_DATABASE_URL"])
    with transaction(engine) as s:
        make_couple(s)
    stale, other = new_context().new_page(), new_context().new_page()
    _sign_in(stale, served.url)
    cooldown_button = stale.get_by_role("button", name="I need a cooldown")
    expect(cooldown_button).to_be_visible()

    _sign_in(other, served.url)
    open_page(other, served.url + "/account")
    if how == "sign out":
        click(other, "Sign out")
        expect(other.get_by_role("heading", name="Sign in")).to_be_visible()
    else:
        fill(other, "Current password", PASSWORD)
        fill(other, "New password", NEW_PASSWORD)
        click(other, "Change password")
        expect(other.get_by_role("heading", name="Your account", exact=True)).to_be_visible()

    # The stale tab presses the sidebar button at once. Its fragment re-checks the session
    # every two seconds, so the button may already be gone: either way nothing is started.
    with contextlib.suppress(PlaywrightError):
        cooldown_button.click(timeout=2_000)
    expect(stale.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(cooldown_button).to_have_count(0)
    expect(stale.get_by_text("asked for a pause")).to_have_count(0)
    with transaction(engine) as s:
        assert s.scalar(select(func.count()).select_from(Cooldown)) == 0


def test_the_account_page_downloads_the_export_and_signs_out_by_post(
    served, new_context, tend_env
) -> None:
    with transaction(engine_for(tend_env["TEND_DATABASE_URL"])) as s:
        make_couple(s)
    context = new_context()
    page = context.new_page()
    _sign_in(page, served.url)
    open_page(page, served.url + "/account")
    with page.expect_download() as download:
        page.get_by_role("button", name="Download my data").click()
    assert download.value.suggested_filename.startswith("tend-export-")
    with zipfile.ZipFile(io.BytesIO(download.value.path().read_bytes())) as archive:
        assert "a@example.org" in archive.read("tend-export.json").decode()

    click(page, "Sign out")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    assert page.url.endswith("/sign_in")
    assert not [c for c in context.cookies() if c["name"] == "tend_session"]
